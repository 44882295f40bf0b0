"""Rotation maths and the pinhole camera, in numpy only.

Frames (see docs/latents.md):
- asset frame: right-handed, up +Z, front facing -Y, centred on the box centre;
- camera frame: x right in the image, y up, z away from the camera (metres).
At the canonical pose the object faces the camera: asset X -> camera x,
asset Z -> camera y, asset Y -> camera z (so the front, -Y, looks at the camera).
Poses are rotations of the asset frame, applied before that fixed mapping.
"""
from __future__ import annotations

import numpy as np

# Maps canonical asset coordinates to camera-frame coordinates.
ASSET_TO_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
NEAR = 0.05


def quat_normalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) with w >= 0 (sign-canonical)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q)
    return -q if q[0] < 0 else q


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a * b of quaternions (w, x, y, z): the rotation b, then a."""
    w1, x1, y1, z1 = np.asarray(a, dtype=np.float64)
    w2, x2, y2, z2 = np.asarray(b, dtype=np.float64)
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


# Named canonical poses (`canonical_pose` of a spec): (azimuth, elevation) in degrees.
# front: the asset's front faces the camera head-on (latentscape < 0.3, and the seed paper's);
# three_quarter: turned 30 deg and seen from 20 deg above, so flat and thin objects (a plate, a
# knife, a rug) are not seen edge-on.
CANONICAL_VIEWS = {"front": (0.0, 0.0), "three_quarter": (30.0, 20.0)}


def canonical_quat(name: str) -> np.ndarray:
    """q0 of a named canonical pose (CANONICAL_VIEWS)."""
    return view_quat(*CANONICAL_VIEWS[name])


def view_quat(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """The canonical pose seen from `azimuth_deg` to the side and `elevation_deg` above: the
    object turned about its up axis (+Z) by the azimuth, then tilted about the right axis (+X)
    by the elevation so its top leans toward the camera. R = Rx(elevation) @ Rz(azimuth)."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    rz = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(e), -np.sin(e)], [0.0, np.sin(e), np.cos(e)]])
    return matrix_to_quat(rx @ rz)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices of quaternions (w, x, y, z), normalised first: (..., 4) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Sign-canonical unit quaternion (w, x, y, z) of a rotation matrix."""
    m = np.asarray(m, dtype=np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    return quat_normalize(np.array(q))


def euler_to_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(yaw) @ Rx(pitch) @ Ry(roll) in the asset frame.

    yaw turns about the object's up axis (+Z), pitch about its right axis (+X),
    roll about its front-back axis (+Y); positive is counter-clockwise looking
    down the positive axis towards the origin (right-hand rule).
    """
    ca, sa = np.cos(yaw), np.sin(yaw)
    cb, sb = np.cos(pitch), np.sin(pitch)
    cc, sc = np.cos(roll), np.sin(roll)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1.0]])
    rx = np.array([[1.0, 0, 0], [0, cb, -sb], [0, sb, cb]])
    ry = np.array([[cc, 0, sc], [0, 1.0, 0], [-sc, 0, cc]])
    return rz @ rx @ ry


def matrix_to_euler(m: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) with pitch in [-pi/2, pi/2], inverse of euler_to_matrix."""
    m = np.asarray(m, dtype=np.float64)
    pitch = np.arcsin(np.clip(m[2, 1], -1.0, 1.0))
    if abs(m[2, 1]) < 1 - 1e-9:
        yaw = np.arctan2(-m[0, 1], m[1, 1])
        roll = np.arctan2(-m[2, 0], m[2, 2])
    else:  # gimbal lock: put everything in yaw
        yaw = np.arctan2(m[1, 0], m[0, 0])
        roll = 0.0
    return np.array([yaw, pitch, roll])


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    """Haar-uniform random rotation as a sign-canonical quaternion."""
    return quat_normalize(rng.standard_normal(4))


def rotation_angle(q: np.ndarray) -> float:
    """Angle in [0, pi] of the rotation a quaternion represents."""
    return 2.0 * np.arccos(np.clip(abs(quat_normalize(q)[0]), 0.0, 1.0))


def box_corners(extents: np.ndarray) -> np.ndarray:
    """8x3 corners of a box of side lengths `extents` centred at the origin."""
    half = np.asarray(extents, dtype=np.float64) / 2.0
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    return signs * half


def object_points_camera(points: np.ndarray, position, quat, scale: float) -> np.ndarray:
    """Asset-frame points of an object at (position, quat, scale) in camera frame."""
    rot = ASSET_TO_CAMERA @ quat_to_matrix(quat)
    return np.asarray(position, dtype=np.float64) + (scale * np.asarray(points)) @ rot.T


def project(points: np.ndarray, fov_deg: float) -> np.ndarray:
    """Pinhole projection of camera-frame points to image coords in [-1, 1] (u right, v up)."""
    t = np.tan(np.radians(fov_deg) / 2.0)
    points = np.atleast_2d(points)
    return points[:, :2] / (points[:, 2:3] * t)


def ray_direction(u: float, v: float, fov_deg: float) -> np.ndarray:
    """Unit camera-frame direction through image coords (u, v)."""
    t = np.tan(np.radians(fov_deg) / 2.0)
    d = np.array([u * t, v * t, 1.0])
    return d / np.linalg.norm(d)


def in_frame(extents, position, quat, scale, fov_deg: float, margin: float) -> bool:
    """True if the object's projected bounding box lies inside the frame.

    `margin` is a fraction of the image side kept free at every edge.
    """
    corners = object_points_camera(box_corners(extents), position, quat, scale)
    return corners_in_frame(corners, frame_limit(fov_deg, margin))


def frame_limit(fov_deg: float, margin: float) -> float:
    """|x| / z (and |y| / z) allowed for a point kept `margin` of the image side from the edges."""
    return (1.0 - 2.0 * margin) * np.tan(np.radians(fov_deg) / 2.0)


def corners_in_frame(points: np.ndarray, limit: float) -> bool:
    """The in-frame rule: every camera-frame point is beyond NEAR and projects within `limit`."""
    z = points[:, 2]
    return bool(z.min() > NEAR and (np.abs(points[:, :2]) <= limit * z[:, None]).all())


# ---- convex hulls: what decides visibility before rendering -----------------------------
HULL_DIRECTIONS = 64  # a hull keeps the extreme vertex in each of these directions and the 6 axes (<= 70 points)


def sphere_directions(n: int = HULL_DIRECTIONS) -> np.ndarray:
    """n unit vectors spread evenly over the sphere (a Fibonacci lattice; fixed, no randomness)."""
    k = np.arange(n, dtype=np.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (1.0 + 5.0 ** 0.5) * k
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def support_hull(points: np.ndarray, n: int = HULL_DIRECTIONS) -> np.ndarray:
    """The vertices of `points` that are extreme in one of `n` fixed directions, plus the six
    axis directions (so the bounding box is kept), in first-found order: at most n + 6 points
    whose convex hull lies inside the points' hull and touches it in every one of those directions."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    dirs = np.concatenate([np.vstack([np.eye(3), -np.eye(3)]), sphere_directions(n)])
    idx = np.argmax(p @ dirs.T, axis=0)
    _, first = np.unique(idx, return_index=True)
    return p[idx[np.sort(first)]]


def hull_area_2d(xy: np.ndarray) -> float:
    """Area of the convex hull of 2-D points; 0 for fewer than 3 distinct or collinear points."""
    from scipy.spatial import ConvexHull, QhullError
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 3:
        return 0.0
    try:
        return float(ConvexHull(pts).volume)  # a 2-D hull's "volume" is its area
    except QhullError:  # all on one line (seen edge-on), or fewer than 3 distinct points
        return 0.0


def visible_fraction(camera_points: np.ndarray, fov_deg: float) -> float:
    """Share of the image covered by the projection of the convex hull of camera-frame points
    (all in front of the camera): the object's silhouette share if it is convex, an upper bound
    otherwise (and the exact share of its hull's silhouette: nothing in the studio occludes it)."""
    return hull_area_2d(project(camera_points, fov_deg)) / 4.0  # the image spans [-1, 1]^2
