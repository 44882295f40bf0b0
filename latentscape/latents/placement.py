"""Where scene templates put the object (numpy only; docs/scenes.md).

* Grounded templates (hdri, ground, room): the object stands on a level ground seen from a
  camera pitched up by `camera_pitch`. Its pose is drawn level (a turn about the vertical, an
  optional tilt) and stored camera-frame: `stand_quat` turns the level pose into the stored
  rotation (relative to the canonical pose q0), so the stage's camera-frame placement puts the
  object's up axis along the world's vertical.
* A user's .blend: the position is a point of the region the file marks, given by fractions
  0..1 along the region box's three edges (`region_axes`, `region_point`).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from latentscape.latents import geometry as geo


def level_to_camera(camera_pitch: float) -> np.ndarray:
    """The asset-frame rotation (a quaternion) that tilts a level pose into the pitched camera's frame.

    In the camera frame the pitch turns the world by Rx(p); seen through ASSET_TO_CAMERA (which
    swaps y and z) that is a turn about the asset's x axis by -p."""
    return np.array([math.cos(-camera_pitch / 2), math.sin(-camera_pitch / 2), 0.0, 0.0])


def stand_quat(level_quat, q0, camera_pitch: float) -> np.ndarray:
    """The stored rotation (relative to q0) of an object posed `level_quat` on the ground, seen from a
    camera pitched by `camera_pitch`: q0^-1 * L(p) * level."""
    q0_inv = np.asarray(q0, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])
    return geo.quat_normalize(geo.quat_mul(q0_inv, geo.quat_mul(level_to_camera(camera_pitch), level_quat)))


def region_axes(corners) -> tuple[np.ndarray, np.ndarray]:
    """(origin, edges 3x3) of the box whose 8 corners are `corners` (any order): every corner is the
    origin plus a sum of a subset of the three edges."""
    c = np.asarray(corners, dtype=np.float64).reshape(8, 3)
    origin, rest = c[0], c[1:] - c[0]
    scale = max(float(np.abs(rest).max()), 1e-9)
    for trio in itertools.combinations(range(7), 3):
        edges = rest[list(trio)]
        sums = np.array([s @ edges for s in itertools.product((0, 1), repeat=3)])[1:]
        if all(np.abs(sums - r).max(axis=1).min() <= 1e-6 * scale for r in rest):
            return origin, edges
    raise ValueError(f"the region's 8 corners do not form a box: {c.tolist()}")


def region_point(axes: tuple[np.ndarray, np.ndarray], fractions) -> np.ndarray:
    """The point at `fractions` (three numbers in 0..1) along the region's edges (camera frame, metres)."""
    origin, edges = axes
    return origin + np.asarray(fractions, dtype=np.float64) @ edges
