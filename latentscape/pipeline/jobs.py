"""What one cluster job runs, whatever the engine (Slurm through submitit, Ray).

A job is one more writer of the root: it renders with the local engine
(`render_resolved`: shard claims with leases, write-then-rename, the manifest under
its lock), from the resolved description the driver made. It never resolves a spec.
Many jobs share the work by claiming shards; a killed job's claims expire and its
shards are rendered by another job or by a resubmission. Nothing here imports an
engine, so the functions pickle to any of them.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from latentscape.errors import LatentscapeError

JOBS = "jobs"            # <root>/jobs: submissions, probe files, engine logs
SUBMISSIONS = "submissions.jsonl"


@dataclass(frozen=True)
class ClusterJob:
    """Everything a job needs, made by the driver (picklable, engine-free)."""

    root: str
    resolved: dict            # ResolvedDataset.to_dict(): the dataset's identity
    device: str = "auto"
    workers: int | None = None
    workers_per_device: int = 1
    recycle_shards: int = 20
    max_attempts: int = 3
    run_id: str = ""          # shared by every job of one submission (bounds retries per shard)


def run_job(job: ClusterJob) -> dict:
    """Render whatever shards of the root are left (called in the job); a summary dict.

    Errors are returned, not raised: the engine's own retry is for a job that died,
    and a shard that fails keeps failing on the same input (its failures are in the root).
    """
    from latentscape.pipeline.local import render_resolved
    from latentscape.resolve import ResolvedDataset
    t0 = time.time()
    out = {"host": socket.gethostname(), "pid": os.getpid(), "rendered": 0, "error": None}
    try:
        resolved = ResolvedDataset.from_dict(job.resolved)
        s = render_resolved(resolved, job.root, device=job.device, workers=job.workers,
                            workers_per_device=job.workers_per_device, progress=False,
                            recycle_shards=job.recycle_shards, max_attempts=job.max_attempts, run_id=job.run_id,
                            # in a Slurm job, SIGTERM (preemption) is submitit's: it requeues the job,
                            # which then continues from the root
                            catch_sigterm="SLURM_JOB_ID" not in os.environ,
                            check_listed=False)  # the driver checked the listed shards at submission
        out.update(rendered=s.rendered, present=s.present, n=s.n, devices=sorted(s.devices))
    except LatentscapeError as e:
        out["error"] = str(e)
    out["seconds"] = time.time() - t0
    return out


def probe_root(root: str, token: str, wait_s: float = 10.0) -> dict:
    """Run on a node: can this job see the driver's probe file in `root` and write there?
    (Polled for `wait_s`: a network file system may cache "no such file" for a few seconds.)"""
    theirs, mine = probe_files(Path(root), token)
    deadline = time.monotonic() + wait_s
    while not (seen := theirs.is_file()) and time.monotonic() < deadline:
        time.sleep(0.5)
    wrote = False
    if seen:
        try:
            mine.write_text(socket.gethostname())
            wrote = True
        except OSError:
            pass
    return {"host": socket.gethostname(), "seen": seen, "wrote": wrote}


def probe_files(root: Path, token: str) -> tuple[Path, Path]:
    """(the file the driver writes, the file the job writes back)."""
    jobs = Path(root) / JOBS
    return jobs / f"probe-{token}", jobs / f"probe-{token}.seen"


def record_submission(root: Path, entry: dict):
    """Append one submission (executor, job ids, time) to <root>/jobs/submissions.jsonl."""
    d = Path(root) / JOBS
    d.mkdir(exist_ok=True)
    with open(d / SUBMISSIONS, "a") as fh:
        fh.write(json.dumps({"time": time.time(), **entry}) + "\n")


def submissions(root: Path) -> list[dict]:
    """Every submission recorded in the root, oldest first (unreadable lines skipped)."""
    p = Path(root) / JOBS / SUBMISSIONS
    out = []
    for line in p.read_text().splitlines() if p.is_file() else ():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out
