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

__all__ = ["DeviceUnavailableError", "DeviceChoice", "GPU_TYPES", "AUTO_ORDER",
           "choose_device", "list_devices", "select_device", "apply_device"]

GPU_TYPES = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
AUTO_ORDER = GPU_TYPES  # then CPU
_REQUESTS = {"auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal"}


class DeviceUnavailableError(ValueError):
    """The requested render device type has no usable device."""


class DeviceChoice(tuple):
    """``(device_type, device_names)``: e.g. ``('OPTIX', ['NVIDIA H100'])`` or ``('CPU', [name])``."""


def _fmt(available: dict[str, list[str]]) -> str:
    found = {t: list(v) for t, v in available.items() if v}
    return repr(found) if found else "no devices at all"


def choose_device(requested: str, available: dict[str, list[str]]) -> tuple[str, list[str]]:
    """Decide which Cycles device type (and which devices) to use.

    ``requested``: one of auto|cpu|cuda|optix|hip|oneapi|metal (case-insensitive).
    ``available``: device type -> device names *of that type only* (CPU names
    under 'CPU').  Returns ``(type, names)`` with type in
    OPTIX/CUDA/HIP/ONEAPI/METAL/CPU.  ``auto`` tries OPTIX, CUDA, HIP, ONEAPI,
    METAL, then CPU.  An explicit GPU type with no device raises
    ``DeviceUnavailableError`` naming the request and what was found.
    """
    req = str(requested).strip().lower()
    if req not in _REQUESTS:
        raise ValueError("unknown render device %r; expected one of %s"
                         % (requested, "|".join(sorted(_REQUESTS))))
    if req == "cpu":
        return "CPU", list(available.get("CPU", [])) or ["CPU"]
    if req == "auto":
        for t in AUTO_ORDER:
            if available.get(t):
                return t, list(available[t])
        return "CPU", list(available.get("CPU", [])) or ["CPU"]
    t = req.upper()
    if available.get(t):
        return t, list(available[t])
    raise DeviceUnavailableError(
        "requested render device %r but Cycles found no %s device; found: %s"
        % (requested, t, _fmt(available)))


def _prefs():
    return bpy.context.preferences.addons["cycles"].preferences


def list_devices() -> dict[str, list[str]]:
    """Ask Cycles (after ``refresh_devices()``) which devices exist, by type."""
    prefs = _prefs()
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
