"""Objects standing on a level ground seen from a pitched camera (numpy only; docs/scenes.md).

Camera frame as everywhere: x right, y up in the image, z away from the camera, metres. The
camera is `camera_height` metres above a level ground and pitched up by `camera_pitch`
radians, so in the camera frame the world's up direction is n = (0, cos p, sin p) and the
ground is the plane n . X = -camera_height.
"""
from __future__ import annotations

import math

import numpy as np


def up_vector(camera_pitch: float) -> np.ndarray:
    """The world's up direction in the camera frame of a camera pitched up by `camera_pitch`."""
    return np.array([0.0, math.cos(camera_pitch), math.sin(camera_pitch)])


def heights(points, camera_height: float, camera_pitch: float) -> np.ndarray:
    """Height above the ground (metres) of camera-frame points (k, 3)."""
    return np.asarray(points, dtype=np.float64) @ up_vector(camera_pitch) + camera_height


def resting_y(points, z: float, camera_height: float, camera_pitch: float) -> float:
    """The position's y that makes the object's lowest point touch the ground.

    `points` (k, 3): the object's points (its hull) in the camera frame relative to its
    position, i.e. after rotation and scale; `z`: the position's depth. The position's x does
    not matter: the ground is level across the image.
    """
    if not abs(camera_pitch) < math.pi / 2:
        raise ValueError(f"camera_pitch must lie in (-pi/2, pi/2), got {camera_pitch}")
    n = up_vector(camera_pitch)
    lowest = float((np.asarray(points, dtype=np.float64) @ n).min())
    return (-camera_height - n[2] * z - lowest) / n[1]


def horizon_v(camera_pitch: float, fov_deg: float) -> float:
    """The horizon's image height v in [-1, 1] units (+1 = top edge): below the centre when looking up."""
    return -math.tan(camera_pitch) / math.tan(math.radians(fov_deg) / 2)
