"""The dataset manifest `ROOT/dataset.json`: shards, schema, spec; always replaced atomically."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from latentscape import __version__
from latentscape.dataset.format import DATASET_FORMAT, MANIFEST, SCHEMA_VERSION
from latentscape.errors import DatasetNotFoundError, FormatError
from latentscape.latents.space import LATENTS


def latent_schema(dists: dict, fov_deg: float) -> list[dict]:
    """Name, group, unit, dtype, shape, kind and declared range of each stored latent."""
    ranges = _declared_ranges(dists)
    return [{"name": lt.name, "group": lt.group, "unit": lt.unit, "dtype": lt.dtype, "shape": list(lt.shape),
             "kind": lt.kind, "range": ranges.get(lt.name)} for lt in LATENTS.values()]


def _declared_ranges(dists: dict) -> dict:
    out = {"image_xy": [-1.0, 1.0], "rotation_quat": [-1.0, 1.0]}
    import math
    out["rotation_euler"] = [-math.pi, math.pi]
    for name in ("scale", "light_azimuth", "light_elevation", "light_intensity", "light_temperature",
                 "env_strength", "env_rotation", "category", "object_id", "background_id"):
        d = dists.get(name)
        if d is not None and d.support() is not None:
            lo, hi = d.support()
            out[name] = [lo, hi]
    return {k: [None if abs(x) == float("inf") else x for x in v] for k, v in out.items()}


def new_manifest(resolved: dict, spec_hash: str, schema: list[dict], assets: dict, backgrounds: list[dict]) -> dict:
    spec = resolved["spec"]
    return {
        "format": DATASET_FORMAT, "schema_version": SCHEMA_VERSION, "latentscape_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "n": spec["n"], "resolution": spec["resolution"], "spec_hash": spec_hash,
        "spec": spec, "resolved": resolved, "latents": schema, "assets": assets,
        "backgrounds": backgrounds, "shards": [],
    }


def save_manifest(root: Path, manifest: dict):
    """Write dataset.json via a temporary file and rename (a reader sees old or new, never half)."""
    root = Path(root)
    tmp = root / f".{MANIFEST}.{os.getpid()}.tmp"
    manifest = {**manifest, "shards": sorted(manifest["shards"], key=lambda s: s["index_start"])}
    tmp.write_text(json.dumps(manifest, indent=1))
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, root / MANIFEST)


def load_manifest(root: str | Path) -> dict:
    """Parse and check ROOT/dataset.json; clear errors for missing or foreign roots."""
    root = Path(root)
    path = root / MANIFEST
    if not root.exists():
        raise DatasetNotFoundError(f"dataset not found: {root} does not exist")
    if not path.is_file():
        raise DatasetNotFoundError(f"dataset not found: {root} has no {MANIFEST} (not a latentscape dataset)")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(m, dict) or m.get("format") != DATASET_FORMAT:
        raise FormatError(f"{path}: not a latentscape manifest (format {m.get('format') if isinstance(m, dict) else None!r})")
    if m.get("schema_version") != SCHEMA_VERSION:
        raise FormatError(f"{path}: unknown schema version {m.get('schema_version')!r}; "
                          f"this latentscape reads version {SCHEMA_VERSION}")
    missing = [k for k in ("n", "resolution", "spec_hash", "spec", "latents", "shards") if k not in m]
    if missing:
        raise FormatError(f"{path}: manifest lacks {', '.join(missing)}")
    return m
