"""The run directory: what it holds, when it may be written, and its config.yaml.

    RUN/config.yaml      the TrainConfig (re-runnable: `latentscape train --config RUN/config.yaml`)
                         plus `run:` the dataset's identity (spec hash, n, resolution, shard
                         digest), the heads, the input size, package and torch versions
    RUN/checkpoint.pt    see checkpoint.py
    RUN/metrics.csv      one row per evaluation; RUN/curves.png; RUN/tb/ (TensorBoard, optional)
    RUN/eval-NAME.json   written by `evaluate`

A new run goes into a missing or empty directory. A directory holding a run of the same
config (only `steps` and `num_workers` may differ) is continued; anything else is refused
unless `overwrite`, which removes the run files listed above (and nothing else).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from latentscape.errors import TrainError
from latentscape.files import write_atomic
from latentscape.outpaths import check_output_dir, check_replaceable
from latentscape.train.config import TrainConfig

CONFIG = "config.yaml"
CHECKPOINT = "checkpoint.pt"
RUN_FILES = (CONFIG, CHECKPOINT, "metrics.csv", "curves.png")


def check_run_dir(out, cfg: TrainConfig, overwrite: bool) -> tuple[Path, str]:
    """(the run directory, what to do with it) before anything is written: "new" (missing or
    empty), "continue" (a run of this config), "overwrite" (another run or other files, and
    `overwrite`). Anything else is refused."""
    run = check_output_dir(out, what="run directory (--out)", parents=True)
    if not run.exists() or not any(run.iterdir()):
        return run, "new"
    old = None
    if (run / CONFIG).is_file():
        try:
            old = TrainConfig.from_yaml(run / CONFIG)
        except TrainError:
            old = None
    if old is not None and old.same_run(cfg):
        return run, "continue"
    if overwrite:
        return run, "overwrite"
    if old is not None:
        diff = "; ".join(old.differences(cfg)[:4])
        raise TrainError(f"run directory {run} holds a run with another config ({diff}); continue it with "
                         f"--resume {run}, or choose another --out, or pass --overwrite to replace it")
    raise TrainError(f"run directory {run} exists and is not a latentscape run (no readable {CONFIG}); choose "
                     f"another --out or an empty directory, or pass --overwrite to write the run into it")


def make_run_dir(run: Path, action: str) -> bool:
    """Create (or clear) the run directory as `check_run_dir` decided; True if it holds a
    checkpoint to continue from."""
    if action == "overwrite":
        clear_run(run)
    run.mkdir(parents=True, exist_ok=True)
    return action == "continue" and (run / CHECKPOINT).is_file()


def clear_run(run: Path) -> None:
    """Remove the files a run writes (and only those)."""
    for name in RUN_FILES:
        p = run / name
        check_replaceable(p, what="run file")
        p.unlink(missing_ok=True)
    for p in run.glob("eval-*.json"):
        check_replaceable(p, what="run file")
        p.unlink()
    tb = run / "tb"
    if tb.is_dir() and not tb.is_symlink() and all(f.name.startswith("events.out.tfevents") for f in tb.iterdir()):
        shutil.rmtree(tb)


def open_run(path) -> tuple[Path, TrainConfig]:
    """An existing run directory and its config (for --resume and evaluate)."""
    run = Path(os.path.abspath(path))
    if not run.is_dir():
        raise TrainError(f"run {run} does not exist (give the --out directory of a training run)")
    if not (run / CONFIG).is_file():
        raise TrainError(f"{run} is not a training run: it has no {CONFIG}")
    return run, TrainConfig.from_yaml(run / CONFIG)


def write_config(run: Path, cfg: TrainConfig, record: dict) -> Path:
    path = run / CONFIG
    check_replaceable(path, what="run file")
    write_atomic(path, cfg.to_yaml(run=record))
    return path


def read_record(run: Path) -> dict:
    """The `run:` record of RUN/config.yaml ({} when absent)."""
    from latentscape.train.config import read_yaml
    rec = read_yaml(Path(run) / CONFIG).get("run")
    return rec if isinstance(rec, dict) else {}
