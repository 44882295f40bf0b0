"""Other categories: car (front at -Y) and tree."""
from __future__ import annotations

import numpy as np

from .primitives import (box_from, pick, catmull_rom, cylinder_between, lathe, cylinder, frustum, merge, rot_y, rounded_box, side_prism, sphere, torus)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def car(rng: np.random.Generator, variant: int | None = None):
    kind = pick(rng, ["sedan", "hatch", "suv", "van", "pickup"], variant)
    L = _u(rng, 3.8, 4.9)
    W = _u(rng, 1.65, 1.9)
    wr = _u(rng, 0.3, 0.38) * (1.1 if kind in ("suv", "pickup") else 1.0)
    clearance = _u(rng, 0.12, 0.2) * (1.5 if kind in ("suv", "pickup") else 1.0)
    body_h = _u(rng, 0.55, 0.7) * (1.15 if kind in ("suv", "van", "pickup") else 1.0)
    cab_h = _u(rng, 0.4, 0.55) * (1.3 if kind == "van" else 1.0)
    z0 = clearance
    z1 = z0 + body_h
    parts = [rounded_box((W, L, body_h), (0, 0, z0 + body_h / 2), _u(rng, 0.15, 0.3), 32, 16)]
    # cabin profile in (y, z); front of the car is -Y
    y_front, y_back = -L / 2, L / 2
    if kind == "sedan":
        a, b, c, d = -0.15, -0.02, 0.22, 0.33  # fractions of L: windscreen base/top, rear top/base
    elif kind == "hatch":
        a, b, c, d = -0.12, 0.02, 0.38, 0.47
    elif kind == "suv":
        a, b, c, d = -0.18, -0.05, 0.42, 0.47
    elif kind == "van":
        a, b, c, d = -0.42, -0.3, 0.47, 0.49
    else:  # pickup: cab only, open bed behind
        a, b, c, d = -0.15, -0.05, 0.05, 0.08
    jit = rng.uniform(-0.02, 0.02, size=4)
    a, b, c, d = a + jit[0], b + jit[1], c + jit[2], d + jit[3]
    cab = [(a * L, z1 - 0.02), (d * L, z1 - 0.02), (c * L, z1 + cab_h), (b * L, z1 + cab_h)]
    cw = W * _u(rng, 0.8, 0.9)
    parts.append(side_prism(cab, -cw / 2, cw / 2))
    if kind == "pickup":
        # bed walls: the body stays, add a tailgate rim
        # open load bed behind the cab: side walls and a tailgate rising above the body
        y0, y1 = d * L + 0.05, y_back - 0.05
        wall_h = 0.3
        for sx in (-1, 1):
            parts.append(box_from((sx * W * 0.47 - 0.03, y0, z1 - 0.15), (sx * W * 0.47 + 0.03, y1, z1 + wall_h)))
        parts.append(box_from((-W * 0.47, y1 - 0.06, z1 - 0.15), (W * 0.47, y1, z1 + wall_h)))
    # wheels: axes along X
    wb_front = y_front + _u(rng, 0.16, 0.22) * L
    wb_back = y_back - _u(rng, 0.16, 0.22) * L
    tw = _u(rng, 0.18, 0.25)
    for y in (wb_front, wb_back):
        for sx in (-1, 1):
            x = sx * (W / 2 - tw / 2 + 0.03)
            wheel = torus(wr - tw * 0.35, tw * 0.45, 32, 12).scaled((1, 1, tw / (tw * 0.9)))
            hub = cylinder(wr * 0.62, -tw / 2 + 0.01, tw / 2 - 0.01, 24)
            for g in (wheel, hub):
                parts.append(g.transformed(rot_y(np.pi / 2), (x, y, wr)))
    # headlights at the front (-Y)
    for sx in (-1, 1):
        parts.append(sphere(0.09, (sx * W * 0.33, y_front + 0.04, z0 + body_h * 0.7), 16, 8, scale=(1.4, 0.5, 0.6)))
    return merge(parts), True


def tree(rng: np.random.Generator, variant: int | None = None):
    kind = pick(rng, ["conifer", "deciduous", "round", "poplar"], variant)
    H = _u(rng, 3.0, 8.0)
    tr = H * _u(rng, 0.025, 0.045)
    parts = []
    if kind == "conifer":
        trunk_h = H * _u(rng, 0.12, 0.25)
        parts.append(frustum(tr * 1.3, tr * 0.7, 0, trunk_h + H * 0.1, 16))
        n = int(rng.integers(3, 6))
        R = H * _u(rng, 0.18, 0.28)
        zs = np.linspace(trunk_h, H * _u(rng, 0.55, 0.7), n)
        for k, z in enumerate(zs):
            rk = R * (1 - 0.6 * k / max(n - 1, 1))
            if k == n - 1:
                parts.append(frustum(rk, 0.0, z, H, 32))
            else:
                top = z + (H - z) * _u(rng, 0.4, 0.6)
                parts.append(frustum(rk, rk * 0.12, z, top, 32))
        return merge(parts), True
    if kind == "poplar":
        trunk_h = H * _u(rng, 0.15, 0.25)
        parts.append(frustum(tr * 1.2, tr * 0.6, 0, trunk_h + H * 0.2, 16))
        Rc = H * _u(rng, 0.1, 0.16)
        prof = catmull_rom([(0.5 * Rc, trunk_h), (Rc, trunk_h + 0.2 * (H - trunk_h)),
                            (0.85 * Rc, trunk_h + 0.6 * (H - trunk_h)), (0.3 * Rc, trunk_h + 0.93 * (H - trunk_h))], 6)
        parts.append(lathe([(0.0, trunk_h)] + [tuple(p) for p in prof] + [(0.0, H)], 32))
        return merge(parts), True
    trunk_h = H * _u(rng, 0.3, 0.45)
    R = (H - trunk_h) / 2 * (_u(rng, 0.9, 1.0) if kind == "round" else _u(rng, 0.75, 0.9))
    zc = H - R
    parts.append(frustum(tr * 1.4, tr * 0.6, 0, zc, 16))
    if kind == "round":
        parts.append(sphere(R, (0, 0, zc), 32, 16, scale=(1.0, 1.0, _u(rng, 0.8, 1.0))))
        return merge(parts), True
    # deciduous: branches ending in leaf clumps around a central crown
    n = int(rng.integers(4, 8))
    angs = rng.uniform(0, 2 * np.pi) + np.arange(n) * 2 * np.pi / n + rng.uniform(-0.3, 0.3, n)
    for a in angs:
        rr = R * _u(rng, 0.55, 0.85)
        cz = zc + R * _u(rng, -0.35, 0.45)
        p = np.array([rr * np.cos(a), rr * np.sin(a), cz])
        parts.append(cylinder_between((0, 0, trunk_h + 0.3 * (zc - trunk_h)), p, tr * 0.35, tr * 0.2, 8))
        parts.append(sphere(R * _u(rng, 0.4, 0.6), p, 24, 12))
    parts.append(sphere(R * 0.75, (0, 0, zc + 0.1 * R), 24, 12))
    return merge(parts), True
