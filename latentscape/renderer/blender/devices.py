"""Cycles render-device selection (GPU/CPU).

``choose_device`` is the pure decision logic (unit-testable without a GPU);
``list_devices`` asks Cycles what exists; ``select_device`` combines them;
``apply_device`` configures a scene for the choice.

Measured on a CPU-only machine with bpy 5.0.1: after ``refresh_devices()`` the
device lists are ``{'OPTIX': [], 'CUDA': [], 'HIP': [], 'ONEAPI': [],
'METAL': [], 'CPU': ['<cpu name>']}`` (Cycles prints CUEW/HIPEW warnings to
stderr when no driver library exists; harmless).  A scene set to ``'GPU'``
with no GPU device enabled silently renders on the CPU, so we never do that.
"""
from __future__ import annotations

import bpy

from .quiet import quiet


__all__ = ["DeviceUnavailableError", "DeviceChoice", "GPU_TYPES", "AUTO_ORDER",
           "choose_device", "list_devices", "select_device", "apply_device"]

from latentscape.renderer.device_choice import (  # noqa: E402  (pure logic, no bpy)
    AUTO_ORDER, GPU_TYPES, DeviceChoice, DeviceUnavailableError, choose_device)


def _prefs():
    return bpy.context.preferences.addons["cycles"].preferences


def list_devices() -> dict[str, list[str]]:
    """Ask Cycles (after ``refresh_devices()``) which devices exist, by type."""
    prefs = _prefs()
    with quiet():  # Cycles warns about missing CUDA/HIP libraries on every CPU-only machine
        prefs.refresh_devices()
    out: dict[str, list[str]] = {}
    for t in GPU_TYPES:
        try:
            entries = prefs.get_devices_for_type(t)
        except Exception:  # type not compiled in on this platform
            entries = []
        out[t] = [d.name for d in entries if d.type == t]
    out["CPU"] = [d.name for d in prefs.devices if d.type == "CPU"][:1]
    return out


def select_device(requested: str) -> tuple[str, list[str]]:
    """``choose_device(requested, list_devices())``."""
    return choose_device(requested, list_devices())


def apply_device(scene, choice: tuple[str, list[str]]) -> str:
    """Configure ``scene`` (and the Cycles preferences) for ``choice``.

    For a GPU type: set ``compute_device_type``, enable exactly the devices of
    that type (not the CPU), and set ``scene.cycles.device='GPU'``.  For CPU:
    ``compute_device_type='NONE'`` and ``scene.cycles.device='CPU'``.
    Returns a human-readable description, e.g. ``'CPU'`` or
    ``'OPTIX: NVIDIA H100 80GB HBM3'``.
    """
    dtype, names = choice
    prefs = _prefs()
    if dtype == "CPU":
        try:
            prefs.compute_device_type = "NONE"
        except TypeError:
            pass
        scene.cycles.device = "CPU"
        return "CPU"
    prefs.compute_device_type = dtype
    entries = prefs.get_devices_for_type(dtype)
    used = []
    for d in entries:
        d.use = d.type == dtype and d.name in names
        if d.use:
            used.append(d.name)
    if not used:
        raise DeviceUnavailableError("no %s device could be enabled (wanted %r)" % (dtype, names))
    scene.cycles.device = "GPU"
    if not prefs.has_active_device():
        raise DeviceUnavailableError("%s devices %r enabled but Cycles reports no active device"
                                     % (dtype, used))
    return "%s: %s" % (dtype, ", ".join(used))
