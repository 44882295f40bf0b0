"""DatasetSpec: everything that determines a dataset, as frozen dataclasses with YAML I/O.

`DatasetSpec.from_dict` validates and names the file and key of every problem;
`spec_hash` is a stable hash of the resolved spec (what decides the pixels and labels).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from latentscape.errors import SpecError
from latentscape.latents.distributions import Dist
from latentscape.latents.space import GROUPS, PARAMS, POSE_MODES, POSITION_MODES

PASSES = ("mask", "depth")
CATEGORY_SAMPLING = ("balanced", "objects")
_GZIP = tuple(f"gzip-{i}" for i in range(10))
COMPRESSIONS = ("none", "lzf", *_GZIP, "zstd")


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings that change the pixels (and so the spec hash)."""

    samples: int = 16
    denoise: bool = False
    passes: tuple[str, ...] = ()

    def validate(self, where: str):
        if not isinstance(self.samples, int) or isinstance(self.samples, bool) or not 1 <= self.samples <= 65536:
            raise SpecError(f"{where}render.samples must be an integer in 1..65536, got {self.samples!r}")
        bad = [p for p in self.passes if p not in PASSES]
        if bad:
            raise SpecError(f"{where}unknown pass(es) {bad}; allowed: {', '.join(PASSES)}")


@dataclass(frozen=True)
class StorageSettings:
    compression: str = "lzf"

    def validate(self, where: str):
        if self.compression not in COMPRESSIONS:
            raise SpecError(f"{where}unknown compression {self.compression!r}; allowed: none, lzf, gzip-0..gzip-9, zstd")


@dataclass(frozen=True)
class DatasetSpec:
    """The full description of a dataset. Defaults give a usable dataset."""

    n: int = 1000
    seed: int = 0
    shard_size: int = 1000
    resolution: int = 224
    fov_deg: float = 40.0
    vary: tuple[str, ...] = GROUPS
    fix: tuple[tuple[str, Any], ...] = ()
    distributions: tuple[tuple[str, Dist], ...] = ()
    position_mode: str = "image"
    pose_mode: str = "so3"
    margin: float = 0.02
    category_sampling: str = "balanced"
    categories: tuple[str, ...] = ()
    library: str = "default"
    assets: tuple[str, ...] = ()
    license: str = "any"
    skip_bad_assets: bool = False
    backgrounds: tuple[str, ...] = ()
    render: RenderSettings = field(default_factory=RenderSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)

    def __post_init__(self):
        # canonical order, so equal specs compare and hash equal
        object.__setattr__(self, "vary", tuple(sorted(self.vary, key=lambda g: GROUPS.index(g) if g in GROUPS else 99)))
        object.__setattr__(self, "fix", tuple(sorted(self.fix)))
        object.__setattr__(self, "distributions", tuple(sorted(self.distributions, key=lambda kv: kv[0])))

    # ---- validation -------------------------------------------------------
    def validate(self, where: str = "") -> "DatasetSpec":
        w = f"{where}: " if where else ""
        _int_in(self.n, 1, 10**12, f"{w}n")
        _int_in(self.seed, 0, 2**63 - 1, f"{w}seed")
        _int_in(self.shard_size, 1, 10**7, f"{w}shard_size")
        _int_in(self.resolution, 8, 4096, f"{w}resolution")
        if not isinstance(self.fov_deg, (int, float)) or not 1.0 <= self.fov_deg <= 170.0:
            raise SpecError(f"{w}fov_deg must be in 1..170 degrees, got {self.fov_deg!r}")
        if not isinstance(self.margin, (int, float)) or not 0.0 <= self.margin < 0.5:
            raise SpecError(f"{w}margin must be in [0, 0.5), got {self.margin!r}")
        _one_of(self.position_mode, POSITION_MODES, f"{w}position_mode")
        _one_of(self.pose_mode, POSE_MODES, f"{w}pose_mode")
        _one_of(self.category_sampling, CATEGORY_SAMPLING, f"{w}category_sampling")
        _one_of(self.license, ("any", "cc0"), f"{w}license")
        for g in self.vary:
            _one_of(g, GROUPS, f"{w}vary group")
        active = self.active_params()
        for name, _ in self.fix:
            _param_name(name, active, f"{w}fix", self)
        for name, dist in self.distributions:
            _param_name(name, active, f"{w}distributions", self)
            _check_dist_for(name, dist, w)
        self.render.validate(w)
        self.storage.validate(w)
        return self

    def active_params(self) -> list[str]:
        return [p.name for p in PARAMS.values() if p.mode in (None, self.position_mode, self.pose_mode)]

    # ---- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "n": self.n, "seed": self.seed, "shard_size": self.shard_size,
            "resolution": self.resolution, "fov_deg": float(self.fov_deg),
            "vary": list(self.vary), "fix": {k: _plain(v) for k, v in self.fix},
            "distributions": {k: d.to_dict() for k, d in self.distributions},
            "position_mode": self.position_mode, "pose_mode": self.pose_mode,
            "margin": float(self.margin), "category_sampling": self.category_sampling,
            "categories": list(self.categories), "library": self.library,
            "assets": list(self.assets), "license": self.license, "skip_bad_assets": self.skip_bad_assets,
            "backgrounds": list(self.backgrounds),
            "render": {"samples": self.render.samples, "denoise": self.render.denoise,
                       "passes": list(self.render.passes)},
            "storage": {"compression": self.storage.compression},
        }

    @staticmethod
    def from_dict(d: dict, where: str = "spec") -> "DatasetSpec":
        """Build and validate; unknown keys are an error naming `where` and the key."""
        if not isinstance(d, dict):
            raise SpecError(f"{where}: expected a mapping at the top level, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(DatasetSpec)}
        _no_unknown(d, known, where)
        kw = dict(d)
        if "vary" in kw:
            kw["vary"] = parse_vary(kw["vary"], where)
        if "fix" in kw:
            fix = kw["fix"] or {}
            if not isinstance(fix, dict):
                raise SpecError(f"{where}: fix must be a mapping NAME: VALUE, got {fix!r}")
            kw["fix"] = tuple(sorted((str(k), _freeze(v)) for k, v in fix.items()))
        if "distributions" in kw:
            dists = kw["distributions"] or {}
            if not isinstance(dists, dict):
                raise SpecError(f"{where}: distributions must be a mapping NAME: {{kind: ...}}")
            kw["distributions"] = tuple(sorted(
                (str(k), Dist.from_dict(v, f"{where}: distributions.{k}")) for k, v in dists.items()))
        if "categories" in kw:
            cats = kw["categories"] or []
            kw["categories"] = tuple(str(c) for c in (cats.split(",") if isinstance(cats, str) else cats))
        for key in ("assets", "backgrounds"):
            if key in kw:
                v = kw[key] or []
                kw[key] = tuple(str(x) for x in ([v] if isinstance(v, str) else v))
        if "render" in kw:
            r = kw["render"] or {}
            _no_unknown(r, {"samples", "denoise", "passes"}, f"{where}: render")
            if "passes" in r:
                r = {**r, "passes": tuple(r["passes"] or ())}
            kw["render"] = RenderSettings(**r)
        if "storage" in kw:
            s = kw["storage"] or {}
            _no_unknown(s, {"compression"}, f"{where}: storage")
            kw["storage"] = StorageSettings(**s)
        return DatasetSpec(**kw).validate(where)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @staticmethod
    def from_yaml(path: str | Path) -> "DatasetSpec":
        path = Path(path)
        if not path.is_file():
            raise SpecError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise SpecError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        return DatasetSpec.from_dict(data, where=str(path))

    def replace(self, **changes) -> "DatasetSpec":
        """A copy with some fields changed, validated."""
        d = self.to_dict()
        d.update(changes)
        return DatasetSpec.from_dict(d)

    def dist_overrides(self) -> dict[str, Dist]:
        return dict(self.distributions)


def spec_hash(resolved: dict) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of a resolved spec."""
    blob = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_vary(v, where: str = "vary") -> tuple[str, ...]:
    """'pose,position' | ['pose'] | 'all' | 'none' -> tuple of group names."""
    items = v.split(",") if isinstance(v, str) else list(v or [])
    items = [str(s).strip() for s in items if str(s).strip()]
    if items == ["all"]:
        return GROUPS
    if items in (["none"], []):
        return ()
    for g in items:
        _one_of(g, GROUPS, f"{where}: group", extra="or 'all'/'none'")
    return tuple(g for g in GROUPS if g in items)


def parse_fix(items: list[str]) -> dict[str, Any]:
    """['category=cube', 'scale=1.2', 'rotation=1,0,0,0'] -> {name: value}."""
    out = {}
    for item in items:
        if "=" not in item:
            raise SpecError(f"--fix expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _parse_scalar(v.strip())
    return out


def parse_dist(item: str) -> tuple[str, dict]:
    """'distance=uniform:3:6' | 'scale=normal:1:0.1' | 'background_id=choice:0,1,2' -> (name, dict)."""
    if "=" not in item or ":" not in item.split("=", 1)[1] and not item.endswith("so3"):
        raise SpecError(f"--dist expects NAME=KIND:ARGS (e.g. distance=uniform:3:6), got {item!r}")
    name, rest = item.split("=", 1)
    kind, *args = rest.split(":")
    try:
        if kind == "uniform":
            lo, hi = (float(a) for a in args)
            return name, {"kind": kind, "low": lo, "high": hi}
        if kind == "normal":
            nums = [float(a) for a in args]
            d = {"kind": kind, "mean": nums[0], "std": nums[1]}
            if len(nums) == 4:
                d.update(low=nums[2], high=nums[3])
            return name, d
        if kind == "choice":
            return name, {"kind": kind, "values": [_parse_scalar(x) for x in args[0].split(",")]}
        if kind == "fixed":
            return name, {"kind": kind, "value": _parse_scalar(args[0])}
        if kind == "so3":
            return name, {"kind": kind}
    except (ValueError, IndexError):
        pass
    raise SpecError(f"--dist {item!r}: expected uniform:LOW:HIGH, normal:MEAN:STD[:LOW:HIGH], "
                    f"choice:V1,V2,..., fixed:V or so3")


def _parse_scalar(s: str):
    if "," in s:
        return tuple(_parse_scalar(x) for x in s.split(","))
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def _check_dist_for(name: str, dist: Dist, w: str):
    if name == "rotation" and dist.kind not in ("so3", "fixed"):
        raise SpecError(f"{w}distributions.rotation must be so3 or fixed, got {dist.kind}")
    if name != "rotation" and dist.kind == "so3":
        raise SpecError(f"{w}distributions.{name}: so3 is only valid for 'rotation'")
    if name in ("category", "object_id", "background_id") and dist.kind not in ("choice", "fixed"):
        raise SpecError(f"{w}distributions.{name} must be choice or fixed, got {dist.kind}")


def _param_name(name, active, where, spec):
    if name in active:
        return
    if name in PARAMS:
        p = PARAMS[name]
        mode = "position_mode" if p.group == "position" else "pose_mode"
        raise SpecError(f"{where}: {name!r} is only used with {mode}: {p.mode}; "
                        f"active parameters: {', '.join(active)}")
    raise SpecError(f"{where}: unknown latent {name!r}; valid: {', '.join(active)}")


def _one_of(v, allowed, what, extra=""):
    if v not in allowed:
        more = f" {extra}" if extra else ""
        raise SpecError(f"unknown {what} {v!r}; allowed: {', '.join(allowed)}{more}")


def _int_in(v, lo, hi, what):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpecError(f"{what} must be an integer in {lo}..{hi}, got {v!r}")


def _no_unknown(d: dict, known: set, where: str):
    extra = sorted(set(d) - known)
    if extra:
        raise SpecError(f"{where}: unknown key {extra[0]!r}; allowed: {', '.join(sorted(known))}")


def _freeze(v):
    return tuple(_freeze(x) for x in v) if isinstance(v, list) else v


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    return v
