"""Measure user model files in short-lived Blender child processes (the caller never imports bpy)."""
from __future__ import annotations

from latentscape.renderer.child import BlenderChildError, run_in_blender_child


def _probe(items):
    """In the child: (index, "ok", measures) or (index, "error", message) per file."""
    from pathlib import Path

    from latentscape.renderer.blender.objects import probe_file
    for i, (path, rotation) in enumerate(items):
        try:
            yield i, "ok", probe_file(Path(path), rotation)
        except Exception as e:  # noqa: BLE001 - every failure is reported per file
            yield i, "error", f"{type(e).__name__}: {e}".strip()


def probe_models(items: list[tuple[str, list | None]], timeout_per_file: float = 120.0) -> list[tuple[str, object]]:
    """For each (path, rotation): ("ok", {"extents", "triangles"}) or ("error", message).

    If Blender crashes on a file or takes longer than `timeout_per_file`, that file gets
    an error and a new child continues with the next one.
    """
    results: list = [None] * len(items)
    start = 0
    while start < len(items):
        got = []

        def keep(item, start=start, got=got):
            i, status, value = item
            results[start + i] = (status, value)
            got.append(i)

        try:
            run_in_blender_child(_probe, items[start:], what="model probe", timeout=timeout_per_file, on_item=keep)
            return results
        except BlenderChildError as e:
            if e.reason == "error":  # the probe itself failed (no bpy?), not one file
                raise
            bad = start + (got[-1] + 1 if got else 0)
            results[bad] = ("error", f"Blender did not finish reading it in {timeout_per_file:.0f} s"
                            if e.reason == "timeout" else f"Blender crashed reading it (exit code {e.exitcode})")
            start = bad + 1
    return results
