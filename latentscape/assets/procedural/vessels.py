"""Lathe-profile categories: bottle, vase, mug, bowl, wine_glass, teapot.

Each builder takes a numpy Generator and returns (Geom, smooth). Units are metres-ish;
`build` normalises the result. Handles and spouts point along +X / -X.
"""
from __future__ import annotations

import numpy as np

from .primitives import (catmull_rom, pick, cylinder, hollow_profile, lathe, merge, sphere, torus,
                         tube)

SEG = 48


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def bottle(rng: np.random.Generator, variant: int | None = None):
    kind = pick(rng, ["wine", "water", "flask", "beer", "square_shoulder"], variant)
    h = _u(rng, 0.22, 0.33)
    r = _u(rng, 0.032, 0.05) if kind != "flask" else _u(rng, 0.05, 0.07)
    neck_r = r * _u(rng, 0.3, 0.45)
    if kind == "wine":
        body, shoulder = 0.6, 0.1
    elif kind == "water":
        body, shoulder = 0.7, 0.12
    elif kind == "beer":
        body, shoulder = 0.5, 0.22
    elif kind == "flask":
        body, shoulder = 0.45, 0.2
    else:
        body, shoulder = 0.72, 0.04
    body *= _u(rng, 0.9, 1.1)
    zb, zs = body * h, min((body + shoulder) * h, 0.92 * h)
    if kind == "flask":
        ctrl = [(0.7 * r, 0.0), (0.95 * r, 0.12 * h), (r, 0.3 * h), (0.85 * r, zb),
                (1.3 * neck_r, zs), (neck_r, zs + 0.05 * h), (neck_r, 0.96 * h)]
    else:
        ctrl = [(0.93 * r, 0.0), (r, 0.03 * h), (r, zb), (0.5 * (r + neck_r), 0.5 * (zb + zs)),
                (neck_r, zs), (neck_r, 0.96 * h)]
    pts = catmull_rom(ctrl, 8)
    pts[:, 0] = np.maximum(pts[:, 0], 0.2 * neck_r)
    lip = 1.18 * neck_r
    prof = [tuple(p) for p in pts] + [(lip, 0.96 * h), (lip, h), (0.0, h)]
    parts = [lathe(prof, SEG)]
    if rng.random() < 0.5:  # cap / cork
        cap_h = _u(rng, 0.03, 0.06) * h / 0.25
        parts.append(cylinder(lip * 1.05, 0.94 * h, h + cap_h, SEG))
    return merge(parts), True


def vase(rng: np.random.Generator, variant: int | None = None):
    h = _u(rng, 0.2, 0.45)
    r_base = _u(rng, 0.05, 0.09)
    style = pick(rng, ["amphora", "cylinder", "flared", "gourd", "urn"], variant)
    if style == "amphora":
        rs = [0.7, 1.0, 1.25, 0.9, 0.45, 0.55, 0.7]
    elif style == "cylinder":
        rs = [1.0, 1.05, 1.05, 1.05, 1.05, 1.0, 1.0]
    elif style == "flared":
        rs = [0.8, 0.7, 0.6, 0.7, 0.95, 1.3, 1.6]
    elif style == "gourd":
        rs = [0.9, 1.35, 1.1, 0.6, 0.8, 0.5, 0.6]
    else:
        rs = [0.7, 1.2, 1.4, 1.2, 0.8, 0.85, 1.05]
    rs = np.array(rs) * rng.uniform(0.85, 1.15, size=len(rs))
    zs = np.linspace(0, h, len(rs))
    outer = catmull_rom(np.column_stack([r_base * rs, zs]), 6)
    outer[:, 0] = np.maximum(outer[:, 0], 0.3 * r_base)
    wall = _u(rng, 0.006, 0.012)
    prof = hollow_profile(outer, wall, bottom=0.02)
    return lathe(prof, SEG), True


def _handle(path_pts, thickness):
    return tube(path_pts, thickness, segments=12)


def _c_handle(rng, x_wall, z_lo, z_hi, reach, thick, style=None, sink=None):
    """Handle on +X from the wall at z_hi down to z_lo (ends sunk `sink` into the wall)."""
    style = style or rng.choice(["round", "d", "ear"])
    zc, b = 0.5 * (z_lo + z_hi), 0.5 * (z_hi - z_lo)
    x0 = x_wall - (1.5 * thick if sink is None else sink)
    if style == "round":
        t = np.linspace(np.pi / 2, -np.pi / 2, 25)
        pts = np.column_stack([x0 + (reach + 1.5 * thick) * np.cos(t), np.zeros_like(t), zc + b * np.sin(t)])
    elif style == "d":
        ctrl = [(x0, 0, z_hi), (x_wall + 0.6 * reach, 0, z_hi), (x_wall + reach, 0, zc + 0.5 * b),
                (x_wall + reach, 0, zc - 0.5 * b), (x_wall + 0.6 * reach, 0, z_lo), (x0, 0, z_lo)]
        pts = catmull_rom(ctrl, 6)
    else:  # ear: top reaches further out than the bottom
        ctrl = [(x0, 0, z_hi), (x_wall + 0.9 * reach, 0, z_hi + 0.1 * b), (x_wall + 1.1 * reach, 0, zc),
                (x_wall + 0.5 * reach, 0, z_lo + 0.3 * b), (x0, 0, z_lo + 0.1 * b)]
        pts = catmull_rom(ctrl, 6)
    return _handle(pts, thick)


def mug(rng: np.random.Generator, variant: int | None = None):
    h = _u(rng, 0.08, 0.12)
    r = _u(rng, 0.035, 0.05)
    style = pick(rng, ["straight", "tapered", "barrel", "flared"], variant)
    if style == "straight":
        rs = [1, 1, 1, 1]
    elif style == "tapered":
        rs = [0.82, 0.9, 0.96, 1.02]
    elif style == "barrel":
        rs = [0.88, 1.05, 1.05, 0.9]
    else:
        rs = [0.9, 0.92, 1.0, 1.12]
    zs = np.linspace(0, h, 4)
    outer = catmull_rom(np.column_stack([r * np.array(rs, float), zs]), 6)
    wall = _u(rng, 0.003, 0.006)
    body = lathe(hollow_profile(outer, wall, bottom=0.008), SEG)
    z_hi, z_lo = h * _u(rng, 0.78, 0.88), h * _u(rng, 0.15, 0.3)
    r_hi = float(np.interp(z_hi, outer[:, 1], outer[:, 0]))
    r_lo = float(np.interp(z_lo, outer[:, 1], outer[:, 0]))
    handle = _c_handle(rng, min(r_hi, r_lo), z_lo, z_hi, _u(rng, 0.025, 0.04), _u(rng, 0.004, 0.007),
                        sink=0.6 * wall + 0.0005)
    return merge([body, handle]), True


def bowl(rng: np.random.Generator, variant: int | None = None):
    R = _u(rng, 0.07, 0.13)
    h = R * _u(rng, 0.45, 0.85)
    style = pick(rng, ["round", "conical", "flat"], variant)
    foot_r = R * _u(rng, 0.35, 0.55)
    if style == "round":
        t = np.linspace(0.0, 1.0, 9)
        ctrl = np.column_stack([foot_r + (R - foot_r) * np.sin(t * np.pi / 2) ** 0.8, h * (1 - np.cos(t * np.pi / 2))])
    elif style == "conical":
        ctrl = np.array([(foot_r, 0), (0.5 * (foot_r + R), 0.5 * h), (R, h)])
    else:
        ctrl = np.array([(foot_r, 0), (0.85 * R, 0.35 * h), (0.97 * R, 0.75 * h), (R, h)])
    outer = catmull_rom(ctrl, 6)
    if rng.random() < 0.6:  # foot ring
        fh = h * _u(rng, 0.06, 0.12)
        outer = np.vstack([[(foot_r * 0.95, 0.0), (foot_r * 0.95, fh)], outer + [0, fh]])
    wall = _u(rng, 0.004, 0.008)
    return lathe(hollow_profile(outer, wall, bottom=0.008), SEG), True


def wine_glass(rng: np.random.Generator, variant: int | None = None):
    style = pick(rng, ["bordeaux", "flute", "martini", "coupe", "goblet"], variant)
    foot_r = _u(rng, 0.03, 0.045)
    stem_h = _u(rng, 0.05, 0.1)
    stem_r = _u(rng, 0.003, 0.0055)
    wall = 0.0025
    if style == "bordeaux":
        R, bh = _u(rng, 0.04, 0.05), _u(rng, 0.09, 0.12)
        rs, zf = [0.25, 0.85, 1.0, 0.9, 0.78], [0, 0.25, 0.5, 0.78, 1.0]
    elif style == "flute":
        R, bh = _u(rng, 0.025, 0.032), _u(rng, 0.13, 0.17)
        rs, zf = [0.3, 0.9, 1.0, 0.95, 0.9], [0, 0.2, 0.5, 0.8, 1.0]
    elif style == "martini":
        R, bh = _u(rng, 0.055, 0.07), _u(rng, 0.06, 0.08)
        rs, zf = [0.1, 0.5, 1.0], [0, 0.5, 1.0]
    elif style == "coupe":
        R, bh = _u(rng, 0.05, 0.06), _u(rng, 0.035, 0.05)
        rs, zf = [0.15, 0.7, 0.95, 1.0], [0, 0.3, 0.7, 1.0]
    else:
        R, bh = _u(rng, 0.04, 0.05), _u(rng, 0.07, 0.09)
        rs, zf = [0.3, 0.9, 1.0, 1.0], [0, 0.35, 0.75, 1.0]
    ctrl = np.column_stack([R * np.array(rs), stem_h + bh * np.array(zf)])
    ctrl[0, 0] = max(ctrl[0, 0], 1.6 * stem_r)
    cup = catmull_rom(ctrl, 8)
    cup[:, 0] = np.maximum(cup[:, 0], 1.6 * stem_r)
    foot_t = 0.004
    outer = np.vstack([[(foot_r, 0.0), (foot_r * 0.96, foot_t), (stem_r * 2.2, foot_t + 0.006),
                        (stem_r, foot_t + 0.015), (stem_r, stem_h - 0.004)], cup])
    # inside of the bowl starts a little above the stem top
    prof = hollow_profile(outer, wall, bottom=stem_h + 0.006, min_radius=0.0015)
    return lathe(prof, SEG), True


def teapot(rng: np.random.Generator, variant: int | None = None):
    R = _u(rng, 0.07, 0.1)
    h = R * _u(rng, 0.9, 1.5)
    style = pick(rng, ["round", "tall", "squat"], variant)
    if style == "round":
        rs, zf = [0.6, 0.95, 1.0, 0.8, 0.55], [0, 0.25, 0.5, 0.8, 1.0]
    elif style == "tall":
        rs, zf = [0.85, 1.0, 0.95, 0.8, 0.6], [0, 0.2, 0.55, 0.85, 1.0]
    else:
        rs, zf = [0.7, 1.0, 1.0, 0.75, 0.5], [0, 0.2, 0.45, 0.8, 1.0]
    ctrl = np.column_stack([R * np.array(rs), h * np.array(zf)])
    outer = catmull_rom(ctrl, 8)
    lid_r = float(outer[-1, 0])
    body = lathe([tuple(p) for p in outer], SEG)
    lid_h = h * _u(rng, 0.08, 0.15)
    lid = lathe(catmull_rom([(lid_r * 1.05, h), (lid_r * 0.8, h + 0.6 * lid_h), (lid_r * 0.3, h + lid_h)], 6).tolist()
                + [(0.0, h + lid_h)], SEG)
    knob_r = R * _u(rng, 0.08, 0.14)
    knob = sphere(knob_r, (0, 0, h + lid_h + 0.6 * knob_r), 24, 12, scale=(1, 1, _u(rng, 0.7, 1.2)))
    # spout on -X: from the lower body, out and up
    z0 = h * _u(rng, 0.25, 0.4)
    r0 = float(np.interp(z0, outer[:, 1], outer[:, 0]))
    reach = R * _u(rng, 0.6, 0.9)
    top = h * _u(rng, 0.85, 1.1)
    spout_pts = catmull_rom([(-(r0 - 0.02), 0, z0), (-(r0 + 0.35 * reach), 0, z0 + 0.2 * (top - z0)),
                             (-(r0 + 0.75 * reach), 0, z0 + 0.6 * (top - z0)), (-(r0 + reach), 0, top)], 6)
    sr0, sr1 = R * _u(rng, 0.16, 0.22), R * _u(rng, 0.07, 0.1)
    spout = tube(spout_pts, np.linspace(sr0, sr1, len(spout_pts)), segments=16)
    # handle on +X
    z_hi, z_lo = h * _u(rng, 0.75, 0.9), h * _u(rng, 0.2, 0.35)
    r_hi = float(np.interp(z_hi, outer[:, 1], outer[:, 0]))
    r_lo = float(np.interp(z_lo, outer[:, 1], outer[:, 0]))
    parts = [body, lid, knob, spout]
    if rng.random() < 0.25:  # kettle-style top handle arching over the lid
        t = np.linspace(0.15 * np.pi, 0.85 * np.pi, 25)
        span = lid_r * 1.2
        pts = np.column_stack([span * np.cos(t) / np.cos(0.15 * np.pi), np.zeros_like(t),
                               h * 0.95 + (h * 0.45) * np.sin(t)])
        parts.append(tube(pts, R * 0.06, 12))
    else:
        parts.append(_c_handle(rng, min(r_hi, r_lo), z_lo, z_hi, R * _u(rng, 0.45, 0.7), R * _u(rng, 0.06, 0.09)))
    if rng.random() < 0.4:  # foot ring
        parts.append(torus(R * rs[0] * 0.95, R * 0.03).translated((0, 0, R * 0.03)))
    return merge(parts), True
