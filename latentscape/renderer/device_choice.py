"""Which Cycles device to render on: the pure decision, testable without bpy or a GPU."""
from __future__ import annotations

from latentscape.errors import DeviceError

GPU_TYPES = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")
AUTO_ORDER = GPU_TYPES  # then CPU
_REQUESTS = {"auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal"}


class DeviceUnavailableError(DeviceError, ValueError):
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
        raise DeviceError("unknown render device %r; expected one of %s"
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


