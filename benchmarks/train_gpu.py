"""A short training run on a GPU with AMP, prepared for a lent GPU machine: img/s and metrics.

On the GPU machine, from the repository root (the package runs from the working tree; only
torch, numpy and h5py are needed on that path):

    PYTHONPATH=. python3 benchmarks/train_gpu.py --json $OUT/train_gpu.json

The dataset must be made here first (it is git-ignored, so it travels only when named in the
device tool's `carry`):

    python benchmarks/make_train_gpu_data.py        # -> benchmarks/data/train_gpu (~10 MB)

What it does: `latentscape.train.train` for --steps optimiser steps (default 300, batch 256,
resnet18 when torchvision is importable, else tinycnn; `--arch` chooses) on --device (cuda)
with AMP (bfloat16 where supported, else float16 with a gradient scaler), one evaluation on
the val part at the end, then `evaluate(run, split="test")`. img/s counts the steps after
--warmup steps (cuDNN autotuning, loader start-up) up to the step before the last (which
also evaluates), with the device synchronised at both ends, data loading included. Writes
JSON (--json): versions, device, config, img/s, the final val and test metrics.

If PyYAML is missing, a stand-in that writes and reads JSON (which is YAML) is registered
before latentscape is imported (`yaml` in the JSON says which was used). matplotlib, tqdm,
click, Pillow and tensorboard are optional (no curves.png / bar / events without them).
`--device cpu --steps 3` runs the same path on a CPU (tests/test_train_gpu_script.py).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "train_gpu"


def yaml_stand_in() -> str:
    """PyYAML's version, or register a JSON-backed `yaml` module (safe_dump / safe_load /
    YAMLError: all latentscape uses) when PyYAML is not installed."""
    try:
        import yaml
        return f"PyYAML {yaml.__version__}"
    except ImportError:
        pass
    mod = types.ModuleType("yaml")

    class YAMLError(ValueError):
        pass

    def safe_dump(data, stream=None, sort_keys=True, **_):
        text = json.dumps(data, indent=1, sort_keys=sort_keys, default=str) + "\n"
        if stream is None:
            return text
        stream.write(text)

    def safe_load(stream):
        text = stream if isinstance(stream, (str, bytes)) else stream.read()
        try:
            return json.loads(text)
        except ValueError as e:
            raise YAMLError(f"not JSON (PyYAML is not installed here, so only JSON-style YAML is read): {e}") from None

    mod.YAMLError, mod.safe_dump, mod.safe_load, mod.__version__ = YAMLError, safe_dump, safe_load, "stand-in"
    sys.modules["yaml"] = mod
    return "stand-in (JSON; PyYAML not installed)"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA), help=f"dataset root (default {DATA.relative_to(ROOT)})")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--arch", default="auto", help="auto: resnet18 if torchvision is importable, else tinycnn")
    p.add_argument("--targets", default="position,image_xy,pose,category")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: min(8, CPUs - 1))")
    p.add_argument("--warmup", type=int, default=20, help="steps left out of img/s")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", default=None, help="run directory (default: a temporary one, removed)")
    p.add_argument("--json", default=None, help="write the results here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (Path(args.data) / "dataset.json").is_file():
        print(f"error: no dataset at {args.data}; make it with python benchmarks/make_train_gpu_data.py (and carry "
              f"benchmarks/data/train_gpu to the GPU machine)", file=sys.stderr)
        return 2
    yaml_used = yaml_stand_in()
    import h5py
    import numpy as np
    import torch
    from latentscape.train import TrainConfig, evaluate, train
    from latentscape.train.evaluation import amp_dtype

    if args.threads:
        torch.set_num_threads(args.threads)
    arch = args.arch
    if arch == "auto":
        try:
            import importlib
            importlib.import_module("torchvision")
            arch = "resnet18"
        except ImportError:
            arch = "tinycnn"
    workers = args.num_workers if args.num_workers is not None else max(0, min(8, (os.cpu_count() or 1) - 1))
    cfg = TrainConfig(os.path.abspath(args.data), targets=args.targets, arch=arch, steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, amp=args.amp,
                      eval_every=args.steps, num_workers=workers, device=args.device)
    tmp = None
    if args.out is None:
        tmp = tempfile.TemporaryDirectory(prefix="train_gpu_")
        out = Path(tmp.name) / "run"
    else:
        out = Path(args.out)
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            print(f"error: --device {args.device}, but torch {torch.__version__} finds no CUDA GPU", file=sys.stderr)
            return 2
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick its fastest kernels

    warm = max(0, min(args.warmup, args.steps - 2))  # timed: steps warm+1 .. steps-1
    marks: dict[int, float] = {}

    def on_step(done: int):
        if done in (warm, args.steps - 1):
            if cuda:
                torch.cuda.synchronize(dev)
            marks[done] = time.perf_counter()

    if warm == 0:
        on_step(0)
    t0 = time.perf_counter()
    result = train(cfg, out, progress=False, on_step=on_step, overwrite=True)
    train_s = time.perf_counter() - t0
    timed = args.steps - 1 - warm
    img_s = (timed * args.batch_size / (marks[args.steps - 1] - marks[warm])
             if timed > 0 and warm in marks and args.steps - 1 in marks else None)
    t1 = time.perf_counter()
    test = evaluate(out, split="test", device=args.device, num_workers=workers)
    eval_s = time.perf_counter() - t1

    report = {
        "script": "benchmarks/train_gpu.py", "argv": sys.argv[1:] if argv is None else list(argv),
        "python": platform.python_version(), "torch": str(torch.__version__), "numpy": np.__version__,
        "h5py": h5py.__version__, "yaml": yaml_used, "cuda": torch.version.cuda,
        "device": str(dev), "device_name": torch.cuda.get_device_name(dev) if cuda else platform.processor() or "cpu",
        "cpus": os.cpu_count(), "amp": bool(args.amp and cuda),
        "amp_dtype": str(amp_dtype(dev)).replace("torch.", "") if args.amp and cuda else None,
        "config": cfg.to_dict(), "arch": arch, "num_workers": workers,
        "steps": result.step, "batch_size": args.batch_size, "warmup_steps": warm, "timed_steps": timed,
        "img_s": img_s, "train_s": train_s, "eval_s": eval_s,
        "val": result.metrics, "test": test["metrics"], "test_n": test["n"], "chance": test["chance"],
    }
    width = max(len(k) for k in test["metrics"])
    print(f"{report['device_name']} ({report['device']}), torch {report['torch']}, numpy {report['numpy']}, "
          f"AMP {report['amp_dtype'] or 'off'}, {arch}, batch {args.batch_size}, {workers} loader workers")
    print(f"img/s: {img_s:.0f} (steps {warm + 1}..{args.steps - 1})" if img_s else "img/s: - (too few steps)")
    print(f"{result.step} steps in {train_s:.1f} s; test part ({test['n']} images) at step {test['step']}:")
    for k, v in test["metrics"].items():
        print(f"  {k:<{width}}  {v:.4f}")
    for k, v in test["chance"].items():
        print(f"  {k:<{width}}  {v:.4f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
        print(f"wrote {args.json}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
