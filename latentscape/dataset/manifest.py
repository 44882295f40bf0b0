"""The dataset manifest `ROOT/dataset.json`: shards, schema, spec; always replaced atomically."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from latentscape.version import __version__
from latentscape.dataset.format import DATASET_FORMAT, MANIFEST, SCHEMA_VERSION, require_regular_file
from latentscape.files import write_atomic
from latentscape.errors import DatasetNotFoundError, FormatError, IncompleteDatasetError
from latentscape.latents.space import PARAMS, stored_latents


def latent_schema(dists: dict, fov_deg: float) -> list[dict]:
    """Name, group, unit, dtype, shape, kind and declared range of each stored latent."""
    ranges = _declared_ranges(dists)
    return [{"name": lt.name, "group": lt.group, "unit": lt.unit, "dtype": lt.dtype, "shape": list(lt.shape),
             "kind": lt.kind, "range": ranges.get(lt.name)} for lt in stored_latents(dists).values()]


def _declared_ranges(dists: dict) -> dict:
    out = {"image_xy": [-1.0, 1.0], "rotation_quat": [-1.0, 1.0]}
    import math
    out["rotation_euler"] = [-math.pi, math.pi]
    for name in ("scale", "light_azimuth", "light_elevation", "light_intensity", "light_temperature",
                 "env_strength", "env_rotation", "category", "object_id", "background_id", "camera_height",
                 "camera_pitch", "shadow_catcher", "ground_material", "room_material"):
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
    manifest = {**manifest, "shards": sorted(manifest["shards"], key=lambda s: s["index_start"])}
    # compact: CPython's C encoder is 3-4x faster than the indented (pure-Python) one, and every
    # committed shard rewrites the manifest (docs/scale.md)
    write_atomic(Path(root) / MANIFEST, json.dumps(manifest, separators=(",", ":")))


def load_manifest(root: str | Path) -> dict:
    """Parse and check ROOT/dataset.json; clear errors for missing or foreign roots.

    Every key readers use is type-checked (FormatError naming the key and the bad value);
    shard entries come back sorted by index_start.
    """
    root = Path(root)
    path = root / MANIFEST
    if not root.exists():
        raise DatasetNotFoundError(f"dataset not found: {root} does not exist")
    if not os.path.lexists(path):
        raise DatasetNotFoundError(f"dataset not found: {root} has no {MANIFEST} (not a latentscape dataset)")
    require_regular_file(path)  # a FIFO or device is never read
    m = _parse(path)
    if not isinstance(m, dict) or m.get("format") != DATASET_FORMAT:
        raise FormatError(f"{path}: not a latentscape manifest (format {m.get('format') if isinstance(m, dict) else None!r})")
    if m.get("schema_version") != SCHEMA_VERSION:
        raise FormatError(f"{path}: unknown schema version {m.get('schema_version')!r}; "
                          f"this latentscape reads version {SCHEMA_VERSION}")
    missing = [k for k in ("n", "resolution", "spec_hash", "spec", "latents", "shards", "assets", "resolved")
               if k not in m]
    if missing:
        raise FormatError(f"{path}: manifest lacks {', '.join(missing)}")
    _validate(m, path)
    m["shards"] = sorted(m["shards"], key=lambda s: s["index_start"])
    return m


def _parse(path: Path):
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}: not valid JSON ({e})") from None
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{path}: not valid JSON ({type(e).__name__}: {str(e)[:80]})") from None


# ---- validation: one clear line naming the key and the bad value -----------------------------
_MAX_N = 10**12


def _show(v) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def _fail(path, key, value, want):
    raise FormatError(f"{path}: {key} must be {want}, got {_show(value)}")


def _int(path, key, v, lo, hi=None) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        _fail(path, key, v, f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}")
    return v


def _typed(path, key, v, typ, words):
    if not isinstance(v, typ):
        _fail(path, key, v, words)
    return v


def _validate(m: dict, path: Path):
    n = _int(path, "n", m["n"], 1, _MAX_N)
    _int(path, "resolution", m["resolution"], 1, 65536)
    if not isinstance(m["spec_hash"], str) or not m["spec_hash"]:
        _fail(path, "spec_hash", m["spec_hash"], "a non-empty string")
    _typed(path, "spec", m["spec"], dict, "a mapping")
    _validate_latents(m["latents"], path)
    _validate_assets(m["assets"], path)
    _validate_resolved(m["resolved"], path)
    for i, b in enumerate(_typed(path, "backgrounds", m.get("backgrounds", []), list, "a list")):
        _typed(path, f"backgrounds[{i}]", b, dict, "a mapping")
        _typed(path, f"backgrounds[{i}].name", b.get("name"), str, "a string")
    for i, s in enumerate(_typed(path, "shards", m["shards"], list, "a list")):
        _validate_shard(s, i, n, path)


def _validate_latents(latents, path):
    for i, s in enumerate(_typed(path, "latents", latents, list, "a list")):
        key = f"latents[{i}]"
        _typed(path, key, s, dict, "a mapping")
        for k in ("name", "group", "unit", "dtype", "kind"):
            _typed(path, f"{key}.{k}", s.get(k), str, "a string")
        shape = _typed(path, f"{key}.shape", s.get("shape"), list, "a list of integers")
        for d in shape:
            _int(path, f"{key}.shape", d, 0)
        rng = s.get("range")
        if rng is not None and not (isinstance(rng, list) and len(rng) == 2 and all(
                x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in rng)):
            _fail(path, f"{key}.range", rng, "null or [low, high] (numbers or null)")


def _validate_assets(assets, path):
    _typed(path, "assets", assets, dict, "a mapping")
    for i, c in enumerate(_typed(path, "assets.categories", assets.get("categories"), list, "a list")):
        _typed(path, f"assets.categories[{i}]", c, str, "a string")
    for i, o in enumerate(_typed(path, "assets.objects", assets.get("objects"), list, "a list")):
        _typed(path, f"assets.objects[{i}]", o, dict, "a mapping")
        _typed(path, f"assets.objects[{i}].name", o.get("name"), str, "a string")


def _validate_resolved(resolved, path):
    _typed(path, "resolved", resolved, dict, "a mapping")
    dists = _typed(path, "resolved.distributions", resolved.get("distributions", {}), dict, "a mapping")
    for name, d in dists.items():
        if name not in PARAMS:
            _fail(path, "a key of resolved.distributions", name, f"a latent parameter ({', '.join(PARAMS)})")
        _typed(path, f"resolved.distributions.{name}", d, dict, "a mapping")
        _typed(path, f"resolved.distributions.{name}.kind", d.get("kind"), str, "a string")


def _validate_shard(s, i, n, path):
    key = f"shards[{i}]"
    _typed(path, key, s, dict, "a mapping")
    for k in ("file", "count", "index_start", "index_stop"):
        if k not in s:
            raise FormatError(f"{path}: {key} lacks {k!r}")
    if not isinstance(s["file"], str) or not s["file"]:
        _fail(path, f"{key}.file", s["file"], "a relative file name")
    start = _int(path, f"{key}.index_start", s["index_start"], 0, n - 1)
    count = _int(path, f"{key}.count", s["count"], 1, n)
    stop = _int(path, f"{key}.index_stop", s["index_stop"], 1, n)
    if stop != start + count:
        raise FormatError(f"{path}: {key} ({s['file']!r}) is inconsistent: index_start {start} + count {count} "
                          f"!= index_stop {stop}")
    if s.get("sha256") is not None and not isinstance(s["sha256"], str):
        _fail(path, f"{key}.sha256", s["sha256"], "a hex string or null")
    if s.get("bytes") is not None:
        _int(path, f"{key}.bytes", s["bytes"], 0)


def check_coverage(manifest: dict, root: str | Path, complete: bool = True):
    """Refuse shard entries that overlap; with `complete`, also any gap in 0..n-1.

    Readers call this when they open a root, so they never serve a wrong label: an
    incomplete dataset (an interrupted render) is refused with how much is there.
    """
    path = Path(root) / MANIFEST
    n = manifest["n"]
    shards = sorted(manifest["shards"], key=lambda s: s["index_start"])
    stop, prev, gaps = 0, None, []
    for s in shards:
        if s["index_start"] < stop:
            raise FormatError(f"{path}: shards {prev!r} and {s['file']!r} overlap at index {s['index_start']}; "
                              f"run `latentscape verify {root}`")
        if s["index_start"] > stop:
            gaps.append((stop, s["index_start"]))
        stop, prev = s["index_stop"], s["file"]
    if stop < n:
        gaps.append((stop, n))
    if gaps and complete:
        have = n - sum(b - a for a, b in gaps)
        first = f"{gaps[0][0]}..{gaps[0][1] - 1}"
        raise IncompleteDatasetError(
            f"dataset {root} is incomplete: {have} of {n} images in {len(shards)} shard(s), indices {first} "
            f"missing{f' (and {len(gaps) - 1} more gap(s))' if len(gaps) > 1 else ''}; "
            f"rerun the render to finish it")
