"""Per-object convex hulls and mean colours: what the sampler needs to decide, before
anything is rendered, whether an object will be visible and stand out from its background.

A hull is stored in the resolved description as text (base64 of little-endian int16
coordinates in units of 1/QUANTUM of the canonical frame, whose longest side is 1), so
`latents` and `render` decide from the same numbers on every machine.
"""
from __future__ import annotations

import base64

import numpy as np

from latentscape.latents.geometry import support_hull

QUANTUM = 10_000  # 0.1 mm on a 1 m object
FALLBACK_COLOUR = (0.6, 0.6, 0.6)  # linear base colour the renderer gives a surface without a material
MAX_POINTS = 256


def hull_text(canonical_vertices: np.ndarray) -> str:
    """The stored hull of an object's vertices (already in the canonical frame)."""
    pts = support_hull(canonical_vertices)[:MAX_POINTS]
    q = np.clip(np.round(pts * QUANTUM), -32767, 32767).astype("<i2")
    return base64.b64encode(q.tobytes()).decode("ascii")


def hull_points(text: str) -> np.ndarray:
    """(k, 3) float64 hull vertices of a stored hull text."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii"), validate=True), dtype="<i2")
    if raw.size == 0 or raw.size % 3:
        raise ValueError(f"a stored hull must hold 3 coordinates per point, got {raw.size} numbers")
    return raw.reshape(-1, 3).astype(np.float64) / QUANTUM


def srgb_to_linear(c) -> np.ndarray:
    """sRGB-encoded values in 0..1 to linear."""
    c = np.asarray(c, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def colour_record(rgb) -> tuple[float, float, float]:
    """A mean linear colour as stored (3 decimals is well under one 8-bit sRGB step in the lights)."""
    return tuple(round(float(np.clip(x, 0.0, 1.0)), 4) for x in rgb)
