"""The training loop: `train(config, out)` and `train(resume=RUN)`.

One step = one global batch of `batch_size` images (a pure function of the seed and the step,
data.global_batch), cut into world_size x accumulate micro-batches (data.micro_batch); Adam;
the lr a pure function of the step (`lr_at`); AMP on CUDA; evaluation on the val part every
`eval_every` steps and at the end, each followed by an atomic checkpoint. A resumed run loads
the checkpoint (model, optimiser, AMP scaler, RNG states, step) and reads the same batches an
uninterrupted run would, so it follows the same trajectory. Ctrl-C / SIGTERM stop after the
current step with a checkpoint.
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from latentscape.errors import TrainError
import latentscape.train.distributed as D
from latentscape.train.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states
from latentscape.train.config import TrainConfig
from latentscape.train.data import (check_parts, check_targets_vary, dataset_identity, eval_loader, open_part,
                                    prepare_images, targets_to, train_loader)
from latentscape.train.evaluation import amp_dtype, autocast, evaluate_model
from latentscape.train.heads import heads_from_dataset, heads_from_list, heads_to_list, output_width
from latentscape.train.losses import total_loss
from latentscape.train.metrics import metric_names
from latentscape.train.models import build_model
from latentscape.train.records import CURVES, METRICS, MetricsLog, TensorBoard, plot_curves
from latentscape.train.rundir import CHECKPOINT, check_run_dir, make_run_dir, open_run, write_config
from latentscape.version import __version__

LOG_EVERY = 10  # steps between progress-bar / TensorBoard updates of the training loss
PLOT_EVERY_S = 60.0  # curves.png is redrawn at an evaluation at most this often (and at the end)


@dataclass
class TrainResult:
    run: Path
    step: int  # steps done
    metrics: dict  # the last evaluation (a metrics.csv row), {} if none yet


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The learning rate of step `step` (0-based): constant, cosine to 0, or x0.1 at 1/2 and 3/4."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    if cfg.schedule == "step":
        return cfg.lr * 0.1 ** ((step >= cfg.steps // 2) + (step >= (3 * cfg.steps) // 4))
    return cfg.lr


def train(config: TrainConfig | None = None, out=None, *, resume=None, steps: int | None = None,
          num_workers: int | None = None, overwrite: bool = False, progress: bool = True, on_step=None,
          stop_after: int | None = None) -> TrainResult:
    """Train `config` into run directory `out` (continuing it when it holds a checkpoint of the
    same config), or continue run `resume` (optionally with a new `steps` budget or
    `num_workers`). `stop_after`: stop (with a checkpoint) once that many steps are done, as a
    kill would; `on_step(step)` is called after every step."""
    if resume is not None:
        if config is not None or out is not None:
            raise TrainError("give either a config and out, or resume=RUN (which reads RUN/config.yaml)")
        run, cfg = open_run(resume)
        changes = {k: v for k, v in (("steps", steps), ("num_workers", num_workers)) if v is not None}
        cfg = cfg.replace(**changes) if changes else cfg
    else:
        if not isinstance(config, TrainConfig):
            raise TrainError(f"config must be a TrainConfig, got {type(config).__name__}")
        if out is None:
            raise TrainError("the run directory (out, --out) is missing")
        changes = {k: v for k, v in (("steps", steps), ("num_workers", num_workers)) if v is not None}
        pretrained = os.path.abspath(config.pretrained) if config.pretrained else None
        cfg = config.replace(data=os.path.abspath(config.data), pretrained=pretrained, **changes)
        run = None
    if stop_after is not None and (not isinstance(stop_after, int) or stop_after < 1):
        raise TrainError(f"stop_after must be an integer >= 1, got {stop_after!r}")
    from latentscape.train.models import check_arch
    check_arch(cfg.arch)
    ctx = D.setup(cfg.device)
    try:
        return _train(cfg, run, out, ctx, overwrite, progress, on_step, stop_after)
    finally:
        D.teardown(ctx)


def _train(cfg, run, out, ctx, overwrite, progress, on_step, stop_after) -> TrainResult:
    from latentscape.outpaths import check_output_dir
    if cfg.sync_bn and ctx.device.type != "cuda":
        raise TrainError(f"sync_bn (--sync-bn) needs CUDA GPUs (this run is on {ctx.device}); on the CPU every "
                         f"rank keeps its own BatchNorm statistics")
    if run is None:  # checked before any work; written only once data and model are known to be fine
        run, action = D.on_main(ctx, lambda: check_run_dir(out, cfg, overwrite))
    else:
        run, action = D.on_main(ctx, lambda: check_output_dir(run, what="run directory")), "continue"
    dev = ctx.device

    # ---- data ----
    train_ds = open_part(cfg.data, cfg, "train", zscore=True)  # targets z-scored by the dataset layer
    val_ds = open_part(cfg.data, cfg, "val", zscore=False)  # raw: metrics are in natural units
    check_parts(train_ds, val_ds)
    D.on_main(ctx, lambda: check_targets_vary(train_ds))
    identity = dataset_identity(train_ds.manifest)
    heads = heads_from_dataset(train_ds, cfg.weight_of)
    input_size = cfg.input_size or train_ds.resolution
    if cfg.batch_size % (ctx.world_size * cfg.accumulate):
        raise TrainError(f"batch_size {cfg.batch_size} must be a multiple of world size ({ctx.world_size}) x "
                         f"accumulate ({cfg.accumulate})")

    # ---- model, optimiser, state ----
    torch.manual_seed(cfg.seed)  # the initial weights
    model = build_model(cfg.arch, output_width(heads), cfg.pretrained, input_size)
    has_ck = D.on_main(ctx, lambda: make_run_dir(run, action))
    ck = load_checkpoint(run / CHECKPOINT) if has_ck else None
    if ck is not None:
        if ck["dataset"]["spec_hash"] != identity["spec_hash"]:
            raise TrainError(f"dataset {cfg.data} has spec hash {identity['spec_hash']}, but run {run} was trained "
                             f"on {ck['dataset']['spec_hash']}: resume it on the dataset it was trained on")
        heads = heads_from_list(ck["heads"])  # the statistics the run started with
    cuda = dev.type == "cuda"
    model.to(dev, memory_format=torch.channels_last if cuda else torch.preserve_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    use_amp = cfg.amp and cuda
    scaler = torch.amp.GradScaler(dev.type, enabled=use_amp and amp_dtype(dev) == torch.float16)
    start, loss_sum, loss_count = 0, torch.zeros((), device=dev), 0
    if ck is not None:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scaler.load_state_dict(ck["scaler"])
        start = int(ck["step"])
        mine = ck["rng"][ctx.rank] if len(ck["rng"]) == ctx.world_size else None
        if mine is not None:
            set_rng_states(mine)
            loss_sum += ck["loss_sum"][ctx.rank]
            loss_count = int(ck["loss_count"])
        elif ctx.main:
            print(f"note: {run} was checkpointed with {len(ck['rng'])} rank(s), resumed with {ctx.world_size}: the "
                  f"batches are the same, random states start afresh", file=sys.stderr)
    elif ctx.distributed:
        torch.manual_seed(cfg.seed + ctx.rank)  # per-rank randomness (dropout), after the shared init
    log = MetricsLog(run / METRICS, ["lr", "train_loss", "loss"] + [f"{h.key}.loss" for h in heads]
                     + metric_names(heads))
    record = {"dataset": identity, "heads": heads_to_list(heads), "input_size": input_size,
              "latentscape_version": __version__, "torch_version": str(torch.__version__), "world_size": ctx.world_size,
              "device": str(dev)}

    def setup_files():
        write_config(run, cfg, record)
        if ck is None:
            (run / METRICS).unlink(missing_ok=True)
        else:
            log.keep_until(start)
    D.on_main(ctx, setup_files)
    if start >= cfg.steps:
        rows = log.rows()
        return TrainResult(run, start, rows[-1] if rows else {})

    net = model
    net = D.sync_batchnorm(ctx, net, cfg.sync_bn)
    net = torch.compile(net) if cfg.compile else net  # evaluation uses it as is
    ddp_net = D.ddp(ctx, net)
    loader = train_loader(train_ds, cfg, start, ctx.rank, ctx.world_size, pin_memory=cuda)
    val_loader = eval_loader(val_ds, cfg.batch_size, cfg.num_workers, pin_memory=cuda)
    tb = TensorBoard(run, purge_step=start + 1 if start else None, enabled=ctx.main)  # drop events after the checkpoint

    def save(done: int):
        rngs = D.gather(ctx, rng_states())
        sums = D.gather(ctx, float(loss_sum))
        if ctx.main:
            save_checkpoint(run / CHECKPOINT, {
                "step": done, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": {"name": cfg.schedule, "base_lr": cfg.lr, "steps": cfg.steps, "lr": lr_at(done, cfg)},
                "scaler": scaler.state_dict(), "rng": rngs, "loss_sum": sums, "loss_count": loss_count,
                "data": {"seed": cfg.seed, "batch_size": cfg.batch_size, "n": len(train_ds),
                         "epoch": done * cfg.batch_size // len(train_ds),
                         "position": done * cfg.batch_size % len(train_ds),
                         "world_size": ctx.world_size, "accumulate": cfg.accumulate},
                "heads": heads_to_list(heads), "config": cfg.to_dict(), "dataset": identity,
                "input_size": input_size, "versions": {"latentscape": __version__, "torch": str(torch.__version__)}})
        D.barrier(ctx)

    def validate(done: int, lr: float) -> dict:
        mean_loss = D.mean_over_ranks(ctx, loss_sum) / max(loss_count, 1)
        row = {}
        if ctx.main:
            row = {"step": done, "split": "val", "lr": lr, "train_loss": float(mean_loss)}
            row.update(evaluate_model(net, val_loader, heads, dev, input_size, cfg.amp))
            log.append(row)
            tb.scalars({k: v for k, v in row.items() if k not in ("step", "split", "lr", "train_loss")}, done, "val/")
        D.barrier(ctx)
        return row

    # ---- the loop ----
    bar = _progress_bar(cfg.steps, start, progress and ctx.main)
    last_row, last_plot, t0, seen = {}, time.monotonic(), time.perf_counter(), 0
    it = iter(loader)
    with _StopSignals() as stop:
        for step in range(start, cfg.steps):
            lr = lr_at(step, cfg)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=dev)
            for j in range(cfg.accumulate):
                x, y = next(it)
                x = prepare_images(x, dev, input_size, channels_last=cuda)
                y = targets_to(y, dev)
                last = j == cfg.accumulate - 1
                with nullcontext() if last or not ctx.distributed else ddp_net.no_sync():
                    with autocast(dev, use_amp):
                        out = ddp_net(x)
                    loss, _ = total_loss(out.float(), y, heads)
                    scaler.scale(loss / cfg.accumulate).backward()
                step_loss += loss.detach() / cfg.accumulate
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += step_loss
            loss_count += 1
            done, seen = step + 1, seen + cfg.batch_size

            if ctx.main and (done % LOG_EVERY == 0 or done == cfg.steps):
                rate = seen / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{float(step_loss):.4f}", img_s=f"{rate:.0f}")
                tb.scalars({"loss": float(step_loss), "lr": lr, "img_per_s": rate}, done, "train/")
                t0, seen = time.perf_counter(), 0
            bar.update(1)
            if done % cfg.eval_every == 0 or done == cfg.steps:
                last_row = validate(done, lr)
                loss_sum, loss_count = torch.zeros((), device=dev), 0
                save(done)
                if ctx.main and (done == cfg.steps or time.monotonic() - last_plot > PLOT_EVERY_S):
                    plot_curves(run / METRICS, run / CURVES)
                    last_plot = time.monotonic()
            elif done == stop_after:
                save(done)
            if on_step is not None:
                on_step(done)
            if done == stop_after:
                break
            if D.any_rank(ctx, stop.requested):
                if done % cfg.eval_every and done != cfg.steps:
                    save(done)
                bar.close()
                tb.close()
                if ctx.main:
                    print(f"stopped after step {done}; checkpoint in {run / CHECKPOINT}; continue with "
                          f"latentscape train --resume {run}", file=sys.stderr)
                raise KeyboardInterrupt
    bar.close()
    if ctx.main and (run / METRICS).is_file():
        plot_curves(run / METRICS, run / CURVES)
    tb.close()
    return TrainResult(run, done, last_row)


def _progress_bar(total: int, initial: int, show: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # a bare environment (a GPU node with torch, numpy, h5py only): no bar
        from types import SimpleNamespace
        return SimpleNamespace(update=lambda n=1: None, set_postfix=lambda **kw: None, close=lambda: None)
    return tqdm(total=total, initial=initial, desc="train", unit="step", dynamic_ncols=True,
                disable=None if show else True)


class _StopSignals:
    """SIGINT / SIGTERM set `requested` (the loop stops after the current step, with a
    checkpoint); a second signal interrupts at once. Only in the main thread."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, h in self._old.items():
            signal.signal(sig, h)
        return False
