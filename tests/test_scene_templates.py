"""Scene templates hdri, ground, room and the user's .blend (issue 17): real Cycles renders at 48 px.

Building a Stage resets Blender, so the rendering tests share one stage at a time (`_stage`),
grouped by template in file order. A user's .blend is written and opened in Blender child
processes (`run_in_blender_child`), so a script that did run would run there, not here.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from latentscape.assets.hulls import hull_points
from latentscape.assets.placeholder_hulls import PLACEHOLDER_HULLS
from latentscape.blender_scenes import GROUND_MATERIALS, REGION_NAME, ROOM_STYLES, SCENE_PARAMS, SCENES
from latentscape.latents.geometry import object_points_camera, project
from latentscape.latents.ground import heights, horizon_v, resting_y
from latentscape.renderer.blend_probe import describe_blend, validate_blend
from blend_fixtures import write_user_blends
from latentscape.renderer.child import run_in_blender_child
from latentscape.renderer.types import ImageState, SceneState, StageSettings

pytestmark = pytest.mark.blender

RES, FOV = 48, 40.0
CATEGORIES = ("cone", "cube", "cylinder", "monkey", "sphere", "torus")  # the placeholder library's order
CUBE, SPHERE = CATEGORIES.index("cube"), CATEGORIES.index("sphere")


# ---------------------------------------------------------------- no Blender
def _yaw_quat(a: float):
    """A turn by `a` about the asset's vertical (+Z, image-up at the canonical pose)."""
    return (math.cos(a / 2), 0.0, 0.0, math.sin(a / 2))


def test_resting_y_puts_the_lowest_point_on_the_ground():
    rng = np.random.default_rng(0)
    pts = hull_points(PLACEHOLDER_HULLS["monkey"])
    for _ in range(50):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        h, p, z, s = rng.uniform(0.3, 3.0), rng.uniform(-1.2, 1.2), rng.uniform(2.0, 8.0), rng.uniform(0.2, 2.0)
        rel = object_points_camera(pts, (0.0, 0.0, 0.0), q, s)
        y = resting_y(rel, z, h, p)
        above = heights(rel + [rng.uniform(-1, 1), y, z], h, p)
        assert above.min() == pytest.approx(0.0, abs=1e-9) and (above >= -1e-9).all()
    with pytest.raises(ValueError, match="camera_pitch"):
        resting_y(pts, 3.0, 1.0, math.pi / 2)
    assert horizon_v(0.0, FOV) == 0.0 and horizon_v(0.2, FOV) < 0 < horizon_v(-0.2, FOV)


def test_scene_state_gives_exactly_what_a_template_takes():
    assert set(SCENE_PARAMS) == set(SCENES)
    assert SceneState.canonical("studio") is None and SceneState.canonical("userblend") is None
    g = SceneState.canonical("ground", camera_pitch=0.1)
    assert g.given() == ("camera_height", "camera_pitch", "ground_material") and g.camera_pitch == 0.1
    with pytest.raises(ValueError, match=r"scene 'room' takes camera_height, camera_pitch, room_material per "
                                         r"image; missing room_material; not used: ground_material"):
        g.check_for("room")
    with pytest.raises(TypeError, match="scene 'hdri' takes no"):
        SceneState.canonical("hdri", room_material=1)
    for bad, match in (({"camera_height": 0.0}, "camera_height must be > 0"),
                       ({"camera_pitch": 1.5}, "camera_pitch must lie in"),
                       ({"room_material": -1}, "room_material must be an integer >= 0"),
                       ({"shadow_catcher": 2}, "shadow_catcher must be True or False")):
        with pytest.raises(ValueError, match=match):
            SceneState(**bad)
    assert SceneState(shadow_catcher=np.uint8(1)).shadow_catcher is True  # as stored in a shard
    # a shard with scene latents gives them back per image; one without gives None (the studio)
    lat = {"object_id": np.array([1]), "position": np.array([[0.0, 0.0, 3.0]]),
           "rotation_quat": np.array([[1.0, 0, 0, 0]]), "background_id": np.array([0]),
           "render_seed": np.array([5]), "camera_height": np.array([1.5]), "camera_pitch": np.array([-0.1]),
           "ground_material": np.array([2], dtype=np.int32),
           **{k: np.array([1.0]) for k in ("scale", "light_azimuth", "light_elevation", "light_intensity",
                                          "light_temperature", "env_strength", "env_rotation")}}
    s = ImageState.from_row(lat, 0)
    assert s.scene == SceneState(camera_height=1.5, camera_pitch=-0.1, ground_material=2)
    assert ImageState.from_row({k: v for k, v in lat.items() if k not in s.scene.given()}, 0).scene is None


def test_stage_settings_name_the_user_blend_only_for_userblend():
    base = dict(resolution=RES, fov_deg=FOV, samples=1, denoise=False, want_mask=False, want_depth=False,
                device="cpu", device_slot=None, threads=0)
    with pytest.raises(ValueError, match="scene_file of the userblend scene must be a non-empty string"):
        StageSettings(**base, scene="userblend")
    with pytest.raises(ValueError, match="scene 'ground' takes no scene_file"):
        StageSettings(**base, scene="ground", scene_file="x.blend")
    assert StageSettings(**base, scene="userblend", scene_file="x.blend").scene_file == "x.blend"


def test_a_file_that_is_not_a_blend_is_refused_without_starting_blender(tmp_path):
    (tmp_path / "scene.blend").write_text("not a blend\n")
    assert validate_blend(tmp_path / "scene.blend") == [
        f"scene file {tmp_path / 'scene.blend'} is not a .blend file (it starts with b'not a b', not b'BLENDER')"]
    assert validate_blend(tmp_path / "gone.blend") == [f"scene file {tmp_path / 'gone.blend'} does not exist"]


# ---------------------------------------------------------------- one stage at a time
_CURRENT: dict = {}


def _stage(scene: str, **settings):
    """The stage for `scene` (built afresh when another template was built last)."""
    key = (scene, tuple(sorted(settings.items())))
    if _CURRENT.get("key") != key:
        from latentscape.assets.backgrounds import default_backgrounds
        from latentscape.assets.library import placeholder_library
        from latentscape.renderer.blender.stage import Stage
        from latentscape.renderer.types import BackgroundRef, ObjectRef
        opts = dict(resolution=RES, fov_deg=FOV, samples=2, denoise=False, want_mask=True, want_depth=False,
                    device="cpu", device_slot=None, threads=0, view_transform="standard")
        st = StageSettings(**{**opts, **settings}, scene=scene)
        _CURRENT.update(key=key, stage=Stage(st, [ObjectRef.of(o) for o in placeholder_library().objects],
                                             [BackgroundRef.of(b) for b in default_backgrounds()]))
        assert [o.name for o in placeholder_library().objects] == list(CATEGORIES)
    return _CURRENT["stage"]


def _state(scene_state, **changes) -> ImageState:
    away = dict(object_id=SPHERE, position=(0.0, 0.0, -3.0), scale=0.6)  # behind the camera: out of sight
    return ImageState.canonical(**{**away, **changes, "scene": scene_state})


def _assert_repeatable(stage, a: ImageState, b: ImageState):
    """Image `a` is the same, bit for bit, before and after another image `b` (materials, catcher,
    pitch and object changed in between): pixels depend on the state, not on what came before."""
    first = stage.render(a)
    stage.render(b)
    again = stage.render(a)
    assert all(np.array_equal(x, y) for x, y in zip(first, again))


def _rows(v) -> float:
    """Image row (0 = top, pixel centres at .5) of image height v in [-1, 1]."""
    return (1 - v) / 2 * RES


# ---------------------------------------------------------------- ground
def _ground(**changes):
    return SceneState.canonical("ground", **changes)


def test_ground_fills_the_image_below_the_horizon_at_pitch_zero():
    stage = _stage("ground", want_depth=True)
    stage.render(_state(_ground(camera_height=1.0)))
    depth = stage.depth()
    assert np.isinf(depth[: RES // 2 - 1]).all()  # the sky: no ground above the horizon
    assert np.isfinite(depth[RES // 2 + 1:]).all()  # the ground everywhere below it
    v = 1 - 2 * (RES - 0.5) / RES  # the bottom row: the ground lies h / (-v tan(fov/2)) ahead
    assert np.median(depth[-1]) == pytest.approx(1.0 / (-v * math.tan(math.radians(FOV / 2))), rel=0.05)


@pytest.mark.parametrize("pitch", [0.25, -0.3])
def test_camera_pitch_moves_the_horizon(pitch):
    stage = _stage("ground", want_depth=True)
    stage.render(_state(_ground(camera_pitch=pitch)))
    first_ground_row = int(np.argmax(np.isfinite(stage.depth()).all(axis=1)))
    assert abs(first_ground_row - _rows(horizon_v(pitch, FOV))) <= 1.5, (first_ground_row, pitch)


def _grounded(yaw: float, pitch: float, height: float, z: float, lift: float = 0.0):
    """The cube turned by `yaw` about the vertical, standing on the ground (raised by `lift`)."""
    q = _yaw_quat(yaw)
    rel = object_points_camera(hull_points(PLACEHOLDER_HULLS["cube"]), (0.0, 0.0, 0.0), q, 0.6)
    up = np.array([0.0, math.cos(pitch), math.sin(pitch)])
    pos = np.array([0.2, resting_y(rel, z, height, pitch), z]) + lift * up
    return pos, q, rel + pos


@pytest.mark.parametrize("pitch", [0.0, -0.25])
def test_a_grounded_object_touches_the_ground(pitch):
    """The cube's silhouette bottom is where its hull projects, and the ground just below it is at
    the cube's own depth (no gap); the same cube lifted 0.3 m leaves a gap of about a metre."""
    stage = _stage("ground", want_depth=True)
    gaps = {}
    for lift in (0.0, 0.3):
        pos, q, pts = _grounded(0.5, pitch, 0.8, 4.0, lift)
        _, mask = stage.render(_state(_ground(camera_pitch=pitch, camera_height=0.8), object_id=CUBE, position=tuple(pos),
                                      rotation_quat=q, scale=0.6))
        depth = stage.depth()
        rows = np.nonzero((mask >= 128).any(axis=1))[0]
        assert abs(rows.max() + 0.5 - _rows(project(pts, FOV)[:, 1].min())) <= 1.0, lift
        col = int(np.argmax(mask[rows.max()]))
        solid = np.nonzero(mask[:, col] == 255)[0].max()
        below = solid + 1 + np.argmax(mask[solid + 1:, col] == 0)
        gaps[lift] = depth[below, col] - depth[solid, col]
    assert abs(gaps[0.0]) < 0.4 and gaps[0.3] > 0.7, gaps


def test_each_ground_material_shows():
    stage = _stage("ground", want_depth=True)
    floors = []
    for i in range(len(GROUND_MATERIALS)):
        rgb, _ = stage.render(_state(_ground(ground_material=i, camera_pitch=-0.3), background_id=0))
        floors.append(rgb[RES // 2:].astype(float))
        assert 10 < floors[-1].mean() < 245, GROUND_MATERIALS[i]
    for i in range(len(floors)):
        for j in range(i):
            assert np.abs(floors[i] - floors[j]).mean() > 8, (GROUND_MATERIALS[i], GROUND_MATERIALS[j])
    with pytest.raises(IndexError, match="ground_material 4 out of range 0..3"):
        stage.render(_state(_ground(ground_material=len(GROUND_MATERIALS))))


def test_ground_images_are_repeatable():
    stage = _stage("ground", want_depth=True)
    _assert_repeatable(stage, _state(_ground(ground_material=1), object_id=CUBE, position=(0.0, -0.5, 3.0)),
                       _state(_ground(ground_material=2, camera_pitch=0.2, camera_height=2.0), background_id=8))


def test_a_template_refuses_state_it_does_not_take():
    stage = _stage("ground", want_depth=True)
    with pytest.raises(ValueError, match="scene 'ground' needs a SceneState with camera_height, camera_pitch, "
                                         "ground_material per image, got None"):
        stage.render(_state(None))
    with pytest.raises(ValueError, match="scene 'ground' cannot show backdrop background 'studio-backdrop'"):
        stage.render(_state(_ground(), background_id=5))


# ---------------------------------------------------------------- hdri
def test_shadow_catcher_darkens_the_ground_under_the_object_and_nothing_else():
    """Grey world (sRGB 188 everywhere), the sun behind the object: with the catcher on, its shadow
    falls toward the camera, under it in the image; off, the same pixels are the plain world. Away
    from the object the catcher is invisible."""
    stage = _stage("hdri", samples=4)
    q = (1.0, 0.0, 0.0, 0.0)
    rel = object_points_camera(hull_points(PLACEHOLDER_HULLS["sphere"]), (0.0, 0.0, 0.0), q, 0.6)
    pos = (0.0, resting_y(rel, 3.0, 1.0, 0.0), 3.0)
    got = {}
    for on in (True, False):
        sc = SceneState.canonical("hdri", shadow_catcher=on)
        got[on] = stage.render(_state(sc, position=pos, scale=0.6, light_azimuth=math.pi, light_elevation=0.9,
                                      env_strength=1.0, background_id=0))
    (lit, mask), (plain, mask_off) = got[True], got[False]
    assert np.array_equal(mask, mask_off)
    lum_on, lum_off = lit.astype(float).mean(-1), plain.astype(float).mean(-1)
    bottom = np.nonzero(mask.any(axis=1))[0].max()
    cols = np.nonzero(mask.any(axis=0))[0]
    under = (slice(bottom + 2, bottom + 5), slice(cols.min() + 2, cols.max() - 1))  # past the pixel filter
    assert (lum_off[under] == 188).all()
    assert lum_on[under].mean() < 188 - 30, lum_on[under]
    top = slice(0, RES // 3)  # far from the object: the catcher (and the sky) show the world unchanged
    assert np.abs(lum_on[top] - 188).max() <= 2


def test_hdri_images_are_repeatable():
    stage = _stage("hdri", samples=4)
    on, off = SceneState.canonical("hdri"), SceneState.canonical("hdri", shadow_catcher=False, camera_pitch=0.1)
    _assert_repeatable(stage, _state(on, position=(0.0, -0.7, 3.0), background_id=9),
                       _state(off, object_id=CUBE, position=(0.0, -0.5, 3.0), background_id=9))


# ---------------------------------------------------------------- room
def test_room_surrounds_the_camera_with_the_window_ahead():
    """Depth is finite everywhere but in the window (which shows the world); facing the back wall
    there is no window."""
    stage = _stage("room", want_depth=True)
    sc = SceneState.canonical("room", camera_height=1.2)
    stage.render(_state(sc))
    sky = ~np.isfinite(stage.depth())
    t = math.tan(math.radians(FOV / 2))
    u1, v0, v1 = 1.5 / 6 / t, (0.9 - 1.2) / 6 / t, (2.4 - 1.2) / 6 / t
    rows, cols = np.nonzero(sky)
    assert sky.sum() > 0.05 * RES * RES
    assert _rows(v1) - 1 <= rows.min() and rows.max() <= _rows(v0) + 1
    assert _rows(u1) - 1 <= RES - 1 - cols.max() and cols.min() >= _rows(u1) - 1
    stage.render(_state(sc, env_rotation=math.pi))
    assert np.isfinite(stage.depth()).all()


def test_room_renders_each_style_with_the_object_in_it():
    stage = _stage("room", want_depth=True)
    floors = []
    for i in range(len(ROOM_STYLES)):
        sc = SceneState.canonical("room", room_material=i, camera_height=1.0, camera_pitch=-0.2)
        pos = (0.0, resting_y(object_points_camera(hull_points(PLACEHOLDER_HULLS["sphere"]), (0, 0, 0),
                                                   (1.0, 0, 0, 0), 0.6), 3.0, 1.0, -0.2), 3.0)
        rgb, mask = stage.render(_state(sc, position=pos, background_id=7))
        assert (mask == 255).sum() > 20, ROOM_STYLES[i]
        lum = rgb.astype(float).mean(-1)
        assert 25 < lum.mean() < 235 and lum.std() > 5, (ROOM_STYLES[i], lum.mean(), lum.std())
        floors.append(rgb[-RES // 6:].astype(float))
    for i in range(len(floors)):
        for j in range(i):
            assert np.abs(floors[i] - floors[j]).mean() > 8, (ROOM_STYLES[i], ROOM_STYLES[j])


def test_room_images_are_repeatable():
    stage = _stage("room", want_depth=True)
    _assert_repeatable(stage, _state(SceneState.canonical("room", room_material=3), position=(0.0, -0.6, 3.0)),
                       _state(SceneState.canonical("room", room_material=0, camera_pitch=-0.2), object_id=CUBE,
                              position=(0.3, -0.6, 3.0)))


# ---------------------------------------------------------------- the user's .blend
def _open_trusted(path: str, marker: str) -> bool:
    """In a Blender child: open `path` as a trusted file (auto-run on); did its script run?"""
    import os

    import bpy
    bpy.context.preferences.filepaths.use_scripts_auto_execute = True
    bpy.ops.wm.open_mainfile(filepath=path, load_ui=False, use_scripts=True)
    return os.path.exists(marker)


@pytest.fixture(scope="module")
def blends(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blends")
    marker = folder / "MARKER"
    assert run_in_blender_child(write_user_blends, str(folder), str(marker), what="write", timeout=120) == [
        "collection.blend", "good.blend", "noregion.blend"]
    assert not marker.exists()
    return folder, marker


def test_the_fixture_script_runs_when_blender_trusts_the_file(blends):
    """The control: opened trusted, the file's registered script does run (so the next test means something)."""
    folder, marker = blends
    assert run_in_blender_child(_open_trusted, str(folder / "good.blend"), str(marker), what="open", timeout=120)
    marker.unlink()


def test_a_user_blend_runs_no_script_and_takes_the_object_in_its_region(blends):
    folder, marker = blends
    described = describe_blend(folder / "good.blend", FOV, require_camera=True)
    assert described["problems"] == [] and described["camera"] == "file"
    assert not marker.exists()  # validating ran no script
    stage = _stage("userblend", scene_file=str(folder / "good.blend"))
    assert not marker.exists()  # loading for rendering ran none either
    region = np.array(stage.handles.region)
    assert region == pytest.approx(np.array(described["region"]), abs=1e-5)  # probe and stage agree
    centre = region.mean(axis=0)  # the file's camera looks at the region's centre from sqrt(41) m
    assert centre == pytest.approx([0.0, 0.0, math.sqrt(41.0)], abs=1e-4)
    dist = np.linalg.norm(region[:, None] - region[None], axis=-1)
    assert dist.max() == pytest.approx(math.sqrt(3.0), abs=1e-5)  # the empty's 1 m display cube, turned
    assert np.sort(dist[dist > 1e-6])[:24] == pytest.approx(np.ones(24), abs=1e-5)  # its 12 edges, twice
    _, mask = stage.render(ImageState.canonical(object_id=SPHERE, position=tuple(centre), scale=0.4))
    w = (mask / 255.0)
    cy, cx = (np.indices(mask.shape) + 0.5).reshape(2, -1) @ w.ravel() / w.sum()
    u, v = project(centre, FOV)[0]
    assert abs(cx - (u + 1) / 2 * RES) < 1.5 and abs(cy - _rows(v)) < 1.5
    assert mask.sum() > 0 and not marker.exists()


def test_a_user_blend_without_a_camera_gets_one_framing_its_region_collection(blends):
    folder, _ = blends
    d = describe_blend(folder / "collection.blend", FOV)
    assert d["problems"] == [] and d["camera"] == "made"
    uv = project(np.array(d["region"]), FOV)
    assert (np.abs(uv) < 1).all() and (np.array(d["region"])[:, 2] > 0).all()  # the whole region in view
    assert validate_blend(folder / "collection.blend", require_camera=True) == [
        f"scene 'collection' of {folder / 'collection.blend'} has no camera (scene.camera is unset) and the "
        "dataset asks for the file's own camera"]


def test_a_user_blend_without_a_region_is_a_clear_error(blends):
    folder, marker = blends
    path = folder / "noregion.blend"
    want = (f"scene 'noregion' of {path} has no object or collection named '{REGION_NAME}': add an empty "
            f"(or a collection of objects) named '{REGION_NAME}' where the object goes")
    assert validate_blend(path) == [want]
    from latentscape.blender_scenes.userblend import BlendFileError
    with pytest.raises(BlendFileError) as e:
        _stage("userblend", scene_file=str(path))
    assert str(e.value) == want and not marker.exists()
    _CURRENT.clear()  # that build failed half-way: the next test builds afresh
