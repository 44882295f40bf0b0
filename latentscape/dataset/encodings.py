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
                training part of the split: computed in memory and cached outside the
                dataset root; `LatentDataset.save_split()` records them as ROOT/stats-<split>.json)
    rotation    (the `pose` target) "sincos" (sin, cos of yaw, pitch, roll -> 6; the default,
                as in the seed paper) | "quat" (w, x, y, z, w >= 0 -> 4) | "6d" (first two
                columns of the rotation matrix -> 6) | "matrix" (row-major 3x3 -> 9) |
                "euler" (yaw, pitch, roll in rad -> 3)
    circular    (env_rotation) "sincos" (sin, cos -> 2) | "raw" (rad)
    categorical int64 index; names in the dataset's tables.

`rotation_quat` / `rotation_euler` requested by name are returned as stored (float32).

Where a dataset stores them (`dataset_latents(manifest)`), targets also name its scene latents
(`camera_height`, `camera_pitch`, ...; group `scene`) and its distractor tables
(`distractor_count`, `distractor_object_id`, ...; group `distractors`): padded per image to the
dataset's largest count (-1 for indices, NaN for numbers past `distractor_count`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentscape.errors import LatentscapeError, TargetError
from latentscape.latents.geometry import quat_to_matrix
from latentscape.latents.space import DISTRACTOR_LATENTS, LATENTS, SCENE_LATENTS, Latent, distractor_shape

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


def canonical_quat(q: np.ndarray) -> np.ndarray:
    """Sign-canonical quaternions: w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0, -q, q)


def dataset_latents(manifest: dict) -> dict[str, Latent]:
    """The latents a dataset stores beyond LATENTS: its scene latents and, with distractors, the
    distractor tables (their `shape` per image: (K, ...) with K the spec's largest count)."""
    names = {s.get("name") for s in manifest.get("latents", []) if isinstance(s, dict)}
    out = {k: lt for k, lt in SCENE_LATENTS.items() if k in names}
    k = max_distractors(manifest.get("spec", {}))
    if k:
        out.update({n: Latent(n, lt.group, lt.dtype, distractor_shape(n, k), lt.unit, lt.kind)
                    for n, lt in DISTRACTOR_LATENTS.items()})
    return out


def max_distractors(spec: dict) -> int:
    """The largest distractor count of a stored spec (0: none; older specs have no such field)."""
    v = spec.get("distractors", 0) if isinstance(spec, dict) else 0
    return max(v) if isinstance(v, list) and v else int(v) if isinstance(v, int) else 0


def _groups(table: dict) -> dict[str, tuple[str, ...]]:
    """GROUP_TARGETS plus `scene` and `distractors` where the dataset stores such latents."""
    out = dict(GROUP_TARGETS)
    for group, names in (("scene", SCENE_LATENTS), ("distractors", DISTRACTOR_LATENTS)):
        if any(n in table for n in names):
            out[group] = tuple(n for n in names if n in table)
    return out


def resolve_targets(targets, rotation: str = "sincos", continuous: str = "raw",
                    circular: str = "sincos", stored: dict | None = None) -> list[Target]:
    """Expand latent and group names into Targets (order kept, duplicates dropped). `stored`: the
    dataset's latents beyond LATENTS (`dataset_latents`), which may be named too."""
    table = {**LATENTS, **(stored or {})}
    groups = _groups(table)
    if isinstance(targets, str):
        targets = [targets]
    _check_choice(rotation, ROTATIONS, "rotation encoding")
    _check_choice(continuous, CONTINUOUS, "continuous encoding")
    _check_choice(circular, CIRCULAR, "circular encoding")
    keys: list[str] = []
    for t in targets:
        if t in groups:
            names = groups[t]
        elif t in table:
            names = (t,)
        else:
            raise TargetError(f"unknown target {t!r}; latents: {', '.join(table)}; groups: {', '.join(groups)}")
        keys += [n for n in names if n not in keys]
    if not keys:
        raise TargetError(f"no targets given; latents: {', '.join(table)}; groups: {', '.join(groups)}")
    out = []
    for k in keys:
        if k == "pose":
            src = "rotation_euler" if rotation in ("sincos", "euler") else "rotation_quat"
            out.append(Target("pose", src, "rotation", rotation, (_ROT_WIDTH[rotation],)))
            continue
        lt = table[k]
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
    """Mean and std (ddof 0, per component) of every continuous latent over `rows`; a distractor
    table's over every distractor present (its NaN padding left out)."""
    out = {}
    for name, lt in {**LATENTS, **SCENE_LATENTS, **DISTRACTOR_LATENTS}.items():
        if lt.kind != "continuous" or name not in lat:
            continue
        x = np.asarray(lat[name], dtype=np.float64)[rows]
        if name in DISTRACTOR_LATENTS:
            x = x.reshape(-1, *lt.shape)
            x = x[np.isfinite(x).reshape(len(x), -1).all(axis=1)]
        out[name] = {"mean": np.atleast_1d(x.mean(axis=0)).tolist() if lt.shape else float(x.mean()),
                     "std": np.atleast_1d(x.std(axis=0)).tolist() if lt.shape else float(x.std())}
    return out


def stats_path(root: Path, split_name: str) -> Path:
    return Path(root) / f"stats-{split_name}.json"


STATS_FORMAT = "latentscape-stats"


def split_stats(root: Path, spec_hash: str, split_name: str, train_indices: np.ndarray, read_latents,
                needed=()) -> dict:
    """The z-score statistics of a split's training part, without writing into `root`:
    from ROOT/stats-<split_name>.json when it was saved for these training indices (see
    `save_stats`), else from the cache outside the root, else computed from
    `read_latents()` (all latents with `index`) and cached. A record lacking a latent in
    `needed` (one written before scene latents and distractor tables had statistics) is not used."""
    digest = indices_sha256(train_indices)
    saved = _stats_record(_read_json_file(stats_path(root, split_name)), digest, needed)
    if saved is not None:
        return saved
    key = f"stats-{spec_hash}-{digest[:32]}.json"
    cached = _stats_record(read_cached_json(key), digest, needed)
    if cached is not None:
        return {**cached, "split": split_name}
    lat = read_latents()
    pos = np.searchsorted(lat["index"], train_indices)
    s = {"format": STATS_FORMAT, "version": 1, "split": split_name, "part": "train",
         "count": int(len(train_indices)), "train_indices_sha256": digest,
         "latents": compute_stats(lat, pos)}
    write_cached_json(key, s)
    return s


def _stats_record(s, digest: str, needed=()) -> dict | None:
    """A statistics record if it is one for training indices with sha256 `digest` holding every
    latent in `needed`, else None."""
    if (isinstance(s, dict) and s.get("format", STATS_FORMAT) == STATS_FORMAT
            and s.get("train_indices_sha256") == digest and isinstance(s.get("latents"), dict)
            and all(k in s["latents"] for k in needed)):
        return s
    return None


def save_stats(root: Path, stats: dict) -> Path:
    """Record statistics as ROOT/stats-<split>.json (an explicit write; errors are raised).
    A file that already holds exactly these statistics is kept."""
    path = stats_path(root, stats["split"])
    if _read_json_file(path) != stats:
        write_json_file(path, stats)
    return path


# ---- files: explicit writes into a dataset root, and the cache outside it ------------------
def write_json_file(path: Path, obj: dict):
    """Write JSON via a temporary file and a rename (an explicit save: errors are raised)."""
    from latentscape.files import write_atomic
    from latentscape.outpaths import check_replaceable
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_replaceable(path)
    write_atomic(path, json.dumps(obj, indent=1))


def _read_json_file(path: Path):
    try:
        if not Path(path).is_file():
            return None
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def cache_dir() -> Path:
    """Where computed splits and statistics are cached: $LATENTSCAPE_CACHE/datasets
    (default ~/.cache/latentscape/datasets). Never inside a dataset root."""
    base = os.environ.get("LATENTSCAPE_CACHE") or Path.home() / ".cache" / "latentscape"
    return Path(base) / "datasets"


def read_cached_json(name: str):
    """A cached JSON document, or None (missing or unreadable: the caller recomputes)."""
    return _read_json_file(cache_dir() / name)


def write_cached_json(name: str, obj: dict):
    """Cache a JSON document; a cache that cannot be written is skipped silently."""
    try:
        write_json_file(cache_dir() / name, obj)
    except (OSError, LatentscapeError):
        pass
