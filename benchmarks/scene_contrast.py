"""How well the contrast model predicts what the hdri, ground and room templates show, and what
`--min-contrast` then guarantees there.

Per template, renders N images on the colour backgrounds twice: with the guarantee off (every
draw kept: the model's accuracy, predicted meta/predicted_contrast against measured meta/contrast)
and at the default --min-contrast 10 (how many images the pixels still show under 10/255).
Prints a table and writes JSON.

    python benchmarks/scene_contrast.py --n 150 --out benchmarks/results/scene_contrast.json \
        --plot docs/images/scene_contrast.png
    python benchmarks/scene_contrast.py --n 150 --scenes studio,ground --distractors 3 \
        --out benchmarks/results/scene_contrast_distractors.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from latentscape.api import render
from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.reader import DatasetReader
from latentscape.dataset.fidelity import object_and_ring
from latentscape.latents.distributions import Dist
from latentscape.resolve import resolve

COLOURS = (0, 1, 2, 3, 4)  # the default library's colour backgrounds: grey, white, black, blue, green


def run(scene: str, n: int, limit: float, a, tmp: Path) -> dict:
    spec = DatasetSpec(library=a.library, n=n, shard_size=n, seed=a.seed, resolution=a.resolution, scene=scene,
                       distractors=(a.distractors,),
                       distributions=(("background_id", Dist(kind="choice", values=COLOURS)),), min_contrast=limit,
                       render=dataclasses.replace(RenderSettings.preset(a.quality), passes=("mask",)))
    out = tmp / f"{scene}-{limit:g}-{a.distractors}"
    t0 = time.time()
    render(spec, out, progress=False)
    seconds = time.time() - t0
    with DatasetReader(out) as r:
        lat = r.latents()
        parts = measured_parts(r, n)
    predicted_parts = predicted(spec, lat)
    pred, meas = lat["meta/predicted_contrast"].astype(float), lat["meta/contrast"].astype(float)
    ok = np.isfinite(pred) & np.isfinite(meas)
    err = np.abs(pred[ok] - meas[ok])
    return {"scene": scene, "min_contrast": limit, "n": n, "predicted": int(ok.sum()),
            "correlation": float(np.corrcoef(pred[ok], meas[ok])[0, 1]) if ok.sum() > 2 else None,
            "median_abs_error": float(np.median(err)) if len(err) else None,
            "mean_error": float(np.mean(pred[ok] - meas[ok])) if len(err) else None,
            "measured_under_10": int((meas < 10).sum()),
            "measured_under_10_where_predicted_10": int(((meas < 10) & (pred >= 10)).sum()),
            "predicted_at_least_10": int((pred >= 10).sum()),
            "rejections_contrast": int(lat["meta/rejections_contrast"].sum()), "seconds": round(seconds, 1),
            **ignoring_distractors(predicted_parts, meas, ok),
            "object_error": part_error(predicted_parts[:, 0], parts[:, 0]),
            "surround_error": part_error(predicted_parts[:, 1], parts[:, 1]),
            "images": [{"predicted": [round(float(x), 2) for x in pp], "measured": [round(float(x), 2) for x in mp],
                        **{k: int(lat[k][i]) for k in ("background_id", "object_id", *MATERIALS) if k in lat}}
                       for i, (pp, mp) in enumerate(zip(predicted_parts, parts))]}


MATERIALS = ("ground_material", "room_material", "shadow_catcher")


def measured_parts(reader, n: int) -> np.ndarray:
    """(n, 2): mean display luminance of each image's object pixels and of the 3-px ring around them."""
    return np.array([object_and_ring(reader.image(i), reader.mask(i)) for i in range(n)])


def predicted(spec, lat: dict) -> np.ndarray:
    """(n, 2): the model's object and surround display luminance for the stored latents, the surround
    without distractors (the stored prediction counts them)."""
    sampler = resolve(spec).sampler
    keys = [k for k in lat if "/" not in k]
    return np.array([sampler.predicted_display({k: lat[k][i] for k in keys}) for i in range(len(lat["object_id"]))])


def ignoring_distractors(parts: np.ndarray, meas: np.ndarray, ok: np.ndarray) -> dict:
    """The contrast predicted without the distractors in the ring, against the measured one."""
    c = np.abs(parts[:, 0] - parts[:, 1])
    ok = ok & np.isfinite(c)
    return {"correlation_ignoring_distractors": float(np.corrcoef(c[ok], meas[ok])[0, 1]),
            "median_abs_error_ignoring_distractors": float(np.median(np.abs(c[ok] - meas[ok])))}


def part_error(pred: np.ndarray, meas: np.ndarray) -> dict:
    ok = np.isfinite(pred) & np.isfinite(meas)
    d = pred[ok] - meas[ok]
    return {"bias": float(d.mean()), "median_abs": float(np.median(np.abs(d))),
            "correlation": float(np.corrcoef(pred[ok], meas[ok])[0, 1])}


def fmt(e: dict) -> str:
    return f"bias {e['bias']:+.1f}, median |e| {e['median_abs']:.1f}, corr {e['correlation']:.2f}"


def plot(result: dict, path: Path) -> None:
    """Per template (guarantee off): predicted against measured contrast, and the surround alone."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in result["rows"] if r["min_contrast"] == 0]
    fig, axes = plt.subplots(2, len(rows), figsize=(3.2 * len(rows), 6.4), squeeze=False)
    for k, r in enumerate(rows):
        pred = np.array([i["predicted"] for i in r["images"]], dtype=float)
        meas = np.array([i["measured"] for i in r["images"]], dtype=float)
        pairs = [(np.abs(pred[:, 0] - pred[:, 1]), np.abs(meas[:, 0] - meas[:, 1]), "contrast"),
                 (pred[:, 1], meas[:, 1], "surround (ring)")]
        for j, (x, y, what) in enumerate(pairs):
            ax = axes[j, k]
            ax.scatter(x, y, s=6, alpha=0.6)
            hi = float(np.nanmax([np.nanmax(x), np.nanmax(y), 1.0]))
            ax.plot([0, hi], [0, hi], "k--", lw=0.8)
            if what == "contrast":
                ax.axvline(10, color="r", lw=0.6)
                ax.axhline(10, color="r", lw=0.6)
            ax.set_title(f"{r['scene']}: {what}", fontsize=9)
            ax.set_xlabel("predicted /255", fontsize=8)
            ax.set_ylabel("measured /255", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--scenes", default="hdri,ground,room")
    ap.add_argument("--library", default="default")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--quality", default="standard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--distractors", type=int, default=0, help="distractors per image (their ring pixels count)")
    ap.add_argument("--limits", default="0,10", help="the --min-contrast values to render with")
    ap.add_argument("--plot", type=Path, help="also save predicted-against-measured scatter plots (PNG)")
    ap.add_argument("--plot-only", action="store_true", help="draw --plot from the existing --out JSON")
    ap.add_argument("--out", default="benchmarks/results/scene_contrast.json")
    ap.add_argument("--keep", type=Path, help="render into this folder and keep the datasets (default: a temporary one)")
    a = ap.parse_args()
    if a.plot_only:
        plot(json.loads(Path(a.out).read_text()), a.plot)
        return
    rows = []
    print(f"{'scene':>7} {'limit':>6} {'n':>5} {'corr':>5} {'med|e|':>7} {'bias':>6} {'meas<10':>8} "
          f"{'<10 & pred>=10':>15} {'re-draws':>9} {'s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        for scene in a.scenes.split(","):
            for limit in (float(x) for x in a.limits.split(",")):
                r = run(scene, a.n, limit, a, folder)
                rows.append(r)
                print(f"{scene:>7} {limit:>6g} {r['predicted']:>5} {r['correlation']:>5.2f} "
                      f"{r['median_abs_error']:>7.1f} {r['mean_error']:>6.1f} {r['measured_under_10']:>8} "
                      f"{r['measured_under_10_where_predicted_10']:>9} of {r['predicted_at_least_10']:<4} "
                      f"{r['rejections_contrast']:>9} {r['seconds']:>6}", flush=True)
                print(f"        object: {fmt(r['object_error'])}; surround: {fmt(r['surround_error'])}", flush=True)
                if a.distractors:
                    print(f"        ignoring the distractors: corr {r['correlation_ignoring_distractors']:.2f}, "
                          f"median |e| {r['median_abs_error_ignoring_distractors']:.1f}", flush=True)
    result = {"library": a.library, "resolution": a.resolution, "quality": a.quality, "backgrounds": COLOURS,
              "distractors": a.distractors,
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "rows": rows}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    if a.plot:
        plot(result, a.plot)


if __name__ == "__main__":
    main()
