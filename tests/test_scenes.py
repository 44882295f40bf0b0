"""`--scene` end to end (issue 17): each template renders through `latentscape.api.render` with the
latents it declares, grounded objects touch the ground, a template refuses what it cannot honour
before rendering, a user's .blend runs no script, and the visibility guarantee holds in every
template. Renders are 32 px at 1 sample on the placeholder library."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from latentscape import api
from latentscape.assets.backgrounds import default_backgrounds
from latentscape.blender_scenes import SCENE_PARAMS
from latentscape.cli import main
from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.reader import DatasetReader
from latentscape.errors import SpecError
from latentscape.latents import geometry as geo
from latentscape.latents.ground import heights, up_vector
from latentscape.latents.space import GROUPS, SCENE_LATENTS
from latentscape.resolve import resolve
from latentscape.resolve_scene import check_tables
from blend_fixtures import write_user_blends
from latentscape.renderer.child import run_in_blender_child

GROUNDED = ("hdri", "ground", "room")
BACKDROP = next(i for i, b in enumerate(default_backgrounds()) if b.kind == "backdrop")


def _write_blend(folder: str, marker: str) -> str:
    """The path of FOLDER/good.blend: a floor, a camera, a region empty, a script registered to run on load."""
    run_in_blender_child(write_user_blends, folder, marker, ("good",), what="write", timeout=120)
    return str(Path(folder) / "good.blend")


@pytest.fixture(scope="module")
def blend(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blend")
    marker = folder / "MARKER"
    path = _write_blend(str(folder), str(marker))
    assert not marker.exists()
    return path, marker


def _spec(scene: str, **kw) -> DatasetSpec:
    base = dict(n=3, shard_size=3, resolution=32, library="placeholder", scene=scene, render=RenderSettings(samples=1))
    return DatasetSpec(**{**base, **kw})


def _lowest_heights(sampler, lat: dict) -> np.ndarray:
    """Per image: the height above the ground of the object's lowest hull point, from its stored latents."""
    out = []
    for i in range(len(lat["object_id"])):
        obj = int(lat["object_id"][i])
        pts = geo.object_points_camera(sampler._hull(obj), lat["position"][i],
                                       geo.quat_mul(sampler._q0, lat["rotation_quat"][i]),
                                       lat["scale"][i] * lat.get("meta/size_m", lat.get("size_m"))[i])
        out.append(heights(pts, lat["camera_height"][i], lat["camera_pitch"][i]).min())
    return np.array(out)


# ---------------------------------------------------------------- end to end
@pytest.mark.blender
@pytest.mark.parametrize("scene", ["hdri", "ground", "room", "userblend"])
def test_each_template_renders_with_its_latents(scene, blend, tmp_path):
    path, marker = blend
    spec = _spec(path if scene == "userblend" else scene)
    root = tmp_path / "ds"
    api.render(spec, root, device="cpu", workers=1, progress=False)
    lat = DatasetReader(root).latents()
    drawn = resolve(spec).sampler.sample_range(0, spec.n)
    stored_scene = sorted(k for k in lat if k in SCENE_LATENTS)
    assert stored_scene == sorted(SCENE_PARAMS[scene])  # exactly the latents the template declares
    for name in ("position", "rotation_quat", "scale", "object_id", "background_id", *stored_scene):
        assert np.array_equal(lat[name], drawn[name]), name
    assert (lat["meta/visible_fraction"] > 0).all()  # the object is in every image
    if scene in GROUNDED:
        assert np.abs(_lowest_heights(resolve(spec).sampler, lat)).max() < 1e-9
    else:
        assert not marker.exists()  # a full render of the user's file ran no script
        assert (lat["env_rotation"] == 0).all()


@pytest.mark.blender
def test_a_studio_dataset_stores_no_scene_latent_and_keeps_its_identity(tmp_path):
    spec = _spec("studio", n=2, shard_size=2)
    assert "scene" not in spec.identity_dict() and DatasetSpec.from_identity_dict(spec.identity_dict()) == spec
    api.render(spec, tmp_path / "ds", device="cpu", workers=1, progress=False)
    assert not set(DatasetReader(tmp_path / "ds").latents()) & set(SCENE_LATENTS)
    assert resolve(_spec("ground")).identity() != resolve(_spec("studio")).identity()


# ---------------------------------------------------------------- sampling only
@pytest.mark.parametrize("scene", [*GROUNDED, "userblend"])
def test_the_visibility_guarantee_and_the_frame_hold_over_1000_images(scene, blend):
    spec = _spec(blend[0] if scene == "userblend" else scene, n=1000, shard_size=1000)
    sampler = resolve(spec).sampler
    lat = sampler.sample_range(0, 1000)
    assert spec.min_visible > 0 and (lat["predicted_visible"] >= spec.min_visible).all()
    names = ("object_id", "rotation_quat", "scale", "position")
    assert all(sampler.in_frame({k: lat[k][i] for k in names}) for i in range(1000))
    if scene in GROUNDED:
        assert np.abs(_lowest_heights(sampler, lat)).max() < 1e-9  # every object touches the ground
        assert lat["camera_pitch"].std() > 0.05 and lat["camera_height"].std() > 0.1  # the camera varies
    else:
        fractions = _region_fractions(sampler, lat["position"])
        assert (fractions >= -1e-9).all() and (fractions <= 1 + 1e-9).all()  # inside the file's region
        assert fractions.std(axis=0).min() > 0.2  # spread over it


def _region_fractions(sampler, positions) -> np.ndarray:
    origin, edges = sampler._region
    return np.linalg.solve(edges.T, (positions - origin).T).T


def test_standing_objects_keep_their_up_axis_vertical():
    """Upright on the ground: the object's up axis is the world's vertical in the pitched camera frame."""
    spec = _spec("ground", n=200)
    sampler = resolve(spec).sampler
    lat = sampler.sample_range(0, 200)
    for i in range(200):
        rot = geo.ASSET_TO_CAMERA @ geo.quat_to_matrix(geo.quat_mul(sampler._q0, lat["rotation_quat"][i]))
        assert rot[:, 2] == pytest.approx(up_vector(lat["camera_pitch"][i]), abs=1e-9)


# ---------------------------------------------------------------- refusals before rendering
@pytest.mark.parametrize("kw, message", [
    (dict(scene="ground", fix=(("background_id", BACKDROP),)),
     f"scene 'ground' cannot show backdrop background 'studio-backdrop' (id {BACKDROP}); it shows color, hdri"),
    (dict(scene="studio", distributions=(("camera_pitch", {"kind": "uniform", "low": -0.2, "high": 0.2}),)),
     "scene 'studio' cannot honour 'camera_pitch'"),
    (dict(scene="room", fix=(("ground_material", 1),)), "scene 'room' cannot honour 'ground_material'"),
    (dict(scene="ground", pose_mode="so3"), "pose_mode so3 (any rotation) cannot be honoured"),
    (dict(scene="ground", fix=(("image_y", 0.5),)), "scene 'ground' cannot honour a value of image_y"),
    (dict(scene="ground", fix=(("ground_material", "lava"),)), "ground_material 'lava' is not one of checker"),
    (dict(scene="forest"), "unknown scene 'forest'; allowed: studio, hdri, ground, room or a FILE.blend"),
    (dict(scene="missing.blend"), "missing.blend does not exist"),
])
def test_a_template_refuses_what_it_cannot_honour_before_rendering(kw, message, tmp_path):
    spec_kw = {k: v for k, v in kw.items() if k != "distributions"}
    dists = kw.get("distributions", ())
    with pytest.raises(SpecError) as e:
        spec = DatasetSpec.from_dict({**_spec("studio").to_dict(), **spec_kw, "fix": dict(spec_kw.get("fix", ())),
                                      "distributions": dict(dists), "pose_mode": kw.get("pose_mode"),
                                      "position_mode": None, "canonical_pose": None})
        api.render(spec, tmp_path / "ds", device="cpu", workers=1, progress=False)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "ds" / "shards").exists()


def test_the_cli_says_it_in_one_line(capsys, tmp_path):
    args = ["render", "--scene", "ground", "--library", "placeholder", "--n", "2", "--fix",
            f"background_id={BACKDROP}", "--out", str(tmp_path / "ds")]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code != 0 and len(err.splitlines()) == 1 and "cannot show backdrop background" in err
    assert not (tmp_path / "ds" / "shards").exists()


def test_a_user_blend_without_a_region_is_refused_naming_it(tmp_path):
    path = _write_blend(str(tmp_path), str(tmp_path / "MARKER"))
    renamed = run_in_blender_child(_drop_region, path, what="edit", timeout=120)
    with pytest.raises(SpecError, match="has no object or collection named 'latentscape_region'"):
        resolve(_spec(renamed))
    assert not (tmp_path / "MARKER").exists()


def _drop_region(path: str) -> str:
    """In a Blender child: the same scene without its region, saved beside it."""
    import bpy
    with bpy.data.libraries.load(path) as (src, dst):
        dst.scenes = list(src.scenes)
    sc = dst.scenes[0]
    sc.collection.objects.unlink(bpy.data.objects["latentscape_region"])
    out = str(Path(path).with_name("noregion.blend"))
    bpy.data.libraries.write(out, {sc})
    return out


def test_scene_flags_and_tables():
    """--scene ground varies the scene group with 'all', stands objects upright facing the camera,
    and the latent table agrees with what each template declares."""
    check_tables()
    g = DatasetSpec(scene="ground")
    assert g.vary == (*GROUPS, "scene") and g.pose_mode == "upright" and g.canonical_pose == "front"
    assert DatasetSpec(scene="ground", vary=("pose",)).vary == ("pose",)
    assert DatasetSpec().vary == GROUPS and DatasetSpec(vary=(*GROUPS, "scene")).vary == GROUPS
    d = resolve(_spec("ground")).dists
    assert d["pitch"].kind == d["roll"].kind == "fixed" and d["ground_material"].values == (0, 1, 2, 3)
    assert math.isclose(d["image_y"].value, 0.0)
