"""Run a function in a short-lived Blender child process (the caller never imports bpy).

`run_in_blender_child(fn, *args, what=..., timeout=..., on_item=...)` spawns a process,
cleans its `sys.path`, calls `fn(*args)` there and returns its result. If `fn` is a
generator, each item it yields is handed to `on_item` in the parent as it arrives, and
the generator's return value is the result. Whatever goes wrong (an exception in `fn`,
the child dying, the child silent for `timeout` seconds) is one `BlenderChildError`
line, a `RenderError`. `fn` must be importable by name (a module-level function) from a
module that does not import bpy at import time: the child imports that module before
its `sys.path` is cleaned.
"""
from __future__ import annotations

import inspect
import multiprocessing as mp
import os
import queue
import sys
import time

from latentscape.errors import RenderError

_POLL_S = 0.5  # how often the parent checks that a silent child is still alive
_DRAIN_S = 1.0  # after the child died, how long to wait for what it had already sent


class BlenderChildError(RenderError):
    """A Blender child process failed. `reason`: 'error' (fn raised), 'crash' (`exitcode` says how it
    ended) or 'timeout'; `detail`: the message without the caller's `what` prefix."""

    def __init__(self, what: str, reason: str, detail: str, exitcode: int | None = None):
        super().__init__(f"{what}: {detail}")
        self.reason, self.detail, self.exitcode = reason, detail, exitcode


def clean_sys_path():
    """Drop bpy's own script folders inherited from a parent that imported bpy.

    multiprocessing's spawn copies the parent's sys.path; once bpy is imported it
    contains bpy/<ver>/scripts/modules, whose pure-Python `bpy` package would
    shadow the real extension module in the child.
    """
    sys.path[:] = [p for p in sys.path if "/bpy/" not in p.replace(os.sep, "/") or "/scripts" not in p]


def run_in_blender_child(fn, *args, what: str, timeout: float, on_item=None):
    """`fn(*args)` in a spawned child; its yielded items go to `on_item`, its result is returned.

    `what` begins every error message (e.g. "asset preview"); `timeout` is how many
    seconds the child may stay silent (before its first item, between items, before
    its result).
    """
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child_main, args=(fn, args, q), daemon=True)
    p.start()
    try:
        while True:
            kind, value = _next_message(p, q, what, timeout)
            if kind == "item":
                if on_item is not None:
                    on_item(value)
            elif kind == "error":
                raise BlenderChildError(what, "error", value)
            else:
                return value
    finally:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join(5)


def _next_message(p, q, what: str, timeout: float):
    """The child's next (kind, value); a silent or dead child is a BlenderChildError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return q.get(timeout=max(0.0, min(_POLL_S, deadline - time.monotonic())))
        except queue.Empty:
            pass
        if not p.is_alive():
            try:
                return q.get(timeout=_DRAIN_S)  # sent just before it exited
            except queue.Empty:
                raise BlenderChildError(what, "crash", f"the Blender process stopped (exit code {p.exitcode})",
                                        p.exitcode) from None
        if time.monotonic() >= deadline:
            p.kill()
            raise BlenderChildError(what, "timeout", f"the Blender process did not answer in {timeout:.0f} s")


def _child_main(fn, args, q):
    """In the child: clean sys.path, run fn, send its items and result (or one error line)."""
    clean_sys_path()
    try:
        out = fn(*args)
        if inspect.isgenerator(out):
            out = _stream(out, q)
        q.put(("done", out))
    except BaseException as e:  # noqa: BLE001 - everything becomes one line in the parent
        q.put(("error", _one_line(e)))


def _stream(gen, q):
    """Send each item of `gen`; return its return value."""
    while True:
        try:
            item = next(gen)
        except StopIteration as stop:
            return stop.value
        q.put(("item", item))


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())
