"""The cluster driver: check the engine, probe the root, submit jobs, follow them (or detach).

The driver resolves the spec and creates (or checks) the root; jobs only render into
it (`jobs.run_job`). Everything a user needs to follow a run lives in the root
(`latentscape status`), so the driver may exit right after submitting (`detach`).
"""
from __future__ import annotations

import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from latentscape.dataset.manifest import load_manifest
from latentscape.errors import LatentscapeError, RenderError
from latentscape.pipeline.design_table import check_points
from latentscape.pipeline.engine import EngineError, JobHandle
from latentscape.pipeline.jobs import ClusterJob, probe_files, record_submission
from latentscape.pipeline.local import DEFAULT_RECYCLE_SHARDS, Interrupted, _require_assets
from latentscape.pipeline.ray_engine import RayOptions
from latentscape.pipeline.root import open_root, remove_claims_dir
from latentscape.pipeline.failures import DEFAULT_MAX_ATTEMPTS
from latentscape.pipeline.slurm import SlurmOptions
from latentscape.resolve import ResolvedDataset

EXECUTORS = ("local", "slurm", "ray")
POLL_S = 1.0


@dataclass(frozen=True)
class ClusterOptions:
    """How to run on an engine: `executor` slurm or ray, `jobs` jobs sharing the shards."""

    executor: str
    jobs: int = 1
    detach: bool = False
    probe: bool = True
    probe_timeout_s: float = 600.0
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    def __post_init__(self):
        if self.executor not in ("slurm", "ray"):
            raise EngineError(f"unknown executor {self.executor!r}; allowed: {', '.join(EXECUTORS)}")
        if isinstance(self.jobs, bool) or not isinstance(self.jobs, int) or not 1 <= self.jobs <= 100000:
            raise EngineError(f"jobs must be an integer in 1..100000, got {self.jobs!r}")
        if self.detach and self.executor == "ray" and not self.ray.address:
            raise EngineError("--detach with --executor ray needs a running Ray cluster (--ray-address); "
                              "a local Ray ends with this process (or use `ray job submit -- latentscape render ...`)")


@dataclass
class ClusterSummary:
    root: Path
    executor: str
    n: int
    job_ids: list = field(default_factory=list)
    present: int = 0
    skipped: int = 0
    detached: bool = False
    seconds: float = 0.0
    job_errors: list = field(default_factory=list)

    def line(self) -> str:
        if not self.job_ids:
            return f"nothing to render; all {self.n} images present in {self.root}"
        jobs = f"{len(self.job_ids)} {self.executor} job(s) ({_id_range(self.job_ids)})"
        if self.detached:
            return (f"submitted {jobs} for {self.n - self.skipped} missing images; follow them with "
                    f"`latentscape status {self.root}`")
        return (f"{jobs} rendered {self.present - self.skipped} images in {self.seconds:.1f} s; "
                f"all {self.n} images present in {self.root}")


def _id_range(ids: list) -> str:
    return ids[0] if len(ids) == 1 else f"{ids[0]} .. {ids[-1]}"


def make_engine(root: Path, opts: ClusterOptions):
    if opts.executor == "slurm":
        from latentscape.pipeline.slurm import SlurmEngine
        return SlurmEngine(root, opts.slurm)
    from latentscape.pipeline.ray_engine import RayEngine
    return RayEngine(root, opts.ray)


def render_on_cluster(resolved: ResolvedDataset, root: str | Path, opts: ClusterOptions, *, device: str = "auto",
                      workers: int | None = None, workers_per_device: int = 1, overwrite: bool = False,
                      progress: bool = True, recycle_shards: int = DEFAULT_RECYCLE_SHARDS,
                      max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> ClusterSummary:
    """Render every missing shard of `resolved` into `root` with `opts.jobs` cluster jobs."""
    root = Path(root)
    check_points(resolved, progress)  # sampling errors (and impossible design points) before anything is submitted
    _require_assets(resolved, "")
    engine = make_engine(root, opts)
    engine.check()
    manifest, _ = open_root(root, resolved, overwrite)
    summary = ClusterSummary(root, opts.executor, resolved.spec.n)
    summary.present = summary.skipped = sum(s["count"] for s in manifest["shards"])
    if summary.present == resolved.spec.n:
        remove_claims_dir(root)
        return summary
    if opts.probe:
        _probe(engine, root, opts.probe_timeout_s)
    run_id = uuid.uuid4().hex
    job = ClusterJob(str(root), resolved.to_dict(), device, workers, workers_per_device, recycle_shards,
                     max_attempts, run_id)
    t0 = time.monotonic()
    handles = engine.submit(job, opts.jobs)
    summary.job_ids = [h.id for h in handles]
    record_submission(root, {"run": run_id, "executor": opts.executor, "jobs": summary.job_ids,
                             "missing_images": resolved.spec.n - summary.present})
    if opts.detach:
        summary.detached = True
        return summary
    _follow(handles, root, summary, progress)
    summary.seconds = time.monotonic() - t0
    return summary


def _probe(engine, root: Path, timeout_s: float):
    """One small job must see a file the driver wrote in the root, and write one back."""
    import secrets
    token = secrets.token_hex(8)
    mine, theirs = probe_files(root, token)
    mine.parent.mkdir(exist_ok=True)
    mine.write_text("latentscape probe")  # before the job starts: it must find it
    try:
        handle = engine.probe(token)
        deadline = time.monotonic() + timeout_s
        while not handle.done():
            if time.monotonic() > deadline:
                handle.cancel()
                raise EngineError(f"the probe job {handle.id} did not finish in {timeout_s:.0f} s (queue busy?); "
                                  f"retry, raise --probe-timeout, or skip it with --no-probe")
            time.sleep(POLL_S)
        r = handle.result()
        if not (r.get("seen") and r.get("wrote") and theirs.is_file()):
            raise EngineError(f"a job on {r.get('host', '?')} cannot {'write to' if r.get('seen') else 'see'} "
                              f"{root}: put --out on a file system the compute nodes share (or skip this check "
                              f"with --no-probe)")
    finally:
        mine.unlink(missing_ok=True)
        theirs.unlink(missing_ok=True)


def _follow(handles: list[JobHandle], root: Path, summary: ClusterSummary, progress: bool):
    """Wait for the jobs with a progress bar of images present; Ctrl-C cancels them."""
    from tqdm import tqdm
    stop: list[str] = []
    main = threading.current_thread() is threading.main_thread()  # signals can only be caught there
    old = signal.signal(signal.SIGINT, lambda s, f: stop.append("SIGINT")) if main else None
    bar = tqdm(total=summary.n, initial=summary.present, unit="img", desc=f"render ({summary.executor})",
               dynamic_ncols=True, disable=not progress)
    pause = POLL_S
    try:
        while not stop and not all(h.done() for h in handles):
            time.sleep(pause)
            t = time.monotonic()
            present = _present(root, summary.present)
            # a big manifest is re-read less often: at most ~5 % of the driver's time
            pause = max(POLL_S, 20 * (time.monotonic() - t))
            bar.update(present - summary.present)
            summary.present = present
    finally:
        bar.close()
        if main:
            signal.signal(signal.SIGINT, old)
    if stop:
        for h in handles:
            h.cancel()
        summary.present = _present(root, summary.present)
        raise Interrupted(f"stopped by {stop[0]}; cancelled {len(handles)} job(s); {summary.present} of "
                          f"{summary.n} images kept in {root}; rerun the same command to resume")
    for h in handles:
        try:
            r = h.result()
            if r.get("error"):
                summary.job_errors.append(f"job {h.id}: {r['error']}")
        except EngineError as e:
            summary.job_errors.append(str(e))
    summary.present = _present(root, summary.present)
    if summary.present < summary.n:
        first = summary.job_errors[0] if summary.job_errors else "the jobs ended early"
        raise RenderError(f"{summary.n - summary.present} of {summary.n} images missing after the jobs ended "
                          f"({first}); `latentscape status {root}` says which; rerun the same command to finish")


def _present(root: Path, fallback: int) -> int:
    try:
        return sum(s["count"] for s in load_manifest(root)["shards"])
    except (LatentscapeError, OSError, ValueError):  # being replaced: keep the last count
        return fallback
