"""What the cluster driver needs from an engine (Slurm, Ray): the error type and a job handle."""
from __future__ import annotations

from latentscape.errors import LatentscapeError


class EngineError(LatentscapeError):
    """The engine is missing, unreachable, refused the job, or a job failed."""


class JobHandle:
    """A submitted job: an id to show, whether it ended, its result, and a way to cancel it."""

    id: str = "?"

    def done(self) -> bool:
        raise NotImplementedError

    def result(self):
        """The job's return value; EngineError (one line) if the job itself failed."""
        raise NotImplementedError

    def cancel(self):
        raise NotImplementedError
