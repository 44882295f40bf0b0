"""Guarantees decided before rendering (issue 12): --min-visible from per-object convex hulls,
--min-contrast from mean colours, re-draws counted per cause; --size real. No Blender here."""
from __future__ import annotations

import math

import numpy as np
import pytest

from latentscape.assets.hulls import hull_points, hull_text
from latentscape.assets.library import placeholder_library
from latentscape.config import DatasetSpec
from latentscape.errors import SamplingError
from latentscape.latents import appearance as app
from latentscape.latents import geometry as geo
from latentscape.resolve import ResolvedDataset, resolve

N = 300


def _latents(**kw):
    return resolve(DatasetSpec(n=N, library=kw.pop("library", "placeholder"), **kw)).sampler.sample_range(0, N)


def test_hull_keeps_the_extremes_and_survives_storage():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-0.5, 0.5, (2000, 3))
    hull = geo.support_hull(pts)
    assert len(hull) <= geo.HULL_DIRECTIONS + 6
    assert np.allclose(hull.max(0), pts.max(0)) and np.allclose(hull.min(0), pts.min(0))  # the box is kept
    assert np.abs(hull_points(hull_text(pts)) - hull).max() <= 0.5e-4  # 0.1 mm quanta
    assert geo.hull_area_2d([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]]) == pytest.approx(1.0)
    assert geo.hull_area_2d([[0, 0], [1, 1], [2, 2]]) == 0.0  # edge-on: collinear


def test_visible_fraction_of_a_cube_face_on_is_its_projected_square():
    cube = placeholder_library().objects[1]
    assert cube.name == "cube" and len(cube.hull_points()) == 8
    z, fov = 4.0, 40.0
    pts = geo.object_points_camera(cube.hull_points(), [0, 0, z], [1, 0, 0, 0], 1.0)
    # the near face (0.5 m closer) is the silhouette: side 1 m at depth z - 0.5
    half = 0.5 / ((z - 0.5) * math.tan(math.radians(fov / 2)))
    assert geo.visible_fraction(pts, fov) == pytest.approx(half ** 2, rel=1e-3)


def test_min_visible_redraws_only_pose_scale_position():
    free = _latents(min_visible=1e-9, min_contrast=0.0)  # predicted, but the limit never binds
    held = _latents(min_visible=0.05, min_contrast=0.0)
    assert (free["predicted_visible"] < 0.05).sum() > 10  # the limit binds
    assert held["predicted_visible"].min() >= 0.05
    assert held["rejections_visible"].sum() >= (free["predicted_visible"] < 0.05).sum()
    assert (held["rejections_contrast"] == 0).all()
    for k in ("category", "object_id", "background_id", "env_rotation", "light_intensity", "render_seed"):
        assert np.array_equal(free[k], held[k]), k  # drawn before and never re-drawn
    same = held["rejections_visible"] == 0
    for k in ("rotation_quat", "scale", "position"):
        assert np.array_equal(free[k][same], held[k][same]), k


def test_min_contrast_redraws_only_background_and_lighting():
    free = _latents(min_visible=0.0, min_contrast=1e-9)
    held = _latents(min_visible=0.0, min_contrast=30.0)
    solid = np.isfinite(held["predicted_contrast"])
    assert held["predicted_contrast"][solid].min() >= 30.0 and held["rejections_contrast"].sum() > 0
    for k in ("category", "object_id", "rotation_quat", "scale", "position", "render_seed"):
        assert np.array_equal(free[k], held[k]), k


def test_latents_command_and_a_stored_description_draw_the_same_latents():
    resolved = resolve(DatasetSpec(n=N, library="procedural"))
    again = ResolvedDataset.from_dict(resolved.to_dict())
    a, b = resolved.sampler.sample_range(0, 50), again.sampler.sample_range(0, 50)
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
    assert resolved.identity() == again.identity()


def test_a_guarantee_nothing_can_meet_stops_before_rendering_naming_the_objects():
    with pytest.raises(SamplingError) as e:
        resolve(DatasetSpec(library="placeholder", vary=("category", "pose", "position"), min_contrast=10.0)).sampler
    msg = str(e.value)
    assert "--min-contrast 10" in msg and "monkey" in msg and "background or lighting" in msg and "cube" not in msg
    with pytest.raises(SamplingError, match="--min-visible 0.3 .*pose, position or scale.*cube"):
        resolve(DatasetSpec(library="placeholder", vary=("category", "identity"), min_visible=0.3)).sampler


def test_defaults_switch_on_only_where_a_redraw_can_meet_them():
    assert DatasetSpec().min_visible == 0.005 and DatasetSpec().min_contrast == 10.0
    s = DatasetSpec(vary=("pose", "position"))
    assert s.min_visible == 0.005 and s.min_contrast == 0.0  # a fixed background: no contrast guarantee
    assert DatasetSpec(vary=("category",)).min_visible == 0.0
    resolve(DatasetSpec(library="placeholder", vary=("pose", "position"))).sampler  # no error
    with pytest.raises(Exception, match="min_visible must be a number in"):
        DatasetSpec(min_visible=2.0)


def test_default_library_images_are_never_predicted_empty():
    lat = resolve(DatasetSpec(n=400)).sampler.sample_range(0, 400)
    assert lat["predicted_visible"].min() >= 0.005
    solid = np.isfinite(lat["predicted_contrast"])
    assert solid.sum() > 50 and lat["predicted_contrast"][solid].min() >= 10.0


def test_contrast_model_is_monotone_and_knows_white_on_white():
    for vt in ("agx", "standard"):
        c = app.DISPLAY_CURVE[vt]
        assert (np.diff(c) >= 0).all() and c[0] < 10 and c[-1] == 255
    # the grey studio (linear 0.5) reads 170 under AgX and 188 under Standard in Blender (test_render.py)
    assert abs(app.display_rgb_luminance((0.5,) * 3, "agx") - 170) <= 2
    assert abs(app.display_rgb_luminance((0.5,) * 3, "standard") - 188) <= 2
    lat = {"light_intensity": 3.0, "light_azimuth": 0.0, "light_elevation": 0.6, "env_strength": 1.0}
    white, black = (0.9, 0.9, 0.9), (0.02, 0.02, 0.02)
    assert app.predicted_contrast(black, "color", white, lat, "agx") > 100
    assert app.predicted_contrast(white, "color", white, lat, "agx") < app.predicted_contrast(black, "color", white,
                                                                                            lat, "agx")
    assert math.isinf(app.predicted_contrast(white, "hdri", None, lat, "agx"))


def test_real_size_scales_positions_with_the_object():
    unit = resolve(DatasetSpec(n=N, library="procedural", size="unit")).sampler.sample_range(0, N)
    real = resolve(DatasetSpec(n=N, library="procedural", size="real")).sampler.sample_range(0, N)
    from latentscape.assets.procedural import REAL_SIZE_M
    lib = resolve(DatasetSpec(library="procedural")).library
    want = np.array([REAL_SIZE_M[lib.objects[o].category] for o in real["object_id"]])
    assert np.array_equal(real["size_m"], want) and (unit["size_m"] == 1).all()
    # the same draws: positions (and distances) are the unit ones times the object's size
    assert np.allclose(real["position"], unit["position"] * want[:, None])
    assert np.allclose(real["distance"], unit["distance"] * want)
    assert np.allclose(real["image_xy"], unit["image_xy"]) and np.allclose(real["predicted_visible"],
                                                                           unit["predicted_visible"], rtol=1e-5)
    mugs = real["distance"][want == REAL_SIZE_M["mug"]]
    assert len(mugs) and mugs.max() < 1.0  # a mug is framed at under a metre, a car at tens of metres


def test_flags_derive_the_defaults_from_what_they_set():
    """A default that depends on other fields follows the flags, unless given (flag or config file)."""
    from latentscape.specopts import spec_from_flags
    assert spec_from_flags(vary="pose,position").min_contrast == 0.0  # the background is fixed
    assert spec_from_flags(vary="pose,position", min_contrast=5.0).min_contrast == 5.0
    assert spec_from_flags(vary="category,identity").min_visible == 0.0
    assert spec_from_flags(pose_mode="facing").canonical_pose == "front"
    assert spec_from_flags().min_visible == 0.005 and spec_from_flags().min_contrast == 10.0


def test_min_visible_with_only_the_pose_varying_redraws_the_pose():
    """The position is held fixed: a re-drawn pose alone must be judged again (and can meet it)."""
    lat = resolve(DatasetSpec(n=60, library="placeholder", vary=("pose",), fix=(("category", "torus"),),
                              min_visible=0.04)).sampler.sample_range(0, 60)
    assert lat["predicted_visible"].min() >= 0.04 and lat["rejections_visible"].sum() > 0
    assert np.unique(lat["position"], axis=0).shape[0] == 1  # never moved
