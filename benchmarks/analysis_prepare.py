"""Data and networks for benchmarks/analysis_replication.py (the slow part: rendering + training).

    python benchmarks/analysis_prepare.py            # render what is missing, train what is missing

Everything goes under benchmarks/data/analysis/ (git-ignored) and is reused when present:

  vary/        4,000 images, 64 px, position + pose + category vary (seed 0)
  fixed/       4,000 images, 64 px, only position varies: category and pose held fixed (seed 0)
  probe/       2,000 images, 64 px, position + pose + category vary (seed 1): the analysis set,
               never seen in training
  run-spatial/  resnet18 trained on vary/ to estimate position and pose
  run-category/ resnet18 trained on vary/ to classify the category
  run-pos-vary/ resnet18 trained on vary/ to estimate position only
  run-pos-fixed/ resnet18 trained on fixed/ to estimate position only (same target, no
               non-target variability)

Timings are written to benchmarks/data/analysis/prepare.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "analysis"

DATASETS = {  # name -> (n, seed, vary)
    "vary": (4000, 0, ("position", "pose", "category")),
    "fixed": (4000, 0, ("position",)),
    "probe": (2000, 1, ("position", "pose", "category")),
}
RUNS = {  # name -> (dataset, targets)
    "run-spatial": ("vary", ("position", "pose")),
    "run-category": ("vary", ("category",)),
    "run-pos-vary": ("vary", ("position",)),
    "run-pos-fixed": ("fixed", ("position",)),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DATA))
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", default="", help="comma-separated run names to train (default: all missing)")
    return p.parse_args(argv)


def render_missing(out: Path, args, log: dict) -> None:
    from latentscape import DatasetSpec, render
    from latentscape.config import RenderSettings
    for name, (n, seed, vary) in DATASETS.items():
        root = out / name
        if (root / "dataset.json").is_file():
            continue
        spec = DatasetSpec(n=n, resolution=args.resolution, shard_size=500, seed=seed, library="procedural",
                           vary=vary, render=RenderSettings(samples=args.samples))
        t = time.perf_counter()
        summary = render(spec, root, device="cpu", workers=2, overwrite=True, progress=False)
        log.setdefault("render", {})[name] = {"seconds": time.perf_counter() - t, "n": n, "vary": list(vary)}
        print(summary.line(), flush=True)


def train_missing(out: Path, args, log: dict) -> None:
    import torch
    from latentscape.train import TrainConfig, train
    torch.set_num_threads(args.threads)
    only = {s for s in args.only.split(",") if s}
    for name, (data, targets) in RUNS.items():
        run = out / name
        if (only and name not in only) or (run / "checkpoint.pt").is_file() and _finished(run, args.steps):
            continue
        cfg = TrainConfig(str(out / data), targets=targets, arch="resnet18", steps=args.steps, batch_size=64,
                          lr=1e-3, schedule="cosine", eval_every=200, num_workers=0, device="cpu", seed=0)
        t = time.perf_counter()
        result = train(cfg, run, progress=False)  # continues a run of the same config
        log.setdefault("train", {})[name] = {"seconds": time.perf_counter() - t, "steps": result.step,
                                             "data": data, "targets": list(targets), "last_val": result.metrics}
        print(f"{name}: {result.step} steps in {time.perf_counter() - t:.0f} s; {result.metrics}", flush=True)


def _finished(run: Path, steps: int) -> bool:
    import torch
    return int(torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=False)["step"]) >= steps


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log: dict = {}
    render_missing(out, args, log)
    train_missing(out, args, log)
    path = out / "prepare.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    for k, v in log.items():
        old.setdefault(k, {}).update(v)
    path.write_text(json.dumps(old, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
