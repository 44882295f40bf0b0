"""The latents of analysed images as named factors: one column each, with its kind.

    position   -> position.x, position.y, position.z      continuous (camera frame, m)
    image_xy   -> image_xy.u, image_xy.v                  continuous ([-1, 1])
    pose       -> pose.yaw, pose.pitch, pose.roll         angle (decoded via sin/cos)
    category   -> category                                categorical
    identity   -> object_id                               categorical
    background -> background_id (categorical), env_rotation (angle)
    lighting   -> light_azimuth, light_elevation, light_intensity, light_temperature, env_strength
    any stored scalar latent by name (scale, distance, light_azimuth, ...)

A factor that takes one value over the analysed images is held fixed by the dataset: asking for
it is an error naming the latents that do vary.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentscape.errors import AnalysisError

KINDS = ("continuous", "angle", "categorical")
_COLUMNS = {  # name -> (stored latent, column or None, kind)
    "position.x": ("position", 0, "continuous"), "position.y": ("position", 1, "continuous"),
    "position.z": ("position", 2, "continuous"),
    "image_xy.u": ("image_xy", 0, "continuous"), "image_xy.v": ("image_xy", 1, "continuous"),
    "distance": ("distance", None, "continuous"),
    "pose.yaw": ("rotation_euler", 0, "angle"), "pose.pitch": ("rotation_euler", 1, "angle"),
    "pose.roll": ("rotation_euler", 2, "angle"),
    "category": ("category", None, "categorical"), "object_id": ("object_id", None, "categorical"),
    "scale": ("scale", None, "continuous"),
    "light_azimuth": ("light_azimuth", None, "continuous"), "light_elevation": ("light_elevation", None, "continuous"),
    "light_intensity": ("light_intensity", None, "continuous"),
    "light_temperature": ("light_temperature", None, "continuous"),
    "env_strength": ("env_strength", None, "continuous"),
    "background_id": ("background_id", None, "categorical"), "env_rotation": ("env_rotation", None, "angle"),
}
EXPAND = {
    "position": ("position.x", "position.y", "position.z"),
    "image_xy": ("image_xy.u", "image_xy.v"),
    "pose": ("pose.yaw", "pose.pitch", "pose.roll"),
    "identity": ("object_id",),
    "lighting": ("light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength"),
    "background": ("background_id", "env_rotation"),
}
DEFAULT = tuple(_COLUMNS)  # every column; read_factors keeps those that vary


@dataclass(frozen=True)
class Factor:
    """One latent column of the analysed images."""

    name: str
    kind: str  # continuous | angle | categorical
    values: np.ndarray  # (n,) float64, or int64 class indices
    classes: tuple[str, ...] | None = None  # names of categorical classes (by index)

    @property
    def discrete(self) -> bool:
        return self.kind == "categorical"

    def columns(self) -> dict[str, np.ndarray]:
        """The numbers a linear model sees: an angle as its sine and cosine (`NAME.sin`,
        `NAME.cos`, continuous on the circle), anything else as its values."""
        if self.kind == "angle":
            return {f"{self.name}.sin": np.sin(self.values), f"{self.name}.cos": np.cos(self.values)}
        return {self.name: self.values}


def expand(names) -> list[str]:
    """Factor names for latent / group names (order kept, duplicates dropped)."""
    out: list[str] = []
    for n in names:
        cols = EXPAND.get(n, (n,))
        for c in cols:
            if c not in _COLUMNS:
                allowed = sorted(set(EXPAND) | set(_COLUMNS))
                raise AnalysisError(f"unknown latent {n!r}; allowed: {', '.join(allowed)}")
            if c not in out:
                out.append(c)
    return out


def read_factors(data, image_ids: np.ndarray, names=None, *, spec_hash: str | None = None,
                 allow_fixed: bool = False) -> list[Factor]:
    """Factors `names` (None: every latent that varies) of the images `image_ids` (global
    indices, in that order) of the dataset at `data`. `spec_hash`: the identity the images were
    taken from (an activation file's); a different dataset at `data` is refused. A named factor
    that is held fixed is an error unless `allow_fixed`."""
    return latent_table(data, image_ids, spec_hash).factors(names, allow_fixed)


@dataclass(frozen=True)
class LatentTable:
    """The stored latents of the analysed images, read once; `factors` picks columns from them."""

    data: str
    lat: dict
    pos: np.ndarray  # row of each analysed image in `lat`
    tables: dict  # class names of the categorical latents

    def factors(self, names=None, allow_fixed: bool = False) -> list[Factor]:
        """As `read_factors`."""
        factors = [_factor(c, self.lat, self.pos, self.tables) for c in expand(names or DEFAULT)]
        if names is None:
            return [f for f in factors if _varies(f)]
        if allow_fixed:
            return factors
        out: list[Factor] = []
        for n in names:  # a group keeps its columns that vary (lighting with a fixed temperature)
            cols = [f for f in factors if f.name in EXPAND.get(n, (n,))]
            vary = [f for f in cols if _varies(f)]
            if not vary:
                f = cols[0]
                others = ", ".join(x.name for x in _all_varying(self.lat, self.pos, self.tables)) or "none"
                raise AnalysisError(f"latent {n!r} is held fixed in {self.data} (every analysed image has "
                                    f"{f.name}={_show(f)}); latents that vary: {others}")
            out += [f for f in vary if f.name not in {x.name for x in out}]
        return out


def latent_table(data, image_ids: np.ndarray, spec_hash: str | None = None) -> LatentTable:
    """Read the latents of the images `image_ids` of the dataset at `data` (see read_factors)."""
    from latentscape.dataset.reader import DatasetReader
    image_ids = np.asarray(image_ids)
    if image_ids.dtype.kind not in "iu":
        raise AnalysisError("these activations come from an image folder: latents need a latentscape dataset "
                            "(--data DATASET when extracting)")
    with DatasetReader(data) as r:
        if spec_hash is not None and r.manifest["spec_hash"] != spec_hash:
            raise AnalysisError(f"--data {data} is not the dataset the activations were extracted from "
                                f"(spec {r.manifest['spec_hash']} vs {spec_hash})")
        lat = r.latents()
        tables = {"category": tuple(r.categories), "object_id": tuple(r.objects),
                  "background_id": tuple(b["name"] for b in r.manifest.get("backgrounds", []))}
    pos = np.searchsorted(lat["index"], image_ids)
    inside = np.minimum(pos, len(lat["index"]) - 1)
    if np.any(pos >= len(lat["index"])) or np.any(lat["index"][inside] != image_ids):
        raise AnalysisError(f"image indices of the activations are not all in {data}")
    return LatentTable(str(data), lat, pos, tables)


def _factor(name: str, lat: dict, pos: np.ndarray, tables: dict) -> Factor:
    src, col, kind = _COLUMNS[name]
    x = np.asarray(lat[src])[pos]
    x = x[:, col] if col is not None else x
    if kind == "categorical":
        return Factor(name, kind, x.astype(np.int64), tables.get(name) or None)
    return Factor(name, kind, x.astype(np.float64))


def _varies(f: Factor) -> bool:
    v = f.values
    return len(v) > 1 and bool(np.any(v != v[0]))


def _all_varying(lat, pos, tables) -> list[Factor]:
    return [f for f in (_factor(c, lat, pos, tables) for c in _COLUMNS) if _varies(f)]


def _show(f: Factor) -> str:
    v = f.values[0]
    if f.discrete and f.classes and 0 <= v < len(f.classes):
        return f.classes[int(v)]
    return f"{float(v):g}" if not f.discrete else str(int(v))
