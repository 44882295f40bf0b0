"""Importer for the Sweet Home 3D furniture catalogues (Debian package `sweethome3d-furniture`).

Reads the zip catalogues `*.sh3f` (Java properties + OBJ/MTL models), maps model
names to fine categories (see sh3d_categories.RULES) and records licence and
creator per model, and measures each model's convex hull and mean base colour in
pure Python/numpy, as Blender's OBJ importer and the renderer would build the object
(sh3d_measure, reading the OBJ/MTL with objfile). No Blender here: the renderer imports
the OBJ itself.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from latentscape.assets.objfile import count_triangles, obj_lines, parse_lines
from latentscape.assets.sh3d_categories import EXCLUDE, RULES
from latentscape.assets.sh3d_measure import measure_model
from latentscape.files import write_atomic

DEFAULT_DIR = Path("/usr/share/sweethome3d/furniture")
INDEX_VERSION = 6  # 6: hull and colour per model


@dataclass(frozen=True)
class FurnitureModel:
    catalogue: str          # file name, e.g. "BlendSwap-CC-0.sh3f"
    key: str                # id in the catalogue, e.g. "Blend Swap CC-0#armchair"
    name: str               # English display name
    category: str | None    # fine category, None if no rule matched
    sh3d_category: str
    model: str              # path of the OBJ inside the zip (no leading /)
    size_cm: tuple[float, float, float]  # width (x), depth (y), height (z) after modelRotation
    rotation: tuple[float, ...] | None   # modelRotation 3x3 row-major, or None
    creator: str
    licence: str
    cc0: bool
    sha256: str             # of the OBJ file bytes
    triangles: int
    hull: str               # convex hull in the renderer's canonical frame (hulls.hull_text); "" if no geometry
    colour: tuple[float, float, float]  # area-weighted mean linear base colour (hulls.colour_record)


def catalogue_dir() -> Path:
    return Path(os.environ.get("LATENTSCAPE_SH3D_DIR", DEFAULT_DIR))


def available() -> bool:
    d = catalogue_dir()
    return d.is_dir() and any(d.glob("*.sh3f"))


def categorise(name: str) -> str | None:
    """Fine category of a model name by the first matching rule, or None."""
    text = " " + re.sub(r"[^a-z0-9]+", " ", name.lower()) + " "
    for category, words in RULES:
        if any(f" {w} " in text for w in EXCLUDE.get(category, ())):
            continue
        if any(f" {w} " in text for w in words):
            return category
    return None


def parse_properties(data: bytes) -> dict[str, str]:
    """Java .properties (ISO-8859-1, \\uXXXX escapes, line continuations) -> dict."""
    text = data.decode("latin-1")
    text = re.sub(r"\\\r?\n[ \t]*", "", text)
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"((?:\\.|[^=:\s])+)\s*[=:\s]\s*(.*)", line)
        if m:
            out[_unescape(m.group(1))] = _unescape(m.group(2))
    return out


def _unescape(s: str) -> str:
    s = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), s)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def read_catalogue(path: Path) -> list[FurnitureModel]:
    """Every model of one .sh3f file, with its OBJ hashed and measured and its triangles counted."""
    with zipfile.ZipFile(path) as z:
        props, licence, cc0 = _catalogue(z, path)
        cache: dict = {}  # what the models share: folder listings, texture means
        out = [_model(z, path.name, props, k, licence, cc0, cache) for k in _numbers_of_models(props)]
    return [m for m in out if m is not None]


def read_model(path: Path, key: str) -> FurnitureModel:
    """One model of a .sh3f file by its key, as read_catalogue makes it (without reading the others)."""
    with zipfile.ZipFile(path) as z:
        props, licence, cc0 = _catalogue(z, path)
        for k in _numbers_of_models(props):
            if props.get(f"id#{k}", f"{path.name}#{k}") == key:
                m = _model(z, path.name, props, k, licence, cc0, {})
                if m is not None:
                    return m
    raise KeyError(f"no model {key!r} in {path}")


def _catalogue(z: zipfile.ZipFile, path: Path):
    """(properties, licence id, CC0?) of an open catalogue."""
    props = parse_properties(z.read("PluginFurnitureCatalog.properties"))
    licence = licence_id(props.get("license", "").strip() or _licence_from_name(path.name))
    return props, licence, "CC-0" in path.name or licence.lower().startswith("public domain")


def _numbers_of_models(props) -> list[int]:
    k = 1
    while f"id#{k}" in props or f"model#{k}" in props:
        k += 1
    return list(range(1, k))


def _model(z, cat_name, props, k, licence, cc0, cache=None) -> FurnitureModel | None:
    model = props.get(f"model#{k}", "").lstrip("/")
    if not model or model not in z.NameToInfo:
        return None
    data = z.read(model)
    rot = props.get(f"modelRotation#{k}")
    name = props.get(f"name#{k}", f"model {k}")
    size_cm = tuple(float(props.get(f"{a}#{k}", 0) or 0) for a in ("width", "depth", "height"))
    rotation = tuple(float(x) for x in rot.split()) if rot else None
    lines, same = obj_lines(data)
    hull, colour = measure_model(z, model, parse_lines(lines), size_cm, rotation, {} if cache is None else cache)
    return FurnitureModel(
        catalogue=cat_name, key=props.get(f"id#{k}", f"{cat_name}#{k}"), name=name,
        category=categorise(name), sh3d_category=props.get(f"category#{k}", ""), model=model,
        size_cm=size_cm, rotation=rotation,
        creator=props.get(f"creator#{k}", ""), licence=licence, cc0=cc0,
        sha256=hashlib.sha256(data).hexdigest(), triangles=count_triangles(data, lines if same else None),
        hull=hull, colour=colour)


def _licence_from_name(name: str) -> str:
    return "CC0-1.0" if "CC-0" in name else "CC-BY-3.0"


def licence_id(text: str) -> str:
    """Short SPDX-style id of a catalogue's licence text."""
    t = text.lower()
    if t.startswith("public domain") or "cc-0" in t or "cc0" in t:
        return "CC0-1.0"
    if "attribution 3.0" in t:
        return "CC-BY-3.0-US" if "united states" in t else "CC-BY-3.0"
    return text.strip() or "unknown"


def load_index(cache_dir: Path | None = None) -> list[FurnitureModel]:
    """All models of all catalogues, cached (keyed by the catalogues' sizes and mtimes)."""
    d = catalogue_dir()
    files = sorted(d.glob("*.sh3f"))
    key = hashlib.sha256(json.dumps([INDEX_VERSION] + [(f.name, f.stat().st_size, f.stat().st_mtime_ns)
                                                       for f in files]).encode()).hexdigest()[:16]
    cache = (cache_dir or _cache_dir()) / f"sh3d-index-{key}.json"
    if cache.is_file():
        rows = json.loads(cache.read_text())
        return [FurnitureModel(**{**r, "size_cm": tuple(r["size_cm"]), "colour": tuple(r["colour"]),
                                  "rotation": tuple(r["rotation"]) if r["rotation"] else None}) for r in rows]
    models = [m for f in files for m in read_catalogue(f)]
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(cache, json.dumps([m.__dict__ for m in models]))
    return models


def _cache_dir() -> Path:
    return Path(os.environ.get("LATENTSCAPE_CACHE", Path.home() / ".cache" / "latentscape"))
