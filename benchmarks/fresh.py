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
        status, value = q.get(timeout=timeout)
    finally:
        p.join(60)
        if p.is_alive():
            p.kill()
    if status != "ok":
        raise RuntimeError(f"{fn.__name__} failed in a child process:\n{value}")
    return value
