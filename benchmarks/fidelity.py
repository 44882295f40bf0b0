"""What default images show, per setting: object coverage, empty images, clipped object pixels,
contrast to the surround, per-category size spread (issue 12), measured on rendered images.

    python benchmarks/fidelity.py                  # 500 images at 224 px per setting
    python benchmarks/fidelity.py --n 100 --resolution 128

Settings (everything else at the defaults: default library, all groups varying, 16 samples):
    before           the 0.2 defaults: Standard view transform (plain sRGB, clips), front canonical pose
    agx-front        AgX view transform, front canonical pose
    agx              the 0.3 defaults: AgX, three_quarter canonical pose
    agx-upright      AgX, three_quarter and --pose-mode upright
    pose-fixed-front  --vary position,category,identity (pose canonical), front canonical pose
    pose-fixed-3q     the same with the three_quarter canonical pose
    (all of the above at the distance range of 0.2, U(3, 6) m)
    defaults         the 0.3 defaults: AgX, three_quarter, distance U(2.5, 4.5) m
    defaults-pose-fixed  the same with --vary position,category,identity
    (all of the above without the guarantees of 0.4: --min-visible 0 --min-contrast 0)
    guarded          the 0.4 defaults: the 0.3 ones with --min-visible 0.005 --min-contrast 10
    guarded-pose-fixed  the same with --vary position,category,identity (no contrast guarantee:
                     the background does not vary)
    real-size        the 0.4 defaults with --size real

Renders into benchmarks/data/fidelity/<setting> (git-ignored; reused with --reuse), prints a
table, writes benchmarks/results/fidelity.json and a 4x4 sheet of the first 16 images per
setting to docs/images/fidelity_<setting>.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FAR = (3.0, 6.0)  # the distance range before 0.3 (now 2.5-4.5 m)
SETTINGS = {"before": {"view_transform": "standard", "pose_mode": "so3", "canonical_pose": "front", "distance": FAR},
            "agx-front": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "front", "distance": FAR},
            "agx": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter", "distance": FAR},
            "agx-upright": {"view_transform": "agx", "pose_mode": "upright", "canonical_pose": "three_quarter",
                            "distance": FAR},
            "pose-fixed-front": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "front",
                                 "vary": ("position", "category", "identity"), "distance": FAR},
            "pose-fixed-3q": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter",
                              "vary": ("position", "category", "identity"), "distance": FAR},
            "defaults": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter"},
            "defaults-pose-fixed": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter",
                                    "vary": ("position", "category", "identity")}}
OFF = {"min_visible": 0.0, "min_contrast": 0.0}  # no guarantees before 0.4
SETTINGS = {k: {**v, **OFF} for k, v in SETTINGS.items()}
SETTINGS.update({
    "guarded": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter"},
    "guarded-pose-fixed": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter",
                           "vary": ("position", "category", "identity")},
    "real-size": {"view_transform": "agx", "pose_mode": "so3", "canonical_pose": "three_quarter", "size": "real"},
})


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--data", default=str(ROOT / "benchmarks" / "data" / "fidelity"))
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "fidelity.json"))
    p.add_argument("--sheets", default=str(ROOT / "docs" / "images"))
    p.add_argument("--reuse", action="store_true", help="measure datasets already rendered")
    p.add_argument("--only", default="", help="comma-separated settings (default: all)")
    return p.parse_args(argv)


def render_setting(name: str, args) -> float:
    from latentscape import DatasetSpec, render
    from latentscape.config import RenderSettings
    from latentscape.latents.distributions import Dist
    s = SETTINGS[name]
    spec = DatasetSpec(n=args.n, resolution=args.resolution, shard_size=min(args.n, 250), seed=0,
                       pose_mode=s["pose_mode"], canonical_pose=s["canonical_pose"],
                       **({"vary": s["vary"]} if "vary" in s else {}),
                       **{k: s[k] for k in ("min_visible", "min_contrast", "size") if k in s},
                       **({"distributions": (("distance", Dist(kind="uniform", low=s["distance"][0],
                                                               high=s["distance"][1])),)} if "distance" in s else {}),
                       render=RenderSettings(samples=args.samples, passes=("mask",), view_transform=s["view_transform"]))
    t = time.perf_counter()
    render(spec, Path(args.data) / name, device="cpu", workers=args.workers, overwrite=True, progress=False)
    return time.perf_counter() - t


def guarantee_summary(root: Path) -> dict:
    """Re-draws per cause, how well the predictions match the pixels, and the real sizes drawn."""
    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(root) as r:
        lat = r.latents()
    out = {}
    for cause in ("rejections", "rejections_visible", "rejections_contrast"):
        if f"meta/{cause}" in lat:
            out[f"mean_{cause}"] = float(lat[f"meta/{cause}"].mean())
    pv, seen = lat.get("meta/predicted_visible"), lat.get("meta/visible_fraction")
    if pv is not None and np.isfinite(pv).any():
        out["visible_over_predicted_median"] = float(np.median(seen / pv))
    pc, k = lat.get("meta/predicted_contrast"), lat.get("meta/contrast")
    if pc is not None and k is not None and np.isfinite(pc).sum() > 2:
        ok = np.isfinite(pc) & np.isfinite(k)
        out["contrast_prediction"] = {"images": int(ok.sum()), "corr": float(np.corrcoef(pc[ok], k[ok])[0, 1]),
                                      "median_abs_error": float(np.median(np.abs(pc[ok] - k[ok])))}
    if "meta/size_m" in lat:
        out["size_m_q05_q50_q95"] = [float(x) for x in np.quantile(lat["meta/size_m"], [0.05, 0.5, 0.95])]
        out["distance_q05_q50_q95"] = [float(x) for x in np.quantile(lat["distance"], [0.05, 0.5, 0.95])]
    return out


def sheet(root: Path, out: Path, k: int = 16) -> str:
    from PIL import Image

    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(root) as r:
        imgs = [r.image(i) for i in range(min(k, len(r)))]
    side = imgs[0].shape[0]
    grid = np.full((4 * side, 4 * side, 3), 255, np.uint8)
    for i, im in enumerate(imgs):
        grid[(i // 4) * side:(i // 4 + 1) * side, (i % 4) * side:(i % 4 + 1) * side] = im
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(out)
    return str(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    from latentscape.dataset.fidelity import measure, summarise
    names = [s for s in args.only.split(",") if s] or list(SETTINGS)
    results = {}
    for name in names:
        seconds = None if args.reuse else render_setting(name, args)
        root = Path(args.data) / name
        m = measure(root)
        results[name] = {**{k: list(v) if isinstance(v, tuple) else v for k, v in SETTINGS[name].items()},
                         "render_s": seconds, **summarise(m), **guarantee_summary(root),
                         "sheet": sheet(root, Path(args.sheets) / f"fidelity_{name}.png")}
    keys = ["empty", "under_0.1%", "under_1%", "visible_q05_q50_q95", "clipped_over_20%", "clipped_over_50%",
            "contrast_under_10", "solid_contrast_under_10", "solid_background_images", "mean_rejections",
            "mean_rejections_visible", "mean_rejections_contrast", "visible_over_predicted_median"]
    print(f"{args.n} default images at {args.resolution} px per setting")
    print(f"{'':<26}" + "".join(f"{n:>19}" for n in names))
    for k in keys:
        cells = []
        for n in names:
            v = results[n].get(k)
            cells.append("/".join(f"{x:.3f}" for x in v) if isinstance(v, list) else str(v))
        print(f"{k:<26}" + "".join(f"{c:>19}" for c in cells))
    for n in names:
        pc = results[n].get("category_median_visible") or {}
        print(f"  {n}: per-category median visible {pc.get('min', 0):.4f} ({pc.get('smallest')}) .. "
              f"{pc.get('max', 0):.4f} ({pc.get('largest')})")
    out = {"machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                       "date": datetime.datetime.now().isoformat(timespec="seconds")},
           "command": " ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
           "n": args.n, "resolution": args.resolution, "samples": args.samples, "settings": results}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    if Path(args.json).is_file():  # --only: keep the other settings' results
        old = json.loads(Path(args.json).read_text())
        if (old.get("n"), old.get("resolution"), old.get("samples")) == (args.n, args.resolution, args.samples):
            out["settings"] = {**old.get("settings", {}), **results}
    Path(args.json).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.json}")
    return 0


def _cpu() -> str:
    from train_replication import _cpu as cpu  # benchmarks/ is on sys.path when run as a script
    return cpu()


if __name__ == "__main__":
    sys.exit(main())
