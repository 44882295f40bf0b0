"""Metrics per target in natural units (numpy only), named `<target>[.<component>].<metric>`:

    continuous   <t>[.<c>].r2, <t>[.<c>].mae      predictions de-normalised first; MAE in the
                                                  latent's unit (position m, image_xy [-1,1], ...)
    circular     <t>.mae_deg                       angle error wrapped to [0, 180]
    rotation     pose.yaw|pitch|roll.mae_deg       Euler angle errors, wrapped
                 pose.geodesic_deg                 mean angle of the rotation between truth and estimate
    categorical  <t>.acc, <t>.top5                 top-5 is 1 with 5 classes or fewer

R² of a component that never varies is NaN (nothing to explain).
"""
from __future__ import annotations

import numpy as np

from latentscape.latents.geometry import euler_to_matrix, matrix_to_euler, quat_to_matrix
from latentscape.train.heads import EULER, Head


def compute_metrics(heads: list[Head], preds: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict:
    """`preds`: the network's output slices (z-scores for continuous heads); `targets`: raw."""
    out: dict[str, float] = {}
    for h in heads:
        p, y = np.asarray(preds[h.key], dtype=np.float64), np.asarray(targets[h.key])
        if h.kind == "categorical":
            out.update(_classes(h, p, y))
        elif h.kind == "continuous":
            out.update(_continuous(h, p, y))
        elif h.kind == "circular":
            out[f"{h.key}.mae_deg"] = _angle_mae_deg(np.arctan2(p[:, 0], p[:, 1]), np.arctan2(y[:, 0], y[:, 1]))
        else:
            out.update(_rotation(h, p, np.asarray(y, dtype=np.float64)))
    return out


def metric_names(heads: list[Head]) -> list[str]:
    """The metric names `compute_metrics` returns for `heads`, in order."""
    names = []
    for h in heads:
        if h.kind == "categorical":
            names += [f"{h.key}.acc", f"{h.key}.top5"]
        elif h.kind == "continuous":
            comps = [f"{h.key}.{c}" for c in h.components] or [h.key]
            names += [f"{c}.{m}" for c in comps for m in ("r2", "mae")]
        elif h.kind == "circular":
            names.append(f"{h.key}.mae_deg")
        else:
            names += [f"{h.key}.{a}.mae_deg" for a in EULER] + [f"{h.key}.geodesic_deg"]
    return names


def r2_score(y: np.ndarray, p: np.ndarray) -> float:
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    if ss_tot == 0.0:
        return float("nan")
    return 1.0 - float(np.sum((y - p) ** 2)) / ss_tot


def _continuous(h: Head, p: np.ndarray, y: np.ndarray) -> dict:
    mean, std = h.scale()
    nat = p.reshape(len(p), -1) * std + mean
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    names = [f"{h.key}.{c}" for c in h.components] or [h.key]
    out = {}
    for j, name in enumerate(names):
        out[f"{name}.r2"] = r2_score(y[:, j], nat[:, j])
        out[f"{name}.mae"] = float(np.mean(np.abs(y[:, j] - nat[:, j])))
    return out


def _classes(h: Head, p: np.ndarray, y: np.ndarray) -> dict:
    y = y.astype(np.int64).reshape(-1)
    k = min(5, p.shape[1])
    top = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return {f"{h.key}.acc": float(np.mean(top[:, 0] == y)),
            f"{h.key}.top5": float(np.mean(np.any(top == y[:, None], axis=1)))}


def wrap(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def _angle_mae_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.mean(np.abs(wrap(a - b)))))


def _rotation(h: Head, p: np.ndarray, y: np.ndarray) -> dict:
    if h.encoding == "sincos":  # (sin, cos) of yaw, pitch, roll interleaved
        ep = np.arctan2(p[:, 0::2], p[:, 1::2])
        ey = np.arctan2(y[:, 0::2], y[:, 1::2])
        mp = np.stack([euler_to_matrix(*e) for e in ep]) if len(ep) else np.zeros((0, 3, 3))
        my = np.stack([euler_to_matrix(*e) for e in ey]) if len(ey) else np.zeros((0, 3, 3))
    else:
        mp, my = to_matrix(h.encoding, p), to_matrix(h.encoding, y)
        ep = np.array([matrix_to_euler(m) for m in mp]).reshape(-1, 3)
        ey = np.array([matrix_to_euler(m) for m in my]).reshape(-1, 3)
    out = {f"{h.key}.{a}.mae_deg": _angle_mae_deg(ep[:, i], ey[:, i]) for i, a in enumerate(EULER)}
    out[f"{h.key}.geodesic_deg"] = float(np.degrees(np.mean(geodesic(mp, my)))) if len(mp) else float("nan")
    return out


def to_matrix(encoding: str, v: np.ndarray) -> np.ndarray:
    """Rotation matrices from 6d (the first two columns, Gram-Schmidt) or quaternion outputs."""
    if encoding == "quat":
        q = v + np.where(np.linalg.norm(v, axis=1, keepdims=True) < 1e-12, [[1.0, 0, 0, 0]], 0.0)
        return quat_to_matrix(q)
    c1, c2 = v[:, 0:3], v[:, 3:6]
    b1 = c1 / np.maximum(np.linalg.norm(c1, axis=1, keepdims=True), 1e-12)
    c2 = c2 - np.sum(b1 * c2, axis=1, keepdims=True) * b1
    b2 = c2 / np.maximum(np.linalg.norm(c2, axis=1, keepdims=True), 1e-12)
    b3 = np.cross(b1, b2)
    return np.stack([b1, b2, b3], axis=2)


def geodesic(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) of the rotation a^T b, per pair of rotation matrices."""
    tr = np.einsum("nij,nij->n", a, b)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))
