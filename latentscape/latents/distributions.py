"""Distributions of single latents: uniform, normal (optionally truncated), choice, so3, fixed.

A `Dist` is a frozen value; `sample(rng)` draws with the caller's generator.
"""
from __future__ import annotations

import math
import numbers
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
_MIN_TRUNCATED_MASS = 0.01  # below it, rejection sampling might fail: (1 - 0.01)^10000 ~ e^-100


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
        """Refuse a malformed distribution: every number finite, every field of the right type."""
        if not isinstance(self.kind, str) or self.kind not in KINDS:
            raise SpecError(f"unknown distribution kind {show_value(self.kind)}; allowed: {', '.join(KINDS)}")
        {"uniform": _check_uniform, "normal": _check_normal, "choice": _check_choice,
         "so3": lambda d: None, "fixed": _check_fixed}[self.kind](self)

    @staticmethod
    def from_dict(d: dict, where: str = "") -> "Dist":
        """Build from a mapping such as {'kind': 'uniform', 'low': 0, 'high': 1}."""
        if not isinstance(d, dict) or "kind" not in d:
            raise SpecError(f"{where}: a distribution needs a 'kind' ({', '.join(KINDS)}), got {show_value(d)}")
        kind = d["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise SpecError(f"{where}: unknown distribution kind {show_value(kind)}; allowed: {', '.join(KINDS)}")
        extra = set(d) - {"kind"} - _FIELDS[kind]
        if extra:
            raise SpecError(f"{where}: unknown key(s) {sorted(map(str, extra))} for a {kind} distribution; "
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


def _check_uniform(d: Dist):
    _need(d, "low", "high")
    _finite(d, "low", "high")
    if not d.low <= d.high:
        raise SpecError(f"uniform range is inverted: low={d.low} > high={d.high}")


def _check_normal(d: Dist):
    _need(d, "mean", "std")
    _finite(d, "mean", "std", *(k for k in ("low", "high") if getattr(d, k) is not None))
    if d.std <= 0:
        raise SpecError(f"normal std must be > 0, got {d.std}")
    if d.low is not None and d.high is not None and not d.low < d.high:
        raise SpecError(f"normal truncation range is inverted: low={d.low} >= high={d.high}")
    mass = _normal_mass(d)
    if mass < _MIN_TRUNCATED_MASS:
        raise SpecError(f"normal(mean={d.mean}, std={d.std}) has {mass:.2g} of its mass in [{d.low}, {d.high}] "
                        f"(at least {_MIN_TRUNCATED_MASS} needed); move the mean or widen the bounds")


def _normal_mass(d: Dist) -> float:
    """Probability that normal(mean, std) falls inside its truncation bounds."""
    def cdf(x):
        return 0.5 * (1.0 + math.erf((x - d.mean) / (d.std * math.sqrt(2.0))))
    return (1.0 if d.high is None else cdf(d.high)) - (0.0 if d.low is None else cdf(d.low))


def _check_choice(d: Dist):
    if d.values is not None:
        if not isinstance(d.values, tuple) or not d.values:
            raise SpecError(f"choice values must be a non-empty list, got {show_value(d.values)}")
        bad = [v for v in d.values if not (isinstance(v, str) or is_finite(v))]
        if bad:
            raise SpecError(f"choice values must be names or finite numbers, got {show_value(bad[0])}")
    if d.weights is None:
        return
    if d.values is None or not isinstance(d.weights, tuple) or len(d.weights) != len(d.values):
        n = "no values" if d.values is None else f"{len(d.values)} value(s)"
        raise SpecError(f"choice weights need one weight per value ({n}), got {show_value(d.weights)}")
    if not all(is_finite(w) for w in d.weights) or any(w < 0 for w in d.weights) \
            or not 0 < sum(d.weights) < math.inf:
        raise SpecError(f"choice weights must be finite numbers >= 0 with a positive sum, got {show_value(d.weights)}")


def _check_fixed(d: Dist):
    v = d.value
    if v is None:
        raise SpecError("fixed distribution needs a value")
    ok = isinstance(v, str) or is_finite(v) or (
        isinstance(v, tuple) and v and all(is_finite(x) for x in v))
    if not ok:
        raise SpecError(f"fixed value must be a name, a finite number or a list of finite numbers, got {show_value(v)}")


def _finite(d: Dist, *names):
    for n in names:
        v = getattr(d, n)
        if not is_finite(v):
            raise SpecError(f"{d.kind} {n} must be a finite number, got {show_value(v)}")


def is_finite(v) -> bool:
    """A real number, not a bool, neither nan nor +-inf (an int too big for a float is not finite)."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def show_value(v, limit: int = 60) -> str:
    """repr of a user value, shortened so an error stays one line."""
    try:
        r = repr(v)
    except ValueError:  # an integer too long to print
        r = f"<{type(v).__name__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v
