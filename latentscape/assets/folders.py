"""User model folders, ImageFolder style: ROOT/<category>/<model>.<ext>.

Every file is checked (imported in a Blender child process) before rendering
starts; unreadable files are one error listing them all, or, with
`skip_bad_assets`, a warning and a `skipped` report in the manifest.
Optional sidecar `<model>.yaml` beside a model: `up: +Y` and/or `front: +Z`
(axes of the imported model) turn it into the canonical frame (up +Z, front -Y).
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np
import yaml

from latentscape.assets.library import ObjectInfo
from latentscape.errors import AssetError, SpecError

EXTENSIONS = (".obj", ".glb", ".gltf", ".ply", ".stl", ".blend")
AXES = {"+X": (1, 0, 0), "-X": (-1, 0, 0), "+Y": (0, 1, 0), "-Y": (0, -1, 0), "+Z": (0, 0, 1), "-Z": (0, 0, -1)}


def scan(root: Path) -> list[tuple[str, Path]]:
    """(category, file) for every supported model file, sorted."""
    if not root.is_dir():
        raise SpecError(f"asset folder not found: {root}")
    out = [(d.name, f) for d in sorted(root.iterdir()) if d.is_dir()
           for f in sorted(d.iterdir()) if f.suffix.lower() in EXTENSIONS]
    if not out:
        raise SpecError(f"asset folder {root} has no models: expected {root}/<category>/<model>"
                        f"{{{','.join(EXTENSIONS)}}}")
    return out


def sidecar_rotation(model: Path) -> list[float] | None:
    """Row-major 3x3 rotation from the model's sidecar (`up`, `front`), or None."""
    side = model.with_suffix(".yaml")
    if not side.is_file():
        return None
    data = yaml.safe_load(side.read_text()) or {}
    extra = set(data) - {"up", "front"}
    if extra:
        raise SpecError(f"{side}: unknown key(s) {sorted(extra)}; allowed: up, front")
    up = _axis(data.get("up", "+Z"), side)
    front = _axis(data.get("front", "-Y"), side)
    if abs(up @ front) > 1e-9:
        raise SpecError(f"{side}: up {data.get('up')} and front {data.get('front')} must be perpendicular")
    src = np.stack([np.cross(front, up), front, up])      # model's (right, front, up)... as rows
    dst = np.stack([np.cross([0, -1, 0], [0, 0, 1]), [0, -1, 0], [0, 0, 1]])
    return (dst.T @ src).ravel().tolist()


def _axis(name, where) -> np.ndarray:
    key = str(name).upper().replace(" ", "")
    if key in ("X", "Y", "Z"):
        key = "+" + key
    if key not in AXES:
        raise SpecError(f"{where}: unknown axis {name!r}; allowed: {', '.join(AXES)}")
    return np.array(AXES[key], dtype=np.float64)


def folder_objects(root: str | Path, skip_bad: bool = False) -> tuple[list[ObjectInfo], list[str]]:
    """Check and measure every model of a folder (cached by file hash): (objects, skipped files)."""
    from latentscape.renderer.asset_probe import probe_models
    root = Path(root).resolve()
    files = scan(root)
    hashes = [_sha256(f) for _, f in files]
    rotations = [sidecar_rotation(f) for _, f in files]
    cache = _load_cache()
    keys = [f"{h}:{json.dumps(r)}" for h, r in zip(hashes, rotations)]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    for i, res in zip(todo, probe_models([(str(files[i][1]), rotations[i]) for i in todo])):
        cache[keys[i]] = {"status": res[0], "value": res[1]}
    _save_cache(cache)
    objects, bad = [], []
    for (cat, f), h, r, k in zip(files, hashes, rotations, keys):
        entry = cache[k]
        if entry["status"] != "ok":
            bad.append(f"{f}: {entry['value']}")
            continue
        v = entry["value"]
        objects.append(ObjectInfo(id=-1, name=f"{root.name}/{cat}/{f.stem}", category=cat, extents=tuple(v["extents"]),
                                  source=f"folder:{root}", licence="user-supplied", builder=f"file:{f}",
                                  sha256=h, triangles=v["triangles"], rotation=tuple(r) if r else None))
    if bad and not skip_bad:
        raise AssetError(f"{len(bad)} unreadable model file(s) in {root} (use --skip-bad-assets to leave them out): "
                         + "; ".join(bad))
    for b in bad:
        warnings.warn(f"skipping unreadable model {b}", stacklevel=2)
    return objects, bad


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_file() -> Path:
    return Path(os.environ.get("LATENTSCAPE_CACHE", Path.home() / ".cache" / "latentscape")) / "model-probe.json"


def _load_cache() -> dict:
    try:
        return json.loads(_cache_file().read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _save_cache(cache: dict):
    path = _cache_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache))
    os.replace(tmp, path)
