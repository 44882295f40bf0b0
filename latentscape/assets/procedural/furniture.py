"""Furniture categories built from boxes, cylinders and cushions: bed, bench, bookcase,
chair, lamp, sofa, stool, table.

Front faces -Y (the side a person sits down from / looks at), backs are at +Y, +Z is up.
Each builder takes a numpy Generator and returns (Geom, smooth).
"""
from __future__ import annotations

import numpy as np

from .primitives import (pick, box, box_between, catmull_rom, cylinder, cylinder_between, frustum,
                         lathe, merge, rounded_box, sphere, torus)


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _leg(rng, p_top, p_bottom, w, round_legs, taper=1.0):
    if round_legs:
        return cylinder_between(p_bottom, p_top, 0.5 * w * taper, 0.5 * w, segments=16)
    return box_between(p_bottom, p_top, w)


def chair(rng: np.random.Generator, variant: int | None = None):
    w, d = _u(rng, 0.4, 0.52), _u(rng, 0.4, 0.5)
    sh = _u(rng, 0.42, 0.48)
    st = _u(rng, 0.025, 0.05)
    lw = _u(rng, 0.03, 0.05)
    round_legs = rng.random() < 0.4
    taper = _u(rng, 0.6, 1.0) if round_legs else 1.0
    bh = _u(rng, 0.35, 0.55)  # back height above the seat
    splay = _u(rng, 0.0, 0.03)
    parts = []
    cushion = rng.random() < 0.35
    if cushion:
        parts.append(box((w, d, st * 0.6), (0, 0, sh - st * 0.7)))
        parts.append(rounded_box((w * 0.96, d * 0.96, st * 1.2), (0, -0.01, sh), 0.35, 24, 12))
    else:
        parts.append(box((w, d, st), (0, 0, sh - st / 2)))
    xs, ys = 0.5 * w - lw / 2, 0.5 * d - lw / 2
    for sx in (-1, 1):
        for sy in (-1, 1):
            top = (sx * xs, sy * ys, sh - st)
            bottom = (sx * (xs + splay), sy * (ys + splay), 0.0)
            parts.append(_leg(rng, top, bottom, lw, round_legs, taper))
    # back posts: continue the back legs upward, slightly reclined
    recline = _u(rng, 0.0, 0.08)
    post_w = lw * 0.9
    for sx in (-1, 1):
        parts.append(_leg(rng, (sx * xs, ys + recline, sh + bh), (sx * xs, ys, sh - st), post_w, round_legs))
    style = pick(rng, ["panel", "slats", "rails", "ladder"], variant)
    inner = 2 * xs - post_w
    if style == "panel":
        ph = bh * _u(rng, 0.5, 0.9)
        parts.append(box((inner + 0.002, post_w * 0.7, ph), (0, ys + recline * (1 - 0.5 * ph / bh), sh + bh - ph / 2)))
    elif style == "slats":
        n = int(rng.integers(3, 6))
        parts.append(box((inner + 0.002, post_w, 0.05), (0, ys + recline, sh + bh - 0.03)))
        sw = inner / (2 * n)
        for x in np.linspace(-inner / 2 + sw, inner / 2 - sw, n):
            parts.append(box_between((x, ys + 0.1 * recline, sh + 0.04), (x, ys + 0.95 * recline, sh + bh - 0.03),
                                     sw, post_w * 0.5))
    else:
        n = int(rng.integers(2, 5)) if style == "rails" else int(rng.integers(3, 6))
        rh = 0.06 if style == "rails" else 0.03
        for z in np.linspace(sh + 0.12 * bh, sh + bh - rh / 2, n):
            frac = (z - sh) / bh
            parts.append(box((inner + 0.002, post_w * 0.6, rh), (0, ys + recline * frac, z)))
    if rng.random() < 0.35:  # arm rests
        ah = _u(rng, 0.18, 0.25)
        for sx in (-1, 1):
            parts.append(box_between((sx * xs, -ys, sh - st), (sx * xs, -ys, sh + ah), lw * 0.8))
            parts.append(box((lw * 1.2, d + 0.02, 0.025), (sx * xs, 0.01, sh + ah)))
    if rng.random() < 0.4:  # stretchers
        z = _u(rng, 0.1, 0.2)
        for sx in (-1, 1):
            parts.append(box((lw * 0.5, 2 * ys, lw * 0.5), (sx * (xs + splay * (1 - z / sh)), 0, z)))
    return merge(parts), False


def table(rng: np.random.Generator, variant: int | None = None):
    """Dining / desk-height table (0.7-0.78)."""
    return _table(rng, variant, "dining")


def coffee_table(rng: np.random.Generator, variant: int | None = None):
    """Low tables: coffee tables and small side / bedside tables."""
    return _table(rng, variant // 3 if variant is not None else None, pick(rng, ["coffee", "coffee", "side"], variant))


def _table(rng: np.random.Generator, variant: int | None, kind: str):
    if kind == "dining":
        height = _u(rng, 0.7, 0.78)
    elif kind == "coffee":
        height = _u(rng, 0.35, 0.48)
    else:
        height = _u(rng, 0.45, 0.6)
    shape = pick(rng, ["rect", "square", "round"], variant)
    if shape == "rect":
        W = _u(rng, 1.0, 1.8)
        D = max(0.6, W * _u(rng, 0.45, 0.7))
    elif shape == "square":
        W = D = _u(rng, 0.6, 1.0)
    else:
        W = D = _u(rng, 0.6, 1.2)
    if kind == "side":
        W, D = W * 0.5, D * 0.6
    elif kind == "coffee" and shape == "rect":
        W, D = W * 0.8, D * 0.85
    tt = _u(rng, 0.025, 0.05)
    parts = []
    if shape == "round":
        parts.append(cylinder(W / 2, height - tt, height, 48))
    else:
        parts.append(box((W, D, tt), (0, 0, height - tt / 2)))
    support = rng.choice(["legs", "pedestal"] if shape != "rect" else ["legs", "legs", "trestle"])
    lw = _u(rng, 0.04, 0.07)
    round_legs = rng.random() < 0.5
    zt = height - tt
    if support == "legs":
        if shape == "round":
            n = int(rng.choice([3, 4]))
            rr = W / 2 * _u(rng, 0.6, 0.8)
            angs = np.pi / 2 + np.arange(n) * 2 * np.pi / n + (np.pi / 4 if n == 4 else 0)
            splay = _u(rng, 0.0, 0.06)
            for a in angs:
                c, s = np.cos(a), np.sin(a)
                parts.append(_leg(rng, (rr * c, rr * s, zt), ((rr + splay) * c, (rr + splay) * s, 0), lw,
                                  round_legs, 0.7))
        else:
            inset = _u(rng, 0.02, 0.08)
            xs, ys = W / 2 - inset - lw / 2, D / 2 - inset - lw / 2
            for sx in (-1, 1):
                for sy in (-1, 1):
                    parts.append(_leg(rng, (sx * xs, sy * ys, zt), (sx * xs, sy * ys, 0), lw, round_legs,
                                      _u(rng, 0.7, 1.0) if round_legs else 1.0))
            if rng.random() < 0.6:  # apron
                ah = _u(rng, 0.06, 0.1)
                parts.append(box((2 * xs, lw * 0.4, ah), (0, -ys, zt - ah / 2)))
                parts.append(box((2 * xs, lw * 0.4, ah), (0, ys, zt - ah / 2)))
                parts.append(box((lw * 0.4, 2 * ys, ah), (-xs, 0, zt - ah / 2)))
                parts.append(box((lw * 0.4, 2 * ys, ah), (xs, 0, zt - ah / 2)))
            if kind == "side" and rng.random() < 0.6:  # nightstand: drawer box under the top
                dh = _u(rng, 0.12, 0.22)
                parts.append(box((2 * xs, 2 * ys, dh), (0, 0, zt - dh / 2)))
                parts.append(box((2 * xs * 0.3, 0.02, 0.02), (0, -ys - 0.01, zt - dh / 2)))  # handle at -Y
            if rng.random() < 0.5 and kind != "dining":  # lower shelf
                parts.append(box((2 * xs, 2 * ys, tt * 0.8), (0, 0, height * 0.2)))
    elif support == "pedestal":
        cr = min(W, D) * _u(rng, 0.04, 0.07)
        parts.append(cylinder(cr, 0.02, zt, 24))
        if rng.random() < 0.5:
            br = min(W, D) / 2 * _u(rng, 0.5, 0.7)
            parts.append(frustum(br, min(cr * 1.5, br * 0.6), 0, _u(rng, 0.03, 0.08), 32))
        else:
            fl = min(W, D) / 2 * _u(rng, 0.55, 0.75)
            for a in np.pi / 4 + np.arange(4) * np.pi / 2:
                parts.append(box_between((0, 0, 0.03), (fl * np.cos(a), fl * np.sin(a), 0.02), 0.05, 0.05))
        parts.append(cylinder(cr * 2.2, zt - 0.03, zt, 24))
    else:  # trestle: two panel legs joined by a beam
        xs = W / 2 - _u(rng, 0.1, 0.2)
        for sx in (-1, 1):
            parts.append(box((lw, D * 0.7, zt - 0.06), (sx * xs, 0, (zt - 0.06) / 2 + 0.06)))
            parts.append(box((lw * 1.6, D * 0.8, 0.06), (sx * xs, 0, 0.03)))
        parts.append(box((2 * xs, lw * 0.8, 0.08), (0, 0, zt * 0.45)))
    return merge(parts), False


def stool(rng: np.random.Generator, variant: int | None = None):
    h = _u(rng, 0.45, 0.8)
    round_seat = rng.random() < 0.7
    sr = _u(rng, 0.16, 0.22)
    st = _u(rng, 0.03, 0.06)
    parts = []
    if round_seat:
        if rng.random() < 0.5:
            parts.append(cylinder(sr, h - st, h, 40))
        else:
            parts.append(rounded_box((2 * sr, 2 * sr, st * 1.6), (0, 0, h - st * 0.8), 0.3, 40, 12)
                         .scaled((1, 1, 1)))
    else:
        parts.append(box((2 * sr * 0.9, 2 * sr * 0.9, st), (0, 0, h - st / 2)))
    style = pick(rng, ["legs3", "legs4", "column", "legs4"], variant)
    if style == "column":
        parts.append(cylinder(_u(rng, 0.02, 0.035), 0.02, h - st, 20))
        parts.append(frustum(sr * _u(rng, 0.8, 1.1), sr * 0.3, 0, 0.03, 40))
        if h > 0.6:
            parts.append(torus(sr * 0.7, 0.01).translated((0, 0, h * 0.35)))
            for a in np.arange(3) * 2 * np.pi / 3:
                parts.append(cylinder_between((0, 0, h * 0.35), (0.7 * sr * np.cos(a), 0.7 * sr * np.sin(a), h * 0.35),
                                              0.008, segments=10))
        return merge(parts), False
    n = 3 if style == "legs3" else 4
    lw = _u(rng, 0.025, 0.045)
    round_legs = rng.random() < 0.6
    rt = sr * _u(rng, 0.55, 0.75)
    rb = rt + _u(rng, 0.03, 0.12) + 0.1 * h
    a0 = np.pi / 2 + (np.pi / 4 if n == 4 else 0)
    angs = a0 + np.arange(n) * 2 * np.pi / n
    for a in angs:
        c, s = np.cos(a), np.sin(a)
        parts.append(_leg(rng, (rt * c, rt * s, h - st), (rb * c, rb * s, 0), lw, round_legs))
    if rng.random() < 0.7:  # footrest ring or rungs
        zf = h * _u(rng, 0.25, 0.4)
        rf = rb + (rt - rb) * zf / (h - st)
        if rng.random() < 0.5:
            parts.append(torus(rf, lw * 0.35, 48, 10).translated((0, 0, zf)))
        else:
            pts = [(rf * np.cos(a), rf * np.sin(a), zf) for a in angs]
            for k in range(n):
                parts.append(cylinder_between(pts[k], pts[(k + 1) % n], lw * 0.3, segments=10))
    return merge(parts), False


def bookcase(rng: np.random.Generator, variant: int | None = None):
    W, H, D = _u(rng, 0.6, 1.2), _u(rng, 0.8, 2.0), _u(rng, 0.25, 0.4)
    t = _u(rng, 0.015, 0.03)
    plinth = _u(rng, 0.0, 0.08)
    parts = [box((t, D, H), (sx * (W / 2 - t / 2), 0, H / 2)) for sx in (-1, 1)]
    parts.append(box((W - 2 * t + 0.002, D, t), (0, 0, H - t / 2)))
    parts.append(box((W - 2 * t + 0.002, D, t), (0, 0, plinth + t / 2)))
    if plinth > 0.02:
        parts.append(box((W - 2 * t + 0.002, t, plinth), (0, -D / 2 + t / 2 + 0.01, plinth / 2)))
    if rng.random() < 0.7:  # back panel at +Y
        parts.append(box((W - 2 * t + 0.002, t * 0.4, H - plinth - 2 * t + 0.002), (0, D / 2 - t * 0.2, (H + plinth) / 2)))
    n = max(1, int(round((H - plinth) / _u(rng, 0.28, 0.4))) - 1)
    levels = np.linspace(plinth + t, H - t, n + 2)
    for z in levels[1:-1]:
        parts.append(box((W - 2 * t + 0.002, D * 0.95, t), (0, -0.025 * D, z)))
    books = rng.random() < 0.6
    if books:
        gap = levels[1] - levels[0]
        for k in range(n + 1):
            z0 = levels[k] + (t / 2 if k > 0 else 0)
            x = -W / 2 + t + 0.005
            fill = _u(rng, 0.2, 0.9)
            while x < -W / 2 + t + fill * (W - 2 * t):
                bw = _u(rng, 0.02, 0.05)
                bh = min(gap - t, _u(rng, 0.18, 0.3)) * _u(rng, 0.7, 0.98)
                bd = D * _u(rng, 0.6, 0.85)
                if x + bw > W / 2 - t - 0.005:
                    break
                parts.append(box((bw * 0.95, bd, bh), (x + bw / 2, D / 2 - bd / 2 - t * 0.4 - 0.002, z0 + bh / 2)))
                x += bw
    return merge(parts), False


def bed(rng: np.random.Generator, variant: int | None = None):
    W = _u(rng, 0.9, 1.8)
    L = _u(rng, 1.9, 2.15)
    fh = _u(rng, 0.2, 0.35)  # frame top height
    ft = _u(rng, 0.06, 0.12)
    mh = _u(rng, 0.15, 0.25)
    parts = [box((W, L, ft), (0, 0, fh - ft / 2))]
    lw = 0.06
    if rng.random() < 0.6:
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(box((lw, lw, fh - ft + 0.002), (sx * (W / 2 - lw / 2), sy * (L / 2 - lw / 2), (fh - ft) / 2)))
    else:  # box base down to the floor
        parts.append(box((W * 0.96, L * 0.96, fh - ft + 0.002), (0, 0, (fh - ft) / 2)))
    parts.append(rounded_box((W * 0.97, L * 0.97, mh), (0, 0, fh + mh / 2 - 0.005), _u(rng, 0.12, 0.25), 32, 12))
    hb = _u(rng, 0.35, 0.8)
    tb = _u(rng, 0.04, 0.08)
    top_z = fh + mh + hb
    hstyle = pick(rng, ["panel", "rounded", "posts"], variant)
    yh = L / 2 + tb / 2
    if hstyle == "panel":
        parts.append(box((W + 0.04, tb, top_z), (0, yh, top_z / 2)))
    elif hstyle == "rounded":
        parts.append(box((W + 0.04, tb, top_z - 0.1), (0, yh, (top_z - 0.1) / 2)))
        parts.append(rounded_box((W + 0.04, tb * 1.1, 0.25), (0, yh, top_z - 0.1), 0.4, 32, 12))
    else:
        for sx in (-1, 1):
            parts.append(box((0.07, 0.07, top_z), (sx * (W / 2 + 0.02), yh, top_z / 2)))
        for z in np.linspace(fh + mh * 0.5, top_z - 0.04, int(rng.integers(2, 5))):
            parts.append(box((W, tb * 0.5, 0.05), (0, yh, z)))
    if rng.random() < 0.5:  # footboard at -Y
        fb = fh + mh * _u(rng, 0.4, 1.6)
        parts.append(box((W + 0.04, tb, fb), (0, -L / 2 - tb / 2, fb / 2)))
    npill = 1 if W < 1.2 else 2
    pw = W * 0.9 / npill
    for k in range(npill):
        x = -W / 2 + W * 0.05 + pw * (k + 0.5)
        parts.append(rounded_box((pw * 0.92, 0.35, 0.12), (x, L / 2 - 0.25, fh + mh + 0.04), 0.45, 24, 12))
    if rng.random() < 0.5:  # folded blanket over the foot end
        parts.append(rounded_box((W * 0.99, L * 0.45, 0.05), (0, -L * 0.25, fh + mh + 0.0), 0.25, 32, 8))
    return merge(parts), False


def sofa(rng: np.random.Generator, variant: int | None = None):
    W = _u(rng, 1.4, 2.4)
    D = _u(rng, 0.8, 1.0)
    base_h = _u(rng, 0.2, 0.3)
    leg_h = _u(rng, 0.0, 0.15)
    seat_h = _u(rng, 0.12, 0.2)
    back_h = _u(rng, 0.35, 0.5)
    arm_w = _u(rng, 0.1, 0.25)
    arm_h = _u(rng, 0.15, 0.3)
    r = _u(rng, 0.15, 0.35)
    parts = []
    z0 = leg_h
    parts.append(rounded_box((W, D, base_h), (0, 0, z0 + base_h / 2), r * 0.6, 32, 12))
    if leg_h > 0.02:
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(cylinder_between((sx * (W / 2 - 0.08), sy * (D / 2 - 0.08), 0),
                                              (sx * (W / 2 - 0.08), sy * (D / 2 - 0.08), leg_h + 0.02),
                                              0.02, 0.025, 12))
    back_t = D * _u(rng, 0.18, 0.28)
    inner_w = W - 2 * arm_w
    # back at +Y
    parts.append(rounded_box((W, back_t, back_h + seat_h + base_h * 0.5),
                             (0, D / 2 - back_t / 2, z0 + base_h * 0.5 + (back_h + seat_h + base_h * 0.5) / 2), r, 32, 12))
    for sx in (-1, 1):
        ah = base_h + seat_h + arm_h
        parts.append(rounded_box((arm_w, D, ah), (sx * (W / 2 - arm_w / 2), 0, z0 + ah / 2), r, 24, 12))
    n = int(rng.integers(1, 4))
    cw = inner_w / n
    for k in range(n):
        x = -inner_w / 2 + cw * (k + 0.5)
        parts.append(rounded_box((cw * 0.98, D - back_t, seat_h), (x, -back_t / 2, z0 + base_h + seat_h / 2 - 0.01), r, 24, 12))
        if rng.random() < 0.7:
            parts.append(rounded_box((cw * 0.96, back_t * 0.9, back_h * 0.9),
                                     (x, D / 2 - back_t * 1.3, z0 + base_h + seat_h + back_h * 0.45), r * 1.2, 24, 12))
    return merge(parts), True


def bench(rng: np.random.Generator, variant: int | None = None):
    L = _u(rng, 1.0, 1.8)
    d = _u(rng, 0.3, 0.45)
    h = _u(rng, 0.4, 0.48)
    st = _u(rng, 0.03, 0.05)
    parts = []
    slatted = rng.random() < 0.5
    if slatted:
        n = int(rng.integers(3, 6))
        sw = d / n
        for k in range(n):
            parts.append(box((L, sw * 0.82, st), (0, -d / 2 + sw * (k + 0.5), h - st / 2)))
        parts.append(box((0.05, d, 0.06), (-L / 2 + 0.12, 0, h - st - 0.03)))
        parts.append(box((0.05, d, 0.06), (L / 2 - 0.12, 0, h - st - 0.03)))
    else:
        parts.append(box((L, d, st), (0, 0, h - st / 2)))
    style = pick(rng, ["legs", "panels", "frames"], variant)
    xs = L / 2 - _u(rng, 0.08, 0.15)
    if style == "legs":
        lw = _u(rng, 0.04, 0.06)
        for sx in (-1, 1):
            for sy in (-1, 1):
                parts.append(box_between((sx * (xs + 0.02), sy * (d / 2 - 0.04), 0), (sx * xs, sy * (d / 2 - 0.05), h - st), lw))
    elif style == "panels":
        for sx in (-1, 1):
            parts.append(box((0.04, d * 0.9, h - st + 0.002), (sx * xs, 0, (h - st) / 2)))
    else:  # metal frames: a rectangle of thin tubes at each end
        for sx in (-1, 1):
            y0, y1 = -d / 2 + 0.03, d / 2 - 0.03
            for a, b in [((y0, 0), (y0, h - st)), ((y1, 0), (y1, h - st)), ((y0, 0.01), (y1, 0.01))]:
                parts.append(cylinder_between((sx * xs, a[0], a[1]), (sx * xs, b[0], b[1]), 0.015, segments=12))
    if rng.random() < 0.45:  # back rest at +Y (park bench)
        bh = _u(rng, 0.3, 0.45)
        for sx in (-1, 1):
            parts.append(box_between((sx * xs, d / 2 - 0.04, h - st), (sx * xs, d / 2 + 0.04, h + bh), 0.04))
        for k in range(int(rng.integers(2, 4))):
            z = h + 0.08 + k * 0.11
            if z > h + bh:
                break
            yy = d / 2 - 0.04 + 0.08 * (z - h + st) / (bh + st)
            parts.append(box((L * 0.95, 0.025, 0.08), (0, yy + 0.02, z)))
    return merge(parts), False


def lamp(rng: np.random.Generator, variant: int | None = None):
    kind = pick(rng, ["desk", "table", "floor"], variant)
    H = {"desk": _u(rng, 0.35, 0.5), "table": _u(rng, 0.45, 0.7), "floor": _u(rng, 1.4, 1.8)}[str(kind)]
    parts = []
    base_r = _u(rng, 0.08, 0.14) * (1.6 if kind == "floor" else 1.0)
    base_style = rng.choice(["disc", "dome", "square", "urn"] if kind == "table" else ["disc", "dome", "square"])
    if base_style == "disc":
        bh = 0.02
        parts.append(cylinder(base_r, 0, bh, 40))
    elif base_style == "dome":
        bh = base_r * 0.35
        parts.append(lathe(catmull_rom([(base_r, 0), (base_r * 0.9, bh * 0.5), (base_r * 0.3, bh)], 6).tolist() + [(0, bh)], 40))
    elif base_style == "square":
        bh = 0.03
        parts.append(box((2 * base_r * 0.85, 2 * base_r * 0.85, bh), (0, 0, bh / 2)))
    else:  # urn / ceramic body
        bh = H * 0.5
        prof = catmull_rom([(base_r * 0.6, 0), (base_r * 1.1, bh * 0.35), (base_r * 0.9, bh * 0.75), (base_r * 0.25, bh)], 8)
        parts.append(lathe(prof.tolist() + [(0, bh)], 40))
    sr = _u(rng, 0.008, 0.015) * (1.5 if kind == "floor" else 1.0)
    shade_h = _u(rng, 0.12, 0.22) * (1.6 if kind == "floor" else 1.0)
    shade_style = rng.choice(["drum", "cone", "bell", "empire"])
    rt = _u(rng, 0.06, 0.1) * (1.5 if kind == "floor" else 1.0)
    if kind == "desk" and rng.random() < 0.6:
        # articulated arm lamp: two arm segments, cone shade pointing down-forward (-Y)
        a1 = np.array([0, 0.0, bh])
        elbow = np.array([0, _u(rng, 0.05, 0.15), H * _u(rng, 0.55, 0.7)])
        head = np.array([0, -_u(rng, 0.1, 0.25), H])
        parts.append(cylinder_between(a1, elbow, sr, segments=12))
        parts.append(cylinder_between(elbow, head, sr, segments=12))
        parts.append(sphere(sr * 1.8, elbow, 16, 8))
        r0, r1, sh = rt * 0.35, rt, shade_h * 0.8
        cone = lathe([(r0, 0), (r1, -sh), (r1 - 0.004, -sh), (r0 - 0.004, -0.004)], 40, closed=True)
        cap = cylinder(r0, -0.004, 0.01, 24)
        tilt = _u(rng, 0.3, 0.7)
        from .primitives import rot_x
        for g in (cone, cap):
            parts.append(g.transformed(rot_x(tilt), head))
        return merge(parts), True
    z_shade0 = H - shade_h
    parts.append(cylinder(sr, bh - 0.005, z_shade0 + shade_h * 0.5, 16))
    if shade_style == "drum":
        rb, rtp = rt, rt
    elif shade_style == "cone":
        rb, rtp = rt * 1.3, rt * 0.55
    elif shade_style == "empire":
        rb, rtp = rt * 1.15, rt * 0.8
    else:
        rb, rtp = rt * 1.1, rt * 0.5
    w = 0.004
    if shade_style == "bell":
        outer = catmull_rom([(rb, 0), (rb * 0.85, shade_h * 0.25), (rtp * 1.2, shade_h * 0.7), (rtp, shade_h)], 6)
    else:
        outer = np.array([(rb, 0.0), (rtp, shade_h)])
    loop = [tuple(p) for p in outer] + [(r - w, z) for r, z in outer[::-1]]
    parts.append(lathe([(r, z + z_shade0) for r, z in loop], 48, closed=True))
    # harp: spokes from the stem to the shade top rim
    ztop = z_shade0 + shade_h * 0.95
    rtop = float(np.interp(shade_h * 0.95, outer[:, 1], outer[:, 0])) - w
    for a in np.arange(3) * 2 * np.pi / 3 + np.pi / 2:
        parts.append(cylinder_between((0, 0, ztop), (rtop * np.cos(a), rtop * np.sin(a), ztop), 0.003, segments=8))
    parts.append(cylinder(sr * 1.2, z_shade0 + shade_h * 0.5, ztop + 0.01, 16))
    parts.append(sphere(_u(rng, 0.025, 0.035), (0, 0, z_shade0 + shade_h * 0.5), 16, 8))
    return merge(parts), True
