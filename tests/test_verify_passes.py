"""verify checks the mask and depth passes: shapes, dtypes, coverage = meta/visible_fraction,
depth >= 0 or inf and inf where no object is. Synthetic shards (conftest) corrupted one way each."""
import h5py
import numpy as np
import pytest

from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.verify import verify

from conftest import write_synthetic_dataset

R = 16


@pytest.fixture
def passes_root(tmp_path):
    spec = DatasetSpec(library="placeholder", n=6, shard_size=3, resolution=R, seed=2,
                       render=RenderSettings(samples=1, passes=("mask", "depth")))
    root = tmp_path / "d"
    write_synthetic_dataset(root, spec)
    return root


SHARD = "shards/shard-000001.h5"


def _problems(root):
    return [str(p) for p in verify(root, fast=True)[0]]


def _edit(root, fn):
    with h5py.File(root / SHARD, "r+") as f:
        fn(f)


def _replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


def test_whole_passes_are_accepted(passes_root):
    assert _problems(passes_root) == []
    with h5py.File(passes_root / SHARD) as f:  # the fixture really has edges: 0 < mask < 255 somewhere
        m, d = f["masks"][()], f["depth"][()].astype(np.float32)
        assert ((m > 0) & (m < 255)).any() and (m == 0).any() and (m == 255).any()
        assert np.isinf(d).any() and np.isfinite(d).any()


@pytest.mark.parametrize("name, data, words", [
    ("masks", lambda f: f["masks"][()][:, :-1], "masks: expected uint8 (3, 16, 16), found uint8 (3, 15, 16)"),
    ("masks", lambda f: f["masks"][()].astype(np.uint16), "masks: expected uint8 (3, 16, 16), found uint16"),
    ("depth", lambda f: f["depth"][()].astype(np.float32), "depth: expected float16 (3, 16, 16), found float32"),
    ("depth", lambda f: f["depth"][()][:2], "depth: expected float16 (3, 16, 16), found float16 (2, 16, 16)"),
])
def test_wrong_shape_or_dtype(passes_root, name, data, words):
    _edit(passes_root, lambda f: _replace(f, name, data(f)))
    probs = _problems(passes_root)
    assert any(SHARD in p and words in p for p in probs), probs


def test_mask_disagreeing_with_visible_fraction(passes_root):
    def edit(f):
        f["masks"][1, 0, 0] = 255 if f["masks"][1, 0, 0] == 0 else 0  # one pixel: 1/256 of coverage
    _edit(passes_root, edit)
    probs = _problems(passes_root)
    assert any("masks at row 1 (index 4)" in p and "meta/visible_fraction" in p for p in probs), probs
    assert len(probs) == 1 + any("depth" in p for p in probs), probs


def test_visible_fraction_off_by_more_than_1e6(passes_root):
    def edit(f):
        f["meta/visible_fraction"][2] += 1e-5
    _edit(passes_root, edit)
    assert any("masks at row 2 (index 5)" in p for p in _problems(passes_root))


def test_visible_fraction_missing(passes_root):
    _edit(passes_root, lambda f: f.__delitem__("meta/visible_fraction"))
    assert any("masks present but meta/visible_fraction is missing" in p for p in _problems(passes_root))


@pytest.mark.parametrize("value, words", [(np.nan, "NaN value"), (-1.0, "negative value"),
                                          (-np.inf, "negative value")])
def test_bad_depth_values(passes_root, value, words):
    def edit(f):
        d = f["depth"][()]
        d[0][f["masks"][0] == 255] = value
        f["depth"][...] = d
    _edit(passes_root, edit)
    probs = _problems(passes_root)
    assert any("depth at row 0 (index 3)" in p and words in p for p in probs), probs


def test_depth_finite_where_there_is_no_object(passes_root):
    def edit(f):
        d = f["depth"][()]
        d[2][f["masks"][2] == 0] = 7.0  # background given a depth
        f["depth"][...] = d
    _edit(passes_root, edit)
    probs = _problems(passes_root)
    assert any("depth at row 2 (index 5)" in p and "where the mask is 0" in p for p in probs), probs


def test_depth_missing_where_the_object_covers_the_pixel(passes_root):
    def edit(f):
        d = f["depth"][()]
        d[1][f["masks"][1] == 255] = np.inf
        f["depth"][...] = d
    _edit(passes_root, edit)
    probs = _problems(passes_root)
    assert any("depth at row 1 (index 4)" in p and "covers fully" in p for p in probs), probs


def test_edge_pixels_may_have_either_depth(passes_root):
    """Partly covered pixels: on real renders both finite and inf depth occur there (the depth
    pass is not anti-aliased like the coverage), so verify accepts both."""
    def edit(f):
        d, m = f["depth"][()], f["masks"][()]
        edge = (m > 0) & (m < 255)
        d[edge] = np.where(np.arange(edge.sum()) % 2, np.inf, 2.5)
        f["depth"][...] = d
    _edit(passes_root, edit)
    assert _problems(passes_root) == []


def test_pass_the_spec_asks_for_is_missing(passes_root):
    _edit(passes_root, lambda f: f.__delitem__("depth"))
    probs = _problems(passes_root)
    assert probs == [f"{SHARD}: depth missing (the spec asks for the depth pass)"], probs


def test_many_bad_rows_are_summarised(tmp_path):
    spec = DatasetSpec(library="placeholder", n=12, shard_size=12, resolution=8, seed=2,
                       render=RenderSettings(samples=1, passes=("depth",)))
    write_synthetic_dataset(tmp_path / "d", spec)
    with h5py.File(tmp_path / "d" / "shards" / "shard-000000.h5", "r+") as f:
        f["depth"][...] = np.nan
    probs = _problems(tmp_path / "d")
    assert len(probs) == 6 and "depth: 7 more row(s) with problems not listed" in probs[-1], probs
