"""Target encodings: which latents a model is trained on and how they are turned into numbers.

numpy only (torch lives in dataset/torch.py). See docs/dataset.md for the table.

A *target* is a latent name (`position`, `scale`, `rotation_quat`, ...) or a group name
(`category`, `identity`, `position`, `pose`, `scale`, `lighting`, `background`).
Groups expand to latents as follows:

    category   -> category                 (int64 class index)
    identity   -> object_id                (int64 index into ds.objects)
    position   -> position                 (x, y, z camera frame; image_xy and distance by name)
    pose       -> pose                     (the rotation, encoded per `rotation=`)
    scale      -> scale
    lighting   -> light_azimuth, light_elevation, light_intensity, light_temperature, env_strength
    background -> background_id, env_rotation

Encodings:
    continuous  "raw" (float32, stored unit) | "zscore" ((x - mean) / std, statistics of the
                training part of the split, stored as ROOT/stats-<split>.json)
    rotation    (the `pose` target) "sincos" (sin, cos of yaw, pitch, roll -> 6; the default,
                as in the seed paper) | "quat" (w, x, y, z, w >= 0 -> 4) | "6d" (first two
                columns of the rotation matrix -> 6) | "matrix" (row-major 3x3 -> 9) |
                "euler" (yaw, pitch, roll in rad -> 3)
    circular    (env_rotation) "sincos" (sin, cos -> 2) | "raw" (rad)
    categorical int64 index; names in the dataset's tables.

`rotation_quat` / `rotation_euler` requested by name are returned as stored (float32).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.errors import LatentscapeError, TargetError
from latentscape.latents.space import GROUPS, LATENTS

ROTATIONS = ("sincos", "quat", "6d", "matrix", "euler")
CONTINUOUS = ("raw", "zscore")
CIRCULAR = ("sincos", "raw")

GROUP_TARGETS: dict[str, tuple[str, ...]] = {
    "category": ("category",),
    "identity": ("object_id",),
    "position": ("position",),
    "pose": ("pose",),
    "scale": ("scale",),
    "lighting": ("light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength"),
    "background": ("background_id", "env_rotation"),
}
_ROT_WIDTH = {"sincos": 6, "quat": 4, "6d": 6, "matrix": 9, "euler": 3}


@dataclass(frozen=True)
class Target:
    """One entry of the target dict: its key, the latent it is read from, and its encoding."""

    key: str
    source: str  # stored latent name
    kind: str  # categorical | continuous | rotation | circular
    encoding: str  # index | raw | zscore | sincos | quat | 6d | matrix | euler
    shape: tuple[int, ...]  # per-image shape of the encoded value

    @property
    def dtype(self):
        return np.int64 if self.kind == "categorical" else np.float32

    @property
    def width(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z) -> (N, 3, 3) rotation matrices (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """Sign-canonical quaternions: w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0, -q, q)


def resolve_targets(targets, rotation: str = "sincos", continuous: str = "raw",
                    circular: str = "sincos") -> list[Target]:
    """Expand latent and group names into Targets (order kept, duplicates dropped)."""
    if isinstance(targets, str):
        targets = [targets]
    _check_choice(rotation, ROTATIONS, "rotation encoding")
    _check_choice(continuous, CONTINUOUS, "continuous encoding")
    _check_choice(circular, CIRCULAR, "circular encoding")
    keys: list[str] = []
    for t in targets:
        if t in GROUP_TARGETS:
            names = GROUP_TARGETS[t]
        elif t in LATENTS:
            names = (t,)
        else:
            raise TargetError(f"unknown target {t!r}; latents: {', '.join(LATENTS)}; groups: {', '.join(GROUPS)}")
        keys += [n for n in names if n not in keys]
    if not keys:
        raise TargetError(f"no targets given; latents: {', '.join(LATENTS)}; groups: {', '.join(GROUPS)}")
    out = []
    for k in keys:
        if k == "pose":
            src = "rotation_euler" if rotation in ("sincos", "euler") else "rotation_quat"
            out.append(Target("pose", src, "rotation", rotation, (_ROT_WIDTH[rotation],)))
            continue
        lt = LATENTS[k]
        if lt.kind == "categorical":
            out.append(Target(k, k, "categorical", "index", ()))
        elif lt.kind == "rotation":
            out.append(Target(k, k, "rotation", "raw", lt.shape))
        elif lt.kind == "circular":
            out.append(Target(k, k, "circular", circular, (2,) if circular == "sincos" else ()))
        else:
            out.append(Target(k, k, "continuous", continuous, lt.shape))
    return out


def _check_choice(value, allowed, what):
    if value not in allowed:
        raise TargetError(f"unknown {what} {value!r}; allowed: {', '.join(allowed)}")


class TargetEncoder:
    """Turns arrays of stored latents (rows = images) into encoded target arrays."""

    def __init__(self, targets: list[Target], stats: dict | None = None):
        self.targets = targets
        self.stats = stats
        if any(t.encoding == "zscore" for t in targets) and stats is None:
            raise TargetError("z-scored targets need statistics of the training split")
        self.layout: dict[str, slice] = {}
        pos = 0
        for t in targets:
            self.layout[t.key] = slice(pos, pos + t.width)
            pos += t.width
        self.width = pos

    @property
    def sources(self) -> list[str]:
        return sorted({t.source for t in self.targets})

    def encode(self, lat: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for t in self.targets:
            x = np.asarray(lat[t.source])
            out[t.key] = self._encode_one(t, x).astype(t.dtype, copy=False)
        return out

    def _encode_one(self, t: Target, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if t.encoding == "index":
            return x.astype(np.int64)
        if t.encoding == "raw":
            return x.astype(np.float64)
        if t.encoding == "zscore":
            s = self.stats["latents"][t.source]
            mean, std = np.asarray(s["mean"]), np.asarray(s["std"])
            return (x - mean) / np.where(std > 0, std, 1.0)
        if t.kind == "circular":  # sincos
            return np.stack([np.sin(x), np.cos(x)], axis=-1)
        # rotations (the pose target)
        if t.encoding == "euler":
            return x.astype(np.float64)
        if t.encoding == "sincos":
            return np.stack([np.sin(x), np.cos(x)], axis=-1).reshape(n, 6)
        if t.encoding == "quat":
            return canonical_quat(x)
        m = quat_to_matrix(x)
        if t.encoding == "6d":
            return m[:, :, :2].transpose(0, 2, 1).reshape(n, 6)
        return m.reshape(n, 9)  # matrix

    def flatten(self, encoded: dict[str, np.ndarray]) -> np.ndarray:
        """Concatenate the encoded targets into (N, width) float32 (see `layout`)."""
        cols = [encoded[t.key].reshape(len(encoded[t.key]), -1).astype(np.float32) for t in self.targets]
        return np.concatenate(cols, axis=1)

    def describe(self) -> str:
        parts = []
        for t in self.targets:
            shape = "x".join(map(str, t.shape)) if t.shape else "scalar"
            parts.append(f"{t.key} ({t.encoding}, {shape}, {np.dtype(t.dtype).name})")
        return ", ".join(parts)


# ---- z-score statistics --------------------------------------------------------------
def indices_sha256(indices: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(indices, dtype="<i8").tobytes()).hexdigest()


def compute_stats(lat: dict[str, np.ndarray], rows: np.ndarray) -> dict:
    """Mean and std (ddof 0, per component) of every continuous latent over `rows`."""
    out = {}
    for name, lt in LATENTS.items():
        if lt.kind != "continuous" or name not in lat:
            continue
        x = np.asarray(lat[name], dtype=np.float64)[rows]
        out[name] = {"mean": np.atleast_1d(x.mean(axis=0)).tolist() if lt.shape else float(x.mean()),
                     "std": np.atleast_1d(x.std(axis=0)).tolist() if lt.shape else float(x.std())}
    return out


def stats_path(root: Path, split_name: str) -> Path:
    return Path(root) / f"stats-{split_name}.json"


def load_or_create_stats(root: Path, split_name: str, train_indices: np.ndarray, read_latents) -> dict:
    """The z-score statistics of a split's training part, read from or written to
    ROOT/stats-<split_name>.json. `read_latents()` returns all latents with `index`.
    A file computed from other training indices is recomputed."""
    path = stats_path(root, split_name)
    digest = indices_sha256(train_indices)
    if path.is_file():
        try:
            s = json.loads(path.read_text())
            if s.get("train_indices_sha256") == digest:
                return s
        except (json.JSONDecodeError, OSError):
            pass
    lat = read_latents()
    pos = np.searchsorted(lat["index"], train_indices)
    s = {"format": "latentscape-stats", "version": 1, "split": split_name, "part": "train",
         "count": int(len(train_indices)), "train_indices_sha256": digest,
         "latents": compute_stats(lat, pos)}
    _atomic_write_json(path, s)
    return s


def _atomic_write_json(path: Path, obj: dict):
    """Write via a temporary file and rename; a read-only dataset root only warns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        from latentscape.dataset.writer import write_atomic
        from latentscape.outpaths import check_replaceable
        check_replaceable(path)
        write_atomic(path, json.dumps(obj, indent=1))
    except (OSError, LatentscapeError) as e:
        import warnings
        warnings.warn(f"could not write {path} ({e}); using it in memory only", stacklevel=3)
