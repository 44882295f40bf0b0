"""How well --max-occlusion, decided on the hull-raster prediction, bounds the measured occlusion.

Renders N images with distractors and a --max-occlusion limit, then compares each image's stored
prediction (meta/predicted_occlusion) with the occluded fraction the mask passes measured
(meta/occluded_fraction). Prints a table and writes JSON.

    python benchmarks/occlusion_bound.py --n 200 --limit 0.2 --out benchmarks/results/occlusion_bound.json
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from latentscape.api import render
from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.reader import DatasetReader


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--limit", type=float, default=0.2)
    ap.add_argument("--distractors", type=int, default=3)
    ap.add_argument("--library", default="default")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--out", default="benchmarks/results/occlusion_bound.json")
    a = ap.parse_args()
    spec = DatasetSpec(library=a.library, n=a.n, shard_size=a.n, seed=0, resolution=a.resolution,
                       distractors=(a.distractors,), max_occlusion=a.limit, render=RenderSettings.preset("draft"))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        render(spec, Path(tmp) / "d", progress=False)
        seconds = time.time() - t0
        with DatasetReader(Path(tmp) / "d") as r:
            lat = r.latents()
    pred, meas = lat["meta/predicted_occlusion"].astype(float), lat["meta/occluded_fraction"].astype(float)
    over = meas > a.limit
    row = {"n": a.n, "limit": a.limit, "distractors": a.distractors, "library": a.library,
           "resolution": a.resolution, "predicted_max": float(pred.max()), "measured_max": float(meas.max()),
           "measured_over_limit": int(over.sum()), "share_over_limit": float(over.mean()),
           "mean_abs_difference": float(np.abs(pred - meas).mean()),
           "occluded_images": int((meas > 0).sum()), "rejections_occlusion": int(lat["meta/rejections_occlusion"].sum()),
           "seconds": round(seconds, 1), "machine": f"{platform.processor() or platform.machine()}, "
                                                    f"{__import__('os').cpu_count()} cores"}
    print(f"{'n':>5} {'limit':>6} {'pred max':>9} {'meas max':>9} {'meas>limit':>11} {'mean|d|':>8} {'re-draws':>9}")
    print(f"{a.n:>5} {a.limit:>6.2f} {row['predicted_max']:>9.3f} {row['measured_max']:>9.3f} "
          f"{row['measured_over_limit']:>5} ({100 * row['share_over_limit']:.1f}%) {row['mean_abs_difference']:>8.4f} "
          f"{row['rejections_occlusion']:>9}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
