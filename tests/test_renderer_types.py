"""The typed renderer boundary (no Blender needed) and the Blender-child launcher."""
import math
import os
import sys
import time

import numpy as np
import pytest

from latentscape.assets.backgrounds import Background, default_backgrounds
from latentscape.assets.library import placeholder_library
from latentscape.errors import RenderError
from latentscape.latents.space import LATENTS, PARAMS
from latentscape.renderer.child import BlenderChildError, run_in_blender_child
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings


def _latents(n=3):
    """Shard-style latents: one array per HDF5 latent name plus render_seed."""
    rng = np.random.default_rng(0)
    lat = {name: rng.uniform(0.5, 1.5, (n, *lt.shape)).astype(lt.dtype) for name, lt in LATENTS.items()}
    lat["object_id"] = np.array([2, 0, 5], dtype=np.int32)
    lat["background_id"] = np.array([1, 7, 0], dtype=np.int32)
    lat["render_seed"] = np.array([11, 2**31 - 2, 0], dtype=np.int64)
    lat["meta/visible_fraction"] = np.zeros(n, dtype=np.float32)  # extra keys are ignored
    return lat


# ---------------------------------------------------------------- ImageState
def test_from_row_gives_the_rows_values_as_plain_python():
    lat = _latents()
    for row in range(3):
        s = ImageState.from_row(lat, row)
        assert s.object_id == lat["object_id"][row] and type(s.object_id) is int
        assert s.background_id == lat["background_id"][row] and type(s.background_id) is int
        assert s.seed == lat["render_seed"][row] and type(s.seed) is int
        assert s.position == tuple(lat["position"][row]) and all(type(v) is float for v in s.position)
        assert s.rotation_quat == tuple(lat["rotation_quat"][row])
        for name in ("scale", "light_azimuth", "light_elevation", "light_intensity", "light_temperature",
                     "env_strength", "env_rotation"):
            assert getattr(s, name) == lat[name][row] and type(getattr(s, name)) is float, name


@pytest.mark.parametrize("key", ["render_seed", "env_rotation", "position", "object_id"])
def test_from_row_refuses_a_missing_key_naming_it(key):
    lat = _latents()
    del lat[key]
    with pytest.raises(KeyError, match=key):
        ImageState.from_row(lat, 0)


def test_canonical_is_the_latent_tables_canonical_values():
    s = ImageState.canonical()
    assert s.object_id == 0 and s.background_id == 0 and s.seed == 0
    assert s.position == (0.0, 0.0, PARAMS["distance"].canonical)
    assert s.rotation_quat == tuple(PARAMS["rotation"].canonical) == (1.0, 0.0, 0.0, 0.0)
    for name in ("scale", "light_azimuth", "light_elevation", "light_intensity", "light_temperature",
                 "env_strength", "env_rotation"):
        assert getattr(s, name) == PARAMS[name].canonical, name
    t = ImageState.canonical(object_id=3, background_id=5, position=(0.0, 0.0, 2.2))
    assert (t.object_id, t.background_id, t.position) == (3, 5, (0.0, 0.0, 2.2))
    assert t.light_azimuth == PARAMS["light_azimuth"].canonical
    with pytest.raises(TypeError, match="unknown image state field.*light_colour"):
        ImageState.canonical(light_colour=1.0)


def test_image_state_has_no_defaults():
    with pytest.raises(TypeError):
        ImageState(object_id=0, position=(0.0, 0.0, 4.0))


@pytest.mark.parametrize("change, match", [
    ({"position": (0.0, math.nan, 4.0)}, r"position\[1\] must be a finite number"),
    ({"position": (0.0, 4.0)}, "position must be 3 finite numbers"),
    ({"rotation_quat": (0.0, 0.0, 0.0, 0.0)}, r"rotation_quat: rotation must be .* a norm in \[1e-6, 1e6\]"),
    ({"rotation_quat": (1.0, 0.0, math.inf, 0.0)}, "rotation_quat"),
    ({"scale": math.inf}, "scale must be a finite number"),
    ({"light_intensity": "3"}, "light_intensity must be a finite number"),
    ({"object_id": -1}, "object_id must be an integer >= 0"),
    ({"background_id": 1.0}, "background_id must be an integer >= 0"),
    ({"seed": True}, "seed must be an integer >= 0"),
])
def test_image_state_refuses_bad_values(change, match):
    with pytest.raises(ValueError, match=match):
        ImageState.canonical(**change)


def test_image_state_keeps_an_unnormalised_quaternion_for_the_stage():
    assert ImageState.canonical(rotation_quat=(2.0, 0.0, 0.0, 0.0)).rotation_quat == (2.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------- BackgroundRef
def test_background_ref_of_the_table():
    refs = [BackgroundRef.of(b) for b in default_backgrounds()]
    assert refs[0] == BackgroundRef("grey", "color", (0.5, 0.5, 0.5), None, None)
    assert refs[0].world_colour == (0.5, 0.5, 0.5)
    assert refs[5].kind == "backdrop" and refs[5].world_colour == (0.35, 0.35, 0.35)
    with pytest.raises(ValueError, match="HDRI background 'x' has no file"):
        BackgroundRef.of(Background(name="x", kind="hdri", path=None))


@pytest.mark.parametrize("fields, match", [
    (("a", "gradient", (0.5, 0.5, 0.5), None, None), "kind 'gradient'; allowed: color, backdrop, hdri"),
    (("a", "hdri", None, None, None), "hdri background 'a' needs path"),
    (("a", "hdri", None, None, "  "), "path of HDRI background 'a' must be a non-empty string"),
    (("a", "color", None, None, None), "color background 'a' needs rgb"),
    (("a", "color", (0.5, 0.5), None, None), "rgb of background 'a' must be 3 finite numbers"),
    (("a", "color", (0.5, -0.1, 0.5), None, None), "must be >= 0"),
    (("a", "color", (0.5, 0.5, 0.5), None, "/x.exr"), "color background 'a' takes no path"),
    (("a", "backdrop", (0.6, 0.6, 0.6), None, None), "backdrop background 'a' needs world_rgb"),
    (("a", "hdri", (1.0, 1.0, 1.0), None, "/x.exr"), "hdri background 'a' takes no rgb"),
    (("", "color", (0.5, 0.5, 0.5), None, None), "background name must be a non-empty string"),
])
def test_background_ref_validation(fields, match):
    with pytest.raises(ValueError, match=match):
        BackgroundRef(*fields)


# ---------------------------------------------------------------- ObjectRef, StageSettings
def test_object_ref_of_object_info():
    o = placeholder_library().objects[3]
    r = ObjectRef.of(o)
    assert (r.name, r.builder, r.extents, r.rotation, r.sha256) == ("monkey", "primitive:monkey", o.extents, None, "")
    with pytest.raises(ValueError, match="builder 'blob:x'"):
        ObjectRef("a", "blob:x", (1.0, 1.0, 1.0), None, "")
    with pytest.raises(ValueError, match="sha256 of object 'a'"):
        ObjectRef("a", "file:/a.obj", (1.0, 1.0, 1.0), None, "abc")
    with pytest.raises(ValueError, match="rotation of object 'a' must be 9"):
        ObjectRef("a", "file:/a.obj", (1.0, 1.0, 1.0), (1.0, 0.0), "")


def test_stage_settings_validation():
    ok = dict(resolution=32, fov_deg=40.0, samples=2, denoise=False, want_mask=True, want_depth=False, device="cpu",
              device_slot=None, threads=0)
    assert StageSettings(**ok).scene == "studio"
    for change, match in [({"scene": "moon"}, "unknown scene 'moon'; allowed: studio"),
                          ({"device": "tpu"}, "unknown render device 'tpu'"),
                          ({"fov_deg": 180.0}, "fov_deg"), ({"samples": 0}, "samples"),
                          ({"want_mask": 1}, "want_mask must be True or False")]:
        with pytest.raises(ValueError, match=match):
            StageSettings(**{**ok, **change})


# ---------------------------------------------------------------- the launcher
def _fail(text):
    raise ValueError(text)


def _crash(code):
    sys.stdout.flush()
    os._exit(code)


def _stream(n):
    for i in range(n):
        yield i * i
    return "finished"


def _hang(seconds):
    time.sleep(seconds)


def test_launcher_streams_items_and_returns_the_result():
    got = []
    assert run_in_blender_child(_stream, 4, what="test", timeout=60, on_item=got.append) == "finished"
    assert got == [0, 1, 4, 9]


def test_launcher_turns_a_child_exception_into_one_render_error_line():
    with pytest.raises(RenderError) as e:
        run_in_blender_child(_fail, "bad thing\nsecond line", what="asset preview", timeout=60)
    assert str(e.value) == "asset preview: ValueError: bad thing second line"
    assert e.value.reason == "error"


def test_launcher_reports_a_crash_and_a_timeout():
    with pytest.raises(BlenderChildError, match=r"^probe: the Blender process stopped \(exit code 3\)$") as e:
        run_in_blender_child(_crash, 3, what="probe", timeout=60)
    assert e.value.reason == "crash" and e.value.exitcode == 3
    t0 = time.monotonic()
    with pytest.raises(BlenderChildError, match=r"^probe: the Blender process did not answer in 2 s$") as e:
        run_in_blender_child(_hang, 60, what="probe", timeout=2)
    assert e.value.reason == "timeout" and time.monotonic() - t0 < 30
