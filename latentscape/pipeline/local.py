"""Render a dataset with local worker processes (one group per GPU, or K CPU workers).

The parent never imports bpy: it plans shards, starts spawned workers, shows
progress, records finished shards in the manifest, and turns Ctrl-C / SIGTERM
into a clean stop that leaves only whole shards.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from latentscape.config import DatasetSpec
from latentscape.dataset.manifest import save_manifest
from latentscape.errors import LatentscapeError, RenderError
from latentscape.latents.sampling import LatentSampler
from latentscape.pipeline.root import pending_tasks, prepare_root, remove_tmp_files
from latentscape.renderer.device_choice import choose_device
from latentscape.renderer.worker import WorkerConfig, worker_main

STOP_GRACE_S = 15.0


class Interrupted(LatentscapeError):
    """The run was stopped by a signal; finished shards are kept, rerun to resume."""


@dataclass
class RenderSummary:
    root: Path
    rendered: int = 0
    skipped: int = 0
    seconds: float = 0.0
    startup_seconds: float = 0.0  # until the first worker was ready (spawn, import bpy, build stage)
    devices: set = field(default_factory=set)
    workers: int = 0

    def line(self) -> str:
        busy = self.seconds - self.startup_seconds
        rate = self.rendered / busy if busy > 0 else 0.0
        dev = ", ".join(sorted(self.devices)) or "-"
        return (f"rendered {self.rendered} images in {self.seconds:.1f} s ({rate:.1f} img/s after "
                f"{self.startup_seconds:.1f} s start-up) on {dev} with {self.workers} worker(s); "
                f"{self.skipped} already present; dataset {self.root} complete")


def worker_plan(device: str, workers: int | None, workers_per_device: int, available: dict) -> list[dict]:
    """Worker configs: K CPU workers sharing the cores, or `workers_per_device` per GPU."""
    dtype, names = choose_device(device, available)
    if dtype == "CPU":
        k = max(1, workers or 1)
        threads = max(1, (os.cpu_count() or 1) // k)
        return [{"device": "cpu", "device_slot": None, "threads": threads} for _ in range(k)]
    per = max(1, workers_per_device)
    return [{"device": dtype.lower(), "device_slot": g, "threads": 1}
            for g in range(len(names)) for _ in range(per)]


def render_dataset(spec: DatasetSpec, root: str | Path, device: str = "auto", workers: int | None = None,
                   workers_per_device: int = 1, overwrite: bool = False, progress: bool = True,
                   available: dict | None = None) -> RenderSummary:
    """Render every missing shard of `spec` into `root`; resumable and safe to interrupt."""
    root = Path(root)
    sampler = LatentSampler.for_spec(spec)
    sampler.sample(0)  # surface spec/sampling errors before starting Blender
    if available is None and device != "cpu":
        from latentscape.renderer.probe import probe_devices
        available = probe_devices()
    plan = worker_plan(device, workers, workers_per_device, available or {"CPU": ["CPU"]})
    manifest = prepare_root(root, sampler, overwrite)
    tasks = pending_tasks(manifest)
    summary = RenderSummary(root=root, skipped=sum(s["count"] for s in manifest["shards"]))
    if not tasks:
        return summary
    plan = plan[:len(tasks)]
    summary.workers = len(plan)
    run = _Run(spec, root, sampler.spec_hash(), manifest, tasks, plan, progress, summary)
    return run.go()


class _Run:
    """One execution: queues, worker processes, the progress bar and signal handling."""

    def __init__(self, spec, root, spec_hash, manifest, tasks, plan, progress, summary):
        self.ctx = mp.get_context("spawn")
        self.tasks_q, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.stop = self.ctx.Event()
        self.manifest, self.summary, self.root = manifest, summary, root
        self.total = sum(t.count for t in tasks)
        for t in tasks:
            self.tasks_q.put(t)
        for _ in plan:
            self.tasks_q.put(None)
        self.procs = {}
        for wid, p in enumerate(plan):
            cfg = WorkerConfig(spec=spec.to_dict(), root=str(root), spec_hash=spec_hash, **p)
            self.procs[wid] = self.ctx.Process(target=worker_main, args=(wid, cfg, self.tasks_q, self.results, self.stop),
                                               name=f"latentscape-worker-{wid}", daemon=True)
        self.progress = progress
        self.signalled: str | None = None
        self.stop_since: float | None = None  # when a signal asked to stop

    def go(self) -> RenderSummary:
        from tqdm import tqdm
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        t0 = self.t0 = time.monotonic()
        bar = tqdm(total=self.total, unit="img", desc="render", dynamic_ncols=True, disable=not self.progress,
                   smoothing=0.1)
        try:
            for p in self.procs.values():
                p.start()
            self._loop(bar)
        finally:
            bar.close()
            self.summary.seconds = time.monotonic() - t0
            self._shutdown()
            for s, h in old.items():
                signal.signal(s, h)
        return self.summary

    def _on_signal(self, signum, frame):
        self.signalled = signal.Signals(signum).name
        self.stop.set()

    def _loop(self, bar):
        exited: set[int] = set()
        error = None
        while len(exited) < len(self.procs):
            if self.signalled and self.stop_since is None:
                self.stop_since = time.monotonic()
            if self.stop_since is not None and time.monotonic() - self.stop_since > STOP_GRACE_S:
                break
            try:
                msg = self.results.get(timeout=0.2)
            except queue.Empty:
                dead = self._dead(exited)
                if dead and error is None:
                    error = dead
                    self.stop.set()
                    break
                continue
            kind, wid = msg[0], msg[1]
            if kind == "ready":
                if not self.summary.devices:
                    self.summary.startup_seconds = time.monotonic() - self.t0
                self.summary.devices.add(msg[2])
            elif kind == "progress":
                bar.update(msg[2])
                self.summary.rendered += msg[2]
            elif kind == "done":
                self.manifest["shards"].append(msg[2])
                save_manifest(self.root, self.manifest)
            elif kind == "error" and error is None:
                error = msg[2]
                self.stop.set()
            elif kind == "exit":
                exited.add(wid)
        if self.signalled:  # a signal explains any worker exit that followed it
            raise Interrupted(f"stopped by {self.signalled}; {self._kept()}; rerun the same command to resume")
        if error:
            raise RenderError(f"{error}; {self._kept()}")

    def _kept(self) -> str:
        done = sum(s["count"] for s in self.manifest["shards"])
        return f"{len(self.manifest['shards'])} whole shard(s) with {done} images kept in {self.root}"

    def _dead(self, exited) -> str | None:
        for wid, p in self.procs.items():
            if wid not in exited and p.exitcode is not None:
                return f"worker {wid} died unexpectedly (exit code {p.exitcode})"
        return None

    def _shutdown(self):
        self.stop.set()
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs.values():
            if p.pid is None:
                continue
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        remove_tmp_files(self.root)
