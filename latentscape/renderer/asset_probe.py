"""Measure user model files in a short-lived Blender child process (the caller never imports bpy)."""
from __future__ import annotations

import multiprocessing as mp
import queue


def _probe(items, q):
    from latentscape.renderer.worker import clean_sys_path
    clean_sys_path()
    from pathlib import Path

    from latentscape.renderer.blender.objects import probe_file
    for i, (path, rotation) in enumerate(items):
        try:
            q.put((i, "ok", probe_file(Path(path), rotation)))
        except Exception as e:  # noqa: BLE001 - every failure is reported per file
            q.put((i, "error", f"{type(e).__name__}: {e}".strip()))


def probe_models(items: list[tuple[str, list | None]], timeout_per_file: float = 120.0) -> list[tuple[str, object]]:
    """For each (path, rotation): ("ok", {"extents", "triangles"}) or ("error", message).

    If Blender crashes on a file, that file gets an error and a new probe continues
    with the next one.
    """
    results: list = [None] * len(items)
    start = 0
    ctx = mp.get_context("spawn")
    while start < len(items):
        q = ctx.Queue()
        p = ctx.Process(target=_probe, args=(items[start:], q), daemon=True)
        p.start()
        nxt = start
        while nxt < len(items):
            try:
                i, status, value = q.get(timeout=timeout_per_file if p.is_alive() else 1.0)
                results[start + i] = (status, value)
                nxt = start + i + 1
            except queue.Empty:
                if p.is_alive():
                    p.kill()
                    results[nxt] = ("error", f"Blender did not finish reading it in {timeout_per_file:.0f} s")
                else:
                    results[nxt] = ("error", f"Blender crashed reading it (exit code {p.exitcode})")
                nxt += 1
                break
        p.join(5)
        if p.is_alive():
            p.kill()
        start = nxt
    return results
