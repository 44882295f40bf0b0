"""CKA: published reference values, invariances, estimator bias, the wide-layer path, errors."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from latentscape.analysis import cka as cka_mod
from latentscape.analysis.cka import (
    KINDS, center_gram, cka, cka_features, cka_matrix, cka_permutation_test,
    feature_space_linear_cka, gram_linear, gram_rbf,
)
from latentscape.errors import AnalysisError


def _orthogonal(rng, p):
    q, r = np.linalg.qr(rng.standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def _related(rng, n=120, p=12, q=8, noise=1.0):
    X = rng.standard_normal((n, p))
    Y = X @ rng.standard_normal((p, q)) + noise * rng.standard_normal((n, q))
    return X, Y


def _expected_biased_null(n, p, q):
    # E[linear CKA] of independent isotropic Gaussians, to first order:
    # E||Xc^T Yc||^2 ~ (n-1)pq and E||Xc^T Xc||^2 ~ (n-1)p(n-1+p).
    return np.sqrt(p * q / ((n - 1 + p) * (n - 1 + q)))


# --------------------------------------------------------------------------- reference values

def test_reproduces_kornblith_demo_values():
    # google-research/google-research, representation_similarity/Demo.ipynb (commit 10bf941a):
    #   np.random.seed(1337); X = np.random.randn(100, 10); Y = np.random.randn(100, 10) + X
    # prints linear 0.55761, RBF (cka(gram_rbf(X, 0.5), gram_rbf(Y, 0.5))) 0.65483 and
    # debiased 0.51346. An explicit legacy RandomState draws the same stream as np.random.seed.
    state = np.random.RandomState(1337)
    X = state.randn(100, 10)
    Y = state.randn(100, 10) + X
    assert cka_features(X, Y, "linear") == pytest.approx(0.55761, abs=1e-4)
    assert cka_features(X, Y, "rbf", threshold=0.5) == pytest.approx(0.65483, abs=1e-4)
    assert cka_features(X, Y, "debiased") == pytest.approx(0.51346, abs=1e-4)
    # and the Gram-matrix entry points give the same
    assert cka(gram_linear(X), gram_linear(Y)) == pytest.approx(0.55761, abs=1e-4)
    assert cka(gram_rbf(X, 0.5), gram_rbf(Y, 0.5)) == pytest.approx(0.65483, abs=1e-4)
    assert cka(gram_linear(X), gram_linear(Y), debiased=True) == pytest.approx(0.51346, abs=1e-4)


def test_rbf_bandwidth_is_threshold_times_median_distance():
    # Points 0, 1, 2 on a line: squared distances [[0,1,4],[1,0,1],[4,1,0]], whose median over
    # all nine entries (diagonal included, as in the authors' code) is 1.
    X = np.array([[0.0], [1.0], [2.0]])
    K = gram_rbf(X, threshold=1.0)
    assert K[0, 1] == pytest.approx(np.exp(-1 / 2))
    assert K[0, 2] == pytest.approx(np.exp(-4 / 2))
    assert np.allclose(np.diag(K), 1)
    K_half = gram_rbf(X, threshold=0.5)  # sigma^2 = 0.25
    assert K_half[0, 2] == pytest.approx(np.exp(-4 / 0.5))


def test_center_gram_properties():
    rng = np.random.default_rng(3)
    G = gram_linear(rng.standard_normal((30, 5)) + 4)
    Gc = center_gram(G)
    assert np.allclose(Gc.sum(axis=0), 0, atol=1e-9)
    assert np.allclose(center_gram(Gc), Gc)
    # U-centring has a zero diagonal and ignores additive row/column terms f_i + f_j
    f = rng.standard_normal(30)
    U = center_gram(G, unbiased=True)
    assert np.all(np.diag(U) == 0)
    assert np.allclose(center_gram(G + f[:, None] + f[None, :], unbiased=True), U, atol=1e-9)


# --------------------------------------------------------------------------- invariances

@pytest.mark.parametrize("kind", KINDS)
def test_invariant_to_orthogonal_maps_and_isotropic_scaling(kind):
    rng = np.random.default_rng(10)
    X, Y = _related(rng)
    Q = _orthogonal(rng, X.shape[1])
    assert cka_features(X, X @ Q, kind) == pytest.approx(1.0, abs=1e-10)
    base = cka_features(X, Y, kind)
    assert 0.2 < base < 0.99
    assert cka_features(X @ Q, 3.7 * Y, kind) == pytest.approx(base, abs=1e-10)
    assert cka_features(X + 5.0, Y, kind) == pytest.approx(base, abs=1e-10)  # translation


@pytest.mark.parametrize("kind", KINDS)
def test_not_invariant_to_general_invertible_maps(kind):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10))
    # condition number ~30: invertible, so CCA would still call X and XA identical
    A = np.diag(np.logspace(0, 1.5, 10)) @ _orthogonal(rng, 10)
    assert np.linalg.matrix_rank(A) == 10
    assert cka_features(X, X @ A, kind) < 0.7


def test_symmetric_in_its_arguments():
    X, Y = _related(np.random.default_rng(4))
    for kind in KINDS:
        assert cka_features(X, Y, kind) == pytest.approx(cka_features(Y, X, kind), abs=1e-12)


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_form_equals_gram_form(debiased):
    rng = np.random.default_rng(5)
    X, Y = _related(rng, n=80, p=15, q=6)
    from_gram = cka(gram_linear(X), gram_linear(Y), debiased=debiased)
    assert feature_space_linear_cka(X, Y, debiased) == pytest.approx(from_gram, abs=1e-10)
    kind = "debiased" if debiased else "linear"
    assert cka_features(X, Y, kind) == pytest.approx(from_gram, abs=1e-10)
    # the Gram path of cka_features (taken when features outnumber images)
    wide_x, wide_y = np.hstack([X, np.zeros((80, 200))]), np.hstack([Y, np.zeros((80, 200))])
    assert cka_features(wide_x, wide_y, kind) == pytest.approx(from_gram, abs=1e-10)


# --------------------------------------------------------------------------- estimator bias

def test_debiased_near_zero_while_biased_shows_order_one_over_n_bias():
    rng = np.random.default_rng(20)
    p = 50
    biased = {}
    for n in (250, 500, 1000):
        pairs = [(rng.standard_normal((n, p)), rng.standard_normal((n, p))) for _ in range(3)]
        biased[n] = np.mean([cka_features(X, Y, "linear") for X, Y in pairs])
        assert biased[n] == pytest.approx(_expected_biased_null(n, p, p), rel=0.1)
        if n == 500:
            assert max(abs(cka_features(X, Y, "debiased")) for X, Y in pairs) < 0.05
    assert biased[500] > 0.08
    # roughly halves when n doubles (O(1/n))
    assert 0.4 < biased[500] / biased[250] < 0.65
    assert 0.4 < biased[1000] / biased[500] < 0.65


# --------------------------------------------------------------------------- wide layers

def _isometric_widen(Z, p, rng):
    # Z W with orthonormal rows W (k x p): Z W (Z W)^T = Z Z^T, so every CKA is unchanged.
    W = np.linalg.qr(rng.standard_normal((p, Z.shape[1])))[0].T
    return (Z @ W).astype(np.float32)


def test_wide_layers_take_the_gram_path_without_a_features_by_features_matrix(monkeypatch):
    rng = np.random.default_rng(30)
    n, k = 1000, 40
    Z1 = rng.standard_normal((n, k)) + 2.0
    Z2 = Z1 @ rng.standard_normal((k, k)) + 2.0 * rng.standard_normal((n, k))

    def refuse(*_):
        raise AssertionError("feature-space form used for more features than images")
    for kind, p in (("linear", 20000), ("debiased", 4000)):
        expected = cka_features(Z1, Z2, kind)
        X1, X2 = _isometric_widen(Z1, p, rng), _isometric_widen(Z2, p, rng)
        with monkeypatch.context() as patch:
            patch.setattr(cka_mod, "_feature_cka", refuse)
            tracemalloc.start()
            got = cka_features(X1, X2, kind)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert got == pytest.approx(expected, abs=2e-5)  # float32 products
        assert peak < 200e6  # for p = 20,000 a p x q float64 matrix alone would be 3.2 GB


def test_block_loop_matches_single_product(monkeypatch):
    rng = np.random.default_rng(31)
    X = (rng.standard_normal((50, 37)) + 10).astype(np.float32)
    Y = rng.standard_normal((50, 45))
    whole = {kind: cka_features(X, Y, kind) for kind in KINDS}
    G = gram_linear(X)
    monkeypatch.setattr(cka_mod, "_BLOCK_ELEMENTS", 50 * 4)  # blocks of 4 columns
    assert np.allclose(gram_linear(X), G, rtol=1e-5)
    for kind in KINDS:
        assert cka_features(np.hstack([X, X]), np.hstack([Y, Y]), kind) == pytest.approx(whole[kind], abs=1e-5)


def test_small_layers_take_the_feature_path(monkeypatch):
    X, Y = _related(np.random.default_rng(32), n=300, p=20, q=10)
    expected = cka(gram_linear(X), gram_linear(Y))

    def refuse(*_):
        raise AssertionError("Gram form used for 20 features and 300 images")
    monkeypatch.setattr(cka_mod, "_centered_gram", refuse)
    assert cka_features(X, Y) == pytest.approx(expected, abs=1e-10)


# --------------------------------------------------------------------------- layer x layer

@pytest.mark.parametrize("kind", KINDS)
def test_cka_matrix_equals_pairwise_cka(kind, monkeypatch):
    rng = np.random.default_rng(40)
    X, Y = _related(rng, n=60, p=8, q=5)
    Z = rng.standard_normal((60, 70))
    a = {"conv1": X, "conv2": Y}
    b = {"conv1": X, "fc": Z, "conv2": Y}
    calls = []
    original = cka_mod._centered_gram
    monkeypatch.setattr(cka_mod, "_centered_gram", lambda *args: calls.append(1) or original(*args))
    M = cka_matrix(a, b, kind=kind, threshold=0.8)
    assert M.shape == (2, 3)
    assert len(calls) == 3  # one Gram per distinct array
    for i, x in enumerate(a.values()):
        for j, y in enumerate(b.values()):
            assert M[i, j] == pytest.approx(cka_features(x, y, kind, threshold=0.8), abs=1e-10)
    assert M[0, 0] == pytest.approx(1.0) and M[1, 2] == pytest.approx(1.0)


def test_cka_matrix_refuses_layers_over_different_images():
    rng = np.random.default_rng(41)
    with pytest.raises(AnalysisError, match=r"feats_a\['l1'\] has 20.*feats_b\['l2'\] has 19"):
        cka_matrix({"l1": rng.standard_normal((20, 3))}, {"l2": rng.standard_normal((19, 3))})
    with pytest.raises(AnalysisError, match="non-empty dict"):
        cka_matrix({}, {"l2": rng.standard_normal((19, 3))})


# --------------------------------------------------------------------------- permutation null

def test_permutation_test_related_data_is_significant():
    X, Y = _related(np.random.default_rng(50), n=100, p=10, q=10)
    for kind in KINDS:
        out = cka_permutation_test(X, Y, kind=kind, n_permutations=200, rng=1)
        assert out["cka"] == pytest.approx(cka_features(X, Y, kind), abs=1e-12)
        # no shuffle beats the real pairing, so p is its smallest possible value
        assert out["p_value"] == pytest.approx(1 / 201)
        assert out["null_mean"] < out["cka"] - 5 * out["null_std"]


def test_permutation_null_of_independent_data():
    rng = np.random.default_rng(51)
    n, p = 100, 10
    X, Y = rng.standard_normal((n, p)), rng.standard_normal((n, p))
    out = cka_permutation_test(X, Y, n_permutations=300, rng=np.random.default_rng(2))
    assert out["p_value"] > 0.05
    assert 1 / 301 <= out["p_value"] <= 1
    # the null centres on the biased CKA of independent data
    fresh = np.mean([cka_features(X, rng.standard_normal((n, p))) for _ in range(100)])
    assert out["null_mean"] == pytest.approx(fresh, rel=0.1)
    assert out["null_mean"] == pytest.approx(_expected_biased_null(n, p, p), rel=0.15)
    debiased = cka_permutation_test(X, Y, kind="debiased", n_permutations=300, rng=3)
    assert abs(debiased["null_mean"]) < 0.01


def test_permutation_test_is_reproducible_and_gram_path_agrees():
    X, Y = _related(np.random.default_rng(52), n=40, p=5, q=5, noise=4.0)
    first = cka_permutation_test(X, Y, n_permutations=50, rng=7)
    assert cka_permutation_test(X, Y, n_permutations=50, rng=np.random.default_rng(7)) == first
    assert cka_permutation_test(X, Y, n_permutations=50, rng=8) != first
    # wide copies take the Gram path; the same permutations give the same null
    wide = cka_permutation_test(np.hstack([X, np.zeros((40, 100))]), np.hstack([Y, np.zeros((40, 100))]),
                                n_permutations=50, rng=7)
    for key, value in first.items():
        assert wide[key] == pytest.approx(value, abs=1e-10)


# --------------------------------------------------------------------------- errors

def test_debiased_needs_four_images():
    rng = np.random.default_rng(60)
    X, Y = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    with pytest.raises(AnalysisError, match="debiased CKA needs at least 4 images, got 3"):
        cka_features(X, Y, "debiased")
    with pytest.raises(AnalysisError, match="at least 4"):
        cka(gram_linear(X), gram_linear(Y), debiased=True)
    assert np.isfinite(cka_features(X, Y, "linear"))  # biased CKA is defined for n = 3
    with pytest.raises(AnalysisError, match="at least 2 images, got 1"):
        cka_features(X[:1], Y[:1])


def test_bad_inputs_are_named():
    rng = np.random.default_rng(61)
    X = rng.standard_normal((100, 4))
    with pytest.raises(AnalysisError,
                       match="X has 100 rows but Y has 90: the two activation sets must hold the same images"):
        cka_features(X, rng.standard_normal((90, 4)))
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(AnalysisError, match=r"Y contains NaN or infinite values \(first at index \(7, 2\)\)"):
        cka_features(X, bad)
    bad[7, 2] = np.inf
    with pytest.raises(AnalysisError, match="NaN or infinite"):
        cka_permutation_test(bad, X)
    with pytest.raises(AnalysisError, match="unknown CKA kind 'cosine'; allowed: linear, rbf, debiased"):
        cka_features(X, X, kind="cosine")
    with pytest.raises(AnalysisError, match=r"2-D array .* got shape \(100,\)"):
        cka_features(X[:, 0], X)
    with pytest.raises(AnalysisError, match="threshold must be a positive number, got 0"):
        cka_features(X, X, "rbf", threshold=0)
    with pytest.raises(AnalysisError, match="same for every image"):
        cka_features(X, np.ones((100, 3)))
    with pytest.raises(AnalysisError, match="symmetric"):
        cka(X @ X.T + np.triu(np.ones((100, 100)), 1), X @ X.T)
    with pytest.raises(AnalysisError, match="n_permutations must be a positive integer, got 0"):
        cka_permutation_test(X, X, n_permutations=0)
    with pytest.raises(AnalysisError, match="rng must be"):
        cka_permutation_test(X, X, rng="seed")
