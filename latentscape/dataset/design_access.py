"""Design coordinates of a stored dataset (no torch): which image a grid point, sweep level or pair is."""
from __future__ import annotations

import numpy as np

from latentscape.errors import TargetError


def design_of(manifest: dict) -> dict | None:
    """The design document (`spec.design`) a dataset was made with, or None (i.i.d. draws)."""
    return manifest.get("resolved", {}).get("spec", {}).get("design")


def grid_index(design: dict | None, **levels: int) -> int:
    """The global index of the grid image at these level indices (every grid latent named once)."""
    if not design or design.get("kind") != "grid":
        raise TargetError(f"grid_index needs a grid dataset; this one is {_kind(design)}")
    names = list(design["levels"])
    if sorted(levels) != sorted(names):
        raise TargetError(f"give a level index for each grid latent: {', '.join(names)}; got {', '.join(levels) or 'none'}")
    counts = [len(design["levels"][k]) for k in names]
    for k, c in zip(names, counts):
        v = levels[k]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= v < c:
            raise TargetError(f"level index {k}={v!r} out of range 0..{c - 1}")
    return int(np.ravel_multi_index([int(levels[k]) for k in names], counts))


def sweep_index(design: dict | None, base: int, level: int) -> int:
    """The global index of sweep base `base` at level index `level`."""
    if not design or design.get("kind") != "sweep":
        raise TargetError(f"sweep_index needs a sweep dataset; this one is {_kind(design)}")
    count = len(next(iter(design["levels"].values())))
    if not 0 <= level < count or not 0 <= base < design["n_base"]:
        raise TargetError(f"sweep base {base} / level {level} out of range (0..{design['n_base'] - 1} / 0..{count - 1})")
    return base * count + level


def _kind(design) -> str:
    return f"a {design['kind']} design" if design else "i.i.d. (no design)"
