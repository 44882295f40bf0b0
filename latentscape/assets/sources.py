"""Asset sources and how they combine into one AssetLibrary.

`library` names sources joined by '+': placeholder, procedural, furniture, or
`default` (procedural, plus furniture when the Debian package is installed).
User folders (`assets:` in the spec, `--assets DIR`) are always added.
Categories merge across sources by name (procedural and real chairs are one category).
"""
from __future__ import annotations

from pathlib import Path

from latentscape.assets.library import AssetLibrary, ObjectInfo, placeholder_library, with_ids
from latentscape.errors import SpecError

SOURCES = ("placeholder", "procedural", "furniture")
LICENCES = ("any", "cc0")
MIN_FURNITURE_PER_CATEGORY = 3


def resolve_sources(library: str) -> list[str]:
    names = [s.strip() for s in library.split("+") if s.strip()]
    out = []
    for n in names:
        if n == "default":
            import latentscape.assets.sh3d as sh3d
            out += ["procedural"] + (["furniture"] if sh3d.available() else [])
        elif n in SOURCES:
            out.append(n)
        else:
            raise SpecError(f"unknown asset library {n!r}; valid: default, {', '.join(SOURCES)} (join with '+')")
    return list(dict.fromkeys(out))


def build_library(library: str = "default", folders: tuple[str, ...] = (), licence: str = "any",
                  skip_bad: bool = False, probe=None) -> AssetLibrary:
    """Combine the named sources and user folders into one library.

    `probe(items) -> results` measures user model files (in a Blender child; the caller
    supplies it, see `latentscape.resolve.asset_library`); needed only with `folders`."""
    if licence not in LICENCES:
        raise SpecError(f"unknown licence filter {licence!r}; allowed: {', '.join(LICENCES)}")
    objects: list[ObjectInfo] = []
    for src in resolve_sources(library):
        objects += {"placeholder": lambda: list(placeholder_library().objects),
                    "procedural": procedural_objects, "furniture": lambda: furniture_objects(licence)}[src]()
    skipped: list[str] = []
    for folder in folders:
        from latentscape.assets.folders import folder_objects
        objs, bad = folder_objects(folder, skip_bad=skip_bad, probe=probe)
        objects += objs
        skipped += bad
    if licence == "cc0":
        objects = [o for o in objects if o.licence.upper().startswith("CC0")]
    if not objects:
        raise SpecError(f"asset library {library!r} with licence {licence!r} has no objects")
    return with_ids(library, objects, skipped)


def procedural_objects() -> list[ObjectInfo]:
    import latentscape.assets.procedural as P
    from latentscape.assets.hulls import FALLBACK_COLOUR, colour_record, hull_text
    out = []
    for cat in P.CATEGORIES:
        for i in range(P.INSTANCES_PER_CATEGORY):
            m = P.build(cat, i)
            ext = tuple(float(x) for x in m.extents())
            out.append(ObjectInfo(id=-1, name=f"procedural/{P.instance_name(cat, i)}", category=cat, extents=ext,
                                  source="procedural", licence="CC0-1.0",
                                  builder=f"procedural:{cat}:{i}", sha256=m.sha256(), triangles=len(m.faces),
                                  hull=hull_text(m.vertices), size_m=P.REAL_SIZE_M[cat],
                                  colour=colour_record(m.material.get("base_color", FALLBACK_COLOUR))))
    return out


def furniture_objects(licence: str = "any") -> list[ObjectInfo]:
    """Sweet Home 3D models with a fine category, in categories with >= 3 models."""
    from collections import Counter

    import latentscape.assets.sh3d as sh3d
    from latentscape.assets.sh3d_measure import zup
    models = [m for m in sh3d.load_index() if m.category and (licence == "any" or m.cc0)]
    counts = Counter(m.category for m in models)
    out = []
    for m in models:
        if counts[m.category] < MIN_FURNITURE_PER_CATEGORY or min(m.size_cm) < 0 or max(m.size_cm) <= 0:
            continue
        size = [max(x, 1e-3) for x in m.size_cm]
        ext = tuple(x / max(size) for x in size)
        out.append(ObjectInfo(id=-1, name=f"sh3d/{m.key}", category=m.category, extents=ext, source=f"sh3d:{m.catalogue}",
                              licence="CC0-1.0" if m.cc0 else m.licence, builder=f"sh3d:{m.catalogue}:{m.model}",
                              sha256=m.sha256, triangles=m.triangles, creator=m.creator,
                              rotation=zup(m.rotation) if m.rotation else None, hull=m.hull, colour=m.colour,
                              size_m=max(size) / 100.0))
    return out


def missing_assets(resolved) -> list[str]:
    """Files a resolved dataset needs that this machine lacks ('object NAME: PATH missing').

    Checked before rendering starts, so a cluster node without the furniture package
    (or with a user folder moved) stops with a clear error instead of rendering a
    substitute; content differences are caught when each object is loaded."""
    import latentscape.assets.sh3d as sh3d
    out = []
    for o in resolved.library.objects:
        kind, _, arg = o.builder.partition(":")
        path = (sh3d.catalogue_dir() / arg.partition(":")[0] if kind == "sh3d"
                else Path(arg) if kind == "file" else None)
        if path is not None and not path.is_file():
            out.append(f"object {o.name!r}: {path} missing")
    for b in resolved.backgrounds:
        if b.kind == "hdri" and (b.path is None or not Path(b.path).is_file()):
            out.append(f"background {b.name!r}: {b.path or 'no HDRI file on this machine'} missing")
    return out
