"""Built-in procedural object library: numpy-generated meshes, no downloads, no bpy.

`build(category, instance)` returns a deterministic `Mesh` in the canonical frame:
+Z up, front facing -Y, centred on its bounding-box centre, longest bounding-box side
exactly 1. Faces are triangles wound counter-clockwise seen from outside. A mesh is a
union of closed parts (not welded, they may overlap), so every edge is used by exactly
two faces.

Materials are drawn from one shared distribution for all categories, so colour,
roughness and metalness carry no information about the category.
"""
from __future__ import annotations

import colorsys
import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from latentscape.assets.hulls import srgb_to_linear
from latentscape.errors import SpecError

from . import furniture, outdoor, vessels
from .primitives import Geom

__all__ = ["CATEGORIES", "INSTANCES_PER_CATEGORY", "Mesh", "build", "instance_name", "category_seed"]


@dataclass(frozen=True, eq=False)
class Mesh:
    """A triangle mesh with a material hint.

    vertices: (V, 3) float64; faces: (F, 3) int64, counter-clockwise from outside;
    material: {"base_color": (r, g, b) linear 0..1, "roughness": float, "metallic": float};
    smooth: whether to shade smooth (combine with smoothing by angle, see docs/procedural.md).
    """

    vertices: np.ndarray
    faces: np.ndarray
    material: dict = field(default_factory=dict)
    smooth: bool = False

    def sha256(self) -> str:
        """Hash of the geometry (vertices rounded to 1e-9) and faces; stable across runs."""
        v = np.round(np.asarray(self.vertices, dtype=np.float64), 9) + 0.0  # +0.0 turns -0.0 into 0.0
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(v, dtype="<f8").tobytes())
        h.update(np.ascontiguousarray(self.faces, dtype="<i8").tobytes())
        return h.hexdigest()

    def extents(self) -> tuple[float, float, float]:
        """Bounding-box sides (x, y, z)."""
        e = self.vertices.max(axis=0) - self.vertices.min(axis=0)
        return (float(e[0]), float(e[1]), float(e[2]))


Builder = Callable[[np.random.Generator], "tuple[Geom, bool]"]

_BUILDERS: dict[str, Builder] = {
    "bed": furniture.bed,
    "bench": furniture.bench,
    "bookcase": furniture.bookcase,
    "bottle": vessels.bottle,
    "bowl": vessels.bowl,
    "car": outdoor.car,
    "chair": furniture.chair,
    "coffee_table": furniture.coffee_table,
    "lamp": furniture.lamp,
    "mug": vessels.mug,
    "sofa": furniture.sofa,
    "stool": furniture.stool,
    "table": furniture.table,
    "teapot": vessels.teapot,
    "tree": outdoor.tree,
    "vase": vessels.vase,
    "wine_glass": vessels.wine_glass,
}

CATEGORIES: tuple[str, ...] = tuple(sorted(_BUILDERS))

# Plausible real-world longest sides (metres) for `--size real`: typical catalogue sizes.
REAL_SIZE_M: dict[str, float] = {
    "bed": 2.1, "bench": 1.5, "bookcase": 1.9, "bottle": 0.3, "bowl": 0.18, "car": 4.4, "chair": 0.9,
    "coffee_table": 1.1, "lamp": 1.6, "mug": 0.11, "sofa": 2.0, "stool": 0.65, "table": 1.6, "teapot": 0.26,
    "tree": 6.0, "vase": 0.35, "wine_glass": 0.2,
}
INSTANCES_PER_CATEGORY = 8


def category_seed(category: str) -> int:
    """Stable integer for a category name (CRC-32 of its UTF-8 bytes)."""
    return zlib.crc32(category.encode("utf-8"))


def _check(category: str, instance: int) -> None:
    if category not in _BUILDERS:
        raise SpecError(f"unknown procedural category {category!r}; valid: {', '.join(CATEGORIES)}")
    if isinstance(instance, bool) or not isinstance(instance, (int, np.integer)) \
            or not 0 <= int(instance) < INSTANCES_PER_CATEGORY:
        raise SpecError(f"unknown instance {instance!r} of procedural category {category!r}; "
                        f"valid: 0..{INSTANCES_PER_CATEGORY - 1}")


def instance_name(category: str, instance: int) -> str:
    """e.g. 'chair-03'."""
    _check(category, instance)
    return f"{category}-{int(instance):02d}"


def sample_material(rng: np.random.Generator) -> dict:
    """One draw from the palette shared by all categories."""
    hue = rng.uniform(0.0, 1.0)
    sat = rng.choice([rng.uniform(0.0, 0.15), rng.uniform(0.3, 0.9)], p=[0.3, 0.7])
    val = rng.uniform(0.25, 0.95)
    srgb = np.array(colorsys.hsv_to_rgb(hue, sat, val))
    color = tuple(float(round(x, 6)) for x in srgb_to_linear(srgb))
    metallic = 1.0 if rng.random() < 0.2 else 0.0
    roughness = rng.uniform(0.15, 0.5) if metallic else rng.uniform(0.25, 0.9)
    return {"base_color": color, "roughness": float(round(roughness, 6)), "metallic": metallic}


def _normalise(v: np.ndarray) -> np.ndarray:
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = (lo + hi) / 2
    v = (v - centre) / float((hi - lo).max())
    # make the longest side exactly 1 despite rounding
    lo, hi = v.min(axis=0), v.max(axis=0)
    k = int(np.argmax(hi - lo))
    v[:, k] -= (lo[k] + hi[k]) / 2
    return v


def build(category: str, instance: int) -> Mesh:
    """Deterministic mesh of instance `instance` of `category` in the canonical frame."""
    _check(category, instance)
    ss = np.random.SeedSequence([category_seed(category), int(instance)])
    mat_ss, shape_ss = ss.spawn(2)
    material = sample_material(np.random.default_rng(mat_ss))
    geom, smooth = _BUILDERS[category](np.random.default_rng(shape_ss), int(instance))
    v = _normalise(np.array(geom.vertices, dtype=np.float64))
    f = np.ascontiguousarray(geom.faces, dtype=np.int64)
    v.setflags(write=False)
    f.setflags(write=False)
    return Mesh(v, f, material, bool(smooth))
