"""Text and JSON descriptions of an asset library (`latentscape assets list/show`)."""
from __future__ import annotations

from collections import Counter, defaultdict

from latentscape.assets.library import AssetLibrary
from latentscape.errors import SpecError


def summary(lib: AssetLibrary) -> dict:
    """Per category: object count, sources and licences."""
    cats: dict[str, dict] = defaultdict(lambda: {"objects": 0, "sources": Counter(), "licences": Counter()})
    for o in lib.objects:
        c = cats[o.category]
        c["objects"] += 1
        c["sources"][o.source.split(":")[0]] += 1
        c["licences"][o.licence] += 1
    return {"library": lib.name, "categories": len(cats), "objects": len(lib.objects),
            "skipped": list(lib.skipped),
            "by_category": {k: {"objects": v["objects"], "sources": dict(v["sources"]),
                                "licences": dict(v["licences"])} for k, v in sorted(cats.items())}}


def summary_text(lib: AssetLibrary) -> str:
    s = summary(lib)
    lines = [f"library {s['library']}: {s['objects']} objects in {s['categories']} categories",
             f"{'category':<18} {'objects':>7}  sources                      licences"]
    for cat, v in s["by_category"].items():
        src = ", ".join(f"{k} {n}" for k, n in v["sources"].items())
        lic = ", ".join(f"{k} {n}" for k, n in v["licences"].items())
        lines.append(f"{cat:<18} {v['objects']:>7}  {src:<28} {lic}")
    if s["skipped"]:
        lines.append(f"skipped {len(s['skipped'])} unreadable file(s): " + "; ".join(s["skipped"]))
    return "\n".join(lines)


def show(lib: AssetLibrary, name: str) -> str:
    """Details of a category (its objects) or of one object."""
    if name in lib.categories:
        objs = [o for o in lib.objects if o.category == name]
        return "\n".join([f"category {name} (index {lib.categories.index(name)}): {len(objs)} objects"] +
                         [f"  {o.id:>5}  {o.name:<50} {o.triangles:>7} tris  {o.licence}" for o in objs])
    hits = [o for o in lib.objects if o.name == name or o.name.split("/")[-1] == name]
    if not hits:
        raise SpecError(f"no category or object named {name!r}; categories: {', '.join(lib.categories)}")
    out = []
    for o in hits:
        out += [f"object {o.name} (id {o.id})", f"  category   {o.category}", f"  source     {o.source}",
                f"  licence    {o.licence}", f"  creator    {o.creator or '-'}", f"  triangles  {o.triangles}",
                f"  extents    {', '.join(f'{x:.3f}' for x in o.extents)} (canonical box, longest side 1)",
                f"  sha256     {o.sha256 or '-'}", f"  builder    {o.builder}"]
    return "\n".join(out)
