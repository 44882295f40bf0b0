"""The scene refactor (studio template, typed renderer boundary) changed no pixel.

`tests/data/refactor_reference.npz` holds images rendered through the worker path
(`render_dataset`) by the code before the refactor. The same run configuration in a
fresh process must give the same pixels, bit for bit (docs/determinism.md).
Regenerate only on purpose: `python tests/test_scene_refactor.py --write`.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).parent / "data" / "refactor_reference.npz"


def _spec():
    from latentscape.config import DatasetSpec, RenderSettings
    from latentscape.latents.distributions import Dist
    # colour (0, 3), studio backdrop (5) and HDRI (6, 9) backgrounds; several objects
    return DatasetSpec(library="placeholder", n=6, shard_size=3, resolution=32, seed=11,
                       vary=("category", "position", "pose", "lighting", "background"),
                       distributions=(("background_id", Dist(kind="choice", values=(0, 3, 5, 6, 9))),
                                      ("distance", Dist(kind="uniform", low=3.0, high=6.0))),  # 0.2's default
                       render=RenderSettings(samples=2, passes=("mask",), view_transform="standard"),
                       canonical_pose="front")


def _render(root: Path) -> dict[str, np.ndarray]:
    import h5py

    from latentscape.dataset.reader import DatasetReader
    from latentscape.pipeline.local import render_dataset
    render_dataset(_spec(), root, device="cpu", progress=False)
    with DatasetReader(root) as r:
        images = np.stack([r.image(i) for i in range(len(r))])
        lat = r.latents()
    masks = []
    for p in sorted((root / "shards").glob("shard-*.h5")):
        with h5py.File(p) as f:
            masks.append(f["masks"][()])
    return {"images": images, "masks": np.concatenate(masks), "background_id": lat["background_id"],
            "object_id": lat["object_id"], "position": lat["position"]}


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")
def test_refactor_renders_the_same_pixels(tmp_path):
    ref = np.load(REFERENCE)
    got = _render(tmp_path / "ds")
    assert set(ref["background_id"]) >= {3, 5, 6}  # colour, backdrop and HDRI all covered
    for k in ("background_id", "object_id", "position"):
        assert np.array_equal(got[k], ref[k]), k  # same spec -> same latents
    assert np.array_equal(got["masks"], ref["masks"])
    assert np.array_equal(got["images"], ref["images"])  # same run configuration: bit-identical



# ---------------------------------------------------------------- content hashes at load
def _load_each(refs):
    """In a Blender child: load each object into a fresh store; 'ok' or the error, per object."""
    import bpy

    from latentscape.renderer.blender.objects import ObjectStore
    store = ObjectStore(bpy.context.scene, refs)
    out = []
    for i in range(len(refs)):
        try:
            store.get(i)
            out.append("ok")
        except Exception as e:  # noqa: BLE001
            out.append(f"{type(e).__name__}: {e}")
    store.close()
    return out


def _sh3d_catalogue(folder: Path, obj_text: str) -> Path:
    import zipfile
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "Fake.sh3f", "w") as z:
        z.writestr("PluginFurnitureCatalog.properties", "id#1=Fake#box\nname#1=Box\nmodel#1=/box/box.obj\n")
        z.writestr("box/box.obj", obj_text)
    return folder / "Fake.sh3f"


@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")
def test_changed_or_missing_asset_content_is_refused_at_load(tmp_path, monkeypatch):
    """Objects are loaded as the dataset was resolved: a user model edited after resolving, a
    catalogue model that changed, a procedural mesh with another hash, a deleted file: each is an
    error naming the object (and the path), never a substitute."""
    import hashlib

    import model_fixtures as M

    from latentscape.assets import procedural as P
    from latentscape.assets.folders import folder_objects
    from latentscape.renderer.asset_probe import probe_models
    from latentscape.renderer.child import run_in_blender_child
    from latentscape.renderer.types import ObjectRef

    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LATENTSCAPE_SH3D_DIR", str(tmp_path / "sh3d"))
    root = tmp_path / "models"
    (root / "crate").mkdir(parents=True)
    v, f = M.box((2.0, 1.0, 0.5))
    for name in ("same", "edited", "deleted"):
        M.write_obj(root / "crate" / f"{name}.obj", v, f)
    objs, _ = folder_objects(root, probe=probe_models)
    user = {o.name.rsplit("/", 1)[-1]: ObjectRef.of(o) for o in objs}
    assert all(r.sha256 for r in user.values())
    (root / "crate" / "edited.obj").write_text((root / "crate" / "edited.obj").read_text() + "# edited\n")
    (root / "crate" / "deleted.obj").unlink()

    box_obj = (root / "crate" / "same.obj").read_text()
    old_sha = hashlib.sha256(box_obj.encode()).hexdigest()
    sh3d = lambda sha: ObjectRef("sh3d/Fake#box", "sh3d:Fake.sh3f:box/box.obj", (1.0, 0.25, 0.5), None, sha)  # noqa: E731
    _sh3d_catalogue(tmp_path / "sh3d", box_obj.replace("v ", "v  ", 1))  # same shape, other bytes
    mesh_sha = P.build("chair", 0).sha256()
    proc = lambda sha: ObjectRef("procedural/chair-0", "procedural:chair:0", (1.0, 1.0, 1.0), None, sha)  # noqa: E731

    refs = [user["same"], user["edited"], user["deleted"], proc(mesh_sha), proc("0" * 64), sh3d(old_sha), sh3d(""),
            ObjectRef("sh3d/Gone#box", "sh3d:Gone.sh3f:box/box.obj", (1.0, 0.25, 0.5), None, "")]
    got = run_in_blender_child(_load_each, refs, what="load", timeout=120)
    assert got[0] == "ok" and got[3] == "ok" and got[6] == "ok"  # unchanged, or no hash to check
    found = hashlib.sha256((root / "crate" / "edited.obj").read_bytes()).hexdigest()
    assert got[1] == (f"AssetError: object '{user['edited'].name}' differs from the dataset's "
                      f"(sha256 {user['edited'].sha256}, found {found}): its asset source changed")
    assert got[2] == (f"AssetError: object '{user['deleted'].name}': its source file "
                      f"{root.resolve() / 'crate' / 'deleted.obj'} is missing")
    assert got[4] == (f"AssetError: object 'procedural/chair-0' differs from the dataset's "
                      f"(sha256 {'0' * 64}, found {mesh_sha}): its asset source changed")
    gone = tmp_path / "sh3d" / "Gone.sh3f"
    assert got[7] == f"AssetError: object 'sh3d/Gone#box': its source file {gone} is missing"
    assert got[5].startswith(f"AssetError: object 'sh3d/Fake#box' differs from the dataset's (sha256 {old_sha}, ")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_scene_refactor.py --write")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = _render(Path(d) / "ds")
    np.savez_compressed(REFERENCE, **out)
    print("wrote", REFERENCE, {k: v.shape for k, v in out.items()}, "backgrounds", out["background_id"])
