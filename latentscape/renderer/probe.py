"""Ask Cycles which render devices exist, from a short-lived child process (the caller never imports bpy)."""
from __future__ import annotations

import multiprocessing as mp

from latentscape.errors import RenderError


def _probe(q):
    try:
        from latentscape.renderer.worker import clean_sys_path
        clean_sys_path()
        from latentscape.renderer.blender.devices import list_devices
        q.put(("ok", list_devices()))
    except Exception as e:  # noqa: BLE001
        q.put(("error", f"{type(e).__name__}: {e}"))


def probe_devices(timeout: float = 120.0) -> dict[str, list[str]]:
    """Device type -> device names, as Cycles lists them on this machine."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_probe, args=(q,), daemon=True)
    p.start()
    try:
        status, value = q.get(timeout=timeout)
    except Exception:
        p.kill()
        raise RenderError("could not list Cycles devices: the probe process did not answer "
                          "(is bpy installed? pip install 'latentscape[blender]')") from None
    p.join(5)
    if status != "ok":
        raise RenderError(f"could not list Cycles devices: {value}")
    return value
