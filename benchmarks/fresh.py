"""Run a benchmark function in a freshly spawned process (a fresh Blender each time; the parent
never imports bpy) and return its result."""
from __future__ import annotations

import multiprocessing as mp
import os


def _entry(q, fn, kwargs):
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # Blender prints to the C-level stdout ("Saved: ..."); keep the tables readable
    try:
        q.put(("ok", fn(**kwargs)))
    except BaseException as e:  # noqa: BLE001
        import traceback
        q.put(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def in_fresh_process(fn, timeout: float = 1800, **kwargs):
    """fn(**kwargs) in a new spawned process (`fn` a module-level function); its result, or
    RuntimeError with the child's traceback."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_entry, args=(q, fn, kwargs))
    p.start()
    try:
        status, value = _wait(q, p, timeout)
    finally:
        p.join(60)
        if p.is_alive():
            p.kill()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in a child process:\n{value}")
    return value


def _wait(q, p, timeout: float):
    """The child's message; ("error", ...) if it exits without one (it crashed)."""
    import queue
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return q.get(timeout=1.0)
        except queue.Empty:
            if not p.is_alive():
                return "error", f"the child exited with code {p.exitcode} before reporting"
    return "error", f"no result within {timeout:.0f} s"
