"""Helpers shared by several test modules (not fixtures)."""
from __future__ import annotations

import contextlib
import json
import signal
import time


@contextlib.contextmanager
def no_hang(seconds=20):
    """Fail (instead of hanging the suite) if the body blocks, e.g. on opening a FIFO."""
    def boom(*_):
        raise TimeoutError(f"blocked for more than {seconds} s")
    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def wait_for_shards(root, k, proc, timeout=300):
    """Until ROOT's manifest lists k shards (a state, polled); the timeout only guards a hang."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if len(json.loads((root / "dataset.json").read_text())["shards"]) >= k:
                return
        except (OSError, ValueError):  # not there yet, or being replaced
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {k} shard(s) in {root}")
