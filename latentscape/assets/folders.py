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
import stat
import warnings
from pathlib import Path

import numpy as np
import yaml

from latentscape.assets.library import ObjectInfo
from latentscape.errors import AssetError, SpecError
from latentscape.files import write_atomic
from latentscape.outpaths import file_kind

EXTENSIONS = (".obj", ".glb", ".gltf", ".ply", ".stl", ".blend")
AXES = {"+X": (1, 0, 0), "-X": (-1, 0, 0), "+Y": (0, 1, 0), "-Y": (0, -1, 0), "+Z": (0, 0, 1), "-Z": (0, 0, -1)}


def scan(root: Path) -> list[tuple[str, Path]]:
    """(category, file) for every supported model file, sorted.

    A category folder that is a symlink leading outside `root` is listed as such a file
    itself (and not entered), so `unsafe_entry` refuses it."""
    if not root.is_dir():
        raise SpecError(f"asset folder not found: {root}")
    out = []
    for d in sorted(root.iterdir()):
        if not d.is_dir():
            continue
        if unsafe_entry(root, d) is not None:
            out.append((d.name, d))
            continue
        out += [(d.name, f) for f in sorted(d.iterdir()) if f.suffix.lower() in EXTENSIONS]
    if not out:
        raise SpecError(f"asset folder {root} has no models: expected {root}/<category>/<model>"
                        f"{{{','.join(EXTENSIONS)}}}")
    return out


def unsafe_entry(root: Path, path: Path) -> str | None:
    """Why a file or folder found in the asset folder `root` may not be read (it leads outside
    `root`, e.g. through a symlink, or is a FIFO or device), or None. Nothing is opened."""
    base = Path(root).resolve()
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return f"is a symbolic link to a missing file ({os.readlink(path) if path.is_symlink() else path})"
    except (OSError, RuntimeError) as e:
        return f"cannot be resolved ({e})"
    if not real.is_relative_to(base):
        return f"leads outside the asset folder {base} (to {real})"
    mode = os.stat(real).st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"is {file_kind(mode)}, not a regular file"
    return None


def sidecar_rotation(model: Path, root: Path | None = None) -> list[float] | None:
    """Row-major 3x3 rotation from the model's sidecar (`up`, `front`), or None.

    With `root`, a sidecar that leads outside it or is not a regular file is an AssetError."""
    side = model.with_suffix(".yaml")
    if not os.path.lexists(side):
        return None
    why = unsafe_entry(root if root is not None else side.parent, side)
    if why is None and not side.is_file():
        why = "is a directory, not a regular file"
    if why:
        raise AssetError(f"model sidecar {side} {why}")
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


PROBE_VERSION = 2  # 2: the probe also measures the hull, the mean colour and the size in model units


def folder_objects(root: str | Path, skip_bad: bool = False, probe=None) -> tuple[list[ObjectInfo], list[str]]:
    """Check and measure every model of a folder (cached by file hash): (objects, skipped files).

    `probe(items)` measures the files not in the cache: [(path, rotation)] -> [(status, value)]."""
    root = Path(root).resolve()
    files, unsafe = _safe_files(root, scan(root), skip_bad)
    hashes = [_sha256(f) for _, f in files]
    rotations = [sidecar_rotation(f, root) for _, f in files]
    cache = _load_cache()
    keys = [f"{PROBE_VERSION}:{h}:{json.dumps(r)}" for h, r in zip(hashes, rotations)]
    todo = [i for i, k in enumerate(keys) if k not in cache]
    if todo and probe is None:
        raise AssetError(f"{len(todo)} model file(s) in {root} need measuring and no probe was given")
    for i, res in zip(todo, probe([(str(files[i][1]), rotations[i]) for i in todo]) if todo else ()):
        cache[keys[i]] = {"status": res[0], "value": res[1]}
    _save_cache(cache)
    objects, bad = [], list(unsafe)
    for (cat, f), h, r, k in zip(files, hashes, rotations, keys):
        entry = cache[k]
        if entry["status"] != "ok":
            bad.append(f"{f}: {entry['value']}")
            continue
        v = entry["value"]
        objects.append(ObjectInfo(id=-1, name=f"{root.name}/{cat}/{f.stem}", category=cat, extents=tuple(v["extents"]),
                                  source=f"folder:{root}", licence="user-supplied", builder=f"file:{f}",
                                  sha256=h, triangles=v["triangles"], rotation=tuple(r) if r else None,
                                  hull=v["hull"], colour=tuple(v["colour"]), size_m=v["size_m"]))
    if bad and not skip_bad:
        raise AssetError(f"{len(bad)} unreadable model file(s) in {root} (use --skip-bad-assets to leave them out): "
                         + "; ".join(bad))
    for b in bad:
        warnings.warn(f"skipping unreadable model {b}", stacklevel=2)
    return objects, bad


def _safe_files(root: Path, files, skip_bad: bool):
    """(files that may be read, 'file: why' for those that may not). Unless `skip_bad`, any
    unsafe file is an AssetError naming every one, raised before anything is read."""
    safe, unsafe = [], []
    for cat, f in files:
        why = unsafe_entry(root, f)
        if why is None:
            safe.append((cat, f))
        else:
            unsafe.append(f"{f}: {why}")
    if unsafe and not skip_bad:
        raise AssetError(f"{len(unsafe)} model file(s) in {root} may not be read (use --skip-bad-assets to leave "
                         f"them out): " + "; ".join(unsafe))
    return safe, unsafe


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
    write_atomic(path, json.dumps(cache))
