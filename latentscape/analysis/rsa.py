"""Representational similarity analysis: RDMs of activations and their rank comparison.

An RDM (representational dissimilarity matrix) holds, for every pair of images, how different
the network's activation patterns for the two images are. RDMs are returned condensed (the
upper triangle row by row, scipy.spatial.distance.pdist's convention) and compared by rank
correlation, as in Kriegeskorte et al. (2008). rsatoolbox 0.3.2 gives the same numbers (see
tests/test_analysis_rsa.py). Distances come from one X X^T over column blocks, so wide layers
(thousands of images x tens of thousands of features) take seconds rather than pdist's minutes.
"""
from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.spatial.distance import squareform

from latentscape.analysis.cka import _as_features, _gram, layer_matrix
from latentscape.errors import AnalysisError

METRICS = ("correlation", "euclidean", "sqeuclidean")
METHODS = ("spearman", "pearson", "kendall")


def _check_choice(value, allowed, what: str) -> str:
    if value not in allowed:
        raise AnalysisError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")
    return value


def _square_rdm(X: np.ndarray, metric: str, name: str) -> np.ndarray:
    if metric == "correlation":
        G = _gram(X, center="rows")
        norms = np.sqrt(np.diag(G))
        flat = np.flatnonzero(norms == 0)
        if flat.size:
            raise AnalysisError(f"{name}: image {int(flat[0])} has the same value in every feature, so its "
                                "correlation distance is undefined; use metric='euclidean'")
        D = 1 - G / np.outer(norms, norms)
        np.clip(D, 0, 2, out=D)
    else:
        G = _gram(X, center="columns")
        sq = np.diag(G)
        D = sq[:, None] + sq[None, :] - 2 * G
        np.maximum(D, 0, out=D)
        if metric == "euclidean":
            np.sqrt(D, out=D)
    np.fill_diagonal(D, 0)
    return D


def _features_for_rdm(X, name: str) -> np.ndarray:
    X = _as_features(X, name)
    if X.shape[0] < 3:
        raise AnalysisError(f"an RDM needs at least 3 images, {name} has {X.shape[0]}")
    return X


def rdm(X, metric: str = "correlation") -> np.ndarray:
    """Condensed RDM (length n(n-1)/2, pdist order) of activations X (n images x p features).

    metric: "correlation" (1 - Pearson r between two images' activation patterns, the RSA
    default), "euclidean" or "sqeuclidean". Needs n >= 3 images.
    """
    metric = _check_choice(metric, METRICS, "RDM metric")
    X = _features_for_rdm(X, "X")
    return squareform(_square_rdm(X, metric, "X"), force="tovector", checks=False)


def _as_condensed(v, name: str) -> np.ndarray:
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf":
        raise AnalysisError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be a condensed RDM (1-D, as rdm() returns), got shape {arr.shape}")
    n = (1 + np.sqrt(1 + 8 * arr.size)) / 2
    if arr.size < 3 or n != int(n):
        raise AnalysisError(f"{name} has {arr.size} entries, not n(n-1)/2 for some n >= 3 images")
    if not np.isfinite(arr).all():
        raise AnalysisError(f"{name} contains NaN or infinite dissimilarities")
    if np.ptp(arr) == 0:
        raise AnalysisError(f"{name} is constant (all dissimilarities equal): its correlation is undefined")
    return arr


def compare_rdms(a, b, method: str = "spearman") -> float:
    """Correlation between two condensed RDMs of the same images.

    method: "spearman" (rank correlation, ties averaged; the RSA default), "pearson" or
    "kendall" (tau-b).
    """
    method = _check_choice(method, METHODS, "RDM comparison method")
    a = _as_condensed(a, "a")
    b = _as_condensed(b, "b")
    if a.size != b.size:
        raise AnalysisError(f"a has {a.size} dissimilarities but b has {b.size}: "
                            "the two RDMs must be over the same images")
    if method == "kendall":
        return float(stats.kendalltau(a, b).statistic)
    return float(np.dot(_unit(a, method), _unit(b, method)))


def _unit(v: np.ndarray, method: str) -> np.ndarray:
    # Pearson r is the dot product of centred unit vectors; Spearman is that on ranks.
    if method == "spearman":
        v = stats.rankdata(v)
    v = v - v.mean()
    return v / np.linalg.norm(v)


def rsa_matrix(feats_a: dict, feats_b: dict, metric: str = "correlation",
               method: str = "spearman") -> np.ndarray:
    """compare_rdms between every layer of feats_a (rows) and every layer of feats_b (columns).

    Each dict maps a layer name to its (n images x features) activations, all for the same
    images in the same order. Each layer's RDM is computed once (memory O(layers x n^2)).
    """
    metric = _check_choice(metric, METRICS, "RDM metric")
    method = _check_choice(method, METHODS, "RDM comparison method")

    def vector(X: np.ndarray, name: str) -> np.ndarray:
        v = _as_condensed(squareform(_square_rdm(X, metric, name), force="tovector", checks=False),
                          f"the RDM of {name}")
        return v if method == "kendall" else _unit(v, method)

    if method == "kendall":
        compare = lambda x, y: float(stats.kendalltau(x, y).statistic)  # noqa: E731
    else:
        compare = lambda x, y: float(np.dot(x, y))  # noqa: E731
    return layer_matrix(feats_a, feats_b, _features_for_rdm, vector, compare)
