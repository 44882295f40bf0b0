"""The default library (procedural + Sweet Home 3D furniture, 723 objects) rendered for real:
large enough that workers load and free objects one by one (the eviction path of
renderer/worker.py), and bit-identical when rendered twice with the same configuration."""
import importlib.util

import h5py
import numpy as np
import pytest

from latentscape.assets import sh3d

if importlib.util.find_spec("bpy") is None:  # the parent process never imports bpy itself
    pytest.skip("bpy not installed", allow_module_level=True)
if not sh3d.available():
    pytest.skip("the furniture catalogues are missing: apt-get install sweethome3d-furniture",
                allow_module_level=True)

from latentscape.config import DatasetSpec, RenderSettings  # noqa: E402
from latentscape.dataset.reader import DatasetReader  # noqa: E402
from latentscape.dataset.verify import verify  # noqa: E402
from latentscape.pipeline.local import render_dataset  # noqa: E402
from latentscape.renderer.worker import KEEP_ALL_OBJECTS_UP_TO  # noqa: E402

pytestmark = pytest.mark.blender

# seed 43 (`latentscape latents --n 10 --seed 43 --vary category,identity,pose --out l.h5`):
# object ids 485 664 653 97 343 | 653 430 26 460 341: furniture and procedural objects, and
# one (653, sh3d Scopia#bus) shown in both shards, so that a worker must load it again.
SPEC = DatasetSpec(n=10, shard_size=5, resolution=32, seed=43, vary=("category", "identity", "pose"),
                   render=RenderSettings(samples=1, passes=("mask",)))


def _content(root):
    with DatasetReader(root) as r:
        imgs = np.stack([r.image(i) for i in range(len(r))])
        lat = r.latents()
        objects = [o["name"] for o in r.manifest["assets"]["objects"]]
    masks, loads = [], []
    for k in range(2):
        with h5py.File(root / "shards" / f"shard-{k:06d}.h5") as f:
            masks.append(f["masks"][()])
            loads.append(int(f.attrs["asset_loads"]))
    return imgs, lat, objects, np.concatenate(masks), loads


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("default-lib")
    for name in ("a", "b"):
        summary = render_dataset(SPEC, d / name, device="cpu", progress=False)
        assert summary.workers == 1 and summary.rendered == 10
    return _content(d / "a"), _content(d / "b"), d


def test_default_library_is_big_enough_to_evict(two_runs):
    (_, lat, objects, _, loads), _, d = two_runs
    assert len(objects) > KEEP_ALL_OBJECTS_UP_TO  # workers free objects instead of keeping all loaded
    assert len(objects) == 723 and sum(o.startswith("sh3d/") for o in objects) == 587
    shown = [objects[i] for i in lat["object_id"]]
    assert len(set(shown)) > 1 and any(o.startswith("sh3d/") for o in shown)
    assert any(o.startswith("procedural/") for o in shown)
    # one worker renders both shards; with eviction each shard starts with no object loaded and
    # loads each object it shows once, so the object shown in both shards is loaded twice
    shards = [set(lat["object_id"][k * 5:(k + 1) * 5].tolist()) for k in range(2)]
    assert shards[0] & shards[1], "pick a seed that shows one object in both shards"
    assert loads == [len(x) for x in shards] and sum(loads) > len(shards[0] | shards[1]), loads
    assert verify(d / "a")[0] == []


def test_every_image_shows_its_object(two_runs):
    (imgs, lat, _, masks, _), _, _ = two_runs
    vf = lat["meta/visible_fraction"]
    assert np.all(vf > 0.002), vf  # no labelled-but-empty image
    assert np.allclose(vf, masks.mean(axis=(1, 2)) / 255, atol=1e-6)
    for img, mask in zip(imgs, masks):
        assert np.abs(img[mask == 255].astype(int) - img[mask == 0].mean(0)).max() > 10  # visible against the grey


def test_same_configuration_renders_bit_identically(two_runs):
    (ia, la, oa, ma, _), (ib, lb, ob, mb, _), _ = two_runs
    assert oa == ob and la.keys() == lb.keys()
    for name in la:
        assert np.array_equal(la[name], lb[name], equal_nan=True), name
    assert np.array_equal(ia, ib) and np.array_equal(ma, mb)
    assert len({a.tobytes() for a in ia}) == len(ia)  # ten different pictures
