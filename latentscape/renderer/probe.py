"""Ask Cycles which render devices exist, from a short-lived child process (the caller never imports bpy)."""
from __future__ import annotations

from latentscape.renderer.child import run_in_blender_child


def _list_devices() -> dict[str, list[str]]:
    from latentscape.renderer.blender.devices import list_devices
    return list_devices()


def probe_devices(timeout: float = 120.0) -> dict[str, list[str]]:
    """Device type -> device names, as Cycles lists them on this machine."""
    return run_in_blender_child(_list_devices, what="could not list Cycles devices", timeout=timeout)
