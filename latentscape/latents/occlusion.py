"""Predicted occlusion of the target by distractors, decided before rendering (numpy only).

Each object's convex hull (its stored hull points, posed and projected) is rasterised at
`RASTER` x `RASTER` over the image; objects are ordered by the distance of their centres from
the camera (their bounding spheres never intersect, so the nearer centre is in front). The
prediction is the share of the target's hull pixels covered by the hull of a nearer
distractor. The renderer measures the same share from masks (docs/scenes.md, "Clutter and
occlusion"); hulls over-cover non-convex objects, so the two differ a little.
"""
from __future__ import annotations

import numpy as np

from latentscape.latents import geometry as geo

RASTER = 64  # pixels per side of the prediction's raster


def pixel_centres(res: int = RASTER) -> np.ndarray:
    """(res*res, 2) image coordinates (u right, v up, in [-1, 1]) of the pixel centres, row 0 at the top."""
    c = (np.arange(res) + 0.5) / res * 2.0 - 1.0
    u, v = np.meshgrid(c, -c)
    return np.stack([u.ravel(), v.ravel()], axis=1)


def hull_mask(camera_points: np.ndarray, fov_deg: float, res: int = RASTER) -> np.ndarray:
    """(res, res) bool: the pixels whose centre lies in the projected convex hull of camera-frame
    points (all in front of the camera); empty for a hull seen edge-on."""
    from scipy.spatial import ConvexHull, QhullError
    xy = geo.project(np.asarray(camera_points, dtype=np.float64), fov_deg)
    try:
        eq = ConvexHull(xy).equations  # a.x + b.y + c <= 0 inside
    except (QhullError, ValueError):
        return np.zeros((res, res), dtype=bool)
    p = pixel_centres(res)
    inside = (p @ eq[:, :2].T + eq[:, 2] <= 1e-12).all(axis=1)
    return inside.reshape(res, res)


def predicted_occlusion(target_points: np.ndarray, target_centre, others, fov_deg: float,
                        res: int = RASTER) -> float:
    """Share of the target's hull pixels covered by nearer distractors' hulls (0 with none in front).

    `others`: (camera-frame hull points, centre) per distractor."""
    target = hull_mask(target_points, fov_deg, res)
    covered = target.sum()
    if not covered:
        return 0.0
    near = float(np.linalg.norm(target_centre))
    front = np.zeros_like(target)
    for points, centre in others:
        if float(np.linalg.norm(centre)) < near:
            front |= hull_mask(points, fov_deg, res)
    return float((target & front).sum() / covered)
