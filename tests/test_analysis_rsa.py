"""RSA: RDMs and their comparison against scipy and rsatoolbox 0.3.2, and linear CKA as an RDM
comparison (rsatoolbox's whitened cosine, Diedrichsen et al. 2020)."""
from __future__ import annotations

import numpy as np
import pytest
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import calc_rdm, compare
from scipy.spatial.distance import pdist

from latentscape.analysis import cka as cka_mod
from latentscape.analysis.cka import cka_features
from latentscape.analysis.rsa import METHODS, METRICS, compare_rdms, rdm, rsa_matrix
from latentscape.errors import AnalysisError


def _layers(seed, n=40, p=30, q=12):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 2.0
    Y = X @ rng.standard_normal((p, q)) + 3.0 * rng.standard_normal((n, q))
    return X, Y


def _rsatoolbox_rdm(X, method):
    return calc_rdm(Dataset(X), method=method)


def _zscore_rows(X):
    Z = X - X.mean(axis=1, keepdims=True)
    return Z / np.linalg.norm(Z, axis=1, keepdims=True)


@pytest.mark.parametrize("metric", METRICS)
def test_rdm_matches_scipy_pdist(metric):
    X, _ = _layers(1)
    assert np.allclose(rdm(X, metric), pdist(X, metric), rtol=1e-12, atol=1e-12)


def test_correlation_rdm_is_one_minus_pearson_between_images():
    X = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [2.0, 4.0, 6.5], [0.0, 1.0, 0.0]])
    d = rdm(X)  # pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3)
    assert d[0] == pytest.approx(2.0)  # perfectly anti-correlated
    assert d[1] == pytest.approx(1 - np.corrcoef(X[0], X[2])[0, 1])
    assert d[2] == pytest.approx(1.0)  # uncorrelated
    # invariant to a positive scale and an offset per image
    scale, offset = np.array([[2.0], [0.5], [7.0], [1.0]]), np.array([[1.0], [-3.0], [0.0], [9.0]])
    assert np.allclose(rdm(scale * X + offset), d)


def test_correlation_rdm_matches_rsatoolbox():
    X, _ = _layers(2)
    ours = rdm(X, "correlation")
    theirs = _rsatoolbox_rdm(X, "correlation").dissimilarities[0]
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_rsatoolbox_euclidean_is_our_squared_euclidean_per_feature():
    X, _ = _layers(3)
    theirs = _rsatoolbox_rdm(X, "euclidean")
    assert theirs.dissimilarity_measure == "squared euclidean"
    assert np.allclose(theirs.dissimilarities[0], rdm(X, "sqeuclidean") / X.shape[1], atol=1e-12)


@pytest.mark.parametrize("ours, theirs", [("spearman", "spearman"), ("pearson", "corr"), ("kendall", "kendall")])
def test_compare_rdms_matches_rsatoolbox(ours, theirs):
    X, Y = _layers(4)
    value = compare_rdms(rdm(X), rdm(Y), ours)
    expected = compare(_rsatoolbox_rdm(X, "correlation"), _rsatoolbox_rdm(Y, "correlation"), method=theirs)[0, 0]
    assert 0.1 < value < 0.99
    assert value == pytest.approx(expected, abs=1e-12)


def test_spearman_sees_only_the_order_of_dissimilarities():
    X, Y = _layers(5)
    # euclidean is a monotone function of squared euclidean: identical ranks
    assert compare_rdms(rdm(X, "euclidean"), rdm(X, "sqeuclidean")) == pytest.approx(1.0)
    assert compare_rdms(rdm(X, "euclidean"), rdm(X, "sqeuclidean"), "pearson") < 0.999
    a, b = rdm(X), rdm(Y)
    assert compare_rdms(np.exp(3 * a), b) == pytest.approx(compare_rdms(a, b), abs=1e-12)
    assert compare_rdms(a, -b) == pytest.approx(-compare_rdms(a, b), abs=1e-12)


@pytest.mark.parametrize("n", [40, 120])  # rsatoolbox switches to sparse matrices at 100
def test_linear_cka_is_rsatoolbox_cosine_cov_on_squared_euclidean_rdms(n):
    # Diedrichsen et al. (2020): -D/2 double-centred is the centred Gram matrix, and the
    # whitened RDM cosine ('cosine_cov', no noise covariance) is its Frobenius cosine: linear
    # CKA. Holds for any features: rsatoolbox's 1/p scaling and column means both cancel.
    X, Y = _layers(6, n=n)
    theirs = compare(_rsatoolbox_rdm(X, "euclidean"), _rsatoolbox_rdm(Y, "euclidean"), method="cosine_cov")[0, 0]
    assert cka_features(X, Y, "linear") == pytest.approx(theirs, abs=1e-10)
    # On correlation RDMs the same comparison is linear CKA of row-standardised activations.
    theirs = compare(_rsatoolbox_rdm(X, "correlation"), _rsatoolbox_rdm(Y, "correlation"), method="cosine_cov")[0, 0]
    assert cka_features(_zscore_rows(X), _zscore_rows(Y), "linear") == pytest.approx(theirs, abs=1e-10)
    assert abs(cka_features(X, Y, "linear") - theirs) > 1e-3  # ...which is not CKA of the raw ones


@pytest.mark.parametrize("method", METHODS)
def test_rsa_matrix_equals_pairwise_comparisons(method):
    X, Y = _layers(7)
    Z = np.random.default_rng(8).standard_normal((40, 200))
    a, b = {"conv": X, "fc": Y}, {"fc": Y, "wide": Z, "conv": X}
    for metric in ("correlation", "euclidean"):
        M = rsa_matrix(a, b, metric=metric, method=method)
        assert M.shape == (2, 3)
        for i, x in enumerate(a.values()):
            for j, y in enumerate(b.values()):
                assert M[i, j] == pytest.approx(compare_rdms(rdm(x, metric), rdm(y, metric), method), abs=1e-12)
        assert M[0, 2] == pytest.approx(1.0) and M[1, 0] == pytest.approx(1.0)


def test_wide_float32_layers_in_column_blocks(monkeypatch):
    rng = np.random.default_rng(9)
    X = rng.standard_normal((30, 500)) + 1.0
    expected = {metric: pdist(X, metric) for metric in METRICS}
    monkeypatch.setattr(cka_mod, "_BLOCK_ELEMENTS", 30 * 7)  # blocks of 7 columns
    for metric in METRICS:
        assert np.allclose(rdm(X, metric), expected[metric], rtol=1e-12, atol=1e-12)
        assert np.allclose(rdm(X.astype(np.float32), metric), expected[metric], rtol=1e-5, atol=1e-5)


def test_bad_inputs_are_named():
    X, Y = _layers(10)
    with pytest.raises(AnalysisError, match="at least 3 images, X has 2"):
        rdm(X[:2])
    with pytest.raises(AnalysisError,
                       match="unknown RDM metric 'cosine'; allowed: correlation, euclidean, sqeuclidean"):
        rdm(X, "cosine")
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(AnalysisError, match=r"NaN or infinite values \(first at index \(4, 1\)\)"):
        rdm(bad)
    flat = X.copy()
    flat[5] = 1.0
    with pytest.raises(AnalysisError, match="image 5 has the same value in every feature"):
        rdm(flat)
    assert np.isfinite(rdm(flat, "euclidean")).all()
    with pytest.raises(AnalysisError,
                       match="unknown RDM comparison method 'cosine'; allowed: spearman, pearson, kendall"):
        compare_rdms(rdm(X), rdm(Y), "cosine")
    with pytest.raises(AnalysisError, match="a has 780 dissimilarities but b has 741"):
        compare_rdms(rdm(X), rdm(Y[:39]))
    with pytest.raises(AnalysisError, match=r"condensed RDM .* got shape \(40, 40\)"):
        compare_rdms(np.ones((40, 40)), rdm(Y))
    with pytest.raises(AnalysisError, match="has 5 entries, not n\\(n-1\\)/2"):
        compare_rdms(np.arange(5.0), np.arange(5.0))
    with pytest.raises(AnalysisError, match="b is constant"):
        compare_rdms(rdm(X), np.ones(780))
    with pytest.raises(AnalysisError, match=r"feats_a\['l'\] has 40.*feats_b\['m'\] has 39"):
        rsa_matrix({"l": X}, {"m": Y[:39]})
