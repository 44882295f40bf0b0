import numpy as np
import pytest

from latentscape.config import DatasetSpec
from latentscape.errors import SamplingError, SpecError
from latentscape.latents import geometry as geo
from latentscape.latents.sampling import image_rng
from latentscape.latents.space import LATENTS, varying_groups

from conftest import make_sampler


def test_image_generator_is_seedsequence_of_seed_and_index():
    a = image_rng(7, 11).random(3)
    b = np.random.default_rng(np.random.SeedSequence([7, 11])).random(3)
    assert np.array_equal(a, b)


def test_latents_are_a_pure_function_of_spec_and_index():
    s = make_sampler(DatasetSpec(library="placeholder", n=300, seed=5))
    whole = s.sample_range(0, 300)
    parts = [s.sample_range(a, min(300, a + 37)) for a in reversed(range(0, 300, 37))]
    for name in LATENTS:
        joined = np.concatenate([p[name] for p in reversed(parts)])
        assert np.array_equal(joined, whole[name]), name
    # shard size changes nothing either
    s2 = make_sampler(DatasetSpec(library="placeholder", n=300, seed=5, shard_size=7))
    one = s2.sample(123)
    assert np.array_equal(one["position"], whole["position"][123])
    assert one["render_seed"] == whole["render_seed"][123]


def test_seed_changes_latents():
    a = make_sampler(DatasetSpec(library="placeholder", seed=0)).sample_range(0, 20)
    b = make_sampler(DatasetSpec(library="placeholder", seed=1)).sample_range(0, 20)
    assert not np.array_equal(a["position"], b["position"])


def test_held_groups_constant_and_varied_groups_spread():
    s = make_sampler(DatasetSpec(library="placeholder", vary=("pose", "position")))
    lat = s.sample_range(0, 500)
    for name in ("category", "object_id", "scale", "light_azimuth", "light_elevation", "light_intensity",
                 "light_temperature", "env_strength", "background_id", "env_rotation"):
        assert np.all(lat[name] == lat[name][0]), name
    assert lat["scale"][0] == 1.0 and lat["background_id"][0] == 0
    assert np.std(lat["image_xy"][:, 0]) > 0.2 and np.std(lat["distance"]) > 0.3  # U(2.5, 4.5): 0.58 before rejections
    assert len(np.unique(lat["rotation_quat"][:, 0])) == 500
    assert varying_groups(s.dists) == ["position", "pose"]


def test_fix_by_name_overrides_and_unknown_names_list_valid():
    s = make_sampler(DatasetSpec(library="placeholder", fix=(("category", "torus"),)))
    lat = s.sample_range(0, 50)
    assert set(lat["category"]) == {5} and set(lat["object_id"]) == {5}
    with pytest.raises(SpecError, match="valid: cone, cube"):
        make_sampler(DatasetSpec(library="placeholder", fix=(("category", "chair"),)))
    with pytest.raises(SpecError, match="unknown latent 'colour'"):
        DatasetSpec(library="placeholder", fix=(("colour", 1),)).validate()


def test_categories_balanced():
    lat = make_sampler(DatasetSpec(library="placeholder")).sample_range(0, 6000)
    counts = np.bincount(lat["category"], minlength=6)
    assert counts.min() > 850 and counts.max() < 1150
    assert np.array_equal(lat["category"], lat["object_id"])  # one object per placeholder category


def test_category_restriction():
    lat = make_sampler(DatasetSpec(library="placeholder", categories=("cube", "sphere"))).sample_range(0, 200)
    assert set(lat["category"]) == {1, 4}


def test_derived_latents_consistent():
    s = make_sampler(DatasetSpec(library="placeholder", pose_mode="euler", fov_deg=50))
    lat = s.sample_range(0, 200)
    for i in range(200):
        assert np.isclose(np.linalg.norm(lat["position"][i]), lat["distance"][i])
        assert np.allclose(geo.project(lat["position"][i], 50)[0], lat["image_xy"][i])
        m = geo.euler_to_matrix(*lat["rotation_euler"][i])
        assert np.allclose(geo.matrix_to_quat(m), lat["rotation_quat"][i], atol=1e-9)


def test_in_frame_guarantee_100k_draws():
    """Every projected bounding-box corner of 100,000 draws lies inside the frame minus the margin."""
    spec = DatasetSpec(library="placeholder", n=100_000, margin=0.03, vary=("category", "pose", "position", "scale"),
                      min_visible=0.0)  # the in-frame rule alone (tests/test_guarantees.py has --min-visible)
    s = make_sampler(spec)
    ext = np.array([o.extents for o in s.library.objects])
    corners = {k: geo.box_corners(e) for k, e in enumerate(ext)}
    worst = 0.0
    lat = s.sample_range(0, 100_000)
    q0 = geo.quat_to_matrix(geo.canonical_quat(spec.canonical_pose))  # poses are relative to the canonical one
    rots = np.stack([geo.ASSET_TO_CAMERA @ q0 @ geo.quat_to_matrix(q) for q in lat["rotation_quat"]])
    for k in range(len(ext)):
        sel = lat["object_id"] == k
        pts = (lat["scale"][sel, None, None] * corners[k][None]) @ np.transpose(rots[sel], (0, 2, 1))
        pts = pts + lat["position"][sel, None, :]
        uv = pts[..., :2] / (pts[..., 2:] * np.tan(np.radians(spec.fov_deg) / 2))
        worst = max(worst, np.abs(uv).max())
    assert worst <= 1 - 2 * 0.03 + 1e-9
    assert lat["rejections"].sum() > 0  # the rule was really exercised


def test_box_mode_positions():
    spec = DatasetSpec(library="placeholder", position_mode="box", distributions=(("position_z", _u(5, 6)),))
    lat = make_sampler(spec).sample_range(0, 100)
    assert lat["position"][:, 2].min() >= 5 and lat["position"][:, 2].max() <= 6


def test_impossible_in_frame_is_a_clear_error():
    spec = DatasetSpec(library="placeholder", fix=(("scale", 5.0),), distributions=(("distance", _u(1.5, 1.6)),))
    with pytest.raises(SamplingError, match="no in-frame position"):
        make_sampler(spec).sample(0)


def _u(lo, hi):
    from latentscape.latents.distributions import Dist
    return Dist(kind="uniform", low=lo, high=hi)
