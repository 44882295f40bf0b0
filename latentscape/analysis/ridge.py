"""Ridge regression with the penalty chosen by exact leave-one-out error, for many targets at once.

The same model and the same choice as scikit-learn's RidgeCV (alpha per target) and
RidgeClassifierCV (one alpha for a block of +-1 class columns) — tests assert equal predictions
— but one eigendecomposition of the features serves every target and every alpha. sklearn
decomposes the features again for each estimator (RidgeCV, then RidgeClassifierCV per
categorical latent) by an SVD of the n x d matrix: measured here, 160 s for 8,000 x 2,048 on 2
cores, against ~5 s for the Gram matrix and its eigendecomposition.

LOO residual of row i for centred data: (y_i - yhat_i) / (1 - h_ii), h_ii the hat matrix diagonal
plus 1/n for the intercept (Hastie, Tibshirani & Friedman, ESL 7.10; sklearn's _RidgeGCV).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def standardise(xtr: np.ndarray, xte: np.ndarray | None = None):
    """Centre and scale by the training rows' statistics. The scale is floored at 1% of the
    median scale of the units that vary: a unit that barely varies in the training rows (a ReLU
    that almost never fires) would otherwise be multiplied up and wreck the test predictions."""
    mean, std = xtr.mean(0), xtr.std(0)
    live = std[std > 0]
    floor = 0.01 * float(np.median(live)) if live.size else 1.0
    std = np.maximum(std, floor)
    return ((xtr - mean) / std, None if xte is None else (xte - mean) / std)


@dataclass(frozen=True)
class RidgeFit:
    """coef (d, t), intercept (t,), the chosen alpha per target column."""

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


def fit_ridge_loo(x: np.ndarray, y: np.ndarray, alphas, groups=None) -> RidgeFit:
    """Ridge of y (n, t) on x (n, d) with an intercept; each target's alpha (from `alphas`)
    minimises its mean squared LOO error. `groups`: a group number per target column; the
    columns of a group share the alpha minimising their summed LOO error (a one-vs-rest
    classifier's class columns). Default: every column its own group."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    alphas = np.asarray(alphas, dtype=np.float64)
    n, d = x.shape
    xm, ym = x.mean(0), y.mean(0)
    xc, yc = x - xm, y - ym
    u, s, v = _decompose(xc)  # xc = u diag(sqrt(s)) v^T over the directions that carry variance
    uty = u.T @ yc
    u2 = u * u
    loo = np.empty((len(alphas), y.shape[1]))
    for i, a in enumerate(alphas):
        w = s / (s + a)
        fitted = u @ (w[:, None] * uty)
        h = u2 @ w + 1.0 / n
        loo[i] = np.mean(((yc - fitted) / (1.0 - h)[:, None]) ** 2, axis=0)
    best = _choose(loo, groups)
    coef = np.empty((d, y.shape[1]))
    for i in np.unique(best):
        cols = best == i
        coef[:, cols] = v @ ((np.sqrt(s) / (s + alphas[i]))[:, None] * uty[:, cols])
    return RidgeFit(coef, ym - xm @ coef, alphas[best])


def _decompose(xc: np.ndarray):
    """(u (n, r), s (r,), v (d, r)): xc = u diag(sqrt(s)) v^T, from the eigendecomposition of
    the smaller Gram matrix; directions of numerically zero variance are dropped."""
    from scipy.linalg import eigh  # driver "evd": ~10x faster than numpy's eigh on 2,048 x 2,048 here
    n, d = xc.shape
    if d <= n:
        s, v = eigh(xc.T @ xc, driver="evd")
        keep = s > 1e-10 * max(s.max(), 1e-300)
        s, v = s[keep], v[:, keep]
        u = (xc @ v) / np.sqrt(s)
    else:
        s, u = eigh(xc @ xc.T, driver="evd")
        keep = s > 1e-10 * max(s.max(), 1e-300)
        s, u = s[keep], u[:, keep]
        v = (xc.T @ u) / np.sqrt(s)
    return u, s, v


def _choose(loo: np.ndarray, groups) -> np.ndarray:
    """Index of the chosen alpha per column (the first of equal minima, as np.argmin / sklearn)."""
    if groups is None:
        return np.argmin(loo, axis=0)
    groups = np.asarray(groups)
    best = np.empty(loo.shape[1], dtype=np.int64)
    for g in np.unique(groups):
        cols = groups == g
        best[cols] = int(np.argmin(loo[:, cols].sum(axis=1)))
    return best
