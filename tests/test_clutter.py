"""Clutter and occlusion (issue 17): distractors drawn from their own generator around an unchanged
target, padded tables with counts, `--max-occlusion` decided before rendering from a numpy
prediction, and the renderer's occluded fraction checked against separate renders of the target
alone and with its distractors. Renders are 32 px at 1-2 samples on the placeholder library."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from latentscape import api
from latentscape.cli import main
from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.reader import DatasetReader
from latentscape.errors import SpecError, TargetError
from latentscape.latents.ground import heights
from latentscape.latents.space import CLUTTER_META, DISTRACTOR_LATENTS, LATENTS, META
from latentscape.renderer.child import run_in_blender_child
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings
from latentscape.resolve import resolve

CATS = ("cube", "sphere", "torus")  # few objects: the same one is often target and distractor


def _spec(**kw) -> DatasetSpec:
    base = dict(n=40, shard_size=40, resolution=32, library="placeholder", categories=CATS, seed=3,
                render=RenderSettings(samples=2, passes=("mask",)))
    return DatasetSpec(**{**base, **kw})


def _masks(settings, objects, backgrounds, states):
    """In a Blender child: per state, the object mask's pixel sums with the distractors and without
    them (two separate renders), and the mask with them."""
    from latentscape.renderer.blender.stage import Stage
    stage = Stage(settings, list(objects), list(backgrounds))
    out = []
    for s in states:
        _, cluttered = stage.render(s)
        _, alone = stage.render(dataclasses.replace(s, distractors=()))
        out.append((int(cluttered.sum(dtype=np.int64)), int(alone.sum(dtype=np.int64))))
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A studio dataset with 2-4 distractors per image, and its stored latents."""
    spec = _spec(n=8, shard_size=8, distractors=(2, 3, 4), seed=4, min_contrast=0.0)
    root = tmp_path_factory.mktemp("clutter") / "ds"
    api.render(spec, root, device="cpu", workers=1, progress=False)
    with DatasetReader(root) as r:
        lat = r.latents()
        masks = np.stack([r.mask(i) for i in range(len(r))])
    return spec, root, lat, masks


def test_occluded_fraction_matches_separate_renders(rendered):
    spec, _, lat, _ = rendered
    resolved = resolve(spec)
    settings = StageSettings.for_spec(spec, device="cpu", want_mask=True, want_depth=False, device_slot=None,
                                      threads=0, **resolved.stage_scene())
    stored = {k.removeprefix("meta/"): v for k, v in lat.items()}
    states = [ImageState.from_row(stored, i) for i in range(spec.n)]
    assert all(len(s.distractors) == lat["distractor_count"][i] for i, s in enumerate(states))
    ids = lat["distractor_object_id"]
    assert (ids == lat["object_id"][:, None]).any()  # the target's own object is also a distractor
    assert any(len(set(r[r >= 0])) < (r >= 0).sum() for r in ids)  # one object as two distractors
    sums = run_in_blender_child(_masks, settings, tuple(ObjectRef.of(o) for o in resolved.library.objects),
                                tuple(BackgroundRef.of(b) for b in resolved.backgrounds), tuple(states),
                                what="brute force", timeout=300)
    brute = np.array([1.0 - c / a for c, a in sums])
    measured = lat["meta/occluded_fraction"]
    assert np.abs(measured - brute).max() < 1e-5, (measured, brute)  # the same share, float32-stored
    assert brute.max() > 0.1  # some target is really occluded
    # the prediction (hulls at 64 px, decided before rendering) is close on these convex-ish objects
    assert np.abs(lat["meta/predicted_occlusion"] - measured).mean() < 0.15


def test_verify_and_rerender_hold_with_distractors(rendered):
    _, root, _, _ = rendered
    assert api.verify(root).ok
    report = api.rerender_check(root, 3)  # distractor tables compared, pixels within tolerance
    assert report.ok, report.problems


def test_verify_flags_distractor_tables_that_disagree_with_the_count(rendered, tmp_path):
    import shutil
    import h5py
    _, root, lat, _ = rendered
    copy = tmp_path / "ds"
    shutil.copytree(root, copy)
    i = int(np.argmin(lat["distractor_count"]))  # an image with a padded row
    with h5py.File(copy / "shards" / "shard-000000.h5", "r+") as f:
        f["latents/distractor_object_id"][i, -1] = 0  # a distractor the image does not have
    from latentscape.dataset.info import describe
    c = lat["distractor_count"]
    assert f"clutter   {c.min()}-{c.max()} distractors per image (mean {c.mean():.2f})" in describe(root)
    problems = [str(p) for p in api.verify(copy, fast=True).problems]
    assert any("distractor_object_id: 1 image(s) whose rows disagree with distractor_count" in p for p in problems), \
        problems


def test_visible_fraction_counts_only_unoccluded_target_pixels(rendered):
    spec, _, lat, masks = rendered
    visible = lat["meta/visible_fraction"]
    assert np.allclose(visible, masks.reshape(spec.n, -1).mean(axis=1) / 255.0, atol=1e-6)
    occluded = lat["meta/occluded_fraction"] > 0.1
    assert occluded.any()
    # the target's pixels with distractors hidden (from the occluded fraction) exceed what the mask shows
    alone = visible / np.maximum(1.0 - lat["meta/occluded_fraction"], 1e-9)
    assert np.all(visible[occluded] < alone[occluded] * 0.95)
    assert np.all(visible > 0)


def test_tables_are_padded_with_counts():
    spec = _spec(distractors=(0, 1, 2, 3))
    lat = api.sample_latents(spec)
    count = lat["distractor_count"]
    assert set(count.tolist()) == {0, 1, 2, 3}
    k = np.arange(3)[None, :]
    used = k < count[:, None]
    assert lat["distractor_object_id"].shape == (40, 3) and lat["distractor_position"].shape == (40, 3, 3)
    assert lat["distractor_rotation_quat"].shape == (40, 3, 4) and lat["distractor_scale"].shape == (40, 3)
    for name in ("distractor_object_id", "distractor_category"):
        assert np.all(lat[name][~used] == -1) and np.all(lat[name][used] >= 0)
    for name in ("distractor_position", "distractor_rotation_quat", "distractor_scale", "distractor_size_m"):
        v = lat[name].reshape(40, 3, -1)
        assert np.all(np.isnan(v[~used])) and np.all(np.isfinite(v[used]))
    lib = resolve(spec).library
    cats = [lib.category_index(lib.objects[o].category) for o in lat["distractor_object_id"][used]]
    assert cats == lat["distractor_category"][used].tolist()
    assert np.allclose(np.linalg.norm(lat["distractor_rotation_quat"][used], axis=1), 1.0)
    _no_sphere_meets(lat, lib)
    assert set(DISTRACTOR_LATENTS) | set(CLUTTER_META) <= set(lat)


def _no_sphere_meets(lat, lib):
    """Bounding spheres of the target and the distractors never meet."""
    radius = lambda o, s: 0.5 * np.linalg.norm(lib.objects[int(o)].extents) * s  # noqa: E731
    for i in range(len(lat["index"])):
        bodies = [(lat["position"][i], radius(lat["object_id"][i], lat["scale"][i]))]
        for k in range(lat["distractor_count"][i]):
            bodies.append((lat["distractor_position"][i, k],
                           radius(lat["distractor_object_id"][i, k], lat["distractor_scale"][i, k])))
        for a in range(len(bodies)):
            for b in range(a):
                assert np.linalg.norm(bodies[a][0] - bodies[b][0]) > bodies[a][1] + bodies[b][1]


@pytest.mark.parametrize("scene", ["studio", "ground"])
def test_the_target_keeps_its_latents(scene):
    plain, cluttered = (api.sample_latents(_spec(scene=scene, distractors=d, categories=())) for d in (0, 3))
    for name in [*LATENTS, *META, *(k for k in plain if k.startswith("camera_"))]:
        if name == "predicted_contrast":  # a prediction about the image: distractors in the ring count
            continue
        assert np.array_equal(plain[name], cluttered[name], equal_nan=plain[name].dtype.kind == "f"), name
    sampler = resolve(_spec(scene=scene, distractors=3, categories=())).sampler
    for i in range(len(plain["index"])):
        target = {k: plain[k][i] for k in plain if not k.startswith("distractor_")}
        shown = [{"object_id": int(cluttered["distractor_object_id"][i, k]),
                  "rotation_quat": cluttered["distractor_rotation_quat"][i, k],
                  "position": cluttered["distractor_position"][i, k],
                  "points": sampler.posed_hull(int(cluttered["distractor_object_id"][i, k]),
                                               cluttered["distractor_rotation_quat"][i, k],
                                               float(cluttered["distractor_scale"][i, k]),
                                               cluttered["distractor_position"][i, k])}
                 for k in range(int(cluttered["distractor_count"][i]))]
        expected = np.float32(sampler.contrast_with(target, shown)) if shown else plain["predicted_contrast"][i]
        assert np.array_equal(cluttered["predicted_contrast"][i], expected, equal_nan=True), i
    assert not any(k.startswith("distractor_") for k in plain)
    ident = resolve(_spec(scene=scene, categories=())).to_dict()["spec"]
    assert "distractors" not in ident and "max_occlusion" not in ident  # older datasets keep their identity


def test_grounded_distractors_stand_on_the_ground():
    spec = _spec(scene="ground", distractors=3, categories=())
    sampler = resolve(spec).sampler
    lat = api.sample_latents(spec)
    for i in range(spec.n):
        for k in range(lat["distractor_count"][i]):
            pts = sampler.posed_hull(int(lat["distractor_object_id"][i, k]), lat["distractor_rotation_quat"][i, k],
                                     lat["distractor_scale"][i, k], lat["distractor_position"][i, k])
            low = heights(pts, lat["camera_height"][i], lat["camera_pitch"][i]).min()
            assert abs(low) < 1e-9


def test_distractors_stay_clear_of_the_backdrop_and_the_room_walls():
    from latentscape.assets.backgrounds import default_backgrounds
    from latentscape.blender_scenes import room, studio
    from latentscape.latents import clutter
    assert (clutter.BACKDROP_FLOOR, clutter.BACKDROP_WALL) == (studio.FLOOR_BELOW,
                                                               studio.WALL_DISTANCE - studio.SWEEP_RADIUS)
    assert clutter.ROOM_HALF_WIDTH == room.HALF_WIDTH
    backdrop = next(i for i, b in enumerate(default_backgrounds()) if b.kind == "backdrop")
    for scene, fix in (("studio", (("background_id", backdrop),)), ("room", ())):
        spec = _spec(scene=scene, distractors=4, categories=(), fix=fix)
        lib, lat = resolve(spec).library, api.sample_latents(spec)
        for i in range(spec.n):
            for k in range(lat["distractor_count"][i]):
                p = lat["distractor_position"][i, k]
                r = 0.5 * np.linalg.norm(lib.objects[int(lat["distractor_object_id"][i, k])].extents) \
                    * lat["distractor_scale"][i, k]
                if scene == "studio":
                    assert p[1] - r > -studio.FLOOR_BELOW and p[2] + r < studio.WALL_DISTANCE
                else:
                    pitch = lat["camera_pitch"][i]
                    up = np.array([0.0, np.cos(pitch), np.sin(pitch)])
                    assert np.linalg.norm(p - (p @ up) * up) + r < room.HALF_WIDTH


def test_max_occlusion_bounds_the_prediction_and_counts_rejections():
    free = api.sample_latents(_spec(distractors=4, n=60))
    capped = api.sample_latents(_spec(distractors=4, n=60, max_occlusion=0.1))
    assert free["predicted_occlusion"].max() > 0.1
    assert capped["predicted_occlusion"].max() <= 0.1
    rejected = capped["rejections_occlusion"]
    assert rejected.sum() > 0 and np.all(rejected[free["predicted_occlusion"] <= 0.1] == 0)
    kept = rejected == 0  # a first draw under the limit is the unlimited draw
    assert np.array_equal(free["distractor_position"][kept], capped["distractor_position"][kept], equal_nan=True)
    assert np.array_equal(free["position"], capped["position"])


@pytest.mark.parametrize("flags, message", [
    (["--distractors", "-1"], "distractors"),
    (["--distractors", "two"], "distractors"),
    (["--distractors", "1", "--max-occlusion", "1.5"], "max_occlusion must be a number in [0, 1]"),
    (["--max-occlusion", "0.3"], "max_occlusion 0.3 needs distractors"),
    (["--distractors", "2", "--scene", "ground", "--design", "sweep", "--sweep", "camera_pitch=-20:0:2",
      "--n-base", "1"], "a sweep of camera_pitch would move them between its levels"),
])
def test_bad_input_is_one_line_before_rendering(capsys, tmp_path, flags, message):
    args = ["render", "--library", "placeholder", "--n", "2", *flags, "--out", str(tmp_path / "ds")]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err.strip()
    assert e.value.code != 0 and len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "ds").exists()


def test_spec_round_trip_and_counts():
    spec = _spec(distractors="0:2", max_occlusion=0.5)
    assert spec.distractors == (0, 1, 2) and spec.to_dict()["distractors"] == [0, 1, 2]
    assert DatasetSpec.from_dict(spec.to_dict()) == spec
    assert _spec(distractors="0,2,4").distractors == (0, 2, 4) and _spec(distractors=3).to_dict()["distractors"] == 3
    with pytest.raises(SpecError, match="distractors"):
        _spec(distractors=[1, -2])


def test_latent_dataset_collates_distractors_and_scene_latents(tmp_path, rendered):
    import torch

    from latentscape.dataset.torch import LatentDataset
    spec = _spec(scene="ground", n=3, shard_size=3, distractors="0:2", categories=(),
                 render=RenderSettings(samples=1))
    api.render(spec, tmp_path / "ds", device="cpu", workers=1, progress=False)
    ds = LatentDataset(tmp_path / "ds", targets=["camera_height", "distractors", "category"])
    _, y = ds[0]
    assert set(y) == {"camera_height", "category", *DISTRACTOR_LATENTS}
    assert y["distractor_position"].shape == (2, 3) and y["distractor_object_id"].dtype == torch.int64
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))[1]
    assert batch["distractor_rotation_quat"].shape == (3, 2, 4) and batch["distractor_count"].shape == (3,)
    with DatasetReader(tmp_path / "ds") as r:
        lat = r.latents()
    for i in range(3):
        d = ds.distractors(i)
        n = int(d["count"])
        assert n == lat["distractor_count"][i] and torch.all(d["object_id"][n:] == -1)
        assert torch.isnan(d["position"][n:]).all() and torch.isfinite(d["position"][:n]).all()
        assert float(y["camera_height"]) == pytest.approx(lat["camera_height"][0])
    z = LatentDataset(tmp_path / "ds", targets=["distractor_position", "camera_height"], split="train",
                      continuous="zscore")  # statistics over the train part's distractors (NaN rows left out)
    raw = lat["distractor_position"][z.indices].reshape(-1, 3)
    want = (raw - np.nanmean(raw, axis=0)) / np.nanstd(raw, axis=0)
    got = np.concatenate([z.targets_of(i)["distractor_position"].numpy() for i in range(len(z))])
    assert np.allclose(got, want, atol=1e-5, equal_nan=True) and np.isfinite(got).any()
    with pytest.raises(TargetError, match="unknown target 'camera_height'"):
        LatentDataset(rendered[1], targets=["camera_height"])  # a studio dataset stores no camera height


def test_the_visibility_guarantee_counts_only_the_unoccluded_part():
    """With distractors, predicted hull coverage x (1 - predicted occlusion) stays over --min-visible."""
    spec = DatasetSpec(library="placeholder", n=300, seed=11, distractors=(4,), min_visible=0.02)
    lat = resolve(spec).sampler.sample_range(0, 300)
    assert (lat["predicted_visible"] * (1 - lat["predicted_occlusion"]) >= 0.02).all()
    assert lat["predicted_occlusion"].max() > 0.1  # distractors do cover targets, within the guarantee
