"""Replication benchmark: render a small dataset with Blender, train on the CPU, report held-out
figures against the targets of issue 10.

    python benchmarks/train_replication.py                # the recorded run (docs/training.md)
    python benchmarks/train_replication.py --reuse-data   # train again on the rendered dataset

Steps (timed separately; the wall time covers all of them):

1. render   `DatasetSpec(n=4000, resolution=64, library="procedural", vary=(position, pose,
            category), samples 4)` with `render(..., device="cpu", workers=2)` into
            DATA (default benchmarks/data/replication, git-ignored; replaced unless --reuse-data).
2. train    `latentscape.train.train` on the CPU: targets position, image_xy, pose (sin/cos),
            category; the default split (80/10/10, seed 0) - training on `train`, curves on `val`.
            torch runs with --threads intra-op threads (set explicitly: on this 2-core machine
            two threads fight anything else that runs, one thread per process is then faster).
3. evaluate `latentscape.train.evaluate(run, split="test")`: the held-out test part (400 images,
            never used for training or model selection), plus the figures of a constant guess
            (the training mean / the most frequent class) on the same images for reference.

Prints a table and writes JSON (--json, default benchmarks/results/train_replication.json): R²
and MAE per position coordinate (camera frame x, y, z in metres) and image position (u, v),
pose errors in degrees (yaw, pitch, roll MAE, wrapped; mean geodesic angle), category
accuracy against chance, training img/s (optimiser steps only, evaluations excluded),
rendering img/s, and the wall time of each step. Targets (issue 10, 2-core machine): R² >= 0.9
for x and y, category accuracy >= 3x chance, <= 30 minutes including rendering.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("position", "image_xy", "pose", "category")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT / "benchmarks" / "data" / "replication"), help="dataset root")
    p.add_argument("--run", default=None, help="run directory (default: DATA_run)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "train_replication.json"))
    p.add_argument("--reuse-data", action="store_true",
                   help="train on the dataset already at DATA (the wall time then excludes rendering)")
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--samples", type=int, default=4, help="Cycles samples per pixel")
    p.add_argument("--render-workers", type=int, default=2)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers while training")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads while training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-min", type=float, default=30.0, help="the wall-time target, minutes")
    p.add_argument("--label", default="", help="a note stored in the JSON (e.g. which attempt)")
    return p.parse_args(argv)


def render_data(args) -> dict:
    from latentscape import DatasetSpec, render
    from latentscape.config import RenderSettings
    spec = DatasetSpec(n=args.n, resolution=args.resolution, shard_size=500, seed=args.seed, library="procedural",
                       vary=("position", "pose", "category"), render=RenderSettings(samples=args.samples))
    t = time.perf_counter()
    summary = render(spec, args.data, device="cpu", workers=args.render_workers, overwrite=True, progress=False)
    wall = time.perf_counter() - t
    print(summary.line(), flush=True)
    busy = summary.seconds - summary.startup_seconds
    return {"n": args.n, "resolution": args.resolution, "samples": args.samples, "library": "procedural",
            "vary": ["position", "pose", "category"], "workers": args.render_workers, "rendered": summary.rendered,
            "seconds": wall, "startup_s": summary.startup_seconds,
            "img_s": summary.rendered / wall if wall > 0 else None,
            "img_s_after_startup": summary.rendered / busy if busy > 0 else None}


def baseline(run: Path, data: str) -> dict:
    """Metrics of a constant guess on the test part: z-score 0 (the training mean) for continuous
    targets, the mean training sin/cos for the pose, the most frequent training class."""
    import numpy as np
    import torch
    from latentscape.train.checkpoint import load_checkpoint
    from latentscape.train.data import open_part
    from latentscape.train.heads import heads_from_list
    from latentscape.train.metrics import compute_metrics
    from latentscape.train.rundir import open_run
    _, cfg = open_run(run)
    heads = heads_from_list(load_checkpoint(run / "checkpoint.pt")["heads"])
    train_ds, test_ds = open_part(data, cfg, "train", zscore=False), open_part(data, cfg, "test", zscore=False)

    def targets(ds):
        ys = [ds.targets_of(i) for i in range(len(ds))]
        return {k: torch.stack([y[k] for y in ys]).numpy() for k in ys[0]}
    ytr, yte = targets(train_ds), targets(test_ds)
    n = len(test_ds)
    preds = {}
    for h in heads:
        if h.kind == "continuous":
            preds[h.key] = np.zeros((n, h.width))
        elif h.kind == "categorical":
            preds[h.key] = np.tile(np.eye(h.width)[np.bincount(ytr[h.key], minlength=h.width).argmax()], (n, 1))
        else:
            preds[h.key] = np.tile(ytr[h.key].reshape(len(ytr[h.key]), -1).mean(0), (n, 1))
    return compute_metrics(heads, preds, yte)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch
    from latentscape.train import TrainConfig, evaluate, train

    t_all = time.perf_counter()
    data = os.path.abspath(args.data)
    run = Path(args.run or data + "_run")
    if args.reuse_data:
        if not (Path(data) / "dataset.json").is_file():
            print(f"error: --reuse-data, but there is no dataset at {data}", file=sys.stderr)
            return 2
        rendering = None
    else:
        rendering = render_data(args)

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(data, targets=TARGETS, arch=args.arch, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      schedule=args.schedule, eval_every=args.eval_every, num_workers=args.num_workers,
                      device="cpu", seed=args.seed)
    if run.exists():
        shutil.rmtree(run)
    stamps: list[float] = []
    t_train = time.perf_counter()
    stamps.append(t_train)
    result = train(cfg, run, progress=sys.stderr.isatty(), on_step=lambda s: stamps.append(time.perf_counter()))
    train_s = time.perf_counter() - t_train
    # steps that ended in an evaluation + checkpoint are left out of the rate; the first few warm up
    durations = [(b - a, i + 1) for i, (a, b) in enumerate(zip(stamps, stamps[1:]))]
    plain = [d for d, s in durations if s % args.eval_every and s > 5]
    train_img_s = args.batch_size * len(plain) / sum(plain) if plain else float("nan")

    t_eval = time.perf_counter()
    report = evaluate(run, split="test", device="cpu")
    eval_s = time.perf_counter() - t_eval
    base = baseline(run, data)
    wall = time.perf_counter() - t_all

    m, chance = report["metrics"], report["chance"]["category.chance"]
    rows = [("position.x.r2", ">= 0.9"), ("position.y.r2", ">= 0.9"), ("position.z.r2", ""),
            ("position.x.mae", "m"), ("position.y.mae", "m"), ("position.z.mae", "m"),
            ("image_xy.u.r2", ""), ("image_xy.v.r2", ""), ("image_xy.u.mae", "image units"),
            ("image_xy.v.mae", "image units"),
            ("pose.yaw.mae_deg", "deg"), ("pose.pitch.mae_deg", "deg"), ("pose.roll.mae_deg", "deg"),
            ("pose.geodesic_deg", "deg"), ("category.acc", f">= 3 x chance = {3 * chance:.3f}"), ("category.top5", "")]
    checks = {"position.x.r2 >= 0.9": m["position.x.r2"] >= 0.9, "position.y.r2 >= 0.9": m["position.y.r2"] >= 0.9,
              "category.acc >= 3 x chance": m["category.acc"] >= 3 * chance,
              f"wall <= {args.budget_min:g} min": wall <= args.budget_min * 60 and rendering is not None}
    print(f"\ntest part of {data}: {report['n']} images, step {report['step']}")
    print(f"{'metric':<20} {'network':>9} {'constant guess':>15}  note")
    for k, note in rows:
        print(f"{k:<20} {m[k]:>9.4f} {base.get(k, float('nan')):>15.4f}  {note}")
    print(f"{'category.chance':<20} {chance:>9.4f}")
    if rendering:
        print(f"rendering: {rendering['rendered']} images in {rendering['seconds']:.1f} s "
              f"({rendering['img_s']:.1f} img/s, workers={rendering['workers']})")
    print(f"training: {args.steps} steps x {args.batch_size} in {train_s:.1f} s ({train_img_s:.1f} img/s in the "
          f"optimiser steps; {args.arch}, {args.threads} torch thread(s), {args.num_workers} loader workers)")
    print(f"evaluation: {eval_s:.1f} s; wall time {wall / 60:.1f} min"
          + ("" if rendering else " (without rendering: --reuse-data)"))
    for k, ok in checks.items():
        print(f"  {'met   ' if ok else 'MISSED'} {k}")

    out = {"machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                       "torch": str(torch.__version__), "platform": platform.platform(),
                       "date": datetime.datetime.now().isoformat(timespec="seconds")},
           "command": " ".join([Path(sys.argv[0]).name] + (sys.argv[1:] if argv is None else list(argv))),
           "label": args.label,
           "config": {**cfg.to_dict(), "threads": args.threads},
           "rendering": rendering,
           "training": {"seconds": train_s, "img_s": train_img_s, "steps": result.step,
                        "last_val": result.metrics},
           "evaluation": {"split": report["split"], "n": report["n"], "seconds": eval_s},
           "test": m, "chance": report["chance"], "constant_guess": base,
           "wall_s": wall, "includes_rendering": rendering is not None, "targets_met": checks,
           "curves": str(run / "curves.png"), "metrics_csv": str(run / "metrics.csv")}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1, default=_json_default))
    print(f"wrote {args.json}; curves: {run / 'curves.png'}")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _json_default(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


if __name__ == "__main__":
    sys.exit(main())
