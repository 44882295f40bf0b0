"""Mesh building blocks for the procedural object library (numpy only, no bpy).

Every constructor returns a `Geom`: a closed, consistently oriented triangle surface
(each edge used by exactly two faces, normals pointing outward). Assemblies are
made by `merge`, which concatenates parts without welding, so every part stays a
closed surface on its own; overlapping parts are fine for rendering.

Conventions: +Z is up, lengths are in arbitrary units (objects are normalised later),
profiles for `lathe` are lists of (radius, z) points.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True, eq=False)
class Geom:
    """A bare triangle surface: vertices (V, 3) float64 and faces (F, 3) int64."""

    vertices: np.ndarray
    faces: np.ndarray

    # --- transforms (each returns a new Geom) -------------------------------------
    def transformed(self, matrix: np.ndarray, offset: Sequence[float] = (0.0, 0.0, 0.0)) -> "Geom":
        """Apply v -> matrix @ v + offset; faces are flipped when det(matrix) < 0."""
        m = np.asarray(matrix, dtype=np.float64)
        v = self.vertices @ m.T + np.asarray(offset, dtype=np.float64)
        f = self.faces[:, ::-1].copy() if np.linalg.det(m) < 0 else self.faces
        return Geom(v, f)

    def translated(self, offset: Sequence[float]) -> "Geom":
        return Geom(self.vertices + np.asarray(offset, dtype=np.float64), self.faces)

    def scaled(self, s) -> "Geom":
        s = np.broadcast_to(np.asarray(s, dtype=np.float64), (3,))
        return self.transformed(np.diag(s))

    def rotated(self, matrix: np.ndarray) -> "Geom":
        return self.transformed(matrix)

    def mirrored_x(self) -> "Geom":
        return self.scaled((-1.0, 1.0, 1.0))


# --- rotation helpers ----------------------------------------------------------------
def rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def rot_z_to(direction: Sequence[float]) -> np.ndarray:
    """Rotation taking +Z onto `direction` (Rodrigues)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    z = np.array([0.0, 0.0, 1.0])
    c = float(np.dot(z, d))
    if c > 1 - 1e-12:
        return np.eye(3)
    if c < -1 + 1e-12:
        return rot_x(np.pi)
    k = np.cross(z, d)
    s = np.linalg.norm(k)
    k = k / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * (kx @ kx)


# --- orientation ---------------------------------------------------------------------
def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def _oriented(v: np.ndarray, f: np.ndarray) -> Geom:
    v = np.ascontiguousarray(v, dtype=np.float64)
    f = np.ascontiguousarray(f, dtype=np.int64)
    if signed_volume(v, f) < 0:
        f = np.ascontiguousarray(f[:, ::-1])
    return Geom(v, f)


def merge(parts: Iterable[Geom]) -> Geom:
    """Concatenate parts with index offsets (no welding)."""
    vs, fs, n = [], [], 0
    for p in parts:
        vs.append(p.vertices)
        fs.append(p.faces + n)
        n += len(p.vertices)
    return Geom(np.concatenate(vs), np.concatenate(fs))


# --- surfaces of revolution ------------------------------------------------------------
def lathe(profile: Sequence[Sequence[float]], segments: int = 48, closed: bool = False) -> Geom:
    """Surface of revolution about +Z from a 2D profile of (radius, z) points.

    Open profile (default): the ends are closed at the axis; an end with radius > 0 gets an
    extra axis point at the same z (a flat cap). Radius 0 is only allowed at the ends.
    Closed profile (`closed=True`): the profile is a loop with all radii > 0, giving a
    ring (torus-like) surface, e.g. a lamp shade with wall thickness.
    """
    p = [(float(r), float(z)) for r, z in profile]
    # drop consecutive duplicates
    q = [p[0]]
    for pt in p[1:]:
        if abs(pt[0] - q[-1][0]) > 1e-12 or abs(pt[1] - q[-1][1]) > 1e-12:
            q.append(pt)
    p = q
    if closed:
        if abs(p[0][0] - p[-1][0]) < 1e-12 and abs(p[0][1] - p[-1][1]) < 1e-12:
            p = p[:-1]
        if min(r for r, _ in p) <= 0:
            raise ValueError("closed lathe profile must stay off the axis")
    else:
        if p[0][0] > 0:
            p.insert(0, (0.0, p[0][1]))
        if p[-1][0] > 0:
            p.append((0.0, p[-1][1]))
        if any(r <= 0 for r, _ in p[1:-1]):
            raise ValueError("radius 0 is only allowed at the ends of an open profile")
    n = segments
    ang = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    cs, sn = np.cos(ang), np.sin(ang)
    verts: list[np.ndarray] = []
    rows: list[object] = []  # int (axis vertex) or np.ndarray of ring indices
    count = 0
    for r, z in p:
        if r <= 0:
            verts.append(np.array([[0.0, 0.0, z]]))
            rows.append(count)
            count += 1
        else:
            verts.append(np.stack([r * cs, r * sn, np.full(n, z)], axis=1))
            rows.append(np.arange(count, count + n))
            count += n
    faces = []
    pairs = list(zip(rows[:-1], rows[1:]))
    if closed:
        pairs.append((rows[-1], rows[0]))
    for a, b in pairs:
        if isinstance(a, (int, np.integer)):
            b1 = np.roll(b, -1)
            faces.append(np.stack([np.full(n, a), b1, b], axis=1))
        elif isinstance(b, (int, np.integer)):
            a1 = np.roll(a, -1)
            faces.append(np.stack([a, a1, np.full(n, b)], axis=1))
        else:
            a1, b1 = np.roll(a, -1), np.roll(b, -1)
            faces.append(np.stack([a, a1, b1], axis=1))
            faces.append(np.stack([a, b1, b], axis=1))
    return _oriented(np.concatenate(verts), np.concatenate(faces))


def frustum(r0: float, r1: float, z0: float, z1: float, segments: int = 32) -> Geom:
    """Capped cylinder / cone frustum along Z from z0 (radius r0) to z1 (radius r1)."""
    return lathe([(0, z0), (r0, z0), (r1, z1), (0, z1)], segments)


def cylinder(radius: float, z0: float, z1: float, segments: int = 32) -> Geom:
    return frustum(radius, radius, z0, z1, segments)


def cylinder_between(p0: Sequence[float], p1: Sequence[float], r0: float, r1: float | None = None,
                     segments: int = 16) -> Geom:
    """Capped cylinder (or frustum) from point p0 to point p1."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    length = float(np.linalg.norm(d))
    g = frustum(r0, r0 if r1 is None else r1, 0.0, length, segments)
    return g.transformed(rot_z_to(d), p0)


def sphere(radius: float = 1.0, center: Sequence[float] = (0, 0, 0), segments: int = 32,
           rings: int = 16, scale: Sequence[float] = (1, 1, 1)) -> Geom:
    """UV sphere (or ellipsoid via `scale`)."""
    th = np.linspace(0.0, np.pi, rings + 1)
    prof = [(radius * np.sin(t), -radius * np.cos(t)) for t in th]
    prof[0] = (0.0, -radius)
    prof[-1] = (0.0, radius)
    return lathe(prof, segments).scaled(scale).translated(center)


def torus(major: float, minor: float, segments: int = 48, tube_segments: int = 12) -> Geom:
    """Torus around +Z in the XY plane."""
    t = np.linspace(0, 2 * np.pi, tube_segments, endpoint=False)
    return lathe([(major + minor * np.cos(a), minor * np.sin(a)) for a in t], segments, closed=True)


# --- boxes ------------------------------------------------------------------------------
_BOX_FACES = np.array([
    [0, 2, 1], [0, 3, 2],  # bottom
    [4, 5, 6], [4, 6, 7],  # top
    [0, 1, 5], [0, 5, 4],
    [1, 2, 6], [1, 6, 5],
    [2, 3, 7], [2, 7, 6],
    [3, 0, 4], [3, 4, 7],
], dtype=np.int64)


def box(size: Sequence[float], center: Sequence[float] = (0, 0, 0)) -> Geom:
    """Axis-aligned box with sides `size` centred at `center`."""
    sx, sy, sz = (0.5 * float(s) for s in size)
    v = np.array([[-sx, -sy, -sz], [sx, -sy, -sz], [sx, sy, -sz], [-sx, sy, -sz],
                  [-sx, -sy, sz], [sx, -sy, sz], [sx, sy, sz], [-sx, sy, sz]])
    return _oriented(v + np.asarray(center, float), _BOX_FACES)


def box_from(lo: Sequence[float], hi: Sequence[float]) -> Geom:
    """Axis-aligned box between corners lo and hi."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return box(hi - lo, (lo + hi) / 2)


def box_between(p0: Sequence[float], p1: Sequence[float], width: float, depth: float | None = None) -> Geom:
    """Square-section beam from p0 to p1 (for splayed legs)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    length = float(np.linalg.norm(d))
    g = box((width, width if depth is None else depth, length), (0, 0, length / 2))
    # frame with local Z along the beam and local X kept horizontal (no arbitrary roll)
    z = d / length
    x = np.cross((0.0, 0.0, 1.0), z)
    if np.linalg.norm(x) < 1e-9:
        x = np.array([1.0, 0.0, 0.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    return g.transformed(np.column_stack([x, y, z]), p0)


def rounded_box(size: Sequence[float], center: Sequence[float] = (0, 0, 0), roundness: float = 0.3,
                segments: int = 32, rings: int = 16) -> Geom:
    """Superellipsoid 'cushion': a sphere pushed towards a box; roundness in (0, 1]
    (1 = ellipsoid, small = nearly a box)."""
    e = float(np.clip(roundness, 0.05, 1.0))
    g = sphere(1.0, segments=segments, rings=rings)
    v = np.sign(g.vertices) * np.abs(g.vertices) ** e
    v = v * (0.5 * np.asarray(size, float)) + np.asarray(center, float)
    return _oriented(v, g.faces)


def prism(polygon: Sequence[Sequence[float]], z0: float, z1: float) -> Geom:
    """Extrude a convex 2D polygon (x, y) along Z from z0 to z1 (capped, centroid fans)."""
    p = np.asarray(polygon, float)
    n = len(p)
    c = p.mean(axis=0)
    bot = np.column_stack([p, np.full(n, z0)])
    top = np.column_stack([p, np.full(n, z1)])
    v = np.vstack([bot, top, [[c[0], c[1], z0], [c[0], c[1], z1]]])
    i = np.arange(n)
    j = (i + 1) % n
    cb, ct = 2 * n, 2 * n + 1
    f = np.vstack([
        np.stack([np.full(n, cb), j, i], axis=1),
        np.stack([np.full(n, ct), i + n, j + n], axis=1),
        np.stack([i, j, j + n], axis=1),
        np.stack([i, j + n, i + n], axis=1),
    ])
    return _oriented(v, f)


def side_prism(polygon_yz: Sequence[Sequence[float]], x0: float, x1: float) -> Geom:
    """Extrude a convex polygon given in the (y, z) plane along X from x0 to x1."""
    g = prism(polygon_yz, x0, x1)
    # (a, b, c) = (y, z, x)  ->  (x, y, z) = (c, a, b)
    m = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], dtype=np.float64)
    return g.transformed(m)


# --- sweeps -------------------------------------------------------------------------------
def tube(path: Sequence[Sequence[float]], radius, segments: int = 12, closed: bool = False) -> Geom:
    """Sweep a circle along a 3D polyline (parallel-transport frames); open paths are capped.

    `radius` may be a scalar or one value per path point.
    """
    P = np.asarray(path, float)
    m = len(P)
    R = np.broadcast_to(np.asarray(radius, float), (m,))
    if closed:
        T = np.roll(P, -1, axis=0) - np.roll(P, 1, axis=0)
    else:
        T = np.gradient(P, axis=0)
    T = T / np.linalg.norm(T, axis=1, keepdims=True)
    # initial normal: any vector perpendicular to T[0]
    a = np.array([1.0, 0, 0]) if abs(T[0][0]) < 0.9 else np.array([0, 1.0, 0])
    N = [np.cross(T[0], a)]
    N[0] /= np.linalg.norm(N[0])
    for k in range(1, m):
        nk = N[-1] - np.dot(N[-1], T[k]) * T[k]
        N.append(nk / np.linalg.norm(nk))
    N = np.array(N)
    B = np.cross(T, N)
    ang = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = (np.cos(ang)[None, :, None] * N[:, None, :] + np.sin(ang)[None, :, None] * B[:, None, :])
    V = (P[:, None, :] + R[:, None, None] * ring).reshape(-1, 3)
    s = segments
    idx = np.arange(m * s).reshape(m, s)
    faces = []
    nseg = m if closed else m - 1
    for k in range(nseg):
        a0, b0 = idx[k], idx[(k + 1) % m]
        a1, b1 = np.roll(a0, -1), np.roll(b0, -1)
        faces.append(np.stack([a0, a1, b1], axis=1))
        faces.append(np.stack([a0, b1, b0], axis=1))
    verts = [V]
    if not closed:
        c0, c1 = m * s, m * s + 1
        verts.append(np.vstack([P[0], P[-1]]))
        a0, a1 = idx[0], np.roll(idx[0], -1)
        faces.append(np.stack([np.full(s, c0), a1, a0], axis=1))
        b0, b1 = idx[-1], np.roll(idx[-1], -1)
        faces.append(np.stack([np.full(s, c1), b0, b1], axis=1))
    return _oriented(np.vstack(verts), np.concatenate(faces))


# --- curves -------------------------------------------------------------------------------
def catmull_rom(points: Sequence[Sequence[float]], samples_per_segment: int = 8) -> np.ndarray:
    """Uniform Catmull-Rom spline through 2D/3D control points (endpoints included)."""
    P = np.asarray(points, float)
    ext = np.vstack([2 * P[0] - P[1], P, 2 * P[-1] - P[-2]])
    out = []
    t = np.linspace(0, 1, samples_per_segment, endpoint=False)[:, None]
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        out.append(0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3))
    out.append(P[-1:])
    return np.vstack(out)


def hollow_profile(outer: Sequence[Sequence[float]], wall: float, bottom: float,
                   min_radius: float | None = None) -> list[tuple[float, float]]:
    """Profile of an open-topped vessel with wall thickness for `lathe`.

    `outer` is the outside silhouette as (r, z) points from the bottom (z increasing) to
    the rim. The result goes bottom axis -> outside -> rim -> inside -> inner bottom axis
    (at z = z_bottom + bottom), so `lathe` gives one closed surface.
    """
    o = np.asarray(outer, float)
    z_in = o[0, 1] + bottom
    floor_r = min_radius if min_radius is not None else 0.25 * wall
    inner = []
    for r, z in o[::-1]:
        if z <= z_in + 1e-9:
            break
        inner.append((max(r - wall, floor_r), z))
    r_at = float(np.interp(z_in, o[:, 1], o[:, 0]))
    inner.append((max(r_at - wall, floor_r), z_in))
    prof = [(0.0, float(o[0, 1]))] + [(float(r), float(z)) for r, z in o] + inner + [(0.0, z_in)]
    return prof


def pick(rng: np.random.Generator, options: Sequence, variant: int | None = None):
    """The instance's main style: options[variant % n] when a variant index is given (so the
    instances of a category cycle through all styles), otherwise a random choice."""
    if variant is None:
        return options[int(rng.integers(len(options)))]
    return options[int(variant) % len(options)]
