"""Centred kernel alignment (CKA) between two sets of activations of the same images.

Linear, RBF and debiased-linear CKA as in Kornblith, Norouzi, Lee & Hinton (2019),
"Similarity of Neural Network Representations Revisited" (ICML), following the authors'
demo code (google-research/google-research, representation_similarity/Demo.ipynb): the
same bandwidth rule for RBF and the same U-statistic centring for debiased CKA (Song et al.
2012, in the form of Szekely & Rizzo 2014).

Inputs are feature matrices X (n images, p features) and Y (n, q) with the rows in the same
image order, or n x n Gram matrices. Everything is computed in float64, except that the
products X X^T of float32 input run in float32 BLAS over column blocks (accumulated in float64)
so that 2,000 images x 50,000 features takes seconds and never a copy of the whole matrix.
"""
from __future__ import annotations

import numpy as np

from latentscape.analysis.seeds import as_generator
from latentscape.errors import AnalysisError

KINDS = ("linear", "rbf", "debiased")

# Column blocks of this many elements (64 MB in float64) bound the temporaries of X X^T.
_BLOCK_ELEMENTS = 1 << 23


# --------------------------------------------------------------------------- validation

def _as_features(X, name: str) -> np.ndarray:
    """X as a finite 2-D float32/float64 array (images x features), or AnalysisError."""
    arr = np.asarray(X)
    if arr.dtype.kind not in "biuf":
        raise AnalysisError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise AnalysisError(f"{name} must be a 2-D array (images x features), got shape {arr.shape}")
    if arr.shape[1] == 0:
        raise AnalysisError(f"{name} has no features (shape {arr.shape})")
    _check_finite(arr, name)
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # Row blocks keep the boolean temporary small for wide activation matrices.
    step = max(1, _BLOCK_ELEMENTS // max(1, int(np.prod(arr.shape[1:]))))
    for start in range(0, arr.shape[0], step):
        block = arr[start:start + step]
        bad = ~np.isfinite(block)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            where = (where[0] + start,) + where[1:]
            raise AnalysisError(f"{name} contains NaN or infinite values (first at index {where}); "
                                "CKA/RSA need finite activations")


def _check_kind(kind) -> str:
    if kind not in KINDS:
        raise AnalysisError(f"unknown CKA kind {kind!r}; allowed: {', '.join(KINDS)}")
    return kind


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise AnalysisError(f"RBF threshold must be a positive number, got {threshold!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise AnalysisError(f"RBF threshold must be a positive number, got {threshold!r}")
    return value


def _min_images(kind: str) -> int:
    return 4 if kind == "debiased" else 2


def _check_count(n: int, kind: str) -> None:
    need = _min_images(kind)
    if n < need:
        label = "debiased CKA" if kind == "debiased" else "CKA"
        raise AnalysisError(f"{label} needs at least {need} images, got {n}")


def _check_pair(X, Y, kind: str) -> tuple[np.ndarray, np.ndarray]:
    X = _as_features(X, "X")
    Y = _as_features(Y, "Y")
    if X.shape[0] != Y.shape[0]:
        raise AnalysisError(f"X has {X.shape[0]} rows but Y has {Y.shape[0]}: "
                            "the two activation sets must hold the same images")
    _check_count(X.shape[0], kind)
    return X, Y


def _as_gram(G, name: str) -> np.ndarray:
    arr = np.asarray(G)
    if arr.dtype.kind not in "biuf":
        raise AnalysisError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise AnalysisError(f"{name} must be a square n x n Gram matrix, got shape {arr.shape}")
    _check_finite(arr, name)
    if not np.allclose(arr, arr.T):
        raise AnalysisError(f"{name} must be symmetric (a Gram matrix), but it differs from its transpose")
    return arr


# --------------------------------------------------------------------------- Gram matrices

def _gram(X: np.ndarray, center: str | None = None) -> np.ndarray:
    """X X^T in float64 after removing column means ("columns") or row means ("rows").

    Works over column blocks in the input's precision (float32 BLAS for float32 input); the
    means are taken and the block products summed in float64.
    """
    n, p = X.shape
    # Rounding a column mean to float32 shifts that whole column by a constant, which no
    # centred Gram matrix sees, so centring float32 blocks in float32 loses nothing.
    col_mean = X.mean(axis=0, dtype=np.float64).astype(X.dtype) if center == "columns" else None
    row_mean = X.mean(axis=1, dtype=np.float64)[:, None] if center == "rows" else None
    step = max(1, _BLOCK_ELEMENTS // max(1, n))
    G = np.zeros((n, n))
    for start in range(0, p, step):
        block = X[:, start:start + step]
        if col_mean is not None:
            block = block - col_mean[start:start + step]
        if row_mean is not None:
            block = (block - row_mean).astype(X.dtype, copy=False)
        G += block @ block.T
    return G


def gram_linear(X) -> np.ndarray:
    """The linear-kernel Gram matrix X X^T (n x n, float64) of features X (n images x p)."""
    return _gram(_as_features(X, "X"))


def _rbf_from_dots(G: np.ndarray, threshold: float, name: str) -> np.ndarray:
    sq_norms = np.diag(G)
    sq_dist = sq_norms[:, None] + sq_norms[None, :] - 2 * G
    np.maximum(sq_dist, 0, out=sq_dist)
    # Median over all n^2 entries, zero diagonal included, exactly as the authors' code does.
    sq_median = np.median(sq_dist)
    if sq_median <= 0:
        raise AnalysisError(f"{name}: the median squared distance between images is 0 (most images "
                            "have identical features), so the RBF bandwidth is undefined")
    return np.exp(-sq_dist / (2 * threshold ** 2 * sq_median))


def gram_rbf(X, threshold: float = 1.0) -> np.ndarray:
    """RBF-kernel Gram matrix exp(-|x_i - x_j|^2 / (2 sigma^2)) of features X (n x p).

    sigma = threshold * sqrt(median squared distance), the median taken over the whole n x n
    squared-distance matrix (its zero diagonal included) as in Kornblith et al.'s code, so the
    bandwidth is `threshold` times the median distance. The demo uses threshold 0.5.
    """
    threshold = _check_threshold(threshold)
    return _rbf_from_dots(_gram(_as_features(X, "X"), center="columns"), threshold, "X")


def _center(G: np.ndarray, unbiased: bool) -> np.ndarray:
    G = G.copy()
    n = G.shape[0]
    if unbiased:
        # U-centring (Szekely & Rizzo 2014 form of Song et al.'s unbiased HSIC): zero diagonal,
        # row/column sums over n-2. Used by the authors as numerically the most stable form.
        np.fill_diagonal(G, 0)
        means = G.sum(axis=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        G -= means[:, None]
        G -= means[None, :]
        np.fill_diagonal(G, 0)
    else:
        means = G.mean(axis=0)
        means -= means.mean() / 2
        G -= means[:, None]
        G -= means[None, :]
    return G


def center_gram(G, unbiased: bool = False) -> np.ndarray:
    """Double-centre a symmetric Gram matrix: H G H with H = I - 11^T/n (a new float64 array).

    With unbiased=True, the U-statistic centring whose inner products give the unbiased HSIC
    estimator (Song et al. 2012); that needs n >= 4 and the result has a zero diagonal.
    """
    G = _as_gram(G, "G")
    _check_count(G.shape[0], "debiased" if unbiased else "linear")
    return _center(G, unbiased)


# --------------------------------------------------------------------------- CKA

def _cka_centered(Gx: np.ndarray, Gy: np.ndarray) -> float:
    nx = np.linalg.norm(Gx)
    ny = np.linalg.norm(Gy)
    for norm, name in ((nx, "X"), (ny, "Y")):
        if norm == 0:
            raise AnalysisError(f"{name} is the same for every image (its centred Gram matrix is 0): "
                                "CKA is undefined")
    return float(np.vdot(Gx, Gy) / (nx * ny))


def cka(gram_x, gram_y, debiased: bool = False) -> float:
    """CKA between two n x n Gram matrices of the same images (in the same order).

    debiased=True uses the unbiased HSIC estimator in numerator and denominator (n >= 4); the
    result is then close to 0 for independent representations and may be negative.
    """
    gram_x = _as_gram(gram_x, "gram_x")
    gram_y = _as_gram(gram_y, "gram_y")
    if gram_x.shape != gram_y.shape:
        raise AnalysisError(f"gram_x has {gram_x.shape[0]} rows but gram_y has {gram_y.shape[0]}: "
                            "the two Gram matrices must hold the same images")
    _check_count(gram_x.shape[0], "debiased" if debiased else "linear")
    return _cka_centered(_center(gram_x, debiased), _center(gram_y, debiased))


def _debiased_dot(xty, rows_x, rows_y, total_x, total_y, n):
    # The unbiased HSIC estimator rewritten in feature space (Kornblith et al.'s demo code).
    return xty - n / (n - 2.0) * rows_x.dot(rows_y) + total_x * total_y / ((n - 1) * (n - 2))


def _feature_parts(X: np.ndarray):
    Xc = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    rows = np.einsum("ij,ij->i", Xc, Xc)
    self_sq = np.linalg.norm(Xc.T @ Xc) ** 2
    return Xc, rows, rows.sum(), self_sq


def _feature_norms(parts, n: int, debiased: bool) -> float:
    _, rows, total, self_sq = parts
    sq = _debiased_dot(self_sq, rows, rows, total, total, n) if debiased else self_sq
    return np.sqrt(sq) if sq > 0 else 0.0


def _feature_cka(X: np.ndarray, Y: np.ndarray, debiased: bool) -> float:
    n = X.shape[0]
    px, py = _feature_parts(X), _feature_parts(Y)
    xy = np.linalg.norm(px[0].T @ py[0]) ** 2
    if debiased:
        xy = _debiased_dot(xy, px[1], py[1], px[2], py[2], n)
    nx, ny = _feature_norms(px, n, debiased), _feature_norms(py, n, debiased)
    for norm, name in ((nx, "X"), (ny, "Y")):
        if norm == 0:
            raise AnalysisError(f"{name} is the same for every image (its centred features are 0): "
                                "CKA is undefined")
    return float(xy / (nx * ny))


def feature_space_linear_cka(X, Y, debiased: bool = False) -> float:
    """Linear CKA from features via ||Yc^T Xc||_F^2 (no n x n matrix; allocates p x q).

    Cheaper than the Gram form when the features are fewer than the images; cka_features
    picks between the two forms automatically.
    """
    X, Y = _check_pair(X, Y, "debiased" if debiased else "linear")
    return _feature_cka(X, Y, debiased)


def _feature_form_is_cheaper(n: int, p: int, q: int) -> bool:
    # Feature form costs n(p^2 + q^2 + pq) and holds p x q; the Gram form costs n^2 (p + q).
    return p * p + q * q + p * q <= n * (p + q)


def _centered_gram(X: np.ndarray, kind: str, threshold: float, name: str) -> np.ndarray:
    G = _gram(X, center="columns")  # column centring does not change any centred Gram
    if kind == "rbf":
        G = _rbf_from_dots(G, threshold, name)
    return _center(G, unbiased=kind == "debiased")


def cka_features(X, Y, kind: str = "linear", threshold: float = 1.0) -> float:
    """CKA between activations X (n images x p) and Y (n x q) of the same images.

    kind: "linear", "rbf" (bandwidth `threshold` x median distance, see gram_rbf) or
    "debiased" (linear CKA with the unbiased HSIC estimator; ~0 for independent data, n >= 4).
    Linear and debiased use the feature-space form when p and q are small next to n and the
    Gram form otherwise, so wide layers never allocate p x q.
    """
    kind = _check_kind(kind)
    threshold = _check_threshold(threshold)
    X, Y = _check_pair(X, Y, kind)
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    if kind != "rbf" and _feature_form_is_cheaper(n, p, q):
        return _feature_cka(X, Y, kind == "debiased")
    return _cka_centered(_centered_gram(X, kind, threshold, "X"),
                         _centered_gram(Y, kind, threshold, "Y"))


def cka_matrix(feats_a: dict, feats_b: dict, kind: str = "linear",
               threshold: float = 1.0) -> np.ndarray:
    """CKA between every layer of feats_a (rows) and every layer of feats_b (columns).

    Each dict maps a layer name to its (n images x features) activations, all for the same
    images in the same order. Each layer's centred Gram matrix is computed once (a layer passed
    in both dicts as the same array once), so memory is O(layers x n^2): about 8 n^2 bytes per
    layer, 800 MB per layer at n = 10,000.
    """
    kind = _check_kind(kind)
    threshold = _check_threshold(threshold)

    def unit_gram(X: np.ndarray, name: str) -> np.ndarray:
        _check_count(X.shape[0], kind)
        G = _centered_gram(X, kind, threshold, name)
        norm = np.linalg.norm(G)
        if norm == 0:
            raise AnalysisError(f"{name} is the same for every image: CKA is undefined")
        return G / norm

    return layer_matrix(feats_a, feats_b, _as_features, unit_gram, lambda ga, gb: float(np.vdot(ga, gb)))


def layer_matrix(feats_a: dict, feats_b: dict, load, prepare, compare) -> np.ndarray:
    """compare(prepared a, prepared b) for every layer of feats_a (rows) and of feats_b (columns).

    Each layer's array is turned into features by `load(arr, name)` and then `prepare(X, name)`
    once (a layer passed in both dicts as the same array once); every layer must hold the same
    number of rows (images). Shared by cka_matrix and rsa.rsa_matrix."""
    for label, feats in (("feats_a", feats_a), ("feats_b", feats_b)):
        if not isinstance(feats, dict) or not feats:
            raise AnalysisError(f"{label} must be a non-empty dict of layer name -> activations")
    cache: dict[int, object] = {}
    counts: dict[str, int] = {}

    def prepared(label: str, layer: str, arr):
        key = id(arr)
        if key not in cache:
            name = f"{label}[{layer!r}]"
            X = load(arr, name)
            counts[name] = X.shape[0]
            if len(set(counts.values())) > 1:
                raise AnalysisError("all layers must hold the same images, but the row counts differ: "
                                    + ", ".join(f"{k} has {v}" for k, v in counts.items()))
            cache[key] = prepare(X, name)
        return cache[key]

    pa = [prepared("feats_a", k, v) for k, v in feats_a.items()]
    pb = [prepared("feats_b", k, v) for k, v in feats_b.items()]
    return np.array([[compare(x, y) for y in pb] for x in pa])


def _permutation_statistic(X, Y, kind: str, threshold: float):
    """A function perm -> CKA(X, Y[perm]) that reuses everything not touched by the permutation."""
    n, p, q = X.shape[0], X.shape[1], Y.shape[1]
    if kind != "rbf" and _feature_form_is_cheaper(n, p, q):
        debiased = kind == "debiased"
        px, py = _feature_parts(X), _feature_parts(Y)
        denom = _feature_norms(px, n, debiased) * _feature_norms(py, n, debiased)
        if denom == 0:
            raise AnalysisError("X or Y is the same for every image: CKA is undefined")

        def statistic(perm):
            xy = np.linalg.norm(px[0].T @ py[0][perm]) ** 2
            if debiased:
                xy = _debiased_dot(xy, px[1], py[1][perm], px[2], py[2], n)
            return xy / denom
        return statistic
    Gx = _centered_gram(X, kind, threshold, "X")
    Gy = _centered_gram(Y, kind, threshold, "Y")
    denom = np.linalg.norm(Gx) * np.linalg.norm(Gy)
    if denom == 0:
        raise AnalysisError("X or Y is the same for every image: CKA is undefined")
    # Permuting Y's rows permutes rows and columns of its (U-)centred Gram matrix.
    return lambda perm: np.vdot(Gx, Gy[np.ix_(perm, perm)]) / denom


def cka_permutation_test(X, Y, kind: str = "linear", n_permutations: int = 200, rng=None,
                         threshold: float = 1.0) -> dict:
    """CKA of X and Y with a permutation null that shuffles the rows (images) of Y.

    Returns dict(cka, null_mean, null_std, p_value) with p_value = (1 + #{null >= cka}) /
    (n_permutations + 1). rng: a numpy Generator or int seed; None means seed 0 (reproducible).
    """
    kind = _check_kind(kind)
    threshold = _check_threshold(threshold)
    if isinstance(n_permutations, bool) or not isinstance(n_permutations, (int, np.integer)) \
            or n_permutations < 1:
        raise AnalysisError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    gen = as_generator(rng, "rng")
    X, Y = _check_pair(X, Y, kind)
    statistic = _permutation_statistic(X, Y, kind, threshold)
    n = X.shape[0]
    observed = float(statistic(np.arange(n)))
    null = np.array([statistic(gen.permutation(n)) for _ in range(int(n_permutations))])
    return {
        "cka": observed,
        "null_mean": float(null.mean()),
        "null_std": float(null.std(ddof=1)) if null.size > 1 else 0.0,
        "p_value": float((1 + np.count_nonzero(null >= observed)) / (null.size + 1)),
    }
