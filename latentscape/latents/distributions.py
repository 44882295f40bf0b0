"""Distributions of single latents: uniform, normal (optionally truncated), choice, so3, fixed.

A `Dist` is a frozen value; `sample(rng)` draws with the caller's generator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentscape.errors import SamplingError, SpecError
from latentscape.latents.geometry import random_quaternion

KINDS = ("uniform", "normal", "choice", "so3", "fixed")
_FIELDS = {
    "uniform": {"low", "high"},
    "normal": {"mean", "std", "low", "high"},
    "choice": {"values", "weights"},
    "so3": set(),
    "fixed": {"value"},
}
_MAX_TRUNCATION_TRIES = 10_000


@dataclass(frozen=True)
class Dist:
    """One latent's distribution. Unused fields stay None."""

    kind: str
    low: float | None = None
    high: float | None = None
    mean: float | None = None
    std: float | None = None
    values: tuple | None = None
    weights: tuple | None = None
    value: Any = field(default=None)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SpecError(f"unknown distribution kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        k = self.kind
        if k == "uniform":
            _need(self, "low", "high")
            if not self.low <= self.high:
                raise SpecError(f"uniform range is inverted: low={self.low} > high={self.high}")
        if k == "normal":
            _need(self, "mean", "std")
            if self.std <= 0:
                raise SpecError(f"normal std must be > 0, got {self.std}")
            if self.low is not None and self.high is not None and not self.low < self.high:
                raise SpecError(f"normal truncation range is inverted: low={self.low} >= high={self.high}")
        if k == "choice" and self.weights is not None:
            if self.values is None or len(self.weights) != len(self.values):
                raise SpecError("choice weights need one weight per value")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise SpecError(f"choice weights must be >= 0 with a positive sum, got {list(self.weights)}")
        if k == "fixed" and self.value is None:
            raise SpecError("fixed distribution needs a value")

    @staticmethod
    def from_dict(d: dict, where: str = "") -> "Dist":
        """Build from a mapping such as {'kind': 'uniform', 'low': 0, 'high': 1}."""
        if not isinstance(d, dict) or "kind" not in d:
            raise SpecError(f"{where}: a distribution needs a 'kind' ({', '.join(KINDS)}), got {d!r}")
        kind = d["kind"]
        if kind not in KINDS:
            raise SpecError(f"{where}: unknown distribution kind {kind!r}; allowed: {', '.join(KINDS)}")
        extra = set(d) - {"kind"} - _FIELDS[kind]
        if extra:
            raise SpecError(f"{where}: unknown key(s) {sorted(extra)} for a {kind} distribution; "
                            f"allowed: {sorted(_FIELDS[kind])}")
        kw = {k: _freeze(v) for k, v in d.items() if k != "kind"}
        try:
            return Dist(kind=kind, **kw)
        except SpecError as e:
            raise SpecError(f"{where}: {e}") from None

    def to_dict(self) -> dict:
        out = {"kind": self.kind}
        for k in sorted(_FIELDS[self.kind]):
            v = getattr(self, k)
            if v is not None:
                out[k] = list(v) if isinstance(v, tuple) else v
        return out

    def sample(self, rng: np.random.Generator):
        """Draw one value with `rng` (never a global generator)."""
        k = self.kind
        if k == "fixed":
            return self.value
        if k == "uniform":
            return float(rng.uniform(self.low, self.high))
        if k == "normal":
            return self._truncated_normal(rng)
        if k == "choice":
            p = None
            if self.weights is not None:
                w = np.asarray(self.weights, dtype=np.float64)
                p = w / w.sum()
            return self.values[int(rng.choice(len(self.values), p=p))]
        return random_quaternion(rng)

    def _truncated_normal(self, rng):
        lo = -math.inf if self.low is None else self.low
        hi = math.inf if self.high is None else self.high
        for _ in range(_MAX_TRUNCATION_TRIES):
            x = float(rng.normal(self.mean, self.std))
            if lo <= x <= hi:
                return x
        raise SamplingError(f"normal(mean={self.mean}, std={self.std}) truncated to [{lo}, {hi}] "
                            f"gave no value in {_MAX_TRUNCATION_TRIES} draws; widen the range")

    def support(self) -> tuple[float, float] | None:
        """(min, max) the distribution can produce for numeric kinds, else None."""
        if self.kind == "uniform":
            return (self.low, self.high)
        if self.kind == "normal":
            return (-math.inf if self.low is None else self.low, math.inf if self.high is None else self.high)
        if self.kind == "fixed" and isinstance(self.value, (int, float)):
            return (float(self.value), float(self.value))
        if self.kind == "choice" and self.values and all(isinstance(v, (int, float)) for v in self.values):
            return (float(min(self.values)), float(max(self.values)))
        return None


def fixed(value) -> Dist:
    return Dist(kind="fixed", value=_freeze(value))


def _need(d: Dist, *names):
    missing = [n for n in names if getattr(d, n) is None]
    if missing:
        raise SpecError(f"{d.kind} distribution needs {', '.join(missing)}")


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v
