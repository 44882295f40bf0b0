"""Declarative train/val/test splits, recorded beside the dataset (numpy only).

A split *definition* (`SplitSpec`) names parts and says which images go where:

    name: cogent
    seed: 0
    holdout:                      # applied in order; an image goes to the first that matches
      - part: test
        where: {all: [{latent: category, in: [cube, cone]}, {latent: yaw, gt: 30, unit: deg}]}
      - part: test
        objects_per_category: 1   # or objects: [names]
    fractions: {train: 0.9, val: 0.1}   # the remaining images, at random (seeded)

Its result is a pure function of the dataset and the definition: parts are disjoint and
cover all n images, and the same definition on the same dataset always gives the same
indices. It is computed in memory (and cached outside the dataset root, under
$LATENTSCAPE_CACHE, keyed by the dataset's spec hash and the definition's hash): reading a
dataset never writes into its root. `create_split` (or `LatentDataset.save_split()`)
records it explicitly as ROOT/splits/<name>.json: the definition, the dataset's spec hash,
and for each part its count, the sha256 of its index array and the (sorted) global indices.
A recorded split is used (and checked) whenever its name is asked for.

`split="train"` (or "val", "test") means a part of the built-in definition "default":
random 80/10/10 with seed 0. `split="NAME/PART"` reads ROOT/splits/NAME.json (record it with
`create_split`), or names a part of the definition passed as `splits=`.

Conditions (`where`):
    {latent: NAME, OP: VALUE [, unit: deg]}     OP: eq ne lt le gt ge in not_in between
    {all: [cond, ...]}  {any: [cond, ...]}  {not: cond}
NAME is a stored latent, a component `position[2]`, or an alias: yaw pitch roll
(rotation_euler), x y z (position), u v (image_xy). Categorical values may be names
(category, object and background names). `unit: deg` converts numbers to radians.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from latentscape.dataset.encodings import indices_sha256, read_cached_json, write_cached_json, write_json_file
from latentscape.errors import SplitError
from latentscape.latents.space import LATENTS

SPLIT_DIR = "splits"
SPLIT_FORMAT = "latentscape-split"
DEFAULT_NAME = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
ALIASES = {"yaw": ("rotation_euler", 0), "pitch": ("rotation_euler", 1), "roll": ("rotation_euler", 2),
           "x": ("position", 0), "y": ("position", 1), "z": ("position", 2),
           "u": ("image_xy", 0), "v": ("image_xy", 1)}
OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between")


@dataclass(frozen=True)
class HoldOut:
    """Images sent to `part` before the random split: those matching `where`, those of
    the named `objects`, or of `objects_per_category` objects drawn per category."""

    part: str = "test"
    where: dict | None = None
    objects: tuple[str, ...] | None = None
    objects_per_category: int | None = None

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"part": self.part}
        if self.where is not None:
            d["where"] = self.where
        if self.objects is not None:
            d["objects"] = list(self.objects)
        if self.objects_per_category is not None:
            d["objects_per_category"] = self.objects_per_category
        return d


@dataclass(frozen=True)
class SplitSpec:
    name: str
    fractions: tuple[tuple[str, float], ...] = (("train", 0.8), ("val", 0.1), ("test", 0.1))
    seed: int = 0
    holdout: tuple[HoldOut, ...] = ()

    def __post_init__(self):
        if isinstance(self.fractions, dict):
            object.__setattr__(self, "fractions", tuple(self.fractions.items()))
        object.__setattr__(self, "holdout", tuple(self.holdout))

    @property
    def parts(self) -> list[str]:
        out = [p for p, _ in self.fractions]
        for h in self.holdout:
            if h.part not in out:
                out.append(h.part)
        return out

    def validate(self) -> "SplitSpec":
        w = f"split {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SplitError(f"split name {self.name!r} must match [A-Za-z0-9_.-]+")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise SplitError(f"{w}: seed must be a non-negative integer, got {self.seed!r}")
        if not self.fractions:
            raise SplitError(f"{w}: fractions must name at least one part")
        for p, f in self.fractions:
            if not isinstance(f, (int, float)) or f < 0:
                raise SplitError(f"{w}: fraction of {p!r} must be a number >= 0, got {f!r}")
        total = sum(f for _, f in self.fractions)
        if abs(total - 1.0) > 1e-6:
            raise SplitError(f"{w}: fractions must sum to 1, got {total:g}")
        for h in self.holdout:
            given = [h.where is not None, h.objects is not None, h.objects_per_category is not None]
            if sum(given) != 1:
                raise SplitError(f"{w}: each holdout needs exactly one of where, objects, objects_per_category")
            if h.objects_per_category is not None and (not isinstance(h.objects_per_category, int)
                                                      or h.objects_per_category < 1):
                raise SplitError(f"{w}: objects_per_category must be an integer >= 1")
            if h.where is not None:
                _check_cond(h.where, w)
        return self

    def to_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed, "fractions": dict(self.fractions),
                "holdout": [h.to_dict() for h in self.holdout]}

    @staticmethod
    def from_dict(d: dict, where: str = "split") -> "SplitSpec":
        if not isinstance(d, dict):
            raise SplitError(f"{where}: expected a mapping, got {type(d).__name__}")
        unknown = set(d) - {"name", "seed", "fractions", "holdout"}
        if unknown:
            raise SplitError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: name, seed, fractions, holdout")
        if "name" not in d:
            raise SplitError(f"{where}: a split needs a name")
        holdout = []
        for i, h in enumerate(d.get("holdout") or []):
            if not isinstance(h, dict):
                raise SplitError(f"{where}: holdout[{i}] must be a mapping")
            bad = set(h) - {"part", "where", "objects", "objects_per_category"}
            if bad:
                raise SplitError(f"{where}: holdout[{i}] unknown key(s) {sorted(bad)}; "
                                 f"allowed: part, where, objects, objects_per_category")
            objs = h.get("objects")
            holdout.append(HoldOut(part=str(h.get("part", "test")), where=h.get("where"),
                                   objects=tuple(objs) if objs is not None else None,
                                   objects_per_category=h.get("objects_per_category")))
        fr = d.get("fractions", {"train": 0.8, "val": 0.1, "test": 0.1})
        if not isinstance(fr, dict):
            raise SplitError(f"{where}: fractions must be a mapping PART: FRACTION")
        return SplitSpec(name=str(d["name"]), seed=d.get("seed", 0), fractions=tuple(fr.items()),
                         holdout=tuple(holdout)).validate()

    @staticmethod
    def from_yaml(path: str | Path) -> "SplitSpec":
        p = Path(path)
        try:
            d = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise SplitError(f"{p}: cannot read split definition ({e})") from None
        return SplitSpec.from_dict(d, where=str(p))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def definition_hash(self) -> str:
        """sha256 (16 hex digits) of the canonical definition: the cache key of its results."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


DEFAULT_SPLIT = SplitSpec(DEFAULT_NAME)


def as_spec(obj) -> SplitSpec:
    """A SplitSpec from a SplitSpec, a dict, or a YAML/JSON file path."""
    if isinstance(obj, SplitSpec):
        return obj.validate()
    if isinstance(obj, dict):
        return SplitSpec.from_dict(obj)
    if isinstance(obj, (str, Path)):
        return SplitSpec.from_yaml(obj)
    raise SplitError(f"a split definition must be a SplitSpec, a dict or a YAML file, got {type(obj).__name__}")


# ---- conditions -------------------------------------------------------------------------
def _check_cond(c, where: str):
    if not isinstance(c, dict):
        raise SplitError(f"{where}: condition must be a mapping, got {c!r}")
    if "all" in c or "any" in c:
        key = "all" if "all" in c else "any"
        if len(c) != 1 or not isinstance(c[key], list):
            raise SplitError(f"{where}: {{{key}: [conditions]}} takes only a list")
        for x in c[key]:
            _check_cond(x, where)
        return
    if "not" in c:
        if len(c) != 1:
            raise SplitError(f"{where}: {{not: condition}} takes one condition")
        return _check_cond(c["not"], where)
    if "latent" not in c:
        raise SplitError(f"{where}: condition {c!r} needs 'latent' (or all/any/not)")
    _latent_ref(c["latent"], where)
    ops = [k for k in c if k not in ("latent", "unit")]
    if len(ops) != 1 or ops[0] not in OPS:
        raise SplitError(f"{where}: condition {c!r} needs exactly one operator of {', '.join(OPS)}")
    if c.get("unit", "rad") not in ("rad", "deg"):
        raise SplitError(f"{where}: unit must be rad or deg, got {c['unit']!r}")


def _latent_ref(ref: str, where: str) -> tuple[str, int | None]:
    if ref in ALIASES:
        return ALIASES[ref]
    m = re.match(r"^(\w+)\[(\d+)\]$", str(ref))
    name, comp = (m.group(1), int(m.group(2))) if m else (ref, None)
    if name not in LATENTS:
        raise SplitError(f"{where}: unknown latent {ref!r}; latents: {', '.join(LATENTS)}; "
                         f"aliases: {', '.join(ALIASES)}")
    shape = LATENTS[name].shape
    if comp is None and shape:
        raise SplitError(f"{where}: {name} has shape {shape}; name a component like {name}[0]")
    if comp is not None and (not shape or comp >= shape[0]):
        raise SplitError(f"{where}: {ref!r} is not a component of {name} (shape {shape})")
    return name, comp


def _name_tables(manifest: dict) -> dict[str, list[str]]:
    return {"category": list(manifest["assets"]["categories"]),
            "object_id": [o["name"] for o in manifest["assets"]["objects"]],
            "background_id": [b["name"] for b in manifest.get("backgrounds", [])]}


def _value(v, name: str, unit: str, tables: dict, where: str):
    if isinstance(v, (list, tuple)):
        return [_value(x, name, unit, tables, where) for x in v]
    if isinstance(v, str):
        table = tables.get(name)
        if table is None or v not in table:
            raise SplitError(f"{where}: {v!r} is not a value of {name}"
                             + (f"; valid: {', '.join(table)}" if table else ""))
        return table.index(v)
    if unit == "deg":
        return math.radians(v)
    return v


def evaluate(cond: dict, lat: dict[str, np.ndarray], manifest: dict, where: str = "split") -> np.ndarray:
    """Boolean mask over the rows of `lat` where the condition holds."""
    if "all" in cond:
        out = np.ones(len(lat["index"]), dtype=bool)
        for c in cond["all"]:
            out &= evaluate(c, lat, manifest, where)
        return out
    if "any" in cond:
        out = np.zeros(len(lat["index"]), dtype=bool)
        for c in cond["any"]:
            out |= evaluate(c, lat, manifest, where)
        return out
    if "not" in cond:
        return ~evaluate(cond["not"], lat, manifest, where)
    name, comp = _latent_ref(cond["latent"], where)
    x = np.asarray(lat[name])
    if comp is not None:
        x = x[:, comp]
    op = next(k for k in cond if k not in ("latent", "unit"))
    v = _value(cond[op], name, cond.get("unit", "rad"), _name_tables(manifest), where)
    if op in ("in", "not_in"):
        m = np.isin(x, np.asarray(v if isinstance(v, list) else [v]))
        return m if op == "in" else ~m
    if op == "between":
        if not isinstance(v, list) or len(v) != 2:
            raise SplitError(f"{where}: between takes [low, high], got {cond[op]!r}")
        return (x >= v[0]) & (x <= v[1])
    return {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
            "gt": np.greater, "ge": np.greater_equal}[op](x, v)


# ---- computing a split -------------------------------------------------------------------
def heldout_object_ids(spec: SplitSpec, h: HoldOut, manifest: dict, k_index: int) -> list[int]:
    objs = manifest["assets"]["objects"]
    names = [o["name"] for o in objs]
    if h.objects is not None:
        bad = [o for o in h.objects if o not in names]
        if bad:
            raise SplitError(f"split {spec.name!r}: unknown object(s) {bad}; objects: {', '.join(names)}")
        return sorted(names.index(o) for o in h.objects)
    rng = np.random.default_rng([spec.seed, 1000 + k_index])
    out = []
    for cat in manifest["assets"]["categories"]:
        ids = [o["id"] for o in objs if o["category"] == cat]
        k = h.objects_per_category
        if k >= len(ids):
            raise SplitError(f"split {spec.name!r}: category {cat!r} has {len(ids)} object(s); holding out "
                             f"{k} per category leaves none for training")
        out += sorted(int(i) for i in rng.choice(ids, size=k, replace=False))
    return sorted(out)


def compute_split(spec: SplitSpec, lat: dict[str, np.ndarray], manifest: dict) -> dict[str, np.ndarray]:
    """Assign every image (rows of `lat`, with `index`) to exactly one part."""
    spec.validate()
    index = np.asarray(lat["index"], dtype=np.int64)
    n = len(index)
    assigned = np.full(n, -1, dtype=np.int64)
    parts = [p for p, _ in spec.fractions]
    for h in spec.holdout:
        if h.part not in parts:
            parts.append(h.part)
    for k, h in enumerate(spec.holdout):
        if h.where is not None:
            mask = evaluate(h.where, lat, manifest, f"split {spec.name!r}")
        else:
            mask = np.isin(lat["object_id"], heldout_object_ids(spec, h, manifest, k))
        assigned[mask & (assigned < 0)] = parts.index(h.part)
    rest = np.flatnonzero(assigned < 0)
    rest = rest[np.random.default_rng([spec.seed, 0]).permutation(len(rest))]
    bounds = np.round(np.cumsum([0.0] + [f for _, f in spec.fractions]) * len(rest)).astype(int)
    bounds[-1] = len(rest)  # fractions sum to 1 within 1e-6: no image may fall off the end
    for j, (p, _) in enumerate(spec.fractions):
        assigned[rest[bounds[j]:bounds[j + 1]]] = parts.index(p)
    return {p: np.sort(index[assigned == j]) for j, p in enumerate(parts)}


# ---- files and cache ---------------------------------------------------------------------
def split_path(root: str | Path, name: str) -> Path:
    return Path(root) / SPLIT_DIR / f"{name}.json"


def split_record(spec: SplitSpec, parts: dict[str, np.ndarray], manifest: dict) -> dict:
    return {"format": SPLIT_FORMAT, "version": 1, "name": spec.name, "definition": spec.to_dict(),
            "dataset": {"spec_hash": manifest["spec_hash"], "n": manifest["n"]},
            "parts": {p: {"count": int(len(ix)), "sha256": indices_sha256(ix)} for p, ix in parts.items()},
            "indices": {p: ix.tolist() for p, ix in parts.items()}}


def _read_all_latents(root):
    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(root) as r:
        return r.latents()


def split_parts(root: str | Path, spec, manifest: dict | None = None, latents=None) -> dict[str, np.ndarray]:
    """The parts of definition `spec` on the dataset at `root`, writing nothing into `root`.

    A split recorded under the name (ROOT/splits/<name>.json) is used and checked; one with
    another definition is an error. Otherwise the parts come from the cache outside the root
    or are computed from `latents` (all latents with `index`, or a callable returning them;
    read from the shards when None) and cached."""
    from latentscape.dataset.manifest import load_manifest
    spec = as_spec(spec)
    manifest = manifest if manifest is not None else load_manifest(root)
    path = split_path(root, spec.name)
    if path.is_file():
        rec = _read_json(path)
        if isinstance(rec, dict) and rec.get("definition") == spec.to_dict():
            return load_split(root, spec.name)
        raise SplitError(f"{path} holds a different definition of split {spec.name!r}; "
                         f"give this definition another name (or record it with overwrite=True)")
    key = f"split-{manifest['spec_hash']}-{spec.definition_hash()}.json"
    rec = read_cached_json(key)
    if isinstance(rec, dict) and rec.get("definition") == spec.to_dict():
        try:
            return _record_parts(rec, f"cached split {key}", manifest)
        except SplitError:
            pass  # a damaged cache entry: computed again below
    lat = latents() if callable(latents) else latents
    parts = compute_split(spec, lat if lat is not None else _read_all_latents(root), manifest)
    write_cached_json(key, split_record(spec, parts, manifest))
    return parts


def create_split(root: str | Path, spec, overwrite: bool = False, latents=None,
                 parts: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Record a split of the dataset at `root` as ROOT/splits/<name>.json (the explicit write).

    An existing file with the same definition is kept (and checked); one with a different
    definition is an error unless `overwrite`. `parts` (from `split_parts` for this root and
    definition) saves computing them again."""
    from latentscape.dataset.manifest import load_manifest
    spec = as_spec(spec)
    manifest = load_manifest(root)
    path = split_path(root, spec.name)
    if path.is_file() and not overwrite:
        return split_parts(root, spec, manifest)  # the same definition, checked; another one refused
    if parts is None:
        if path.is_file():
            lat = latents() if callable(latents) else latents
            parts = compute_split(spec, lat if lat is not None else _read_all_latents(root), manifest)
        else:
            parts = split_parts(root, spec, manifest, latents)
    write_json_file(path, split_record(spec, parts, manifest))
    return parts


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SplitError(f"{path}: not valid JSON ({str(e)[:100]})") from None


def list_splits(root: str | Path) -> list[str]:
    d = Path(root) / SPLIT_DIR
    return sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []


def load_split(root: str | Path, name: str, recompute: bool = False) -> dict[str, np.ndarray]:
    """The parts of a recorded split; checked against its hashes and the dataset's spec hash.
    With `recompute`, the indices are recomputed from the recorded definition and must match."""
    return load_split_record(root, name, recompute)[1]


def load_split_record(root: str | Path, name: str, recompute: bool = False) -> tuple[SplitSpec, dict[str, np.ndarray]]:
    """(definition, parts) of the split recorded as ROOT/splits/<name>.json (see `load_split`).
    The built-in 'default' needs no file: unrecorded, it is computed (nothing is written)."""
    from latentscape.dataset.manifest import load_manifest
    manifest = load_manifest(root)
    path = split_path(root, name)
    if name == DEFAULT_NAME and not path.is_file():
        return DEFAULT_SPLIT, split_parts(root, DEFAULT_SPLIT, manifest)
    if not path.is_file():
        known = list_splits(root)
        raise SplitError(f"unknown split {name!r}: {path} does not exist; defined splits: "
                         f"{', '.join(known) or 'none'} (built-in: train, val, test of '{DEFAULT_NAME}'; "
                         f"pass the definition as splits=, or record it with create_split)")
    rec = _read_json(path)
    parts = _record_parts(rec, str(path), manifest)
    spec = SplitSpec.from_dict(rec.get("definition"), str(path))
    if recompute:
        again = compute_split(spec, _read_all_latents(root), manifest)
        if {p: indices_sha256(ix) for p, ix in again.items()} != {p: r["sha256"] for p, r in rec["parts"].items()}:
            raise SplitError(f"{path}: recomputing the definition gives other indices")
    return spec, parts


def _record_parts(rec, where: str, manifest: dict) -> dict[str, np.ndarray]:
    """The parts of a split record (a file or a cache entry) for the dataset of `manifest`;
    SplitError unless it is a split of this dataset whose parts cover 0..n-1 exactly."""
    if not isinstance(rec, dict) or rec.get("format") != SPLIT_FORMAT:
        raise SplitError(f"{where}: not a latentscape split file")
    ds = rec.get("dataset")
    if not isinstance(ds, dict) or ds.get("spec_hash") != manifest["spec_hash"] or ds.get("n") != manifest["n"]:
        got = (ds.get("spec_hash"), ds.get("n")) if isinstance(ds, dict) else (None, None)
        raise SplitError(f"{where} was made for another dataset (spec hash {got[0]}, "
                         f"n {got[1]}); this one is {manifest['spec_hash']}, n {manifest['n']}")
    return _checked_parts(rec, where, manifest["n"])


def _checked_parts(rec: dict, path, n: int) -> dict[str, np.ndarray]:
    """The parts of a split record: integer indices in 0..n-1, unique within a part, matching
    their recorded sha256, together covering every image exactly once. SplitError otherwise
    (a split never points at a wrong image, nor leaks one image into two parts)."""
    indices, recorded = rec.get("indices"), rec.get("parts")
    if not isinstance(indices, dict) or not isinstance(recorded, dict):
        raise SplitError(f"{path}: 'indices' and 'parts' must be mappings")
    parts = {}
    for p, ix in indices.items():
        if not isinstance(ix, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ix):
            raise SplitError(f"{path}: indices of part {p!r} must be a list of integers")
        arr = np.asarray(ix, dtype=np.int64)
        if len(arr) and (arr.min() < 0 or arr.max() >= n or len(np.unique(arr)) != len(arr)):
            raise SplitError(f"{path}: indices of part {p!r} must be distinct and in 0..{n - 1}")
        want = recorded.get(p).get("sha256") if isinstance(recorded.get(p), dict) else None
        if indices_sha256(arr) != want:
            raise SplitError(f"{path}: indices of part {p!r} do not match their recorded sha256")
        parts[p] = arr
    seen = np.zeros(n, dtype=np.int64)
    for arr in parts.values():
        seen[arr] += 1
    if not np.all(seen == 1):
        raise SplitError(f"{path}: parts must be disjoint and cover every image 0..{n - 1} "
                         f"({int((seen == 0).sum())} in no part, {int((seen > 1).sum())} in several)")
    return parts


def parse_split_arg(split: str) -> tuple[str, str]:
    """'train' -> ('default', 'train'); 'NAME/PART' -> ('NAME', 'PART')."""
    if not isinstance(split, str) or not split:
        raise SplitError(f"split must be a string like 'train' or 'NAME/PART', got {split!r}")
    if "/" in split:
        name, part = split.split("/", 1)
        return name, part
    return DEFAULT_NAME, split


def resolve_split(root: str | Path, split: str | None, splits=None, latents=None,
                  manifest: dict | None = None) -> tuple[SplitSpec, str | None, np.ndarray | None, dict]:
    """(definition, part, global indices of the part, all parts) for a dataset's `split=`
    argument, writing nothing into `root`. `split=None` -> all images (parts of the default
    definition, for statistics). `splits` (a SplitSpec, dict or YAML path) is the definition a
    bare part name refers to. `latents`: all latents, or a callable returning them (only
    called when the parts must be computed)."""
    spec = as_spec(splits) if splits is not None else None
    if split is None:
        name, part = (spec.name if spec else DEFAULT_NAME), None
    elif spec is not None and "/" not in split:
        name, part = spec.name, split
    else:
        name, part = parse_split_arg(split)
    if spec is not None and name == spec.name:
        parts = split_parts(root, spec, manifest, latents)
    elif name == DEFAULT_NAME:
        spec = DEFAULT_SPLIT
        parts = split_parts(root, spec, manifest, latents)
    else:
        spec, parts = load_split_record(root, name)
    if part is None:
        return spec, None, None, parts
    if part not in parts:
        raise SplitError(f"unknown split part {part!r} of split {name!r}; parts: {', '.join(parts)}")
    return spec, part, parts[part], parts
