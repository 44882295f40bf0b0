"""Image quality against render cost (issue 13): object-pixel PSNR and SSIM of render settings
against a 1,024-sample reference of the same latents, and the time per image.

Quality is measured where the noise is: over the object's pixels (mask = 255 in the reference).
A solid or HDRI background is noise-free in camera rays and would hide the object's noise in a
whole-image PSNR. PSNR of a setting = the mean over images of each image's object-pixel PSNR;
the worst image is reported too. SSIM: luminance SSIM (Gaussian window, sigma 1.5) averaged over
the object's pixels.

    python benchmarks/quality_cost.py                 # 24 scenes at 128 px
    python benchmarks/quality_cost.py --n 8 --resolution 64 --only raw16,dn-fast8

Scenes: the first --n images of the default library (procedural + furniture) with every group
varying (seed 7): materials, sizes and backgrounds as a dataset has them. Every setting renders
the same latents with the same seeds, one fresh Blender process per setting, threads = all cores
(one CPU worker). Writes benchmarks/results/quality_cost.json and docs/images/quality_cost.png.
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
REF_SAMPLES = 1024


def _s(samples, **kw):
    return {"samples": samples, **kw}


# name -> render settings (StageSettings fields); every other field at its default
SETTINGS = {
    **{f"raw{n}": _s(n) for n in (4, 8, 16, 32, 64, 128)},
    **{f"dn-fast{n}": _s(n, denoise=True, denoise_prefilter="fast") for n in (2, 4, 8, 16, 32)},
    **{f"dn-acc{n}": _s(n, denoise=True, denoise_prefilter="accurate") for n in (2, 4, 8, 16, 32)},
    "adapt0.05-64": _s(64, adaptive_threshold=0.05),
    "adapt0.02-64": _s(64, adaptive_threshold=0.02),
    "adapt0.1-32-dn": _s(32, adaptive_threshold=0.1, denoise=True, denoise_prefilter="accurate"),
    "raw16-bounces4": _s(16, max_bounces=4),
    "raw16-clamp1": _s(16, clamp_indirect=1.0),
    "dn-acc8-bounces4": _s(8, denoise=True, denoise_prefilter="accurate", max_bounces=4),
    # what a BlenderProc user gets by default: adaptive sampling (noise threshold 0.01) up to
    # 1,024 samples and the denoiser (BlenderProc's renderer defaults)
    "blenderproc-default": _s(1024, adaptive_threshold=0.01, denoise=True, denoise_prefilter="accurate"),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=24)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--only", default="", help="comma-separated settings (default: all)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quality_cost.json"))
    p.add_argument("--plot", default=str(ROOT / "docs" / "images" / "quality_cost.png"))
    p.add_argument("--cache", default=str(ROOT / "benchmarks" / "data" / "quality"),
                   help="where the reference renders are kept (reused when the scenes match)")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- in a child (bpy)
def child_render(n: int, resolution: int, settings: dict) -> dict:
    """Render the first n scenes with `settings`; images, masks and seconds per image."""
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
        stage.render(state)  # warm: load the object, build the BVH (not what a dataset pays per image)
        t = time.perf_counter()
        rgb, mask = stage.render(state)
        secs.append(time.perf_counter() - t)
        imgs.append(rgb)
        masks.append(mask)
    return {"images": np.stack(imgs), "masks": np.stack(masks), "seconds": secs,
            "objects": [r.library.objects[int(o)].name for o in lat["object_id"]]}


def _child_entry(q, kwargs):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Blender prints to the C-level stdout
    try:
        q.put(("ok", child_render(**kwargs)))
    except BaseException as e:  # noqa: BLE001
        import traceback
        q.put(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def render_in_child(n: int, resolution: int, settings: dict, timeout: float = 7200) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_entry, args=(q, {"n": n, "resolution": resolution, "settings": settings}))
    p.start()
    try:
        status, value = q.get(timeout=timeout)
    finally:
        p.join(60)
        if p.is_alive():
            p.kill()
    if status != "ok":
        raise RuntimeError(f"render failed in child:\n{value}")
    return value


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
    path = Path(args.cache) / f"reference_{args.n}_{args.resolution}_{REF_SAMPLES}.npz"
    if path.is_file():
        z = np.load(path, allow_pickle=False)
        return {"images": z["images"], "masks": z["masks"], "seconds": list(z["seconds"]),
                "objects": list(z["objects"])}
    print(f"rendering the reference: {args.n} images at {REF_SAMPLES} samples ...", flush=True)
    ref = render_in_child(args.n, args.resolution, {"samples": REF_SAMPLES})
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
            ax.plot(r["ms_per_image"], r["psnr_mean"], "kx")
            ax.annotate(k, (r["ms_per_image"], r["psnr_mean"]), textcoords="offset points", xytext=(3, 3),
                        fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("ms per image (CPU, this machine)")
    ax.set_ylabel("object-pixel PSNR vs 1,024 spp (dB, mean over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)


def main(argv=None) -> int:
    args = parse_args(argv)
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
