"""Check a user's .blend scene before rendering, in a short-lived Blender child (the caller never imports bpy)."""
from __future__ import annotations

from latentscape.blender_scenes.blendfile import header_problem
from latentscape.renderer.child import BlenderChildError, run_in_blender_child


def _inspect(path: str, fov_deg: float, require_camera: bool) -> dict:
    """In the child: load the file into an empty session and describe it."""
    from latentscape.blender_scenes.userblend import inspect_blend
    return inspect_blend(path, fov_deg, require_camera, fresh=True)


def describe_blend(path, fov_deg: float = 40.0, require_camera: bool = False, timeout: float = 120.0) -> dict:
    """{"problems": [one line each], "camera": "file" | "made" | None, "region": 8 camera-frame corners or None}.

    The region corners are where the object may go, in the camera frame the stage will use
    with field of view `fov_deg`. A file Blender cannot read, or crashes on, is a problem too.
    """
    bad = header_problem(path)
    if bad:
        return {"problems": [bad], "camera": None, "region": None}
    try:
        return run_in_blender_child(_inspect, str(path), float(fov_deg), bool(require_camera),
                                    what=f"scene file {path}", timeout=timeout)
    except BlenderChildError as e:
        return {"problems": [str(e)], "camera": None, "region": None}


def validate_blend(path, require_camera: bool = False, fov_deg: float = 40.0, timeout: float = 120.0) -> list[str]:
    """The problems that keep `path` from being a userblend scene (empty: none)."""
    return describe_blend(path, fov_deg, require_camera, timeout)["problems"]
