"""Render a dataset with local worker processes (one group per GPU, or K CPU workers).

The parent never imports bpy: it claims shards (pipeline/root.py), hands them to
spawned workers a few at a time, shows progress, moves finished shards into place
and lists them in the manifest, and turns Ctrl-C / SIGTERM into a clean stop that
leaves only whole shards. Other writers (other runs, other hosts) may render into
the same root at the same time: shards they hold are waited for, not redone.
"""
from __future__ import annotations

import errno
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from latentscape.config import DatasetSpec
from latentscape.dataset.manifest import load_manifest
from latentscape.errors import DatasetMismatchError, LatentscapeError, RenderError
from latentscape.pipeline import claims, failures
from latentscape.assets.sources import missing_assets
from latentscape.pipeline.plan import ShardTask
from latentscape.pipeline.design_table import check_points
from latentscape.pipeline.root import (Dropped, claim_shard, commit_shard, drop_shards, manifest_lock, open_root,
                                       pending_shards, remove_claims_dir, remove_tmp_files, shard_tmp)
from latentscape.renderer.device_choice import choose_device
from latentscape.resolve import ResolvedDataset, resolve
from latentscape.renderer.types import BackgroundRef, ObjectRef, StageSettings
from latentscape.renderer.worker import WorkerConfig, worker_main

STOP_GRACE_S = 15.0
DEFAULT_RECYCLE_SHARDS = 20  # a worker's Blender process is replaced after this many shards
MAX_IDLE_CRASHES = 3         # a worker slot that dies this often outside any shard stops the run
RETRY_CLAIM_S = 1.0   # how soon a shard held by another writer is tried again
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(LatentscapeError):
    """The run was stopped by a signal; finished shards are kept, rerun to resume."""


class DiskFullError(LatentscapeError):
    """The disk filled up; whole shards are kept and a rerun resumes."""


class ShardsFailed(RenderError):
    """Some shards failed `max_attempts` times; every other shard was rendered."""


@dataclass
class RenderSummary:
    root: Path
    rendered: int = 0
    skipped: int = 0
    by_others: int = 0     # images other writers rendered into the root during this run
    seconds: float = 0.0
    startup_seconds: float = 0.0  # until the first worker was ready (spawn, import bpy, build stage)
    devices: set = field(default_factory=set)
    workers: int = 0
    dropped: list = field(default_factory=list)  # listed shards found damaged and rendered again
    n: int = 0
    present: int = 0       # images listed in the manifest at the end

    def line(self) -> str:
        busy = self.seconds - self.startup_seconds
        rate = self.rendered / busy if busy > 0 else 0.0
        dev = ", ".join(sorted(self.devices)) or "-"
        parts = [f"rendered {self.rendered} images in {self.seconds:.1f} s ({rate:.1f} img/s after "
                 f"{self.startup_seconds:.1f} s start-up) on {dev} with {self.workers} worker(s)"
                 if self.workers else "nothing to render", f"{self.skipped} already present"]
        if self.by_others:
            parts.append(f"{self.by_others} rendered by another writer")
        if self.dropped:
            parts.append(f"re-rendered {len(self.dropped)} damaged shard(s): "
                         + ", ".join(map(str, self.dropped[:3])) + (" ..." if len(self.dropped) > 3 else ""))
        parts.append(f"all {self.n} images present in {self.root} (shard sizes and headers checked; "
                     f"`latentscape verify` checks every byte)" if self.present == self.n
                     else f"{self.present} of {self.n} images present in {self.root}")
        return "; ".join(parts)


def worker_plan(device: str, workers: int | None, workers_per_device: int, available: dict) -> list[dict]:
    """Worker configs: K CPU workers sharing the cores, or `workers_per_device` per GPU."""
    dtype, names = choose_device(device, available)
    if dtype == "CPU":
        k = max(1, workers or 1)
        threads = max(1, available_cpus() // k)
        return [{"device": "cpu", "device_slot": None, "threads": threads} for _ in range(k)]
    per = max(1, workers_per_device)
    return [{"device": dtype.lower(), "device_slot": g, "threads": 1}
            for g in range(len(names)) for _ in range(per)]


def available_cpus() -> int:
    """CPUs this process may use: a Slurm allocation's, else the affinity mask's (a
    cluster job must not start a thread per core of a shared node)."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        return int(slurm)
    ray_cpus = _ray_assigned_cpus()
    if ray_cpus:
        return ray_cpus
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _ray_assigned_cpus() -> int | None:
    """The CPUs Ray gave the task running this (None outside a Ray task)."""
    import sys
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return None
    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    except Exception:  # noqa: BLE001 - the driver, not a task: nothing assigned
        return None
    return max(1, int(cpus)) if cpus else None


def worker_config(resolved: ResolvedDataset, root: Path, device: dict,
                  recycle_shards: int = DEFAULT_RECYCLE_SHARDS) -> WorkerConfig:
    """The typed description a worker renders from (`device`: one entry of `worker_plan`)."""
    import json
    spec = resolved.spec
    settings = StageSettings.for_spec(spec, device=device["device"], want_mask=True,
                                      want_depth="depth" in spec.render.passes, device_slot=device["device_slot"],
                                      threads=device["threads"], **resolved.stage_scene())
    return WorkerConfig(root=str(root), spec_hash=resolved.identity(), identity=json.dumps(resolved.to_dict()),
                        settings=settings, objects=tuple(ObjectRef.of(o) for o in resolved.library.objects),
                        backgrounds=tuple(BackgroundRef.of(b) for b in resolved.backgrounds),
                        compression=spec.storage.compression, passes=tuple(spec.render.passes),
                        recycle_shards=recycle_shards)


def render_dataset(spec: DatasetSpec, root: str | Path, device: str = "auto", workers: int | None = None,
                   workers_per_device: int = 1, overwrite: bool = False, progress: bool = True,
                   available: dict | None = None) -> RenderSummary:
    """Render every missing or damaged shard of `spec` into `root`; resumable and safe to
    interrupt, and safe to run several times at once into the same root."""
    return render_resolved(resolve(spec), root, device, workers, workers_per_device, overwrite, progress, available)


def render_resolved(resolved: ResolvedDataset, root: str | Path, device: str = "auto", workers: int | None = None,
                    workers_per_device: int = 1, overwrite: bool = False, progress: bool = True,
                    available: dict | None = None, dropped: list | None = None, *,
                    recycle_shards: int = DEFAULT_RECYCLE_SHARDS, max_attempts: int = failures.DEFAULT_MAX_ATTEMPTS,
                    run_id: str | None = None, catch_sigterm: bool = True,
                    check_listed: bool = True) -> RenderSummary:
    """`render_dataset` for a dataset already resolved (repairs, cluster jobs).

    A shard that fails is tried again (by a fresh worker) up to `max_attempts` times in
    this run (`run_id`: the jobs of one cluster submission share one); its failures are
    recorded in the root. The other shards are rendered regardless, then `ShardsFailed`
    names the ones given up. Workers are replaced every `recycle_shards` shards (0: never).
    `catch_sigterm=False` leaves SIGTERM to the caller (a submitit job: Slurm's preemption);
    `check_listed=False` trusts the listed shards (a cluster job, whose driver checked them).
    """
    if getattr(mp.current_process(), "_inheriting", False):
        # a spawned worker is importing the caller's script, which renders at import time
        raise RenderError("render was called while a worker process imported your script; put the call "
                          "under `if __name__ == \"__main__\":` (multiprocessing spawns workers)")
    root = Path(root)
    spec = resolved.spec
    if check_listed:  # sampling errors, and design points that cannot be drawn, before starting Blender
        check_points(resolved, progress)
    else:  # a cluster job: its driver checked every point
        resolved.sampler.sample(0)
    _require_assets(resolved, "")
    if available is None and device != "cpu":
        from latentscape.renderer.probe import probe_devices
        available = probe_devices()
    plan = worker_plan(device, workers, workers_per_device, available or {"CPU": ["CPU"]})
    manifest, found = open_root(root, resolved, overwrite, check=check_listed)
    summary = RenderSummary(root=root, skipped=sum(s["count"] for s in manifest["shards"]), n=spec.n,
                            dropped=list(dropped or []) + found)
    summary.present = summary.skipped
    if summary.present == spec.n:
        remove_claims_dir(root)
        return summary
    plan = plan[:-(-(spec.n - summary.present) // spec.shard_size)]
    summary.workers = len(plan)
    opts = _RunOptions(recycle_shards, max_attempts, run_id or uuid.uuid4().hex, catch_sigterm)
    return _Run(resolved, root, manifest, plan, progress, summary, opts).go()


def repair_dataset(root: str | Path, device: str = "auto", workers: int | None = None, workers_per_device: int = 1,
                   progress: bool = True, available: dict | None = None, **run_options) -> RenderSummary:
    """Re-render exactly the shards `verify` flags (sha256 included), from the resolved
    description stored in the manifest (nothing is resolved again)."""
    from latentscape.dataset.verify import verify
    from latentscape.resolve import IDENTITY_VERSION, check_identity
    root = Path(root)
    m = load_manifest(root)
    if m["resolved"].get("identity_version") != IDENTITY_VERSION:
        check_identity(m, resolve(DatasetSpec.from_dict(m["spec"], where=f"{root}/dataset.json spec")), root)
    resolved = ResolvedDataset.from_dict(m["resolved"])
    if resolved.identity() != m["spec_hash"]:
        raise DatasetMismatchError(f"cannot repair {root} exactly: its manifest's description hashes to "
                                   f"{resolved.identity()}, not its identity {m['spec_hash']}")
    _require_assets(resolved, f"cannot repair {root} exactly: ")  # before the (long) verify
    problems, _ = verify(root, progress=_bar_factory(progress))
    bad = {}
    for p in problems:
        if p.where != "dataset":
            bad.setdefault(p.where, p.what)
    listed = {rec["file"]: rec.get("sha256") for rec in m["shards"]}
    dropped = [Dropped(f, why.split(" (expected")[0], listed.get(f)) for f, why in bad.items()]
    with manifest_lock(root):
        drop_shards(root, dropped)
    return render_resolved(resolved, root, device=device, workers=workers, workers_per_device=workers_per_device,
                           progress=progress, available=available, dropped=dropped, **run_options)


def _require_assets(resolved: ResolvedDataset, context: str):
    """Refuse, naming the first, when asset files of the description are missing here."""
    if missing := missing_assets(resolved):
        raise DatasetMismatchError(f"{context}{len(missing)} asset file(s) of this dataset are missing here "
                                   f"({missing[0]}); install the asset sources it was made with")


def _bar_factory(progress: bool):
    if not progress:
        return None
    from tqdm import tqdm
    return lambda it: tqdm(it, desc="verify", unit="shard", dynamic_ncols=True)


def _disk_full(e: BaseException | str) -> bool:
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return True
    return "No space left on device" in str(e) or "errno = 28" in str(e)


def _start_quiet_resource_tracker():
    """Start multiprocessing's resource tracker with stderr on /dev/null.

    When a run is interrupted while workers start, the tracker (a process of its own)
    finds semaphores of killed workers at exit and warns about each; the run's own
    one-line message says all the user needs."""
    from multiprocessing import resource_tracker
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@dataclass(frozen=True)
class _RunOptions:
    recycle_shards: int
    max_attempts: int
    run_id: str
    catch_sigterm: bool = True


@dataclass
class _Held:
    task: ShardTask
    lease: claims.Lease
    tmp: Path


class _Run:
    """One execution: claims, a short task queue, worker processes, the progress bar, signals."""

    def __init__(self, resolved, root, manifest, plan, progress, summary, opts: _RunOptions):
        _start_quiet_resource_tracker()
        self.ctx = mp.get_context("spawn")
        self.tasks_q, self.results = self.ctx.Queue(), self.ctx.Queue()
        self.stop = self.ctx.Event()
        self.manifest, self.summary, self.root = manifest, summary, root
        self.total = resolved.spec.n - summary.present
        self.ttl = claims.lease_seconds()
        self.pending = pending_shards(manifest)
        self.deferred: deque[tuple[float, ShardTask]] = deque()
        self.held: dict[int, _Held] = {}   # claimed and handed to the workers
        self.last_renew = time.monotonic()
        self.committed = 0   # images this run listed
        self.sampler = resolved.sampler
        self.opts = opts
        self.gave_up: dict[int, str] = {}   # shard id -> last cause, after max_attempts failures
        self.cfgs = {wid: worker_config(resolved, root, p, opts.recycle_shards) for wid, p in enumerate(plan)}
        self.current: dict[int, int] = {}   # worker id -> the shard it is rendering
        self.ready: set[int] = set()        # workers that built their stage
        self.idle_crashes: dict[int, int] = {}
        self.procs = {wid: self._process(wid) for wid in self.cfgs}
        self.progress = progress
        self.signalled: str | None = None
        self.stop_since: float | None = None  # when a signal asked to stop
        self.sentinels_sent = False

    def _process(self, wid: int):
        return self.ctx.Process(target=worker_main, args=(wid, self.cfgs[wid], self.tasks_q, self.results, self.stop,
                                                          os.getpid()),
                                name=f"latentscape-worker-{wid}", daemon=True)

    def go(self) -> RenderSummary:
        from tqdm import tqdm
        # signal handlers can only be set from the main thread (a Ray task may run elsewhere)
        main = threading.current_thread() is threading.main_thread()
        sigs = _STOP_SIGNALS if self.opts.catch_sigterm else (signal.SIGINT,)
        old = {s: signal.signal(s, self._on_signal) for s in sigs} if main else {}
        t0 = self.t0 = time.monotonic()
        self.bar = tqdm(total=self.total, unit="img", desc="render", dynamic_ncols=True, disable=not self.progress,
                        smoothing=0.1)
        try:
            self._start_workers()
            self._loop()
        finally:
            self.bar.close()
            self.summary.seconds = time.monotonic() - t0
            self._shutdown()
            for s, h in old.items():
                signal.signal(s, h)
        return self.summary

    def _start_workers(self, procs=None):
        # Children inherit the blocked mask through spawn: a Ctrl-C while they import
        # stays pending there (they then ignore it) and is delivered here on unblock.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            for p in procs or self.procs.values():
                p.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def _on_exit(self, wid: int, reason: str, exited: set):
        """A worker stopped: replace it if it was recycled or failed a shard and work is left."""
        if reason in ("recycle", "failed") and not self.stop.is_set() and not self.sentinels_sent:
            self.procs[wid].join(STOP_GRACE_S)
            if self.procs[wid].is_alive():
                self.procs[wid].kill()
            self._replace_worker(wid)
        else:
            exited.add(wid)

    def _replace_worker(self, wid: int):
        self.procs[wid] = self._process(wid)
        self._start_workers([self.procs[wid]])

    def _on_failed(self, shard_id: int, cause: str):
        """A shard failed in a worker: record it in the root, then retry it or give it up."""
        h = self.held.pop(shard_id)
        h.tmp.unlink(missing_ok=True)
        rec = failures.record(self.root, shard_id, self.opts.run_id, cause)
        h.lease.release()
        if rec.in_run(self.opts.run_id) >= self.opts.max_attempts:
            self._give_up(h.task, cause)
        else:
            self.deferred.append((time.monotonic(), h.task))

    def _on_signal(self, signum, frame):
        self.signalled = signal.Signals(signum).name
        self.stop.set()

    def _loop(self):
        exited: set[int] = set()
        error = None
        while len(exited) < len(self.procs):
            if self.signalled:
                if self.stop_since is None:
                    self.stop_since = time.monotonic()
                if time.monotonic() - self.stop_since > STOP_GRACE_S:
                    break
            elif error is None:
                error = self._safe(self._feed)
            error = error or self._safe(self._renew)
            try:
                msg = self.results.get(timeout=0.2)
            except queue.Empty:
                dead = self._dead(exited)
                if dead and error is None:
                    error = self._safe(lambda: self._on_crash(*dead)) or self._crash_error(*dead)
                    if error:
                        self.stop.set()
                        break
                continue
            kind, wid = msg[0], msg[1]
            if kind == "started":
                self.current[wid] = msg[2]
            elif kind == "ready":
                self.ready.add(wid)
                if not self.summary.devices:
                    self.summary.startup_seconds = time.monotonic() - self.t0
                self.summary.devices.add(msg[2])
            elif kind == "progress":
                self.bar.update(msg[2])
                self.summary.rendered += msg[2]
            elif kind == "done":
                self.current.pop(wid, None)
                err = self._safe(lambda: self._commit(msg[2], msg[3]))
                error = error or err
            elif kind == "failed":
                self.current.pop(wid, None)
                error = error or self._safe(lambda: self._on_failed(msg[2], msg[3]))
            elif kind == "error" and error is None:
                error = msg[2]
                self.stop.set()
            elif kind == "exit":
                self._on_exit(wid, msg[2], exited)
        if self.signalled:  # a signal explains any worker exit that followed it
            raise Interrupted(f"stopped by {self.signalled}; {self._kept()}; rerun the same command to resume")
        if error:
            if _disk_full(error):
                raise DiskFullError(f"disk full (no space left on device) writing {self.root}; {self._kept()}; "
                                    f"free some space and rerun the same command to resume")
            raise RenderError(f"{error}; {self._kept()}")
        self.summary.present = sum(s["count"] for s in self.manifest["shards"])
        self.summary.by_others = max(0, self.summary.present - self.summary.skipped - self.committed)
        if self.gave_up:
            first = min(self.gave_up)
            raise ShardsFailed(f"{len(self.gave_up)} shard(s) failed {self.opts.max_attempts} time(s) and are missing "
                               f"(first: {self.gave_up[first]}); {self._kept()}; `latentscape status {self.root}` "
                               f"lists them; rerun to try again")

    def _safe(self, fn) -> str | None:
        """Run a parent-side step; an OS error (disk full, ...) stops the run with one message."""
        try:
            fn()
        except OSError as e:
            self.stop.set()
            return f"{type(e).__name__}: {e}"
        return None

    # ---- shards: claim, hand out, commit -------------------------------------
    def _feed(self):
        """Keep at most two claimed shards per worker queued (never the whole plan:
        a queue feeder blocked on a full pipe would keep the process from exiting)."""
        while len(self.held) < 2 * len(self.procs):
            got = self._claim_next()
            if got is None:
                break
            self.held[got.task.shard_id] = got
            lat = self.sampler.sample_range(got.task.start, got.task.stop)  # drawn here, rendered there
            self.tasks_q.put((got.task, str(got.tmp), lat))
        if not self.held and not self.deferred and not self.sentinels_sent:
            for _ in self.procs:  # nothing left anywhere: let the workers finish
                self.tasks_q.put(None)
            self.sentinels_sent = True
        if self.deferred and not self.held:
            self.bar.set_description(f"render (waiting for {len(self.deferred)} shard(s) claimed by another writer)",
                                     refresh=False)

    def _claim_next(self) -> _Held | None:
        now = time.monotonic()
        tried = 0
        while True:
            if self.deferred and self.deferred[0][0] <= now and tried < len(self.deferred):
                task = self.deferred.popleft()[1]
                tried += 1
            else:
                task = next(self.pending, None)
                if task is None:
                    return None
            if self._given_up(task):
                continue
            lease = claim_shard(self.root, task, self.ttl)
            if lease is None:
                self.deferred.append((now + RETRY_CLAIM_S, task))
                continue
            if self._listed_now(task) or self._given_up(task):  # another writer finished it, or gave it up
                lease.release()
                continue
            return _Held(task, lease, shard_tmp(self.root, task))

    def _given_up(self, task: ShardTask) -> bool:
        """True if this run (any of its jobs) already failed the shard max_attempts times."""
        if task.shard_id in self.gave_up:
            return True
        if not (self.root / failures.FAILURES).is_dir():
            return False
        rec = failures.load(self.root, task.shard_id)
        if rec.in_run(self.opts.run_id) < self.opts.max_attempts:
            return False
        self._give_up(task, rec.last_cause)
        return True

    def _give_up(self, task: ShardTask, cause: str):
        """No more attempts at this shard in this run: it leaves the progress bar's total."""
        self.gave_up[task.shard_id] = cause
        self.total -= task.count
        self.bar.total = self.total

    def _listed_now(self, task: ShardTask) -> bool:
        """Re-read the manifest if the shard's file exists (another writer may have listed it)."""
        from latentscape.dataset.format import shard_name
        if not (self.root / "shards" / shard_name(task.shard_id)).exists():
            return False
        self.manifest = load_manifest(self.root)
        return any(s["index_start"] == task.start for s in self.manifest["shards"])

    def _commit(self, shard_id: int, record: dict):
        h = self.held.pop(shard_id)
        try:
            self.manifest, ok = commit_shard(self.root, h.task, h.tmp, record, h.lease)
        finally:
            h.lease.release()
        self.committed += h.task.count if ok else 0
        if ok and (self.root / failures.FAILURES).is_dir():
            failures.clear(self.root, shard_id)
        if not any(s["index_start"] == h.task.start for s in self.manifest["shards"]):
            # our claim was lost (it expired) and nobody listed the shard: try again later
            self.deferred.append((time.monotonic() + RETRY_CLAIM_S, h.task))

    def _renew(self):
        if time.monotonic() - self.last_renew < self.ttl / 4:
            return
        self.last_renew = time.monotonic()
        for h in self.held.values():
            h.lease.renew()

    def _kept(self) -> str:
        done = sum(s["count"] for s in self.manifest["shards"])
        return f"{len(self.manifest['shards'])} whole shard(s) with {done} images kept in {self.root}"

    def _dead(self, exited) -> tuple[int, int] | None:
        """(worker id, exit code) of a worker that died without saying so."""
        for wid, p in self.procs.items():
            if wid not in exited and p.exitcode is not None:
                return wid, p.exitcode
        return None

    def _on_crash(self, wid: int, code: int):
        """A ready worker died (a Blender crash, the OOM killer, kill -9): start a fresh one; a
        shard it was rendering counts as a failed attempt. The other queued shards stay queued.
        A worker that dies before it is ready, or keeps dying idle, stops the run instead."""
        if wid not in self.ready or self.idle_crashes.get(wid, 0) >= MAX_IDLE_CRASHES:
            return
        self.ready.discard(wid)
        shard = self.current.pop(wid, None)
        if shard is not None and shard in self.held:
            self._on_failed(shard, f"shard {shard}: the worker process died (exit code {code}) while rendering it")
        else:
            self.idle_crashes[wid] = self.idle_crashes.get(wid, 0) + 1
        self._replace_worker(wid)

    def _crash_error(self, wid: int, code: int) -> str | None:
        if self.procs[wid].exitcode is None:  # replaced by _on_crash: the run goes on
            return None
        return f"worker {wid} died unexpectedly (exit code {code})"

    def _shutdown(self):
        self.stop.set()
        self.tasks_q.cancel_join_thread()  # never wait at exit on tasks nobody will read
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs.values():
            if p.pid is None:
                continue
            p.join(max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
        for h in self.held.values():
            h.lease.release()
        self.held.clear()
        remove_tmp_files(self.root)
        remove_claims_dir(self.root)
