"""Image quality against render cost (issue 13): object-pixel PSNR and SSIM of render settings
against a 1,024-sample reference of the same latents, and the time per image.

Quality is measured where the noise is: over the object's pixels (mask = 255 in the reference).
A solid or HDRI background is noise-free in camera rays and would hide the object's noise in a
whole-image PSNR. PSNR of a setting = the mean over images of each image's object-pixel PSNR;
the worst image is reported too. SSIM: luminance SSIM (Gaussian window, sigma 1.5) averaged over
the object's pixels.

    python benchmarks/quality_cost.py                 # 24 scenes at 128 px
    python benchmarks/quality_cost.py --n 8 --resolution 64 --only raw16,dn-fast8
    python benchmarks/quality_cost.py --throughput --n 120 --resolution 224 --json quality_throughput.json

The reference is rendered with other Cycles seeds than the settings, so their noise is independent.
Scenes: the first --n images of the default library (procedural + furniture) with every group
varying (seed 7): materials, sizes and backgrounds as a dataset has them. Every setting renders
the same latents with the same seeds, one fresh Blender process per setting, threads = all cores
(one CPU worker). Writes benchmarks/results/quality_cost.json and docs/images/quality_cost.png.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from fresh import in_fresh_process  # benchmarks/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
REF_SAMPLES = 1024
REF_SEED_OFFSET = 1_000_003  # the reference's Cycles seeds: independent of every setting's


RAW = {"denoise": False, "denoise_prefilter": "fast", "adaptive_threshold": 0.0, "max_bounces": 12,
       "clamp_indirect": 10.0, "filter_width": 1.5}  # Cycles' own defaults, no denoiser


def _s(samples, **kw):
    return {**RAW, "samples": samples, **kw}


# name -> render settings (StageSettings fields); every other field at its default
SETTINGS = {
    **{f"raw{n}": _s(n) for n in (4, 8, 16, 32, 64, 128)},
    **{f"dn-fast{n}": _s(n, denoise=True, denoise_prefilter="fast") for n in (2, 4, 8, 16, 32, 64)},
    **{f"dn-acc{n}": _s(n, denoise=True, denoise_prefilter="accurate") for n in (2, 4, 8, 16, 32)},
    "adapt0.05-64": _s(64, adaptive_threshold=0.05),
    "adapt0.02-64": _s(64, adaptive_threshold=0.02),
    "adapt0.1-32-dn": _s(32, adaptive_threshold=0.1, denoise=True, denoise_prefilter="accurate"),
    "raw16-bounces4": _s(16, max_bounces=4),
    "raw16-clamp1": _s(16, clamp_indirect=1.0),
    "dn-acc8-bounces4": _s(8, denoise=True, denoise_prefilter="accurate", max_bounces=4),
    **{f"raw{n}-bounces4": _s(n, max_bounces=4) for n in (4, 64)},
    **{f"dn-fast{n}-bounces4": _s(n, denoise=True, max_bounces=4) for n in (2, 8, 16, 32, 64)},
    # what a BlenderProc user gets by default: adaptive sampling (noise threshold 0.01) up to
    # 1,024 samples and the denoiser (BlenderProc's renderer defaults)
    "blenderproc-default": _s(1024, adaptive_threshold=0.01, denoise=True, denoise_prefilter="accurate"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--only", default="", help="comma-separated settings (default: all)")
    p.add_argument("--replot", action="store_true", help="only redraw the plot from --json")
    p.add_argument("--throughput", action="store_true",
                   help="instead: img/s of each preset through the real pipeline (render_dataset)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quality_cost.json"))
    p.add_argument("--plot", default=str(ROOT / "docs" / "images" / "quality_cost.png"))
    p.add_argument("--cache", default=str(ROOT / "benchmarks" / "data" / "quality"),
                   help="where the reference renders are kept (reused when the scenes match)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- in a child (bpy)
def child_render(n: int, resolution: int, settings: dict, seed_offset: int = 0) -> dict:
    """Render the first n scenes with `settings`; images, masks and seconds per image. The
    reference uses other Cycles seeds (`seed_offset`), so its noise is independent of the
    settings' (with the same seed, N samples would be the first N of its 1,024 and the PSNR
    inflated: by ~0.5 dB at 64 spp, far more for a setting near 1,024)."""
    from latentscape.config import DatasetSpec
    from latentscape.renderer.blender.stage import Stage
    from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings
    from latentscape.resolve import resolve
    r = resolve(DatasetSpec(n=n, seed=7, resolution=resolution))
    lat = r.sampler.sample_range(0, n)
    base = StageSettings.for_spec(r.spec, device="cpu", want_mask=True, want_depth=False, device_slot=None,
                                  threads=os.cpu_count() or 1, scene=r.scene)
    stage = Stage(base.replace(**settings), [ObjectRef.of(o) for o in r.library.objects],
                  [BackgroundRef.of(b) for b in r.backgrounds])
    imgs, masks, secs = [], [], []
    for row in range(n):
        state = ImageState.from_row(lat, row)
        if seed_offset:
            state = dataclasses.replace(state, seed=state.seed + seed_offset)
        stage.render(state)  # warm: load the object, build the BVH (not what a dataset pays per image)
        t = time.perf_counter()
        rgb, mask = stage.render(state)
        secs.append(time.perf_counter() - t)
        imgs.append(rgb)
        masks.append(mask)
    return {"images": np.stack(imgs), "masks": np.stack(masks), "seconds": secs,
            "objects": [r.library.objects[int(o)].name for o in lat["object_id"]]}


def render_in_child(n: int, resolution: int, settings: dict, seed_offset: int = 0, timeout: float = 7200) -> dict:
    return in_fresh_process(child_render, timeout=timeout, n=n, resolution=resolution, settings=settings,
                            seed_offset=seed_offset)


# --------------------------------------------------------------------------- metrics (numpy/scipy)
def object_psnr(img: np.ndarray, ref: np.ndarray, obj: np.ndarray) -> float:
    """PSNR (dB, peak 255) over the object's pixels (all three channels)."""
    d = img[obj].astype(np.float64) - ref[obj].astype(np.float64)
    mse = float(np.mean(d * d))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def object_ssim(img: np.ndarray, ref: np.ndarray, obj: np.ndarray, sigma: float = 1.5) -> float:
    """Luminance SSIM (Wang et al. 2004, Gaussian window) averaged over the object's pixels."""
    from scipy.ndimage import gaussian_filter
    luma = np.array([0.2126, 0.7152, 0.0722])
    x, y = img.astype(np.float64) @ luma, ref.astype(np.float64) @ luma
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = gaussian_filter(x, sigma), gaussian_filter(y, sigma)
    vx = gaussian_filter(x * x, sigma) - mx * mx
    vy = gaussian_filter(y * y, sigma) - my * my
    cxy = gaussian_filter(x * y, sigma) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s[obj].mean())


def score(run: dict, ref: dict) -> dict:
    psnr, ssim = [], []
    for img, r, m in zip(run["images"], ref["images"], ref["masks"]):
        obj = m == 255
        if obj.sum() < 16:
            continue
        psnr.append(object_psnr(img, r, obj))
        ssim.append(object_ssim(img, r, obj))
    psnr = np.array(psnr)
    worst = int(np.argmin(psnr))
    return {"psnr_mean": float(np.mean(np.minimum(psnr, 99.0))), "psnr_worst": float(psnr[worst]),
            "worst_object": run["objects"][worst], "ssim_mean": float(np.mean(ssim)),
            "ms_per_image": 1000 * float(np.mean(run["seconds"])), "images": int(len(psnr))}


# --------------------------------------------------------------------------- driver
def reference(args) -> dict:
    path = Path(args.cache) / f"reference_{args.n}_{args.resolution}_{REF_SAMPLES}_seed{REF_SEED_OFFSET}.npz"
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        return {"images": z["images"], "masks": z["masks"], "seconds": list(z["seconds"]),
                "objects": list(z["objects"])}
    print(f"rendering the reference: {args.n} images at {REF_SAMPLES} samples ...", flush=True)
    ref = render_in_child(args.n, args.resolution, _s(REF_SAMPLES), seed_offset=REF_SEED_OFFSET)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=ref["images"], masks=ref["masks"], seconds=np.array(ref["seconds"]),
                        objects=np.array(ref["objects"]))
    return ref


def plot(results: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    families = {"raw": ("raw", "o-"), "dn-fast": ("OIDN, fast prefilter", "s-"),
                "dn-acc": ("OIDN, accurate prefilter + guides", "^-")}
    for prefix, (label, style) in families.items():
        pts = sorted((r["ms_per_image"], r["psnr_mean"], r["samples"]) for k, r in results.items()
                     if k.startswith(prefix) and k[len(prefix):].isdigit())
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
            for x, y, spp in pts:
                ax.annotate(str(spp), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7)
    for k, r in results.items():
        if not any(k.startswith(p) and k[len(p):].isdigit() for p in families):
            quiet = k.endswith(("-bounces4", "-clamp1"))  # same PSNR as without: unlabelled
            ax.plot(r["ms_per_image"], r["psnr_mean"], "x", color="0.6" if quiet else "k")
            if not quiet:
                ax.annotate(k, (r["ms_per_image"], r["psnr_mean"]), textcoords="offset points", xytext=(3, 3),
                            fontsize=7)
    from latentscape.config import QUALITY_PRESETS
    for name, preset in QUALITY_PRESETS.items():
        hit = [r for r in results.values() if all(r.get(k) == v for k, v in {**RAW, **preset}.items())]
        if hit:
            ax.plot(hit[0]["ms_per_image"], hit[0]["psnr_mean"], "*", color="crimson", markersize=14, zorder=5)
            ax.annotate(f"--quality {name}", (hit[0]["ms_per_image"], hit[0]["psnr_mean"]), color="crimson",
                        textcoords="offset points", xytext=(-20, 9), fontsize=8, weight="bold")
    ax.set_xscale("log")
    ax.set_xlabel("ms per image (CPU, this machine)")
    ax.set_ylabel("object-pixel PSNR vs 1,024 spp (dB, mean over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def pipeline_rate(settings: dict, n: int, resolution: int, workers: int = 1) -> dict:
    """img/s of the real pipeline (render_dataset: default library, every group varying, HDF5
    writer) with these render settings; start-up corrected with a 2-image run, as
    render_throughput.py does."""
    import shutil
    import tempfile

    from latentscape.config import DatasetSpec, RenderSettings
    from latentscape.pipeline.local import render_dataset
    render = RenderSettings(**{k: v for k, v in settings.items() if k != "quality"})
    out = {}
    for count in (2, n):
        root = tempfile.mkdtemp(prefix="ls_quality_")
        try:
            spec = DatasetSpec(n=count, seed=7, resolution=resolution, shard_size=count, render=render)
            out[count] = render_dataset(spec, root, device="cpu", workers=workers, progress=False).seconds
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return {"images": n, "seconds": out[n], "img_s": (n - 2) / max(out[n] - out[2], 1e-9),
            "raw_img_s": n / out[n]}


def throughput(args) -> None:
    """--throughput: pipeline img/s of the presets and of the settings before 0.4, at --resolution."""
    from latentscape.config import QUALITY_PRESETS
    rows = {**{f"preset:{k}": {**RAW, **v} for k, v in QUALITY_PRESETS.items()}, "before-0.4 (raw16)": _s(16)}
    res = {}
    for name, st in rows.items():
        res[name] = {**st, **pipeline_rate(st, args.n, args.resolution)}
        print(f"{name:<20} {res[name]['img_s']:6.2f} img/s (raw {res[name]['raw_img_s']:.2f}, "
              f"{args.n} images at {args.resolution} px)", flush=True)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine": {"cpu": _cpu(), "cores": os.cpu_count(),
                                            "date": datetime.datetime.now().isoformat(timespec="seconds")},
                                "resolution": args.resolution, "n": args.n, "pipeline": res}, indent=1))
    print(f"wrote {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.throughput:
        throughput(args)
        return 0
    if args.replot:
        plot(json.loads(Path(args.json).read_text())["settings"], Path(args.plot))
        return 0
    names = [s for s in args.only.split(",") if s] or list(SETTINGS)
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        raise SystemExit(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")
    ref = reference(args)
    results = {}
    for name in names:
        run = render_in_child(args.n, args.resolution, SETTINGS[name])
        results[name] = {**SETTINGS[name], **score(run, ref)}
        r = results[name]
        print(f"{name:<22} {r['psnr_mean']:6.1f} dB (worst {r['psnr_worst']:5.1f}, {r['worst_object']}) "
              f"SSIM {r['ssim_mean']:.3f}  {r['ms_per_image']:8.1f} ms/image", flush=True)
    out = {"machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                       "date": datetime.datetime.now().isoformat(timespec="seconds")},
           "command": " ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
           "n": args.n, "resolution": args.resolution, "reference_samples": REF_SAMPLES,
           "reference_ms_per_image": 1000 * float(np.mean(ref["seconds"])), "settings": results}
    path = Path(args.json)
    if path.is_file():  # --only: keep the other settings' results of the same scenes
        old = json.loads(path.read_text())
        if (old.get("n"), old.get("resolution")) == (args.n, args.resolution):
            out["settings"] = {**old.get("settings", {}), **results}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    plot(out["settings"], Path(args.plot))
    print(f"wrote {path} and {args.plot}")
    return 0


def _cpu() -> str:
    from train_replication import _cpu as cpu  # benchmarks/ is on sys.path when run as a script
    return cpu()


if __name__ == "__main__":
    sys.exit(main())
