"""Analysis (issue 11): activations, latent factors, decoding, the activation file, the CLI.

Images with known content (test_train.write_learnable): a square at the image's image_xy
latent in the colour of its category, so a linear read-out of position and category from a
random network's layers is a known answer, and pose (not drawn) is not decodable.
"""
from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest
import torch

from test_train import write_learnable  # pixels show image_xy and category, not pose
from latentscape.analysis import tasks
from latentscape.analysis.actfile import ActivationFile, common_rows
from latentscape.analysis.activations import extract, projection
from latentscape.analysis.decode import decode, folds_for
from latentscape.analysis.factors import read_factors
from latentscape.analysis.images import open_images
from latentscape.analysis.networks import load_network
from latentscape.errors import AnalysisError, OutputPathError

LAYERS = ["features.2", "features.5", "features.9", "fc"]


@pytest.fixture(scope="module")
def discs(tmp_path_factory):
    root = tmp_path_factory.mktemp("discs") / "data"
    write_learnable(root, n=300, resolution=24, seed=3, vary=("position", "category", "pose"))
    return root


@pytest.fixture(scope="module")
def acts(discs, tmp_path_factory):
    out = tmp_path_factory.mktemp("acts") / "tiny.h5"
    tasks.activations("tinycnn", discs, out, layers=LAYERS, width=2048, device="cpu", batch_size=64)
    return out


# ---- projection -----------------------------------------------------------------------------
def test_projection_is_seeded_sparse_and_keeps_distances():
    p = projection(9216, 1024, seed=0, layer="layer1")
    assert torch.equal(p.to_dense(), projection(9216, 1024, seed=0, layer="layer1").to_dense())
    assert not torch.equal(p.to_dense(), projection(9216, 1024, seed=0, layer="layer2").to_dense())
    assert not torch.equal(p.to_dense(), projection(9216, 1024, seed=1, layer="layer1").to_dense())
    # density 1/sqrt(D): about sqrt(D) * width non-zeros (a dense matrix would be D * width)
    assert 0.9 * 96 * 1024 < p._nnz() <= 96 * 1024
    x = torch.randn(30, 9216, generator=torch.Generator().manual_seed(0))
    y = torch.sparse.mm(p, x.t()).t()
    ratio = torch.pdist(y) / torch.pdist(x)
    assert 0.85 < float(ratio.min()) and float(ratio.max()) < 1.15  # JL: 1 +- ~3/sqrt(width)


# ---- extraction -----------------------------------------------------------------------------
def test_activation_file_holds_every_image_and_layer_width(acts, discs):
    f = ActivationFile(acts)
    assert f.layers == LAYERS and len(f) == 300
    assert np.array_equal(np.sort(f.index), np.arange(300))
    # features.2 is 16 x 24 x 24 = 9216 wide -> projected; fc (1000) and features.9 (64 x 4 x 4) kept
    assert f.widths == {"features.2": 2048, "features.5": 2048, "features.9": 1024, "fc": 1000}
    with h5py.File(acts) as h:
        assert h["layers/features.2"].attrs["reduction"] == "project"
        assert list(h["layers/features.2"].attrs["shape"]) == [16, 24, 24]
        assert h["layers/fc"].attrs["reduction"] == "flatten"
    assert f.meta["spec_hash"] and f.meta["network"]["name"] == "tinycnn"


def test_activations_do_not_depend_on_batch_size_and_repeat_exactly(acts, discs, tmp_path):
    other = tmp_path / "b7.h5"
    tasks.activations("tinycnn", discs, other, layers=LAYERS, width=2048, device="cpu", batch_size=7)
    a, b = ActivationFile(acts), ActivationFile(other)
    assert np.array_equal(a.index, b.index)
    for k in LAYERS:
        np.testing.assert_allclose(a.features(k), b.features(k), rtol=1e-4, atol=1e-5)
    again = tmp_path / "again.h5"
    tasks.activations("tinycnn", discs, again, layers=LAYERS, width=2048, device="cpu", batch_size=64)
    for k in LAYERS:
        assert np.array_equal(ActivationFile(again).features(k), a.features(k))


def test_pooling_averages_over_space(discs, tmp_path):
    out = tmp_path / "pool.h5"
    tasks.activations("tinycnn", discs, out, layers=["features.2"], reduce="pool", device="cpu", split="test")
    net = load_network("tinycnn")
    src = open_images(discs, "test")
    x, idx = next(iter(src.batches(8)))
    from latentscape.train.data import prepare_images
    seen = {}
    h = dict(net.model.named_modules())["features.2"].register_forward_hook(lambda m, i, o: seen.setdefault("o", o))
    with torch.no_grad():
        net.model(prepare_images(x, torch.device("cpu"), 24))
    h.remove()
    f = ActivationFile(out)
    np.testing.assert_allclose(f.features("features.2")[:8], seen["o"].mean(dim=(2, 3)).numpy(), rtol=1e-5, atol=1e-6)
    assert np.array_equal(f.index[:8], idx) and len(f) == 30


def test_memory_does_not_grow_with_the_number_of_images(discs, tmp_path):
    """Peak Python/numpy memory of an extraction over 300 images is that of one over 60 (batches
    are written as they come, nothing accumulates)."""
    def peak(split, name):
        tracemalloc.start()
        tasks.activations("tinycnn", discs, tmp_path / name, layers=LAYERS, width=2048, device="cpu", batch_size=30,
                          split=split)
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p
    small = peak("val", "small.h5")  # 30 images
    large = peak(None, "large.h5")  # 300 images
    assert large < 1.5 * small + 2e6, (small, large)


def test_a_failed_extraction_leaves_no_file(discs, tmp_path):
    net = load_network("tinycnn")
    src = open_images(discs)

    def broken(bs):
        for k, b in enumerate(src.batches(bs)):
            if k == 2:
                raise RuntimeError("disk went away")
            yield b
    with pytest.raises(RuntimeError):
        extract(net, broken(32), src.n, tmp_path / "x.h5", layers=["fc"], device="cpu")
    assert list(tmp_path.iterdir()) == []


def test_unknown_layer_and_existing_output_are_one_clear_error(discs, acts):
    with pytest.raises(AnalysisError, match="no layer 'layer9'.*top-level layers: features, fc"):
        tasks.activations("tinycnn", discs, acts.parent / "x.h5", layers=["layer9"], device="cpu")
    with pytest.raises(OutputPathError, match="exists; use --overwrite"):
        tasks.activations("tinycnn", discs, acts, layers=LAYERS, device="cpu")
    with pytest.raises(AnalysisError, match="neither a training run directory nor an architecture name"):
        tasks.activations(str(discs / "nothing"), discs, acts.parent / "y.h5", device="cpu")


# ---- factors and decoding ------------------------------------------------------------------------
def test_factors_follow_the_activation_rows(acts, discs):
    f = ActivationFile(acts)
    facs = {x.name: x for x in read_factors(discs, f.index, ["position", "pose", "category"])}
    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(discs) as r:
        lat = r.latents()
    assert np.array_equal(facs["category"].values, lat["category"][f.index])
    assert np.array_equal(facs["position.x"].values, lat["position"][f.index, 0])
    assert np.array_equal(facs["pose.roll"].values, lat["rotation_euler"][f.index, 2])
    assert facs["pose.yaw"].kind == "angle" and facs["category"].kind == "categorical"


def test_a_latent_the_dataset_holds_fixed_is_refused(acts, discs):
    with pytest.raises(AnalysisError, match=r"'scale' is held fixed .*scale=1\b.*vary: position.x, .*image_xy.u, .*category"):
        read_factors(discs, ActivationFile(acts).index, ["scale"])
    with pytest.raises(AnalysisError, match="unknown latent 'posture'; allowed: .*pose"):
        read_factors(discs, ActivationFile(acts).index, ["posture"])


def test_decoding_reads_out_what_the_images_show(acts, discs):
    f = ActivationFile(acts)
    facs = read_factors(discs, f.index, ["image_xy", "pose", "category"])
    scores = {(s.layer, s.latent): s for s in decode({k: f.features(k) for k in ("features.2", "features.9")}, facs)}
    for layer in ("features.2", "features.9"):
        assert scores[(layer, "image_xy.u")].score > 0.8 and scores[(layer, "image_xy.v")].score > 0.8
        assert scores[(layer, "image_xy.u")].r > 0.9
        assert scores[(layer, "pose.yaw")].score < 0.15  # not drawn: nothing to read out
    cat = scores[("features.9", "category")]
    assert cat.metric == "accuracy" and cat.score > 3 * cat.chance


def test_shuffled_labels_decode_at_chance(acts, discs):
    f = ActivationFile(acts)
    facs = read_factors(discs, f.index, ["image_xy", "category"])
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(f))
    shuffled = [type(x)(x.name, x.kind, x.values[perm], x.classes) for x in facs]
    s = {x.latent: x for x in decode({"features.9": f.features("features.9")}, shuffled)}
    assert s["image_xy.u"].score < 0.05
    assert s["category"].score < s["category"].chance + 0.1


def test_object_hold_out_keeps_objects_apart():
    objects = np.repeat(np.arange(12), 10)
    for tr, te in folds_for(120, 4, 2, 0, "objects", objects):
        assert not set(objects[tr]) & set(objects[te])
    splits = folds_for(120, 4, 2, 0, "images", None)
    assert len(splits) == 8 and sorted(np.concatenate([te for _, te in splits[:4]])) == list(range(120))
    with pytest.raises(AnalysisError, match="at least 4 objects"):
        folds_for(30, 4, 1, 0, "objects", np.repeat([0, 1, 2], 10))


# ---- two files, the same images --------------------------------------------------------------
def test_files_of_different_image_sets_are_refused(acts, discs, tmp_path):
    part = tmp_path / "test.h5"
    tasks.activations("tinycnn", discs, part, layers=["fc"], device="cpu", split="test")
    with pytest.raises(AnalysisError, match=r"hold different image sets \(270 only in the first"):
        common_rows(ActivationFile(acts), ActivationFile(part))
    a = ActivationFile(acts)
    ra, rb = common_rows(a, a)
    assert np.array_equal(a.index[ra], a.index[rb])


# ---- ridge: sklearn's models, one decomposition --------------------------------------------------
@pytest.mark.parametrize("n, d", [(80, 20), (40, 100)])
def test_ridge_loo_equals_sklearn_ridgecv_and_ridgeclassifiercv(n, d):
    from sklearn.linear_model import RidgeClassifierCV, RidgeCV
    from latentscape.analysis.decode import ALPHAS
    from latentscape.analysis.ridge import fit_ridge_loo
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d))
    y = x[:, :3] @ rng.normal(size=(3, 4)) + rng.normal(size=(n, 4)) * [0.1, 1, 3, 10]
    xt = rng.normal(size=(10, d))
    ours, theirs = fit_ridge_loo(x, y, ALPHAS), RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y)
    assert np.array_equal(ours.alpha, theirs.alpha_) and len(set(ours.alpha)) > 1  # per-target choices differ
    np.testing.assert_allclose(ours.predict(xt), theirs.predict(xt), atol=1e-10)
    c = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0.5)
    ours = fit_ridge_loo(x, np.where(c[:, None] == np.arange(4), 1.0, -1.0), ALPHAS, groups=[0] * 4)
    theirs = RidgeClassifierCV(alphas=ALPHAS).fit(x, c)
    assert ours.alpha[0] == theirs.alpha_
    np.testing.assert_allclose(ours.predict(xt), theirs.decision_function(xt), atol=1e-10)


# ---- hardening (review of issue 11) ---------------------------------------------------------------
def test_a_layer_that_runs_twice_or_never_is_refused(discs, tmp_path):
    from torch import nn
    from latentscape.analysis.networks import Network

    class Twice(nn.Module):  # one ReLU used twice, like torchvision's BasicBlock; `unused` never runs
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.unused = nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Linear(2, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            return self.pool(self.relu(self.conv(self.relu(x))))
    net = Network(Twice().eval(), None, {"name": "twice"})
    src = open_images(discs)
    with pytest.raises(AnalysisError, match="'relu' runs 2 times per forward pass"):
        extract(net, src.batches(16), src.n, tmp_path / "a.h5", layers=["relu"], device="cpu")
    with pytest.raises(AnalysisError, match="'unused' does not run in the forward pass"):
        extract(net, src.batches(16), src.n, tmp_path / "b.h5", layers=["unused"], device="cpu")
    extract(net, src.batches(16), src.n, tmp_path / "c.h5", layers=["conv", "pool"], device="cpu")
    assert not (tmp_path / "a.h5").exists() and ActivationFile(tmp_path / "c.h5").layers == ["conv", "pool"]


def test_mostly_dead_units_do_not_wreck_the_readout():
    """More than half the units never vary in training and some fire rarely: the scale floor
    (1% of the median scale of the live units) keeps the read-out of the informative ones."""
    from latentscape.analysis.factors import Factor
    rng = np.random.default_rng(0)
    n = 400
    y = rng.normal(size=n)
    informative = y[:, None] * rng.normal(size=10) + 0.1 * rng.normal(size=(n, 10))
    sparse = np.where(rng.random((n, 20)) < 0.01, rng.normal(size=(n, 20)) * 50, 0.0)
    x = np.concatenate([informative, np.zeros((n, 30)), sparse], axis=1)
    s = decode({"l": x}, [Factor("position.x", "continuous", y)])[0]
    assert s.score > 0.8, s


def test_unseen_classes_under_object_hold_out_are_reported(acts, discs):
    f = ActivationFile(acts)
    facs = read_factors(discs, f.index, ["image_xy", "category"])
    objects = read_factors(discs, f.index, ["object_id"])[0].values
    s = {x.latent: x for x in decode({"fc": f.features("fc")}, facs, hold_out="objects", objects=objects, folds=3)}
    # the placeholder library has one object per category: every test class is new to the decoder
    assert s["category"].unseen == 1.0 and s["category"].score == 0.0
    assert s["image_xy.u"].unseen is None


def test_default_latents_are_every_latent_that_varies(acts, discs):
    names = [x.name for x in read_factors(discs, ActivationFile(acts).index)]
    assert {"image_xy.u", "image_xy.v", "distance", "position.x", "pose.yaw", "category"} <= set(names)
    assert "scale" not in names and "light_azimuth" not in names  # held fixed
