"""Evaluation: the model's predictions on a dataset part, turned into losses and metrics in
natural units; and `evaluate(run, data=..., split=...)`, which does so for a finished (or
running) run on any dataset and writes RUN/eval-<name>.json.

    from latentscape.train import evaluate
    result = evaluate("runs/x", data="demo2")          # all images of demo2
    result["metrics"]["position.x.r2"]
"""
from __future__ import annotations

import json
import os
import re
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from latentscape.errors import TrainError
from latentscape.train.data import eval_loader, open_part, prepare_images, targets_to
from latentscape.train.heads import Head
from latentscape.train.losses import normalise_targets, split_outputs, total_loss
from latentscape.train.metrics import compute_metrics


def autocast(device: torch.device, amp: bool):
    """Mixed precision on CUDA when asked (bfloat16 where supported, else float16)."""
    if not (amp and device.type == "cuda"):
        return nullcontext()
    return torch.autocast("cuda", dtype=amp_dtype(device))


def amp_dtype(device: torch.device):
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def evaluate_model(model, loader, heads: list[Head], device: torch.device, input_size: int, amp: bool = False,
                   class_maps: dict | None = None, progress=None, truth_out: dict | None = None) -> dict:
    """Loss (as in training: continuous targets z-scored with the run's statistics) and metrics
    of `model` over every batch of `loader` (raw targets). `class_maps`: target key -> array
    mapping the dataset's class index to the run's. `truth_out`, when given, receives the
    targets (natural units). The model is put back in training mode."""
    preds, truth, losses, n = predict(model, loader, heads, device, input_size, amp, class_maps, progress)
    if n == 0:
        raise TrainError("nothing to evaluate: the dataset part has no image")
    metrics = {"loss": losses.pop("loss") / n}
    metrics.update({f"{k}.loss": s / n for k, s in losses.items()})
    metrics.update(compute_metrics(heads, preds, truth))
    if truth_out is not None:
        truth_out.update(truth)
    return metrics


@torch.no_grad()
def predict(model, loader, heads: list[Head], device: torch.device, input_size: int, amp: bool = False,
            class_maps: dict | None = None, progress=None):
    """(outputs per head, raw targets per head, summed losses, image count) over `loader`."""
    was = model.training
    model.eval()
    preds: dict[str, list] = {h.key: [] for h in heads}
    truth: dict[str, list] = {h.key: [] for h in heads}
    sums, n = {"loss": 0.0, **{h.key: 0.0 for h in heads}}, 0
    try:
        for x, y in loader:
            if class_maps:
                y = {k: (torch.from_numpy(class_maps[k][v.numpy()]) if k in class_maps else v) for k, v in y.items()}
            b = len(x)
            x = prepare_images(x, device, input_size, channels_last=device.type == "cuda")
            with autocast(device, amp):
                out = model(x)
            out = out.float()
            loss, parts = total_loss(out, normalise_targets(targets_to(y, device), heads), heads)
            sums["loss"] += float(loss) * b
            for k, v in parts.items():
                sums[k] += float(v) * b
            n += b
            for k, v in split_outputs(out, heads).items():
                preds[k].append(v.cpu().numpy())
                truth[k].append(y[k].numpy())
            if progress is not None:
                progress(b)
    finally:
        model.train(was)
    cat = {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in preds.items()}
    return cat, {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in truth.items()}, sums, n


def chance_levels(heads: list[Head], targets: dict) -> dict:
    """Accuracy of always answering the most frequent class (`<t>.chance`)."""
    out = {}
    for h in heads:
        if h.kind == "categorical" and h.key in targets and len(targets[h.key]):
            counts = np.bincount(np.asarray(targets[h.key], dtype=np.int64))
            out[f"{h.key}.chance"] = float(counts.max() / counts.sum())
    return out


# ---- a run on any dataset ----------------------------------------------------------------------
def evaluate(run, data=None, split: str | None = None, *, name: str | None = None, device: str = "auto",
             batch_size: int | None = None, num_workers: int = 0, progress: bool = False) -> dict:
    """Metrics of the run's latest checkpoint on `data` (default: the run's dataset).

    split: None -> the run's test part (else val) on the run's own dataset, every image on
    another dataset; "all" -> every image; "train" | "val" | "test" -> that part of the run's
    split definition (applied to `data`); "NAME/PART" -> a split recorded in `data`.
    Writes RUN/eval-<name>.json (name: `<data dir name>-<split>` unless given) and returns
    its content: run, data, split, step, n, metrics, chance.
    """
    from latentscape.dataset.torch import LatentDataset
    from latentscape.outpaths import check_output_file
    from latentscape.train.checkpoint import load_checkpoint
    from latentscape.train.data import dataset_identity
    from latentscape.train.distributed import pick_device
    from latentscape.train.heads import heads_from_list
    from latentscape.train.models import build_model
    from latentscape.train.rundir import CHECKPOINT, open_run

    run, cfg = open_run(run)
    ck = load_checkpoint(run / CHECKPOINT)
    heads = heads_from_list(ck["heads"])
    data = cfg.data if data is None else os.fspath(data)
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1):
        raise TrainError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    dev = pick_device(device)

    from latentscape.dataset.manifest import load_manifest
    own = load_manifest(data)["spec_hash"] == ck["dataset"]["spec_hash"]
    if split is None:
        split = ("test" if _has_part(cfg, data, "test") else "val") if own else "all"
    if split == "all":
        ds = LatentDataset(data, targets=list(cfg.targets), rotation=cfg.rotation, continuous="raw", image="uint8")
    elif "/" in split:
        ds = LatentDataset(data, targets=list(cfg.targets), rotation=cfg.rotation, continuous="raw", image="uint8",
                           split=split)
    else:
        ds = open_part(data, cfg, split, zscore=False)
    name = name or f"{Path(os.path.abspath(data)).name}-{split.replace('/', '-')}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise TrainError(f"evaluation name {name!r} must match [A-Za-z0-9_.-]+")
    out_path = check_output_file(run / f"eval-{name}.json", overwrite=True, what="evaluation file")
    maps = class_maps(heads, ds)

    model = build_model(cfg.arch, sum(h.width for h in heads), None, ck["input_size"])
    model.load_state_dict(ck["model"])
    model.to(dev)
    loader = eval_loader(ds, batch_size or cfg.batch_size, num_workers, dev.type == "cuda")
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(ds), desc="evaluate", unit="img", dynamic_ncols=True, disable=None)
    truth: dict = {}
    try:
        metrics = evaluate_model(model, loader, heads, dev, ck["input_size"], cfg.amp, maps,
                                 progress=bar.update if bar is not None else None, truth_out=truth)
    finally:
        if bar is not None:
            bar.close()
    result = {"run": str(run), "data": os.path.abspath(data), "dataset": dataset_identity(ds.manifest),
              "split": split, "step": int(ck["step"]), "n": len(ds), "metrics": metrics,
              "chance": chance_levels(heads, truth)}
    from latentscape.files import write_atomic
    finite = {**result, "metrics": {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}}
    write_atomic(out_path, json.dumps(finite, indent=1, allow_nan=False))  # NaN (an R² of nothing) -> null
    result["path"] = str(out_path)
    return result


def _has_part(cfg, data, part: str) -> bool:
    if isinstance(cfg.split, dict):
        from latentscape.dataset.splits import SplitSpec
        return part in SplitSpec.from_dict(cfg.split).parts
    if cfg.split == "default":
        return True
    from latentscape.dataset.splits import load_split
    return part in load_split(data, cfg.split)


def class_maps(heads: list[Head], ds) -> dict:
    """For each categorical head: dataset class index -> the run's class index (by name). A class
    the run never had is an error when any image of `ds` belongs to it."""
    tables = {"category": ds.categories, "object_id": ds.objects, "background_id": ds.backgrounds}
    maps = {}
    for h in heads:
        if h.kind != "categorical":
            continue
        theirs = tables[h.source]
        m = np.array([h.classes.index(c) if c in h.classes else -1 for c in theirs], dtype=np.int64)
        if np.any(m < 0):
            used = {int(ds.targets_of(i)[h.key]) for i in range(len(ds))}
            unknown = sorted(theirs[i] for i in used if m[i] < 0)
            if unknown:
                raise TrainError(f"{ds.root}: {h.key} class(es) {', '.join(unknown[:5])} were not among the run's "
                                 f"{len(h.classes)} classes; the network cannot name them")
        maps[h.key] = m
    return maps


def format_table(result: dict) -> str:
    """The metrics as a two-column text table (for the CLI)."""
    m = result["metrics"]
    width = max(len(k) for k in m) if m else 10
    lines = [f"{result['run']} at step {result['step']} on {result['data']} ({result['split']}, {result['n']} images)"]
    for k, v in m.items():
        lines.append(f"  {k:<{width}}  {v:.4f}" if isinstance(v, float) else f"  {k:<{width}}  {v}")
    for k, v in result.get("chance", {}).items():
        lines.append(f"  {k:<{width}}  {v:.4f}")
    return "\n".join(lines)
