"""Designs: grids, sweeps, pairs and blocks keep "image i is a function of (spec, i)", pin exactly what
they name, and refuse impossible points before rendering (docs/designs.md)."""
import csv

import numpy as np
import pytest
from click.testing import CliRunner

from latentscape.cli import cli, main
from latentscape.config import DatasetSpec
from latentscape.errors import SamplingError, SpecError
from latentscape.latents.designs import Design, parse_levels
from latentscape.latents.space import GROUPS, LATENTS

from conftest import make_resolved, write_synthetic_dataset

LIB = "procedural"
# the stored latents of each group (what "differ in exactly these groups" compares)
GROUP_LATENTS = {g: [k for k, lt in LATENTS.items() if lt.group == g] for g in GROUPS}


def grid(*levels, others="fixed", **kw):
    return DatasetSpec(library=LIB, design=Design(kind="grid", levels=tuple(parse_levels(x) for x in levels),
                                                  others=others), **kw)


def _same_angle(x, y) -> bool:
    return abs((x - y + np.pi) % (2 * np.pi) - np.pi) < 1e-9


def draw(spec):
    return make_resolved(spec).sampler.sample_range(0, spec.n)


# ---- levels ------------------------------------------------------------------------
def test_levels_circular_exclude_stop_and_angles_are_degrees():
    name, vals = parse_levels("yaw=0:360:12")
    assert name == "yaw" and len(vals) == 12
    assert np.allclose(vals, np.radians(np.arange(0, 360, 30)))
    _, pitch = parse_levels("pitch=-90:90:3")  # not circular: STOP included
    assert np.allclose(pitch, np.radians([-90, 0, 90]))
    _, d = parse_levels("distance=3:5:3")
    assert d == (3.0, 4.0, 5.0)
    assert parse_levels("category=chair,mug") == ("category", ("chair", "mug"))
    assert parse_levels("scale=0.8,1.2") == ("scale", (0.8, 1.2))


@pytest.mark.parametrize("item, words", [
    ("bogus=1,2", "unknown latent 'bogus'"),
    ("pitch=0:180:3", "outside its valid range"),
    ("yaw=0:360:0", "COUNT must be an integer >= 1"),
    ("scale=a,b", "'a' is not a number"),
    ("category=0:3:3", "categorical; list its values"),
    ("yaw", "expects NAME=START:STOP:COUNT"),
])
def test_bad_levels_name_the_problem(item, words):
    with pytest.raises(SpecError, match=words):
        parse_levels(item)


# ---- grid --------------------------------------------------------------------------
def test_grid_is_complete_in_order_and_holds_its_levels():
    spec = grid("yaw=0:360:4", "category=chair,mug", "scale=0.8,1,1.2")
    assert spec.n == 24 and spec.pose_mode == "euler"  # a level names yaw: per-angle values
    lat = draw(spec)
    r = make_resolved(spec)
    chair, mug = r.library.category_index("chair"), r.library.category_index("mug")
    seen = set()
    for i in range(24):
        a, b, c = np.unravel_index(i, (4, 2, 3))  # first name slowest
        assert tuple(lat["design_levels"][i]) == (a, b, c)
        assert _same_angle(lat["rotation_euler"][i][0], np.radians(90 * a))
        assert lat["category"][i] == (chair, mug)[b]
        assert lat["scale"][i] == (0.8, 1.0, 1.2)[c]
        seen.add((a, b, c))
    assert len(seen) == 24
    # others fixed: everything else at its canonical value in every image
    for name in ("light_azimuth", "env_strength", "background_id", "env_rotation", "distance"):
        assert len(set(lat[name].tolist())) == 1, name
    assert np.allclose(lat["rotation_euler"][:, 1:], 0) and np.allclose(lat["image_xy"], 0)


def test_grid_with_random_others_draws_the_rest_per_image():
    lat = draw(grid("scale=0.8,1.2", others="random", seed=4))
    assert np.array_equal(lat["scale"], np.tile([0.8, 1.2], 1))
    spec = grid("scale=0.5:1.5:20", others="random", seed=4)
    lat = draw(spec)
    assert np.allclose(lat["scale"], np.linspace(0.5, 1.5, 20))
    assert len(set(lat["light_azimuth"].tolist())) == 20 and len(set(np.round(lat["distance"], 9))) == 20


def test_grid_too_large_and_n_beside_it_are_refused():
    with pytest.raises(SpecError, match="over --max-n 1,000"):
        Design(kind="grid", levels=(parse_levels("yaw=0:360:100"), parse_levels("scale=0.5:1.5:11")), max_n=1000)
    with pytest.raises(SpecError, match="n = 5, but the grid design has 4 images"):
        DatasetSpec.from_dict({"n": 5, "design": {"kind": "grid", "levels": {"yaw": "0:360:4"}}})
    # a YAML 'START:STOP:COUNT' string is read in degrees, like the flag
    spec = DatasetSpec.from_dict({"design": {"kind": "grid", "levels": {"yaw": "0:360:4"}}})
    assert spec.n == 4 and np.allclose(spec.design.levels[0][1], np.radians([0, 90, 180, 270]))
    assert DatasetSpec.from_dict(spec.to_dict()) == spec


def test_impossible_grid_point_is_refused_before_rendering(tmp_path):
    from latentscape.api import render
    spec = grid("image_x=-1,0,1", resolution=16)
    with pytest.raises(SamplingError, match=r"design point 0 \(image_x=-1\).*leaves the frame"):
        make_resolved(spec).sampler.check()
    with pytest.raises(SamplingError, match="design point 0"):
        render(spec, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "dataset.json").exists()


# ---- sweep -------------------------------------------------------------------------
def test_sweep_changes_only_the_swept_latent():
    spec = DatasetSpec(library=LIB, seed=2, design=Design(kind="sweep", levels=(parse_levels("light_azimuth=-180:180:6"),),
                                                          n_base=5))
    assert spec.n == 30
    lat = draw(spec)
    for b in range(5):
        rows = slice(6 * b, 6 * b + 6)
        assert np.allclose(lat["light_azimuth"][rows], np.radians(np.arange(-180, 180, 60)))
        assert np.array_equal(lat["design_point"][rows], [b] * 6) and np.array_equal(lat["design_member"][rows], range(6))
        for name in LATENTS:
            if name != "light_azimuth":
                v = lat[name][rows]
                assert (v == v[0]).all(), (b, name)
    assert len(set(lat["scale"][::6].tolist())) == 5  # the bases differ


def test_sweep_of_a_pose_angle_keeps_the_others_angles_and_the_position():
    spec = DatasetSpec(library=LIB, seed=1, design=Design(kind="sweep", levels=(parse_levels("yaw=0:360:8"),), n_base=4))
    lat = draw(spec)
    eul = lat["rotation_euler"]
    for b in range(4):
        rows = slice(8 * b, 8 * b + 8)
        assert np.allclose(eul[rows, 1], eul[8 * b, 1]) and np.allclose(eul[rows, 2], eul[8 * b, 2])
        assert (lat["position"][rows] == lat["position"][8 * b]).all()
    r = make_resolved(spec).sampler
    assert all(r.base.in_frame({k: lat[k][i] for k in LATENTS}) for i in range(spec.n))


# ---- pairs -------------------------------------------------------------------------
def _differing_groups(lat, i, j):
    return {g for g, names in GROUP_LATENTS.items() if any(not np.array_equal(lat[k][i], lat[k][j]) for k in names)}


@pytest.mark.parametrize("differ", [("pose",), ("pose", "scale"), ("category",), ("identity",), ("background",)])
def test_pairs_differ_exactly_in_the_named_groups(differ):
    spec = DatasetSpec(library=LIB, n=60, seed=3, design=Design(kind="pairs", differ=differ))
    lat = draw(spec)
    expect = set(differ) | ({"identity"} if "category" in differ else set())  # a new category is a new object
    for j in range(30):
        got = _differing_groups(lat, 2 * j, 2 * j + 1)
        assert got == expect, (j, got)
        assert lat["design_changed"][2 * j] == sum(1 << GROUPS.index(g) for g in differ)


def test_k_random_pairs_record_what_they_change():
    spec = DatasetSpec(library=LIB, n=80, seed=5, design=Design(kind="pairs", k_random=2))
    lat = draw(spec)
    counts = {}
    for j in range(40):
        mask = int(lat["design_changed"][2 * j])
        named = {g for i, g in enumerate(GROUPS) if mask >> i & 1}
        assert len(named) == 2
        got = _differing_groups(lat, 2 * j, 2 * j + 1)
        assert got == named | ({"identity"} if "category" in named else set()), (j, named, got)
        for g in named:
            counts[g] = counts.get(g, 0) + 1
    assert len(counts) >= 5  # the picks spread over the groups


def test_pairs_of_a_fixed_group_are_refused():
    spec = DatasetSpec(library=LIB, n=4, vary=("pose",), design=Design(kind="pairs", differ=("scale",)))
    with pytest.raises(SpecError, match="--differ scale: held fixed"):
        make_resolved(spec).sampler


# ---- every design ------------------------------------------------------------------
DESIGNS = [
    lambda: grid("yaw=0:360:6", "image_x=-0.5,0,0.5", others="random", seed=9),
    lambda: DatasetSpec(library=LIB, seed=9, design=Design(kind="sweep", levels=(parse_levels("distance=2.5:6:4"),),
                                                           n_base=10)),
    lambda: DatasetSpec(library=LIB, n=40, seed=9, design=Design(kind="pairs", differ=("pose", "position"))),
]


@pytest.mark.parametrize("make", DESIGNS)
def test_designs_are_a_function_of_spec_and_index_and_meet_the_guarantees(make):
    spec = make()
    lat = draw(spec)
    s = make_resolved(spec).sampler
    for i in (spec.n - 1, 0, spec.n // 2):  # alone, in any order, from a fresh sampler
        one = make_resolved(spec).sampler.sample(i)
        for name in LATENTS:
            assert np.array_equal(one[name], lat[name][i]), (i, name)
    assert (lat["predicted_visible"] >= spec.min_visible).all()
    assert all(s.base.in_frame({k: lat[k][i] for k in LATENTS}) for i in range(spec.n))
    assert len(set(lat["render_seed"].tolist())) == spec.n


def test_design_fields_reach_the_shards_and_the_datasets(tmp_path):
    import torch
    from latentscape import LatentDataset, LatentPairs
    from latentscape.dataset.reader import DatasetReader
    g = grid("yaw=0:360:3", "scale=0.8,1.2", resolution=8, shard_size=4)
    write_synthetic_dataset(tmp_path / "g", g)
    ds = LatentDataset(tmp_path / "g", targets=["scale"])
    img, y = ds.grid_item(yaw=2, scale=1)
    assert float(y["scale"]) == pytest.approx(1.2)
    assert torch.equal(img, ds[5][0])
    with pytest.raises(SpecError, match="give a level index for each grid latent"):
        ds.grid_item(yaw=1)
    with open(tmp_path / "g" / "design.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["yaw_level"] for r in rows] == ["0", "0", "1", "1", "2", "2"] and rows[5]["scale"] == "1.2"
    p = DatasetSpec(library=LIB, n=10, resolution=8, shard_size=3, design=Design(kind="pairs", differ=("scale",)))
    write_synthetic_dataset(tmp_path / "p", p)
    pairs = LatentPairs(tmp_path / "p", targets=["scale", "position"])
    assert len(pairs) == 5
    a, b, changed = pairs[2]
    assert a.shape == b.shape == (3, 8, 8) and changed.tolist() == [g == "scale" for g in GROUPS]
    ya, yb = pairs.targets(2)
    assert torch.equal(ya["position"], yb["position"]) and not torch.equal(ya["scale"], yb["scale"])
    with DatasetReader(tmp_path / "p") as r:
        assert r.latents()["meta/design_member"].tolist() == [0, 1] * 5
    with pytest.raises(SpecError, match="not a pairs dataset"):
        LatentPairs(tmp_path / "g")


# ---- command line ------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--design", "grid", "--levels", "bogus=1,2"], "unknown latent 'bogus'"),
    (["--design", "grid", "--levels", "pitch=0:180:3"], "outside its valid range [-pi/2, pi/2] rad (level 180 deg)"),
    (["--design", "grid", "--levels", "yaw=0:360:1000", "--levels", "scale=0.5:1.5:2000"],
     "the grid has 2,000,000 points (1000 yaw x 2000 scale), over --max-n 1,000,000"),
    (["--levels", "yaw=0:360:4"], "--levels belongs to a design"),
    (["--design", "grid", "--sweep", "yaw=0:360:4"], "--sweep does not apply to --design grid"),
    (["--design", "sweep", "--sweep", "yaw=0:360:4"], "needs --sweep NAME=START:STOP:COUNT and --n-base N"),
    (["--design", "pairs", "--n", "7", "--differ", "pose"], "needs an even n"),
    (["--design", "pairs", "--differ", "posture"], "unknown --differ group 'posture'"),
    (["--preset", "nope"], "unknown preset 'nope'"),
])
def test_bad_design_flags_are_one_clear_line(args, words, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["render", "--library", LIB, "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "o").exists()


def test_config_says_what_the_design_decided():
    res = CliRunner().invoke(cli, ["config", "--design", "grid", "--levels", "yaw=0:360:12",
                                   "--levels", "category=chair,mug"])
    assert res.exit_code == 0, res.output
    assert "# grid: 12 yaw x 2 category = 24 images (others fixed)" in res.output
    assert "# pose_mode euler: the levels name yaw" in res.output
    spec = DatasetSpec.from_dict(__import__("yaml").safe_load(res.output))
    assert spec.n == 24 and spec.pose_mode == "euler"


@pytest.mark.blender
def test_rendered_sweep_changes_only_the_object_pixels(tmp_path):
    """On a solid background, a pose sweep leaves every pixel outside the object untouched."""
    from latentscape.api import render
    from latentscape.dataset.reader import DatasetReader
    from latentscape.config import RenderSettings
    spec = DatasetSpec(library="placeholder", seed=3, resolution=32, fix=(("background_id", 1),),
                       render=RenderSettings(samples=2, denoise=False, passes=("mask",)),
                       design=Design(kind="sweep", levels=(parse_levels("yaw=0:360:3"),), n_base=2))
    render(spec, tmp_path / "s", progress=False)
    with DatasetReader(tmp_path / "s") as r:
        images = np.stack([r.image(i) for i in range(6)])
        masks = np.stack([r.mask(i) for i in range(6)])
        lat = r.latents()
    for b in range(2):
        rows = slice(3 * b, 3 * b + 3)
        # outside every level's object, beyond the 1.5 px pixel filter's reach (one pixel of dilation)
        near = np.pad((masks[rows] > 0).any(0), 1)
        near = near[1:-1, 1:-1] | near[:-2, 1:-1] | near[2:, 1:-1] | near[1:-1, :-2] | near[1:-1, 2:] | \
            near[:-2, :-2] | near[:-2, 2:] | near[2:, :-2] | near[2:, 2:]
        outside = ~near
        assert outside.mean() > 0.3  # the object does not fill the frame
        assert (images[rows][:, outside] == images[3 * b][outside]).all()
        inside = ~outside
        assert not (images[3 * b + 1][inside] == images[3 * b][inside]).all()  # the object turned
        for name in LATENTS:
            if name not in ("rotation_quat", "rotation_euler"):
                assert (lat[name][rows] == lat[name][3 * b]).all(), name


# ---- designs in scene templates ----------------------------------------------------------
def test_designs_in_grounded_scenes_keep_objects_on_the_ground():
    from latentscape.latents import geometry as geo
    from latentscape.latents.ground import heights
    from latentscape.specopts import spec_from_flags
    cases = [dict(scene="ground", design="grid", levels=("yaw=0:360:4", "camera_pitch=-20:0:3",
                                                           "ground_material=grass,sand")),
             dict(scene="room", design="sweep", sweep="camera_height=0.5:1.5:3", n_base=4),
             dict(scene="hdri", design="pairs", n=8, differ="pose")]
    for kw in cases:
        spec = spec_from_flags(library=LIB, **kw)
        s = make_resolved(spec).sampler
        lat = s.sample_range(0, spec.n)
        for i in range(spec.n):
            pts = geo.object_points_camera(s.base._hull(lat["object_id"][i]), lat["position"][i],
                                           geo.quat_mul(s.base._q0, lat["rotation_quat"][i]), lat["scale"][i])
            assert abs(heights(pts, lat["camera_height"][i], lat["camera_pitch"][i]).min()) < 1e-9, (kw, i)
        if kw["design"] == "grid":
            assert np.allclose(lat["camera_pitch"], np.tile(np.radians([-20, -20, -10, -10, 0, 0]), 4))
            assert lat["ground_material"].tolist() == [1, 3] * 12 and (lat["camera_height"] == 1.0).all()
        if kw["design"] == "sweep":  # only the camera height moves along a sweep
            for b in range(4):
                rows = slice(3 * b, 3 * b + 3)
                assert np.allclose(lat["camera_height"][rows], [0.5, 1.0, 1.5])
                for name in ("camera_pitch", "room_material", "scale", "object_id", "light_azimuth"):
                    assert (lat[name][rows] == lat[name][3 * b]).all(), name
    with pytest.raises(SpecError, match="cannot honour a value of image_y"):
        make_resolved(spec_from_flags(library=LIB, scene="ground", design="grid", levels=("image_y=-0.5,0.5",)))


@pytest.mark.blender
def test_a_rendered_camera_pitch_grid_on_the_ground_verifies(tmp_path):
    """Pitching the camera moves a grounded object's stored position and pose: verify knows it."""
    from latentscape.api import render, verify
    from latentscape.specopts import spec_from_flags
    spec = spec_from_flags(library="placeholder", scene="ground", design="grid", resolution=24, samples=1,
                           levels=("camera_pitch=-20:0:2", "yaw=0:360:2"))
    render(spec, tmp_path / "g", progress=False)
    report = verify(tmp_path / "g", progress=None)
    assert report.problems == [] and report.summary["images"] == 4


def test_grid_and_blocks_designs_take_distractors_without_touching_the_target():
    from latentscape.latents.designs import Block
    g = grid("yaw=0:360:4", "scale=0.8,1.2", distractors=(2,))
    plain, clutter = draw(grid("yaw=0:360:4", "scale=0.8,1.2")), draw(g)
    for name in LATENTS:
        assert np.array_equal(plain[name], clutter[name]), name
    assert (clutter["distractor_count"] == 2).all() and clutter["distractor_object_id"].shape == (8, 2)
    again = make_resolved(g).sampler.sample_range(5, 6)  # image 5 alone draws the same clutter
    assert np.array_equal(again["distractor_position"][0], clutter["distractor_position"][5])
    blocks = DatasetSpec(library=LIB, distractors=(0, 1, 2), design=Design(kind="blocks", blocks=(
        Block(name="a", n=3, vary=("pose",)), Block(name="b", n=3, vary=("pose", "scale")))))
    lat = draw(blocks)
    assert lat["design_block"].tolist() == [0, 0, 0, 1, 1, 1] and lat["distractor_count"].max() <= 2
    assert set(lat["distractor_count"].tolist()) <= {0, 1, 2}


def test_sweeps_and_pairs_share_one_distractor_set_per_point():
    """The images of a sweep base or a pair differ only in the design's latents: their clutter is one set,
    clear of and acceptable for every one of their targets."""
    tables = ("distractor_count", "distractor_object_id", "distractor_position", "distractor_rotation_quat",
              "distractor_scale")
    sweep = DatasetSpec(library=LIB, seed=6, distractors=(3,), design=Design(
        kind="sweep", levels=(parse_levels("yaw=0:360:4"),), n_base=5))
    pairs = DatasetSpec(library=LIB, seed=6, n=20, distractors=(1, 2, 3), design=Design(kind="pairs",
                                                                                       differ=("pose", "scale")))
    for spec, size in ((sweep, 4), (pairs, 2)):
        lat = draw(spec)
        for first in range(0, spec.n, size):
            rows = slice(first, first + size)
            for name in tables:
                v = lat[name][rows]
                assert np.array_equal(v, np.broadcast_to(v[0], v.shape), equal_nan=True), (first, name)
        assert (lat["predicted_visible"] * (1 - lat["predicted_occlusion"]) >= spec.min_visible).all()
        again = make_resolved(spec).sampler.sample_range(size + 1, size + 2)  # one image alone: the same set
        assert np.array_equal(again["distractor_position"][0], lat["distractor_position"][size + 1], equal_nan=True)
    assert lat["distractor_count"].max() > 0
