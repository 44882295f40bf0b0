"""Measure the albedo palette of every ground and room material (the contrast model's input).

Each material covers a 40 m plane seen straight down from 20 m under a uniform grey world of
linear value 0.5 (no sun): a diffuse surface under a uniform world shows albedo x world, so the
8-bit Standard pixels, linearised and divided by 0.5, are the material's albedo as the camera
sees it (specular included). The pixels are sorted by luminance and cut into `--bins`
equal-count groups; each group's mean linear RGB is one palette entry (equal weights).

    python benchmarks/surface_albedo.py            # prints the table for latents/surfaces.py
    python benchmarks/surface_albedo.py --json benchmarks/results/surface_albedo.json

The measuring code is latentscape/blender_scenes/calibrate.py (run in a Blender child).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from latentscape.renderer.child import run_in_blender_child


def _both(size, samples, bins):
    from latentscape.blender_scenes import calibrate
    return calibrate.measure(size, samples, bins), calibrate.window_gain()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--bins", type=int, default=8)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    res, window = run_in_blender_child(_both, a.size, a.samples, a.bins, what="surface albedo", timeout=600)
    for w in window:
        print(f"window on the floor at {w['floor_xz']}: measured {w['measured']:.4f}, model {w['model_gain_1']:.4f}, "
              f"ratio {w['ratio']:.3f}")
    for name, pal in res.items():
        mean = np.mean(pal, 0)
        print(f"{name:28s} mean {mean.round(3).tolist()}  luminance {float(mean @ [0.2126, 0.7152, 0.0722]):.3f}")
    print("SURFACE_ALBEDO = {")
    for name, pal in res.items():
        print(f"    {name!r}: ({', '.join('(' + ', '.join(f'{c:.4f}' for c in e) + ')' for e in pal)}),")
    print("}")
    if a.json:
        a.json.write_text(json.dumps({"world": 0.5, "size": a.size, "samples": a.samples, "palettes": res, "window": window},
                                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
