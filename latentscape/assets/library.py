"""The AssetLibrary interface and the placeholder library of Blender primitives.

A library maps sorted category names to objects; `category` latents index the
sorted category list and `object_id` latents index the global object list
(sorted by category, then name).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from latentscape.errors import SpecError


@dataclass(frozen=True)
class ObjectInfo:
    """One object: its global id, names, source, licence and canonical box extents."""

    id: int
    name: str
    category: str
    extents: tuple[float, float, float]  # canonical bounding-box sides (longest = 1)
    source: str
    licence: str
    builder: str  # how the renderer makes it, e.g. "primitive:cube"
    sha256: str = ""
    triangles: int = 0
    creator: str = ""
    rotation: tuple[float, ...] | None = None  # source-specific pre-rotation (Sweet Home 3D)
    hull: str = ""  # convex hull in the canonical frame (assets.hulls.hull_text); "" = not measured
    colour: tuple[float, float, float] | None = None  # mean linear base colour (albedo) of its surface
    size_m: float | None = None  # real-world longest side in metres (None: unknown)

    def hull_points(self):
        """(k, 3) hull vertices in the canonical frame (longest side 1)."""
        from latentscape.assets.hulls import hull_points
        if not self.hull:
            raise SpecError(f"object {self.name!r} has no measured hull")
        return hull_points(self.hull)


@dataclass(frozen=True)
class AssetLibrary:
    name: str
    objects: tuple[ObjectInfo, ...]
    skipped: tuple[str, ...] = ()  # unreadable files left out (with --skip-bad-assets)

    @property
    def categories(self) -> list[str]:
        return sorted({o.category for o in self.objects})

    def category_index(self, name_or_index) -> int:
        return _index(self.categories, name_or_index, "category")

    def object_index(self, name_or_index) -> int:
        return _index([o.name for o in self.objects], name_or_index, "object")

    def objects_in(self, category_index: int) -> list[int]:
        """Global object ids of one category, in id order."""
        cat = self.categories[category_index]
        return [o.id for o in self.objects if o.category == cat]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "categories": self.categories,
            "objects": [
                {"id": o.id, "name": o.name, "category": o.category, "extents": list(o.extents),
                 "source": o.source, "licence": o.licence, "creator": o.creator, "sha256": o.sha256,
                 "triangles": o.triangles}
                for o in self.objects
            ],
            "skipped": list(self.skipped),
        }


def _index(names: list[str], key, what: str) -> int:
    if isinstance(key, bool):
        raise SpecError(f"unknown {what} {key!r}; valid: {', '.join(names)}")
    if isinstance(key, int) or (isinstance(key, str) and key.lstrip("-").isdigit()):
        i = int(key)
        if 0 <= i < len(names):
            return i
        raise SpecError(f"{what} index {i} out of range 0..{len(names) - 1}; valid: {', '.join(names)}")
    if key in names:
        return names.index(key)
    raise SpecError(f"unknown {what} {key!r}; valid: {', '.join(names)}")


# Extents measured from the meshes the Blender renderer builds (tests check they agree).
# Plain, distinct linear base colours (the renderer's copy: renderer/blender/objects.py)
PLACEHOLDER_COLOURS = {
    "cone": (0.80, 0.25, 0.10),
    "cube": (0.15, 0.35, 0.80),
    "cylinder": (0.20, 0.65, 0.20),
    "monkey": (0.75, 0.55, 0.25),
    "sphere": (0.70, 0.70, 0.70),
    "torus": (0.60, 0.20, 0.60),
}

_PLACEHOLDER = [
    ("cone", (1.0, 1.0, 1.0)),
    ("cube", (1.0, 1.0, 1.0)),
    ("cylinder", (1.0, 1.0, 1.0)),
    ("monkey", (1.0, 0.6229, 0.72)),
    ("sphere", (1.0, 1.0, 1.0)),
    ("torus", (1.0, 1.0, 0.2)),
]


def placeholder_library() -> AssetLibrary:
    """Six Blender primitives, one category each (cone, cube, cylinder, monkey, sphere, torus)."""
    from latentscape.assets.placeholder_hulls import PLACEHOLDER_HULLS
    objs = tuple(
        ObjectInfo(id=i, name=name, category=name, extents=ext, source="blender-primitive",
                   licence="CC0-1.0 (generated)", builder=f"primitive:{name}", hull=PLACEHOLDER_HULLS[name],
                   colour=PLACEHOLDER_COLOURS[name], size_m=1.0)
        for i, (name, ext) in enumerate(_PLACEHOLDER)
    )
    return AssetLibrary(name="placeholder", objects=objs)


def with_ids(name: str, objects: list[ObjectInfo], skipped=()) -> AssetLibrary:
    """A library whose object ids follow the sorted (category, name) order."""
    objs = sorted(objects, key=lambda o: (o.category, o.name))
    return AssetLibrary(name=name, objects=tuple(replace(o, id=i) for i, o in enumerate(objs)),
                        skipped=tuple(skipped))
