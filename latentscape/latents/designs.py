"""Experimental designs: which latents each image pins, besides the i.i.d. draws.

A `Design` says how image indices map onto design points:

* grid   -- the full product of the listed levels (first name slowest); the other latents
            are held at their canonical values (`others: fixed`) or drawn per image (`random`);
* sweep  -- `n_base` base draws, each repeated along the levels of one latent;
* pairs  -- images 2j and 2j+1 share every latent except the groups named in `differ`
            (or `k_random` groups picked per pair);
* blocks -- consecutive blocks of images, each with its own vary/fix/distributions
            (how the HvM preset's variation levels V0, V3, V6 are written).

Levels are stored in the latent table's units (radians); `parse_levels` reads the
command line's `NAME=START:STOP:COUNT` (degrees for angles) or `NAME=a,b,c`. The design
only decides indices and pins; drawing is `latents/design_sampling.py`'s job.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentscape.errors import SpecError
from latentscape.latents.distributions import Dist, show_value
from latentscape.latents.space import GROUPS, PARAMS, check_dist, check_value

DESIGN_KINDS = ("grid", "sweep", "pairs", "blocks")
OTHERS = ("fixed", "random")
MAX_N = 1_000_000  # the default --max-n
CIRCULAR = ("yaw", "roll", "light_azimuth", "env_rotation")  # a level range STOP:... excludes STOP
ANGLES = tuple(name for name, p in PARAMS.items() if p.unit == "rad")  # given in degrees on the command line
LEVEL_NAMES = tuple(name for name, p in PARAMS.items() if p.kind != "rotation")
EULER = ("yaw", "pitch", "roll")


@dataclass(frozen=True)
class Block:
    """A run of `n` consecutive images drawn with their own vary/fix/distributions."""

    name: str
    n: int
    vary: tuple[str, ...] = ()
    fix: tuple[tuple[str, Any], ...] = ()
    distributions: tuple[tuple[str, Dist], ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "n": self.n, "vary": list(self.vary),
                "fix": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.fix},
                "distributions": {k: d.to_dict() for k, d in self.distributions}}


@dataclass(frozen=True)
class Design:
    """How image indices map onto design points (see the module docstring)."""

    kind: str
    levels: tuple[tuple[str, tuple], ...] = ()  # grid: every name; sweep: exactly one
    others: str = "fixed"                        # grid only
    n_base: int = 0                              # sweep only
    differ: tuple[str, ...] = ()                 # pairs: groups that differ within a pair
    k_random: int = 0                            # pairs: instead of differ, this many random groups per pair
    blocks: tuple[Block, ...] = ()               # blocks only
    max_n: int = MAX_N

    def __post_init__(self):
        for key in ("levels", "differ", "blocks"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "levels", tuple((k, tuple(v)) for k, v in self.levels))
        self.validate()

    # ---- shape ---------------------------------------------------------------
    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.levels)

    def counts(self) -> tuple[int, ...]:
        return tuple(len(v) for _, v in self.levels)

    def images(self, n: int | None = None) -> int:
        """Images in the design (pairs: the `n` asked for)."""
        if self.kind == "grid":
            return math.prod(self.counts())
        if self.kind == "sweep":
            return self.n_base * self.counts()[0]
        if self.kind == "blocks":
            return sum(b.n for b in self.blocks)
        return n

    def derives_n(self) -> bool:
        return self.kind != "pairs"

    def grid_levels(self, index: int) -> tuple[int, ...]:
        """Level indices (one per name, first name slowest) of grid image `index`."""
        return tuple(int(i) for i in np.unravel_index(index, self.counts()))

    def block_of(self, index: int) -> int:
        ends = np.cumsum([b.n for b in self.blocks])
        return int(np.searchsorted(ends, index, side="right"))

    def names_euler(self) -> bool:
        """True if a level names an Euler angle (the pose then needs per-angle values)."""
        return any(k in EULER for k in self.level_names)

    # ---- validation ----------------------------------------------------------
    def validate(self) -> None:
        _one_of(self.kind, DESIGN_KINDS, "design kind")
        _int(self.max_n, 1, 10**12, "design.max_n (--max-n)")
        if self.kind == "grid":
            self._check_levels(min_names=1, max_names=len(LEVEL_NAMES))
            _one_of(self.others, OTHERS, "design.others (--others)")
            n = self.images()
            if n > self.max_n:
                shape = " x ".join(f"{len(v)} {k}" for k, v in self.levels)
                raise SpecError(f"the grid has {n:,} points ({shape}), over --max-n {self.max_n:,}; "
                                f"use fewer levels or raise --max-n")
        elif self.kind == "sweep":
            self._check_levels(min_names=1, max_names=1)
            _int(self.n_base, 1, 10**9, "design.n_base (--n-base)")
            if self.images() > self.max_n:
                raise SpecError(f"the sweep has {self.images():,} images ({self.n_base} bases x "
                                f"{self.counts()[0]} levels), over --max-n {self.max_n:,}")
        elif self.kind == "pairs":
            self._check_pairs()
        else:
            self._check_blocks()
        self._check_unused()

    def _check_levels(self, min_names: int, max_names: int) -> None:
        names = self.level_names
        if not min_names <= len(names) <= max_names:
            want = "one latent" if max_names == 1 else "at least one latent"
            raise SpecError(f"a {self.kind} needs {want} with levels (--{'sweep' if self.kind == 'sweep' else 'levels'} "
                            f"NAME=START:STOP:COUNT), got {len(names)}")
        for k in names:
            if names.count(k) > 1:
                raise SpecError(f"levels of {k!r} given twice; give each latent once")
            if k not in LEVEL_NAMES:
                raise SpecError(f"unknown latent {show_value(k)} in the design's levels; valid: {', '.join(LEVEL_NAMES)}")
        if "category" in names and "object_id" in names:
            raise SpecError("levels of both category and object_id: give one (object levels fix the category)")
        for k, values in self.levels:
            if not values:
                raise SpecError(f"levels of {k!r}: no values")
            for v in values:
                try:
                    check_value(k, v)
                except SpecError as e:
                    raise SpecError(f"level of {k}: {e}") from None

    def _check_pairs(self) -> None:
        _int(self.k_random, 0, len(GROUPS), "design.k_random (--k-random)")
        if bool(self.differ) == bool(self.k_random):
            raise SpecError("pairs need either --differ GROUPS (e.g. pose or pose,scale) or --k-random K, not both "
                            "and not neither")
        for g in self.differ:
            _one_of(g, GROUPS, "--differ group")
        if "identity" in self.differ and "category" in self.differ:
            raise SpecError("--differ category already changes the object; give category or identity")

    def _check_blocks(self) -> None:
        if not self.blocks:
            raise SpecError("a blocks design needs at least one block")
        names = [b.name for b in self.blocks]
        for b in self.blocks:
            if not isinstance(b, Block):
                raise SpecError(f"design.blocks holds {show_value(b)}, not a block")
            if not isinstance(b.name, str) or not b.name.strip() or names.count(b.name) > 1:
                raise SpecError(f"block names must be distinct non-empty names, got {names}")
            _int(b.n, 1, 10**12, f"block {b.name}: n")
            for g in b.vary:
                _one_of(g, GROUPS, f"block {b.name}: vary group")
            for k, v in b.fix:
                _param(k, f"block {b.name}: fix")
                check_value(k, v)
            for k, d in b.distributions:
                _param(k, f"block {b.name}: distributions")
                check_dist(k, d)

    def _check_unused(self) -> None:
        """Refuse settings that belong to another kind (a silent no-op would mislead)."""
        used = {"grid": {"levels", "others"}, "sweep": {"levels", "n_base"}, "pairs": {"differ", "k_random"},
                "blocks": {"blocks"}}[self.kind]
        empty = {"levels": (), "others": "fixed", "n_base": 0, "differ": (), "k_random": 0, "blocks": ()}
        for key, value in empty.items():
            if key not in used and getattr(self, key) != value:
                raise SpecError(f"design.{key} does not apply to a {self.kind} design")

    def describe(self, n: int | None = None) -> str:
        """One line: the design's shape and its number of images (pairs: of the `n` asked for)."""
        return describe_design(self.to_dict(), self.images(n))

    # ---- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict:
        d: dict = {"kind": self.kind}
        if self.kind in ("grid", "sweep"):
            d["levels"] = {k: [_plain(x) for x in v] for k, v in self.levels}
        if self.kind == "grid":
            d["others"] = self.others
        if self.kind == "sweep":
            d["n_base"] = self.n_base
        if self.kind == "pairs":
            d.update(differ=list(self.differ), k_random=self.k_random)
        if self.kind == "blocks":
            d["blocks"] = [b.to_dict() for b in self.blocks]
        d["max_n"] = self.max_n
        return d

    @staticmethod
    def from_dict(d, where: str = "design") -> "Design":
        """Build from YAML: levels are lists (in the table's units) or 'START:STOP:COUNT' strings (degrees)."""
        if not isinstance(d, dict):
            raise SpecError(f"{where} must be a mapping with a kind ({', '.join(DESIGN_KINDS)}), got {show_value(d)}")
        allowed = {"kind", "levels", "others", "n_base", "differ", "k_random", "blocks", "max_n"}
        extra = sorted(set(d) - allowed, key=str)
        if extra:
            raise SpecError(f"{where}: unknown key {show_value(extra[0])}; allowed: {', '.join(sorted(allowed))}")
        kw = dict(d)
        if "levels" in kw:
            kw["levels"] = tuple(_yaml_levels(kw["levels"], where))
        if "differ" in kw:
            kw["differ"] = _groups(kw["differ"], f"{where}.differ")
        if "blocks" in kw:
            kw["blocks"] = tuple(_block(b, f"{where}.blocks") for b in (kw["blocks"] or ()))
        try:
            return Design(**kw)
        except TypeError as e:
            raise SpecError(f"{where}: {e}") from None


def describe_design(d: dict, n: int) -> str:
    """One line for a stored design document (`Design.to_dict()`) of `n` images."""
    kind = d["kind"]
    if kind == "grid":
        shape = " x ".join(f"{len(v)} {k}" for k, v in d["levels"].items())
        return f"grid: {shape} = {n:,} images (others {d['others']})"
    if kind == "sweep":
        (name, values), = d["levels"].items()
        return f"sweep: {d['n_base']:,} base draws x {len(values)} {name} levels = {n:,} images"
    if kind == "pairs":
        what = ",".join(d["differ"]) if d["differ"] else f"{d['k_random']} random group(s) per pair"
        return f"pairs: {n // 2:,} pairs differing in {what} ({n:,} images)"
    return "blocks: " + ", ".join(f"{b['name']} {b['n']:,}" for b in d["blocks"]) + f" = {n:,} images"


# ---- level parsing --------------------------------------------------------------
def parse_levels(item: str, flag: str = "--levels") -> tuple[str, tuple]:
    """'yaw=0:360:12' | 'category=chair,mug' | 'scale=0.8,1,1.2' -> (name, values in table units)."""
    name, sep, rest = item.partition("=")
    name, rest = name.strip(), rest.strip()
    if not sep or not name or not rest:
        raise SpecError(f"{flag} expects NAME=START:STOP:COUNT or NAME=A,B,C, got {show_value(item)}")
    if name not in LEVEL_NAMES:
        raise SpecError(f"{flag} {show_value(item)}: unknown latent {show_value(name)}; valid: {', '.join(LEVEL_NAMES)}")
    return name, level_values(name, rest, f"{flag} {item}")


def level_values(name: str, text: str, where: str) -> tuple:
    """The values of `text` ('START:STOP:COUNT' or 'A,B,C'; degrees for angles) for latent `name`."""
    categorical = PARAMS[name].kind == "categorical"
    if ":" in text:
        if categorical:
            raise SpecError(f"{where}: {name} is categorical; list its values (NAME=a,b,c)")
        parts = [p.strip() for p in text.split(":")]
        if len(parts) != 3:
            raise SpecError(f"{where}: expected START:STOP:COUNT, got {show_value(text)}")
        start, stop = (_number(p, where) for p in parts[:2])
        count = _count(parts[2], where)
        values = _spaced(start, stop, count, name in CIRCULAR)
    else:
        items = [x.strip() for x in text.split(",")]
        if not all(items):
            raise SpecError(f"{where}: an empty value in {show_value(text)}")
        values = [_index_or_name(x) for x in items] if categorical else [_number(x, where) for x in items]
    if name in ANGLES:
        values = [math.radians(v) for v in values]
    for v in values:
        try:
            check_value(name, v)
        except SpecError as e:
            shown = f" (level {math.degrees(v):g} deg)" if name in ANGLES else ""
            raise SpecError(f"{where}: {e}{shown}") from None
    return tuple(values)


def _spaced(start: float, stop: float, count: int, circular: bool) -> list[float]:
    if count == 1:
        return [start]
    return [float(v) for v in np.linspace(start, stop, count, endpoint=not circular)]


def _yaml_levels(levels, where: str) -> list[tuple[str, tuple]]:
    if not isinstance(levels, dict):
        raise SpecError(f"{where}.levels must be a mapping NAME: [values] or NAME: 'START:STOP:COUNT', "
                        f"got {show_value(levels)}")
    out = []
    for k, v in levels.items():
        if k not in LEVEL_NAMES:
            raise SpecError(f"{where}.levels: unknown latent {show_value(k)}; valid: {', '.join(LEVEL_NAMES)}")
        if isinstance(v, str):
            out.append((k, level_values(k, v, f"{where}.levels.{k}")))
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (int, float, str)) for x in v):
            out.append((k, tuple(v)))
        else:
            raise SpecError(f"{where}.levels.{k} must be a list of values or 'START:STOP:COUNT', got {show_value(v)}")
    return out


def _block(b, where: str) -> Block:
    if not isinstance(b, dict):
        raise SpecError(f"{where}: each block is a mapping (name, n, vary, fix, distributions), got {show_value(b)}")
    allowed = {"name", "n", "vary", "fix", "distributions"}
    extra = sorted(set(b) - allowed, key=str)
    if extra:
        raise SpecError(f"{where}: unknown key {show_value(extra[0])}; allowed: {', '.join(sorted(allowed))}")
    fix = b.get("fix") or {}
    dists = b.get("distributions") or {}
    if not isinstance(fix, dict) or not isinstance(dists, dict):
        raise SpecError(f"{where}: fix and distributions must be mappings")
    return Block(name=b.get("name"), n=b.get("n"), vary=_groups(b.get("vary") or [], f"{where}.vary"),
                 fix=tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fix.items())),
                 distributions=tuple(sorted((k, Dist.from_dict(v, f"{where}.distributions.{k}"))
                                            for k, v in dists.items())))


def _groups(v, where: str) -> tuple[str, ...]:
    items = [x.strip() for x in v.split(",")] if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) and x.strip() for x in items):
        raise SpecError(f"{where} must be group names from {', '.join(GROUPS)}, got {show_value(v)}")
    for g in items:
        _one_of(g.strip(), GROUPS, f"{where} group")
    return tuple(g.strip() for g in items)


def _param(name, where):
    if name not in PARAMS:
        raise SpecError(f"{where}: unknown latent {show_value(name)}; valid: {', '.join(PARAMS)}")


def _number(s: str, where: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise SpecError(f"{where}: {show_value(s)} is not a number") from None
    if not math.isfinite(v):
        raise SpecError(f"{where}: {show_value(s)} is not a finite number")
    return v


def _count(s: str, where: str) -> int:
    try:
        v = int(s)
    except ValueError:
        v = 0
    if v < 1:
        raise SpecError(f"{where}: COUNT must be an integer >= 1, got {show_value(s)}")
    return v


def _index_or_name(s: str):
    try:
        return int(s)
    except ValueError:
        return s


def _one_of(v, allowed, what):
    if not isinstance(v, str) or v not in allowed:
        raise SpecError(f"unknown {what} {show_value(v)}; allowed: {', '.join(allowed)}")


def _int(v, lo, hi, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
        raise SpecError(f"{what} must be an integer in {lo}..{hi}, got {show_value(v)}")


def _plain(v):
    return v.item() if hasattr(v, "item") else v
