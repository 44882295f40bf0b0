"""DCI, MIG and SAP on codes whose answers are known: identity, duplicated, rotated, noise."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import mutual_info_score

from latentscape.analysis import disentangle as dis
from latentscape.analysis.disentangle import dci, disentanglement_scores, mig, sap
from latentscape.errors import AnalysisError


def uniform_factors(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, k))


def discrete_case(n: int = 2000, seed: int = 3):
    """Factor 0: 4 classes encoded by code dim 0 (class + N(0, 0.1)); factors 1, 2 uniform,
    copied into code dims 1, 2; code dims 3, 4 pure noise."""
    rng = np.random.default_rng(seed)
    factors = np.column_stack([rng.integers(0, 4, n), rng.uniform(size=(n, 2))]).astype(float)
    codes = np.column_stack([factors[:, 0] + 0.1 * rng.normal(size=n), factors[:, 1:],
                             rng.normal(size=(n, 2))])
    return codes, factors, [True, False, False]


def test_identity_code_scores_one():
    factors = uniform_factors(2000, 3, seed=0)
    codes = factors + 1e-6 * np.random.default_rng(1).normal(size=factors.shape)
    d = dci(codes, factors, [False] * 3)
    assert d.disentanglement > 0.99 and d.completeness > 0.99
    assert d.informativeness > 0.999
    np.testing.assert_allclose(d.importance, np.eye(3), atol=0.01)
    m = mig(codes, factors, [False] * 3)
    # The matched dimension shares (almost) all of the binned factor's entropy, ln 20 nats; the
    # runner-up is an independent dimension, whose plug-in MI is biased up by (B-1)^2 / 2n nats.
    np.testing.assert_allclose(m.factor_entropy, math.log(20), atol=0.01)
    np.testing.assert_allclose(m.mutual_info.diagonal(), m.factor_entropy, atol=0.01)
    np.testing.assert_allclose(np.sort(m.mutual_info, axis=0)[-2], 19 ** 2 / (2 * 2000), atol=0.015)
    assert m.score > 0.9
    s = sap(codes, factors, [False] * 3)
    assert s.score > 0.98
    np.testing.assert_allclose(s.score_matrix.diagonal(), 1.0, atol=1e-5)


def test_duplicated_dimension():
    factors = uniform_factors(2000, 3, seed=0)
    codes = factors[:, [0, 1, 2, 2]]
    d = dci(codes, factors, [False] * 3)
    # Ridge splits factor 2 evenly over its two copies: entropy of (1/2, 1/2) in base d=4 is 1/2.
    expected = 1 - 1 / math.log2(4)
    np.testing.assert_allclose(d.completeness_per_factor, [1, 1, expected], atol=0.005)
    np.testing.assert_allclose(d.completeness, (2 + expected) / 3, atol=0.005)
    np.testing.assert_allclose(d.importance[2:, 2], [0.5, 0.5], atol=1e-6)
    assert d.disentanglement > 0.99
    m = mig(codes, factors, [False] * 3)
    assert m.per_factor[2] == pytest.approx(0.0, abs=1e-12)
    assert m.per_factor[:2].min() > 0.95
    s = sap(codes, factors, [False] * 3)
    assert s.per_factor[2] == pytest.approx(0.0, abs=1e-12)


def expected_dci(weights: np.ndarray) -> tuple[float, float]:
    """disentanglement_lib's formulas on column-normalised weights (every column sums to 1)."""
    imp = weights / weights.sum(axis=0)
    per_code = 1 - entropy(imp.T, base=imp.shape[1])
    d = float(np.sum(per_code * imp.sum(axis=1) / imp.sum()))
    c = float(np.mean(1 - entropy(imp, base=imp.shape[0])))
    return d, c


def test_rotated_code_is_less_disentangled_but_as_informative():
    k = 4
    raw = uniform_factors(4000, k, seed=0)
    factors = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    q, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(k, k)))
    codes = factors @ q
    d = dci(codes, factors, [False] * k)
    # factor j = codes @ q[j], so code dim i carries weight |q[j, i]| for factor j.
    np.testing.assert_allclose(d.importance, np.abs(q.T) / np.abs(q.T).sum(axis=0), atol=0.02)
    want_d, want_c = expected_dci(np.abs(q.T))
    assert d.disentanglement == pytest.approx(want_d, abs=0.01)
    assert d.completeness == pytest.approx(want_c, abs=0.01)
    assert d.disentanglement < 0.3  # the identity code scores > 0.99
    assert d.informativeness > 0.999


def test_noise_code_scores_zero():
    rng = np.random.default_rng(7)
    n = 2000
    factors = np.column_stack([rng.uniform(size=(n, 2)), rng.integers(0, 4, n)]).astype(float)
    codes = rng.normal(size=(n, 16))
    disc = [False, False, True]
    d = dci(codes, factors, disc)
    np.testing.assert_allclose(d.informativeness_per_factor[:2], 0.0, atol=0.02)
    assert d.informativeness_per_factor[2] == pytest.approx(0.25, abs=0.05)  # chance, 4 classes
    assert mig(codes, factors, disc).score < 0.02
    s = sap(codes, factors, disc)
    assert s.per_factor[:2].max() < 0.01
    assert s.per_factor[2] < 0.06
    np.testing.assert_allclose(s.score_matrix[:, 2], 0.25, atol=0.07)


def test_discrete_factor_from_one_dimension():
    codes, factors, disc = discrete_case()
    d = dci(codes, factors, disc)
    assert d.informativeness_per_factor[0] == 1.0  # classes 1 apart, noise 0.1: no errors
    assert d.importance[:, 0].argmax() == 0
    m = mig(codes, factors, disc)
    assert m.factor_entropy[0] == pytest.approx(math.log(4), abs=0.01)
    assert m.per_factor[0] > 0.95
    s = sap(codes, factors, disc)
    assert s.score_matrix[0, 0] == 1.0
    # Every other dimension predicts the balanced classes at chance, 1/4.
    np.testing.assert_allclose(s.score_matrix[1:, 0], 0.25, atol=0.05)
    assert s.per_factor[0] == pytest.approx(0.75, abs=0.05)


def test_nearest_mean_classifier_by_hand():
    # Train class means on dim 0: class 0 -> 0, class 1 -> 2; midpoint 1.
    codes = np.array([[0.0], [0.0], [2.0], [2.0], [0.9], [1.1], [3.0], [-1.0]])
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 0])
    acc = dis._nearest_mean_accuracy(codes, labels, np.arange(4), np.arange(4, 8))
    assert acc.tolist() == [0.75]  # 0.9 is misclassified as class 0


def test_permuting_code_dimensions_changes_nothing():
    codes, factors, disc = discrete_case(n=1500)
    perm = np.array([3, 0, 4, 2, 1])
    a = disentanglement_scores(codes, factors, disc)
    b = disentanglement_scores(codes[:, perm], factors, disc)
    assert a.keys() == b.keys()
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-6), key
    np.testing.assert_allclose(dci(codes[:, perm], factors, disc).importance,
                               dci(codes, factors, disc).importance[perm], atol=1e-6)


def test_permuting_factors_permutes_per_factor_results():
    codes, factors, disc = discrete_case(n=1500)
    perm = [2, 0, 1]
    disc_p = [disc[j] for j in perm]
    a, b = dci(codes, factors, disc), dci(codes, factors[:, perm], disc_p)
    np.testing.assert_allclose(b.informativeness_per_factor, a.informativeness_per_factor[perm], atol=1e-9)
    np.testing.assert_allclose(b.completeness_per_factor, a.completeness_per_factor[perm], atol=1e-6)
    assert b.disentanglement == pytest.approx(a.disentanglement, abs=1e-6)
    np.testing.assert_array_equal(mig(codes, factors[:, perm], disc_p).per_factor,
                                  mig(codes, factors, disc).per_factor[perm])
    np.testing.assert_array_equal(sap(codes, factors[:, perm], disc_p).per_factor,
                                  sap(codes, factors, disc).per_factor[perm])


def test_forest_importance_on_identity_code():
    factors = uniform_factors(600, 3, seed=0)
    d = dci(factors.copy(), factors, [False] * 3, importance="forest")
    assert d.disentanglement > 0.95 and d.completeness > 0.95
    assert d.informativeness > 0.99
    np.testing.assert_allclose(d.importance.sum(axis=0), 1.0)


def test_disentanglement_scores_keys_and_values():
    codes, factors, disc = discrete_case(n=1000)
    out = disentanglement_scores(codes, factors, disc, seed=4)
    per = [f"{m}.{j}" for m in ("dci.informativeness", "mig", "sap") for j in range(3)]
    assert set(out) == {"dci.disentanglement", "dci.completeness", "dci.informativeness",
                        "mig", "sap", *per}
    d, s = dci(codes, factors, disc, seed=4), sap(codes, factors, disc, seed=4)
    assert out["dci.completeness"] == d.completeness
    assert out["dci.informativeness.0"] == d.informativeness_per_factor[0]
    assert out["sap.0"] == s.per_factor[0]
    assert out["mig"] == mig(codes, factors, disc).score


def test_one_code_dimension_and_one_factor():
    factors = uniform_factors(200, 1, seed=2)
    d = dci(2 * factors, factors, [False], seed=np.random.default_rng(0))
    # With a single factor and a single dimension there is nothing to be entangled with.
    assert (d.disentanglement, d.completeness) == (1.0, 1.0)
    assert d.informativeness == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- building blocks

def test_dci_formulas_on_a_hand_matrix():
    r = dis._dci_from_importance(np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 1.0]]), np.zeros(2))
    # Columns normalised: [2/3, 0, 1/3] and [0, 0, 1]. Row 0 is pure (D=1, weight 2/3); row 1
    # is empty (weight 0); row 2 = (1/3, 1) -> p = (1/4, 3/4), weight 4/3; total weight 2.
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    assert r.disentanglement == pytest.approx((2 / 3 + 4 / 3 * (1 - h)) / 2, abs=1e-12)
    c0 = 1 + (2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / math.log(3)
    np.testing.assert_allclose(r.completeness_per_factor, [c0, 1.0], atol=1e-12)
    assert r.completeness == pytest.approx((c0 + 1) / 2, abs=1e-12)
    uniform = dis._dci_from_importance(np.ones((2, 2)), np.zeros(2))
    assert uniform.disentanglement == pytest.approx(0.0, abs=1e-12)
    assert uniform.completeness == pytest.approx(0.0, abs=1e-12)


def test_histogram_bins_and_mutual_info_match_disentanglement_lib():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=500), rng.uniform(size=500), np.full(500, 2.0)])
    bins = dis._histogram_bins(codes, 7)
    for j in range(3):  # utils._histogram_discretize, shifted to start at 0
        want = np.digitize(codes[:, j], np.histogram(codes[:, j], 7)[1][:-1]) - 1
        np.testing.assert_array_equal(bins[:, j], want)
    labels = (codes[:, 0] > 0).astype(np.intp) + (codes[:, 1] > 0.7)
    got = dis._mutual_info(bins, 7, labels, 3)
    want = [mutual_info_score(labels, bins[:, j]) for j in range(3)]
    np.testing.assert_allclose(got, want, atol=1e-12)


# --------------------------------------------------------------------------- refusals

GOOD_CODES = np.random.default_rng(0).normal(size=(40, 3))
GOOD_FACTORS = np.column_stack([np.arange(40) % 2, np.linspace(0, 1, 40)]).astype(float)


def with_value(a, row, col, value):
    a = a.copy()
    a[row, col] = value
    return a


@pytest.mark.parametrize("call, match", [
    (lambda: dci(GOOD_CODES[:, 0], GOOD_FACTORS, [True, False]), r"codes must be a 2-D array .* shape \(40,\)"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS[:39], [True, False]), "codes has 40 rows but factors has 39"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True]), "discrete has 1 entries but factors has 2 columns"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, "TF"), "discrete must be a sequence of 2 booleans"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True, "no"]), r"discrete\[1\] is 'no'; allowed: True"),
    (lambda: dci(with_value(GOOD_CODES, 5, 1, np.nan), GOOD_FACTORS, [True, False]),
     r"codes holds a non-finite value \(nan\) at row 5, column 1"),
    (lambda: mig(GOOD_CODES, with_value(GOOD_FACTORS, 2, 1, np.inf), [True, False]),
     r"factors holds a non-finite value \(inf\) at row 2, column 1"),
    (lambda: sap(GOOD_CODES[:5], GOOD_FACTORS[:5], [True, False]), "5 samples are too few .* at least 10"),
    (lambda: dci(GOOD_CODES, np.column_stack([GOOD_FACTORS, np.ones(40)]), [True, False, False]),
     "factor column 2 does not vary"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True, True]),
     "factor column 1 is marked discrete but holds the non-integer value"),
    (lambda: mig(GOOD_CODES[:, :1], GOOD_FACTORS, [True, False]), "MIG needs at least 2 code dimensions.* has 1"),
    (lambda: sap(GOOD_CODES[:, :1], GOOD_FACTORS, [True, False]), "SAP needs at least 2 code dimensions"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True, False], importance="gbt"),
     "unknown importance 'gbt'; allowed: linear, forest"),
    (lambda: mig(GOOD_CODES, GOOD_FACTORS, [True, False], n_bins=1), "n_bins must be an integer of at least 2, got 1"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True, False], train_fraction=1.0),
     r"train_fraction must be a number between 0 and 1 \(exclusive\), got 1.0"),
    (lambda: sap(GOOD_CODES, GOOD_FACTORS, [True, False], train_fraction=0.99),
     "train_fraction=0.99 leaves 40 training and 0 held-out samples"),
    (lambda: dci(GOOD_CODES, GOOD_FACTORS, [True, False], seed="a"), "seed must be a numpy.random.Generator, an int seed or None"),
    (lambda: dci(GOOD_CODES.astype(str), GOOD_FACTORS, [True, False]), "codes must hold real numbers"),
])
def test_bad_input_is_refused(call, match):
    with pytest.raises(AnalysisError, match=match):
        call()


def test_single_class_in_training_part_is_refused():
    factors = GOOD_FACTORS.copy()
    factors[:, 0] = 0
    factors[0, 0] = 1  # one sample of class 1: the split puts it in one part only
    seed = next(s for s in range(100) if 0 not in dis._split(40, 0.8, np.random.default_rng(s))[0])
    with pytest.raises(AnalysisError, match="discrete factor column 0 has a single class in the training part"):
        sap(GOOD_CODES, factors, [True, False], seed=seed)
