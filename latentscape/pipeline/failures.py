"""Failed render attempts, recorded in the root so that every writer and `status` see them.

`<root>/failures/shard-XXXXXX.json` holds the attempts that failed on one shard:
[{run, time, host, cause}] (cause names shard, image and error). Only the writer
holding the shard's claim appends to it, so plain atomic replaces suffice. A shard
that renders is taken out (its record deleted): what is left lists shards that are
still missing, with why.

`run` identifies one submission (a local run, or every job of one cluster submission):
a shard is tried at most `max_attempts` times per run, and a new run tries again.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from latentscape.files import create_in_shared_dir, write_atomic

FAILURES = "failures"
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class ShardFailures:
    """The failed attempts recorded for one shard."""

    shard_id: int
    attempts: tuple[dict, ...]

    def in_run(self, run: str) -> int:
        return sum(a.get("run") == run for a in self.attempts)

    @property
    def last_cause(self) -> str:
        return str(self.attempts[-1].get("cause", "?")) if self.attempts else "?"


def _path(root: Path, shard_id: int) -> Path:
    return Path(root) / FAILURES / f"shard-{shard_id:06d}.json"


def load(root: Path, shard_id: int) -> ShardFailures:
    """The record of one shard (empty when it never failed or its file is unreadable)."""
    try:
        attempts = json.loads(_path(root, shard_id).read_text())["attempts"]
        if not isinstance(attempts, list):
            attempts = []
    except (OSError, ValueError, KeyError, TypeError):
        attempts = []
    return ShardFailures(shard_id, tuple(a for a in attempts if isinstance(a, dict)))


def record(root: Path, shard_id: int, run: str, cause: str) -> ShardFailures:
    """Append a failed attempt; returns the shard's record with it."""
    old = load(root, shard_id)
    attempt = {"run": run, "time": time.time(), "host": socket.gethostname(), "cause": cause}
    new = ShardFailures(shard_id, old.attempts + (attempt,))
    body = json.dumps({"shard": shard_id, "attempts": list(new.attempts)}, indent=1)
    create_in_shared_dir(Path(root) / FAILURES, lambda: write_atomic(_path(root, shard_id), body))
    return new


def clear(root: Path, shard_id: int):
    """The shard rendered: forget its failures (and the folder once empty)."""
    _path(root, shard_id).unlink(missing_ok=True)
    try:
        (Path(root) / FAILURES).rmdir()
    except OSError:
        pass


def all_failures(root: Path) -> list[ShardFailures]:
    """Every shard with recorded failures, in shard order."""
    d = Path(root) / FAILURES
    out = []
    for p in sorted(d.glob("shard-*.json")) if d.is_dir() else ():
        digits = p.stem[len("shard-"):]
        if digits.isdigit():
            out.append(load(root, int(digits)))
    return [f for f in out if f.attempts]
