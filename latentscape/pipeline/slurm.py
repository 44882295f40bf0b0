"""Slurm through submitit: a job array whose tasks each run `jobs.run_job`.

Each array task is a submitit `Checkpointable`: on preemption or at its time limit
submitit requeues it, and the requeued task simply continues (the root says what is
left; the interrupted shard's claim expires). GPUs come from `--gpus-per-task`;
Slurm sets CUDA_VISIBLE_DEVICES and Blender sees only those devices.
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from latentscape.pipeline.engine import EngineError, JobHandle
from latentscape.pipeline.jobs import JOBS, ClusterJob, probe_root, run_job


@dataclass(frozen=True)
class SlurmOptions:
    """sbatch parameters (None: the cluster's default)."""

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int | None = None
    mem: str | None = None             # e.g. "16G"
    time_min: int = 240
    account: str | None = None
    array_parallelism: int | None = None  # default: every task at once


_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time(text: str) -> int:
    """Slurm's time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) in whole minutes (rounded up)."""
    m = _TIME.match(str(text).strip())
    if not m:
        raise EngineError(f"--time {text!r}: expected minutes, H:MM:SS or D-HH:MM:SS")
    d, a, b, c = m.groups()
    if d is not None:   # D-H[:M[:S]]
        sec = int(d) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # H:M:S
        sec = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # M:S
        sec = int(a) * 60 + int(b)
    else:               # M
        sec = int(a) * 60
    if sec <= 0:
        raise EngineError(f"--time {text!r}: must be more than 0")
    return -(-sec // 60)


def partitions() -> list[str]:
    """The cluster's partitions (sinfo); EngineError in one line when Slurm is not there."""
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise EngineError("--executor slurm: Slurm's sbatch/sinfo are not on PATH (run on a Slurm login node, "
                          "or see scripts/slurm_local.sh for a single-node Slurm)")
    try:
        r = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise EngineError("--executor slurm: sinfo did not answer in 30 s (is slurmctld reachable?)") from None
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no output"])[-1]
        raise EngineError(f"--executor slurm: Slurm is not reachable (sinfo: {why})")
    return sorted({p.strip().rstrip("*") for p in r.stdout.split() if p.strip()})


class SlurmEngine:
    """Submits, watches and cancels job arrays through submitit."""

    name = "slurm"

    def __init__(self, root: Path, opts: SlurmOptions):
        self.root, self.opts = Path(root), opts

    def check(self):
        have = partitions()
        if self.opts.partition is not None and self.opts.partition not in have:
            raise EngineError(f"Slurm partition {self.opts.partition!r} does not exist; partitions: "
                              f"{', '.join(have) or 'none'}")
        try:
            import submitit  # noqa: F401  (installed?)
        except ImportError:
            raise EngineError("--executor slurm needs submitit: pip install 'latentscape[cluster]'") from None

    def _executor(self, time_min: int):
        import submitit
        logging.getLogger("submitit").setLevel(logging.ERROR)  # "Bypassing sacct error" without accounting
        o = self.opts
        ex = submitit.AutoExecutor(folder=self.root / JOBS / "slurm" / "%j", cluster="slurm")
        params = {"slurm_partition": o.partition, "slurm_gpus_per_task": o.gpus_per_task,
                  "cpus_per_task": o.cpus_per_task, "slurm_mem": o.mem, "slurm_account": o.account}
        ex.update_parameters(name="latentscape", timeout_min=time_min, tasks_per_node=1, nodes=1,
                             **{k: v for k, v in params.items() if v is not None})
        return ex

    def probe(self, token: str) -> JobHandle:
        ex = self._executor(min(self.opts.time_min, 10))
        return _SubmititHandle(_sbatch(lambda: ex.submit(probe_root, str(self.root), token)))

    def submit(self, job: ClusterJob, count: int) -> list[JobHandle]:
        ex = self._executor(self.opts.time_min)
        ex.update_parameters(slurm_array_parallelism=self.opts.array_parallelism or count)
        task = _array_task(job)
        return [_SubmititHandle(j) for j in _sbatch(lambda: ex.map_array(task, range(count)))]


def _sbatch(submit):
    """Run a submitit submission with sbatch's stderr captured; its refusal (resources the
    partition lacks, a bad account) becomes one line."""
    import os
    import tempfile
    with tempfile.TemporaryFile() as err:
        saved = os.dup(2)
        os.dup2(err.fileno(), 2)  # sbatch inherits fd 2: its message must not reach the user raw
        try:
            return submit()
        except Exception as e:  # noqa: BLE001 - submitit wraps sbatch's failure in several types
            err.seek(0)
            text = err.read().decode(errors="replace") + "\n" + str(e)
            lines = [ln.strip() for ln in text.splitlines() if "error" in ln.lower()] or \
                    [ln.strip() for ln in text.splitlines() if ln.strip()]
            raise EngineError(f"sbatch refused the job: {lines[0] if lines else type(e).__name__}") from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _array_task(job: ClusterJob):
    import submitit

    class RenderTask(submitit.helpers.Checkpointable):
        """One array task; requeued as is on preemption or timeout (the root holds the state)."""

        def __init__(self, job):
            self.job = job

        def __call__(self, index):
            return run_job(self.job)

    return RenderTask(job)


GONE_S = 30.0  # a job out of the queue this long without a result has ended (killed, node lost)
_QUEUE: dict = {"t": -1e9, "ids": set()}


def _queued_ids() -> set[str]:
    """Job ids squeue lists (array tasks expanded), refreshed at most every 5 s."""
    import time
    if time.monotonic() - _QUEUE["t"] > 5.0:
        try:
            r = subprocess.run(["squeue", "-h", "-r", "-o", "%i"], capture_output=True, text=True, timeout=30)
            ids = set(r.stdout.split()) if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            ids = None
        if ids is None:  # squeue did not answer: assume everything is still queued
            return {"*"}
        _QUEUE.update(t=time.monotonic(), ids=ids)
    return _QUEUE["ids"]


class _SubmititHandle(JobHandle):
    def __init__(self, job):
        self.job = job
        self._gone_since: float | None = None

    @property
    def id(self) -> str:
        return str(self.job.job_id)

    def done(self) -> bool:
        """Finished, or out of the queue for GONE_S without a result. (submitit asks sacct; a
        cluster without accounting keeps a killed job "UNKNOWN", i.e. unfinished, forever.)"""
        import time
        if self.job.done():
            return True
        queued = _queued_ids()
        if "*" in queued or self.id in queued or self.id.split("_")[0] in queued:
            self._gone_since = None
            return False
        self._gone_since = self._gone_since or time.monotonic()
        return time.monotonic() - self._gone_since > GONE_S

    def result(self):
        try:
            return self.job.result()
        except Exception as e:  # noqa: BLE001 - submitit raises its own types for failed jobs
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            raise EngineError(f"Slurm job {self.id} failed: {lines[-1] if lines else type(e).__name__}") from None

    def cancel(self):
        try:
            self.job.cancel(check=False)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
