"""Lease files: how many writers on many hosts share one dataset root without a root lock.

A lease is a small JSON file created with O_EXCL (atomic on local disks, NFSv3+,
Lustre and GPFS): {host, pid, tag, token, expires}. Its holder renews it while it
works and deletes it when done. A lease whose `expires` (wall clock, so hosts need
clocks synchronised to well under the lease time) has passed may be taken over:
the taker renames the file aside, checks that what it renamed is the expired lease
it read (not a fresh one that replaced it), and creates its own. Liveness is never
judged by PID: PIDs mean nothing across hosts.

`tag` (host.pid) names the holder's temporary files, so a taker can delete exactly
the leftovers of the writer whose lease it took, and a writer deletes only its own.
"""
from __future__ import annotations

import json
import os
import random
import socket
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from latentscape.files import owner_tag, write_atomic
from latentscape.errors import LatentscapeError

DEFAULT_LEASE_S = 60.0
LEASE_ENV = "LATENTSCAPE_LEASE_S"


class LockTimeout(LatentscapeError):
    """A lease could not be obtained in time (another writer holds it and keeps renewing)."""


def lease_seconds() -> float:
    """The lease time: LATENTSCAPE_LEASE_S if set (tests shorten it), else 60 s."""
    raw = os.environ.get(LEASE_ENV)
    if raw is None:
        return DEFAULT_LEASE_S
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not 0.5 <= v <= 86400:
        raise LatentscapeError(f"{LEASE_ENV}={raw!r}: expected seconds in 0.5..86400")
    return v


@dataclass
class Lease:
    """A lease this process holds on `path`."""

    path: Path
    token: str
    ttl: float

    def renew(self) -> bool:
        """Push the expiry forward; False if the lease was lost (taken over after expiring)."""
        if not self.held():
            return False
        write_atomic(self.path, json.dumps(_body(self.token, self.ttl)))
        return True

    def held(self) -> bool:
        """True while the file on disk is still this lease."""
        cur = _read(self.path)
        return cur is not None and cur.get("token") == self.token

    def release(self):
        """Delete the lease file if it is still ours."""
        if self.held():
            self.path.unlink(missing_ok=True)


def _body(token: str, ttl: float) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "tag": owner_tag(), "token": token,
            "expires": time.time() + ttl}


def _read(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def acquire(path: Path, ttl: float, on_takeover: Callable[[dict], None] | None = None) -> Lease | None:
    """Take the lease at `path`, or None while another holder's lease is live.

    An expired lease is taken over; `on_takeover(old)` then runs (with the old
    holder's {host, pid, tag}) before the new lease is created, to clean up what
    the old holder left.
    """
    path = Path(path)
    for _ in range(2):
        lease = _create(path, ttl)
        if lease is not None:
            return lease
        observed, expired = _observe(path, ttl)
        if not expired or not _take_over(path, observed):
            return None
        if on_takeover is not None:
            old = _parse(observed)
            on_takeover(old or {})
    return None


def _create(path: Path, ttl: float) -> Lease | None:
    token = uuid.uuid4().hex
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(_body(token, ttl)))
        fh.flush()
        os.fsync(fh.fileno())
    return Lease(path, token, ttl)


def _parse(raw: bytes) -> dict | None:
    try:
        d = json.loads(raw)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def _observe(path: Path, ttl: float) -> tuple[bytes, bool]:
    """(raw content, expired?). A file still being written (empty or partial) counts
    as live until its mtime is older than the lease time."""
    try:
        raw = path.read_bytes()
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return b"", False
    d = _parse(raw)
    expires = d.get("expires") if d else None
    if not isinstance(expires, (int, float)):
        expires = mtime + ttl
    return raw, time.time() > expires


def _take_over(path: Path, observed: bytes) -> bool:
    """Remove the expired lease we observed; False if it changed meanwhile."""
    aside = path.with_name(f".{path.name}.{owner_tag()}.{uuid.uuid4().hex[:8]}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    try:
        if aside.read_bytes() == observed:
            return True
        try:  # we moved a fresh lease: put it back unless someone has claimed since
            os.link(aside, path)
        except FileExistsError:
            pass
        return False
    finally:
        aside.unlink(missing_ok=True)


@contextmanager
def held(path: Path, ttl: float, timeout: float | None = None,
         on_takeover: Callable[[dict], None] | None = None):
    """Hold the lease at `path` for a short critical section, waiting for it if needed."""
    limit = timeout if timeout is not None else 3 * ttl + 10
    t0 = time.monotonic()
    while (lease := acquire(path, ttl, on_takeover)) is None:
        if time.monotonic() - t0 > limit:
            raise LockTimeout(f"{path} is held by another writer ({_who(path)}) and was not released "
                              f"in {limit:.0f} s")
        time.sleep(0.02 + 0.08 * random.random())
    try:
        yield lease
    finally:
        lease.release()


def _who(path: Path) -> str:
    d = _read(path) or {}
    return f"{d.get('host', '?')} pid {d.get('pid', '?')}"
