"""Seeds of the analyses: every random draw takes a numpy Generator made from an explicit seed."""
from __future__ import annotations

import numpy as np

from latentscape.errors import AnalysisError


def as_generator(seed, what: str = "seed") -> np.random.Generator:
    """A Generator as given, or default_rng(seed) for an int (None: 0)."""
    if seed is None:
        return np.random.default_rng(0)
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise AnalysisError(f"{what} must be a numpy.random.Generator, an int seed or None, got {seed!r}")
