"""Helpers shared by several test modules (not fixtures)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
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


def dataset_content(root):
    """(images [N,H,W,3], latents dict) of a dataset root."""
    import numpy as np
    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(root) as r:
        return np.stack([r.image(i) for i in range(len(r))]), r.latents()


def assert_same_dataset(a, b):
    """Latents exactly equal; pixels equal up to Cycles' cross-process edge noise (docs/determinism.md)."""
    import numpy as np
    (ia, la), (ib, lb) = dataset_content(a), dataset_content(b)
    assert sorted(la) == sorted(lb)
    measured = {"meta/visible_fraction", "meta/clipped_fraction", "meta/contrast", "visible_fraction",
                "clipped_fraction", "contrast"}  # measured on the pixels: they follow the pixel tolerance
    for name in la:
        if name in measured:
            assert np.allclose(la[name], lb[name], rtol=0, atol=0.02, equal_nan=True), name
        else:
            assert np.array_equal(la[name], lb[name], equal_nan=la[name].dtype.kind == "f"), name
    d = np.abs(ia.astype(np.int16) - ib.astype(np.int16))
    assert (d > 0).any(-1).mean() <= 0.02 and d.mean() < 0.5


def run_cli(*args, env=None, **kw):
    """`python -m latentscape ARGS` in a subprocess (captured text output)."""
    return subprocess.run([sys.executable, "-m", "latentscape", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def popen_cli(*args, env=None):
    """`python -m latentscape ARGS` started in its own session (kill it with os.killpg)."""
    return subprocess.Popen([sys.executable, "-m", "latentscape", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})})


def assert_one_line_error(r, *needles):
    """A failed CLI run that printed exactly one line (no traceback) containing every needle."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and "Traceback" not in r.stderr and len(lines) == 1, r.stderr
    for s in needles:
        assert s in lines[0], lines[0]
    return lines[0]


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
