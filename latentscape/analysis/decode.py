"""Linear read-out of latents from a layer (the seed paper's analysis).

For each layer x factor, k-fold cross-validation (repeated with reshuffled folds):
    continuous  ridge regression, alpha from 1e-4..1e3 by leave-one-out error within the
                training folds (sklearn RidgeCV's choice), on standardised features; Pearson r
                and R² of the held-out predictions
    angle       the same on (sin, cos) of the angle; r and R² are the means over sin and cos
    categorical a linear one-vs-rest ridge classifier (sklearn RidgeClassifierCV's model and
                choice of alpha); held-out accuracy against chance (the most frequent class of
                the training folds)

ridge.py fits all of a fold's targets from one decomposition of the features; its predictions
equal sklearn's RidgeCV / RidgeClassifierCV (tests/test_analysis.py).

`hold_out="objects"` makes folds of whole objects (GroupKFold): a score then says how well the
latent is read out of objects the decoder never saw.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from latentscape.analysis.factors import Factor
from latentscape.errors import AnalysisError

ALPHAS = np.logspace(-4, 3, 8)
HOLD_OUT = ("images", "objects")


@dataclass(frozen=True)
class DecodeScore:
    """One layer x factor: mean and std over folds x repeats."""

    layer: str
    latent: str
    kind: str
    metric: str  # r2 (continuous, angle) | accuracy (categorical)
    score: float
    score_std: float
    r: float | None  # Pearson r (continuous, angle)
    chance: float | None  # categorical: most frequent training class
    folds: int
    unseen: float | None = None  # categorical: share of test images whose class no training image had

    def to_dict(self) -> dict:
        return asdict(self)


def folds_for(n: int, folds: int, repeats: int, seed: int, hold_out: str, objects: np.ndarray | None):
    """(train rows, test rows) pairs: `repeats` shuffles of `folds`-fold CV (of objects when
    hold_out == "objects")."""
    from sklearn.model_selection import GroupKFold, KFold
    if hold_out not in HOLD_OUT:
        raise AnalysisError(f"unknown hold-out {hold_out!r}; allowed: {', '.join(HOLD_OUT)}")
    if not isinstance(folds, int) or folds < 2:
        raise AnalysisError(f"folds must be an integer >= 2, got {folds!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise AnalysisError(f"repeats must be an integer >= 1, got {repeats!r}")
    if hold_out == "objects":
        n_obj = len(np.unique(objects))
        if n_obj < folds:
            raise AnalysisError(f"hold-out by objects needs at least {folds} objects (one per fold); "
                                f"the images show {n_obj}")
    elif n < 2 * folds:
        raise AnalysisError(f"{folds}-fold decoding needs at least {2 * folds} images, got {n}")
    out = []
    for r in range(repeats):
        if hold_out == "objects":
            cv = GroupKFold(n_splits=folds, shuffle=True, random_state=seed + r)
            out += list(cv.split(np.zeros(n), groups=objects))
        else:
            out += list(KFold(n_splits=folds, shuffle=True, random_state=seed + r).split(np.zeros(n)))
    return out


def decode_layer(x: np.ndarray, factors: list[Factor], splits, layer: str = "") -> list[DecodeScore]:
    """Scores of every factor read out of the features `x` (n, d) over `splits`."""
    from latentscape.analysis.ridge import fit_ridge_loo, standardise
    _check_features(x, factors, layer)
    y, cols, groups = targets(factors)
    per: dict[str, list] = {f.name: [] for f in factors}
    for tr, te in splits:
        xtr, xte = standardise(x[tr], x[te])
        pred = fit_ridge_loo(xtr, y[tr], ALPHAS, groups).predict(xte)
        for f, c in zip(factors, cols):
            if f.discrete:
                acc = float(np.mean(pred[:, c].argmax(1) == f.values[te]))
                chance = float(np.mean(f.values[te] == np.bincount(f.values[tr]).argmax()))
                unseen = float(np.mean(~np.isin(f.values[te], f.values[tr])))
                per[f.name].append((acc, None, chance, unseen))
            else:
                per[f.name].append(_regression_scores(y[te][:, c], pred[:, c]))
    return [_summary(layer, f, per[f.name]) for f in factors]


def targets(factors: list[Factor]):
    """(n, m) target matrix, each factor's columns, and the alpha group of each column: a
    continuous latent is one column; an angle (sin, cos), each its own alpha; a categorical
    latent one +-1 column per class sharing one alpha (RidgeClassifierCV's one-vs-rest)."""
    blocks, cols, groups, k = [], [], [], 0
    for f in factors:
        if f.discrete:
            block = list(np.where(f.values[:, None] == np.arange(f.values.max() + 1), 1.0, -1.0).T)
            groups += [k] * len(block)
        else:
            block = list(f.columns().values())
            groups += list(range(k, k + len(block)))
        blocks += block
        cols.append(list(range(k, k + len(block))))
        k += len(block)
    return np.stack(blocks, axis=1), cols, groups


def _regression_scores(y: np.ndarray, p: np.ndarray):
    """Mean over the columns (sin, cos for an angle) of R² and Pearson r."""
    r2, r = [], []
    for j in range(y.shape[1]):
        ss = np.sum((y[:, j] - y[:, j].mean()) ** 2)
        r2.append(1.0 - np.sum((y[:, j] - p[:, j]) ** 2) / ss if ss > 0 else np.nan)
        sy, sp = y[:, j].std(), p[:, j].std()
        r.append(float(np.mean((y[:, j] - y[:, j].mean()) * (p[:, j] - p[:, j].mean())) / (sy * sp))
                 if sy > 0 and sp > 0 else np.nan)
    return float(np.mean(r2)), float(np.mean(r)), None, None


def _summary(layer: str, f: Factor, rows: list) -> DecodeScore:
    a = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    metric = "accuracy" if f.discrete else "r2"
    return DecodeScore(layer, f.name, f.kind, metric, float(np.nanmean(a[:, 0])), float(np.nanstd(a[:, 0])),
                       None if f.discrete else float(np.nanmean(a[:, 1])),
                       float(np.nanmean(a[:, 2])) if f.discrete else None, len(rows),
                       float(np.nanmean(a[:, 3])) if f.discrete else None)


def _check_features(x: np.ndarray, factors: list[Factor], layer: str):
    if x.ndim != 2:
        raise AnalysisError(f"layer {layer!r}: features must be 2-D (images x features), got shape {x.shape}")
    for f in factors:
        if len(f.values) != len(x):
            raise AnalysisError(f"layer {layer!r} has {len(x)} images but latent {f.name!r} has {len(f.values)}")
    if not factors:
        raise AnalysisError("no latent to decode")


def decode(features: dict[str, np.ndarray], factors: list[Factor], *, folds: int = 5, repeats: int = 1,
           hold_out: str = "images", objects: np.ndarray | None = None, seed: int = 0,
           progress=None) -> list[DecodeScore]:
    """Decode every factor from every layer (`features`: layer -> (n, d)); the same folds for
    every layer. `objects`: each image's object id (needed for hold_out="objects")."""
    if not features:
        raise AnalysisError("no layer to decode from")
    n = len(next(iter(features.values())))
    if hold_out == "objects" and objects is None:
        raise AnalysisError("hold_out='objects' needs each image's object id")
    if hold_out == "objects" and any(f.name == "object_id" for f in factors):
        raise AnalysisError("object_id cannot be decoded with objects held out (every test object is new); "
                            "drop identity from the latents or hold out images")
    splits = folds_for(n, folds, repeats, seed, hold_out, objects)
    out = []
    for layer, x in features.items():
        out += decode_layer(np.asarray(x, dtype=np.float64), factors, splits, layer)
        if progress is not None:
            progress(1)
    return out
