"""Disentanglement metrics of a code (a layer's activations) against ground-truth factors.

DCI (Eastwood & Williams 2018, "A Framework for the Quantitative Evaluation of Disentangled
Representations"), MIG (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement
in VAEs") and SAP (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations"). Details (histogram discretisation, entropy bases,
the 1e-12 variance floor of SAP) follow google-research/disentanglement_lib's
evaluation/metrics/{dci,mig,sap_score,utils}.py; the deviations are listed in docs/analysis.md:

* DCI importance defaults to linear models ("linear": |coefficients| of a ridge tuned by leave-one-out error (ridge.py) on
  standardised codes, or of an L2 logistic regression), since gradient-boosted trees take
  about 6 s per tree on 8,000 x 2,048 codes (over an hour for 8 factors); "forest" uses the
  library's gradient-boosted trees. Each importance column is normalised to sum 1 (tree importances already do), so every factor
  weighs the same and completeness is the plain mean over factors, as in the library.
* Continuous factors are regressed (held-out R^2) rather than classified, and are histogram-
  discretised for MIG like the codes.
* SAP's per-dimension classifier for discrete factors is the nearest class mean on that one
  dimension (a linear 1-D classifier with equal class priors, like the library's balanced
  LinearSVC), which vectorises over thousands of dimensions.

Inputs: codes (n, d) float, factors (n, k) float, discrete (k booleans: True marks integer
class labels). Every metric takes all n rows; DCI and SAP split them into a training and a
held-out part drawn from `seed`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latentscape.analysis.ridge import fit_ridge_loo, standardise
from latentscape.analysis.seeds import as_generator
from latentscape.errors import AnalysisError

IMPORTANCE_KINDS = ("linear", "forest")
MIN_SAMPLES = 10

# Ridge penalties tried per factor (codes standardised, so eigenvalues of X^T X scale with n).
_RIDGE_ALPHAS = np.logspace(-2, 6, 17)
# Elements per temporary block in the vectorised MI and SAP loops (32 MB of float64/int64).
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True, eq=False)
class DCIResult:
    """DCI scores. `importance` (d, k) has columns summing to 1 (0 for a factor no dimension
    explains); informativeness is held-out R^2 (continuous) or accuracy (discrete) per factor."""
    disentanglement: float
    completeness: float
    informativeness: float
    importance: np.ndarray
    informativeness_per_factor: np.ndarray
    completeness_per_factor: np.ndarray
    disentanglement_per_code: np.ndarray


@dataclass(frozen=True, eq=False)
class MIGResult:
    """Mutual information gap: score = mean of per_factor; mutual_info (d, k) and
    factor_entropy (k,) are in nats."""
    score: float
    per_factor: np.ndarray
    mutual_info: np.ndarray
    factor_entropy: np.ndarray


@dataclass(frozen=True, eq=False)
class SAPResult:
    """Separated attribute predictability: score = mean of per_factor; score_matrix (d, k) holds
    each single dimension's R^2 (continuous) or held-out accuracy (discrete)."""
    score: float
    per_factor: np.ndarray
    score_matrix: np.ndarray


# --------------------------------------------------------------------------- validation

@dataclass(frozen=True)
class _Inputs:
    codes: np.ndarray           # (n, d) float64
    factors: np.ndarray         # (n, k) float64
    discrete: tuple[bool, ...]
    labels: dict[int, np.ndarray]   # discrete column -> class indices 0..C-1


def _check_inputs(codes, factors, discrete) -> _Inputs:
    codes = _as_matrix(codes, "codes", "n samples x d code dimensions")
    factors = _as_matrix(factors, "factors", "n samples x k factors")
    if codes.shape[0] != factors.shape[0]:
        raise AnalysisError(f"codes has {codes.shape[0]} rows but factors has {factors.shape[0]}; "
                            "they must describe the same samples in the same order")
    if codes.shape[0] < MIN_SAMPLES:
        raise AnalysisError(f"{codes.shape[0]} samples are too few for disentanglement metrics; "
                            f"pass at least {MIN_SAMPLES}")
    flags = _check_discrete(discrete, factors.shape[1])
    labels = {}
    for j in range(factors.shape[1]):
        col = factors[:, j]
        if col.min() == col.max():
            raise AnalysisError(f"factor column {j} does not vary (every value is {col[0]:g}); "
                                "drop it: no metric can score a constant factor")
        if flags[j]:
            if not np.array_equal(col, np.round(col)):
                bad = col[col != np.round(col)][0]
                raise AnalysisError(f"factor column {j} is marked discrete but holds the non-integer "
                                    f"value {bad:g}; pass integer class labels or mark it continuous")
            labels[j] = np.unique(col, return_inverse=True)[1].astype(np.intp)
    return _Inputs(codes, factors, flags, labels)


def _as_matrix(x, name: str, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise AnalysisError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise AnalysisError(f"{name} must be a 2-D array ({what}) with at least one column, "
                            f"got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise AnalysisError(f"{name} holds a non-finite value ({arr[row, col]}) at row {row}, "
                            f"column {col}; the metrics need finite values")
    return arr


def _check_discrete(discrete, k: int) -> tuple[bool, ...]:
    if isinstance(discrete, (str, bytes)) or not isinstance(discrete, (Sequence, np.ndarray)):
        raise AnalysisError(f"discrete must be a sequence of {k} booleans (one per factor column), "
                            f"got {discrete!r}")
    flags = tuple(discrete)
    if len(flags) != k:
        raise AnalysisError(f"discrete has {len(flags)} entries but factors has {k} columns; "
                            "pass one boolean per factor column")
    for j, f in enumerate(flags):
        if not isinstance(f, (bool, np.bool_)):
            raise AnalysisError(f"discrete[{j}] is {f!r}; allowed: True (integer class labels) "
                                "or False (continuous)")
    return tuple(bool(f) for f in flags)


def _check_two_dims(d: int, metric: str) -> None:
    if d < 2:
        raise AnalysisError(f"{metric} needs at least 2 code dimensions (it compares the best "
                            f"dimension with the second best); codes has {d}")


def _split(n: int, train_fraction, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random training / held-out row indices; both parts get at least 2 rows."""
    if not isinstance(train_fraction, (float, int, np.floating)) or not 0 < train_fraction < 1:
        raise AnalysisError(f"train_fraction must be a number between 0 and 1 (exclusive), "
                            f"got {train_fraction!r}")
    n_train = int(round(n * float(train_fraction)))
    if n_train < 2 or n - n_train < 2:
        raise AnalysisError(f"train_fraction={train_fraction} leaves {n_train} training and "
                            f"{n - n_train} held-out samples out of {n}; each part needs at least 2")
    order = rng.permutation(n)
    return np.sort(order[:n_train]), np.sort(order[n_train:])


def _check_classes(inp: _Inputs, rows: np.ndarray, part: str) -> None:
    for j, lab in inp.labels.items():
        if np.unique(lab[rows]).size < 2:
            raise AnalysisError(f"discrete factor column {j} has a single class in the {part} part "
                                "of the samples; pass more samples or another seed")


# --------------------------------------------------------------------------- shared pieces

def _normalised_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """Entropy (base `base`) of each row of p, rows normalised to sum 1; 0 for all-zero rows."""
    if base < 2:
        return np.zeros(p.shape[0])  # a single outcome carries no uncertainty
    total = p.sum(axis=1, keepdims=True)
    q = p / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return -terms.sum(axis=1) / np.log(base)


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column (factor): largest minus second-largest entry."""
    top = np.sort(matrix, axis=0)
    return top[-1] - top[-2]


# --------------------------------------------------------------------------- DCI

def dci(codes, factors, discrete, *, importance: str = "linear", train_fraction: float = 0.8,
        seed: int | np.random.Generator = 0) -> DCIResult:
    """Disentanglement, completeness and informativeness (Eastwood & Williams 2018).

    One predictor per factor is fitted on a random `train_fraction` of the rows and scored on
    the rest (R^2 for continuous factors, accuracy for discrete ones: informativeness). Its
    |weights| over the d code dimensions form a column of the importance matrix.
    importance="linear" (default, fast for wide codes): ridge with the penalty chosen by
    leave-one-out error (continuous; ridge.py) or L2 logistic regression (discrete, |coef|
    summed over classes), both on standardised codes. importance="forest": gradient-boosted
    trees' feature_importances_, as disentanglement_lib; slow, for small d.

    Disentanglement: per code dimension 1 - entropy (base k) of its importance row, weighted by
    the row's share of the total. Completeness: per factor 1 - entropy (base d) of its column,
    averaged over factors.
    """
    if importance not in IMPORTANCE_KINDS:
        raise AnalysisError(f"unknown importance {importance!r}; allowed: {', '.join(IMPORTANCE_KINDS)}")
    inp = _check_inputs(codes, factors, discrete)
    rng = as_generator(seed)
    train, test = _split(inp.codes.shape[0], train_fraction, rng)
    _check_classes(inp, train, "training")
    fit = _fit_linear if importance == "linear" else _fit_trees
    weights, informativeness = fit(inp, train, test, rng)
    return _dci_from_importance(weights, informativeness)


def _dci_from_importance(weights: np.ndarray, informativeness: np.ndarray) -> DCIResult:
    d, k = weights.shape
    column = weights.sum(axis=0)
    imp = weights / np.where(column > 0, column, 1.0)
    per_code = np.where(imp.sum(axis=1) > 0, 1.0 - _normalised_entropy(imp, k), 0.0)
    code_weight = imp.sum(axis=1)
    disent = float(per_code @ code_weight / code_weight.sum()) if code_weight.sum() > 0 else 0.0
    per_factor = np.where(column > 0, 1.0 - _normalised_entropy(imp.T, d), 0.0)
    return DCIResult(disentanglement=disent, completeness=float(per_factor.mean()),
                     informativeness=float(informativeness.mean()), importance=_frozen(imp),
                     informativeness_per_factor=_frozen(informativeness),
                     completeness_per_factor=_frozen(per_factor),
                     disentanglement_per_code=_frozen(per_code))


def _fit_linear(inp: _Inputs, train, test, rng) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    x = standardise(inp.codes[train], inp.codes)[1]  # all rows, scaled by the training rows
    k = inp.factors.shape[1]
    weights = np.zeros((x.shape[1], k))
    score = np.zeros(k)
    cont = [j for j in range(k) if not inp.discrete[j]]
    if cont:
        y = standardise(inp.factors[train][:, cont], inp.factors[:, cont])[1]
        fit = fit_ridge_loo(x[train], y[train], _RIDGE_ALPHAS)
        weights[:, cont] = np.abs(fit.coef)
        score[cont] = _r2(y[test], fit.predict(x[test]))
    for j, lab in inp.labels.items():
        # tol 1e-3 rather than 1e-4: 3-5x fewer iterations on 2,048-dim codes, same accuracy.
        model = LogisticRegression(C=1.0, tol=1e-3, max_iter=1000).fit(x[train], lab[train])
        weights[:, j] = np.abs(model.coef_).sum(axis=0)
        score[j] = np.mean(model.predict(x[test]) == lab[test])
    return weights, score


def _r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Held-out R^2 per column (may be negative: worse than the training mean)."""
    total = np.sum((y - y.mean(axis=0)) ** 2, axis=0)
    if np.any(total == 0):
        raise AnalysisError("a continuous factor does not vary within the held-out samples; "
                            "pass more samples or a larger held-out part (train_fraction)")
    return 1.0 - np.sum((y - pred) ** 2, axis=0) / total


def _fit_trees(inp: _Inputs, train, test, rng) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

    k = inp.factors.shape[1]
    weights = np.zeros((inp.codes.shape[1], k))
    score = np.zeros(k)
    x = inp.codes
    for j in range(k):
        state = int(rng.integers(2**31 - 1))
        if inp.discrete[j]:
            lab = inp.labels[j]
            model = GradientBoostingClassifier(random_state=state).fit(x[train], lab[train])
            score[j] = np.mean(model.predict(x[test]) == lab[test])
        else:
            y = inp.factors[:, j]
            model = GradientBoostingRegressor(random_state=state).fit(x[train], y[train])
            score[j] = _r2(y[test, None], model.predict(x[test])[:, None])[0]
        weights[:, j] = model.feature_importances_
    return weights, score


# --------------------------------------------------------------------------- MIG

def mig(codes, factors, discrete, *, n_bins: int = 20) -> MIGResult:
    """Mutual information gap (Chen et al. 2018), as disentanglement_lib computes it.

    Each code dimension, and each continuous factor, is discretised into n_bins equal-width
    bins over its range; discrete factors use their classes. For every factor, MIG is the
    mutual information of the best code dimension minus that of the second best, divided by
    the factor's entropy; the score is the mean over factors. All n rows are used.
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise AnalysisError(f"n_bins must be an integer of at least 2, got {n_bins!r}")
    inp = _check_inputs(codes, factors, discrete)
    _check_two_dims(inp.codes.shape[1], "MIG")
    code_bins = _histogram_bins(inp.codes, n_bins)
    k = inp.factors.shape[1]
    mi = np.zeros((inp.codes.shape[1], k))
    entropy = np.zeros(k)
    for j in range(k):
        labels = inp.labels[j] if inp.discrete[j] else _histogram_bins(inp.factors[:, [j]], n_bins)[:, 0]
        n_classes = int(labels.max()) + 1
        mi[:, j] = _mutual_info(code_bins, n_bins, labels, n_classes)
        p = np.bincount(labels, minlength=n_classes) / labels.size
        entropy[j] = -np.sum(p[p > 0] * np.log(p[p > 0]))
    per_factor = _top_two_gap(mi) / entropy
    return MIGResult(score=float(per_factor.mean()), per_factor=_frozen(per_factor),
                     mutual_info=_frozen(mi), factor_entropy=_frozen(entropy))


def _histogram_bins(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index 0..n_bins-1 of every value, per column: n_bins equal-width bins spanning the
    column's range, the maximum in the last bin (disentanglement_lib's _histogram_discretize,
    shifted to start at 0)."""
    out = np.empty(x.shape, dtype=np.intp)
    for j, col in enumerate(np.ascontiguousarray(x.T)):
        edges = np.histogram_bin_edges(col, n_bins)
        out[:, j] = np.digitize(col, edges[:-1]) - 1
    return out


def _mutual_info(code_bins: np.ndarray, n_bins: int, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Mutual information (nats) between each column of code_bins and labels, from joint
    histograms (one np.bincount per block of columns); equals sklearn's mutual_info_score."""
    n, d = code_bins.shape
    cells = n_bins * n_classes
    step = max(1, _BLOCK_ELEMENTS // n)
    mi = np.empty(d)
    for start in range(0, d, step):
        block = code_bins[:, start:start + step]
        m = block.shape[1]
        index = (block * n_classes + labels[:, None]) + np.arange(m) * cells
        joint = np.bincount(index.ravel(), minlength=m * cells).reshape(m, n_bins, n_classes) / n
        outer = joint.sum(axis=2, keepdims=True) * joint.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / outer), 0.0)
        mi[start:start + m] = terms.sum(axis=(1, 2))
    return np.clip(mi, 0.0, None)  # rounding can leave -1e-17 for independent columns


# --------------------------------------------------------------------------- SAP

def sap(codes, factors, discrete, *, train_fraction: float = 0.8,
        seed: int | np.random.Generator = 0) -> SAPResult:
    """Separated attribute predictability (Kumar et al. 2018), as disentanglement_lib.

    Score matrix (d, k): for a continuous factor, the R^2 of a linear fit from each single code
    dimension (its squared correlation, over all rows; 0 for a dimension of variance <= 1e-12);
    for a discrete factor, the held-out accuracy of a per-dimension nearest-class-mean
    classifier trained on a random `train_fraction` of the rows. SAP is the mean over factors of
    the best entry minus the second best.
    """
    inp = _check_inputs(codes, factors, discrete)
    _check_two_dims(inp.codes.shape[1], "SAP")
    k = inp.factors.shape[1]
    matrix = np.zeros((inp.codes.shape[1], k))
    cont = [j for j in range(k) if not inp.discrete[j]]
    if cont:
        matrix[:, cont] = _squared_correlation(inp.codes, inp.factors[:, cont])
    if inp.labels:
        train, test = _split(inp.codes.shape[0], train_fraction, as_generator(seed))
        _check_classes(inp, train, "training")
        for j, lab in inp.labels.items():
            matrix[:, j] = _nearest_mean_accuracy(inp.codes, lab, train, test)
    per_factor = _top_two_gap(matrix)
    return SAPResult(score=float(per_factor.mean()), per_factor=_frozen(per_factor),
                     score_matrix=_frozen(matrix))


def _squared_correlation(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(d, t) squared Pearson correlations; 0 for code dimensions with variance <= 1e-12."""
    c = codes - codes.mean(axis=0)
    f = factors - factors.mean(axis=0)
    var_c = np.mean(c * c, axis=0)
    var_f = np.mean(f * f, axis=0)
    cov = c.T @ f / codes.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = cov ** 2 / (var_c[:, None] * var_f[None, :])
    return np.where(var_c[:, None] > 1e-12, r2, 0.0)


def _nearest_mean_accuracy(codes: np.ndarray, labels: np.ndarray, train, test) -> np.ndarray:
    """Held-out accuracy (d,) of classifying `labels` from each single code dimension by the
    nearest training class mean (classes absent from training are never predicted)."""
    present = np.unique(labels[train])
    onehot = labels[train, None] == present[None, :]
    means = (onehot.T @ codes[train]) / onehot.sum(axis=0)[:, None]   # (classes, d)
    x, truth = codes[test], labels[test]
    step = max(1, _BLOCK_ELEMENTS // (len(test) * len(present)))
    acc = np.empty(codes.shape[1])
    for start in range(0, codes.shape[1], step):
        dist = np.abs(x[:, start:start + step, None] - means.T[None, start:start + step, :])
        acc[start:start + step] = np.mean(present[dist.argmin(axis=2)] == truth[:, None], axis=0)
    return acc


# --------------------------------------------------------------------------- all three

def disentanglement_scores(codes, factors, discrete, *,
                           seed: int | np.random.Generator = 0) -> dict[str, float]:
    """DCI (linear importance), MIG and SAP with their defaults, as one flat dict: keys
    dci.disentanglement, dci.completeness, dci.informativeness, mig, sap, and per factor
    column j: dci.informativeness.<j>, mig.<j>, sap.<j>."""
    d = dci(codes, factors, discrete, seed=seed)
    m = mig(codes, factors, discrete)
    s = sap(codes, factors, discrete, seed=seed)
    out = {"dci.disentanglement": d.disentanglement, "dci.completeness": d.completeness,
           "dci.informativeness": d.informativeness, "mig": m.score, "sap": s.score}
    for j in range(len(m.per_factor)):
        out[f"dci.informativeness.{j}"] = float(d.informativeness_per_factor[j])
        out[f"mig.{j}"] = float(m.per_factor[j])
        out[f"sap.{j}"] = float(s.per_factor[j])
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


__all__ = ["DCIResult", "IMPORTANCE_KINDS", "MIGResult", "SAPResult", "dci",
           "disentanglement_scores", "mig", "sap"]
