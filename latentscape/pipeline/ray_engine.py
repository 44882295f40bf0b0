"""Ray: one task per job (`jobs.run_job`), with `num_cpus`/`num_gpus` and `max_retries`.

A task whose worker dies (node lost, process killed) is retried by Ray up to
`max_retries` times; the retry continues from the root. Without an address a local
Ray is started in this process (and ends with it, so `--detach` needs a cluster and
`ray job submit`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from latentscape.errors import first_line
from latentscape.pipeline.engine import EngineError, JobHandle
from latentscape.pipeline.jobs import ClusterJob, probe_root, run_job


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None      # None: start a local Ray here; "auto" or host:port: connect
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0
    max_retries: int = 3


def _env_vars() -> dict:
    """LATENTSCAPE_* settings of the driver (lease time, asset folders) travel to the tasks."""
    return {k: v for k, v in os.environ.items() if k.startswith("LATENTSCAPE_")}


class RayEngine:
    name = "ray"

    def __init__(self, root: Path, opts: RayOptions):
        self.root, self.opts = Path(root), opts

    def check(self):
        try:
            import ray
        except ImportError:
            raise EngineError("--executor ray needs ray: pip install 'latentscape[cluster]'") from None
        if ray.is_initialized():
            return
        if self.opts.address and self.opts.address != "auto":
            _require_listening(self.opts.address)
        import logging
        logging.getLogger("ray").setLevel(logging.ERROR)  # start-up chatter would bury our one-line messages
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                  runtime_env={"env_vars": _env_vars()})
        try:
            if self.opts.address:
                ray.init(address=self.opts.address, **kw)
            else:
                ray.init(num_cpus=os.cpu_count(), **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"at {self.opts.address!r}" if self.opts.address else "locally"
            raise EngineError(f"could not start or reach Ray {where}: {first_line(e)}") from None
        self._check_resources(ray.cluster_resources())

    def _check_resources(self, have: dict):
        """A task asking for more than any node has would wait forever: refuse it now."""
        for key, want, flag in (("CPU", self.opts.cpus_per_task, "--ray-cpus-per-task"),
                                ("GPU", self.opts.gpus_per_task, "--ray-gpus-per-task")):
            if want and have.get(key, 0) < want:
                raise EngineError(f"{flag} {want:g}: the Ray cluster has {have.get(key, 0):g} {key}(s) in all, "
                                  f"so such a task could never start")

    def _remote(self, fn, retries: int):
        import ray
        o = self.opts
        return ray.remote(fn).options(num_cpus=o.cpus_per_task, num_gpus=o.gpus_per_task, max_retries=retries,
                                      retry_exceptions=False)

    def probe(self, token: str) -> JobHandle:
        return _RayHandle(self._remote(probe_root, 0).remote(str(self.root), token))

    def submit(self, job: ClusterJob, count: int) -> list[JobHandle]:
        f = self._remote(run_job, self.opts.max_retries)
        return [_RayHandle(f.remote(job)) for _ in range(count)]


def _require_listening(address: str, timeout_s: float = 5.0):
    """ray.init retries an address where nothing listens for minutes: fail in one line instead."""
    import socket
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"--ray-address {address!r}: expected 'auto' or host:port")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise EngineError(f"could not start or reach Ray at {address!r}: nothing answers there "
                          f"({e.strerror or e})") from None


class _RayHandle(JobHandle):
    def __init__(self, ref):
        self.ref = ref

    @property
    def id(self) -> str:
        return self.ref.task_id().hex()[:12]

    def done(self) -> bool:
        import ray
        ready, _ = ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self):
        import ray
        try:
            return ray.get(self.ref)
        except ray.exceptions.RayError as e:
            raise EngineError(f"Ray task {self.id} failed: {first_line(e)}") from None

    def cancel(self):
        import ray
        try:
            ray.cancel(self.ref, force=True)
        except Exception:  # noqa: BLE001 - best effort on the way out
            pass
