"""The user's own scene: a .blend file loaded with scripts disabled, the object placed in a region
the user marks, seen through the file's camera (or one made to frame the region).

* Loading: Python auto-execution is switched off (`use_scripts_auto_execute`), and the file's
  scenes are *appended* (`bpy.data.libraries.load`), not opened: registered text blocks
  (`Text.use_module`, which Blender runs when it opens a trusted file) are not even read, and
  drivers' Python expressions stay disabled.
* The region: an object (an empty: its display cube; a mesh: its bounds) or a collection (the
  bounds of its objects) named `REGION_NAME`. Its objects are markers, hidden in renders. The
  region's 8 corners in the camera frame are `SceneHandles.region`: where the latent side may
  put the object (positions stay camera-frame as everywhere).
* The camera: the scene's camera (`scene.camera`), its pose the camera frame's origin
  (`SceneHandles.rig_base`), its field of view set to the stage's. A file without one gets a
  camera in front of and above the region (Blender's -Y, +Z), looking at its centre.
* The world: the file's own world if it has one (backgrounds then do not apply), else the
  stage's colours and HDRIs. The key light is added; every file object stays out of the mask.
"""
from __future__ import annotations

import math

import bpy
from mathutils import Matrix, Vector

from latentscape.blender_scenes import REGION_NAME, SceneHandles
from latentscape.blender_scenes.blendfile import header_problem, sha256_of
from latentscape.blender_scenes.environment import load_world
from latentscape.blender_scenes.studio import add_camera, add_sun


class BlendFileError(ValueError):
    """A user's .blend cannot be used; the message lists every problem found."""


def build(scene, settings, backgrounds) -> SceneHandles:
    """Append the file's scene into `scene` and rig camera, key light and world around it."""
    path, want = settings.scene_file, settings.scene_file_sha256
    if header_problem(path) is None and want and sha256_of(path) != want:
        raise BlendFileError(f"scene file {path} differs from the dataset's (sha256 {want}, found "
                             f"{sha256_of(path)})")
    user, problems = open_user_scene(path)
    if problems:
        raise BlendFileError("; ".join(problems))
    merge(scene, user)
    corners = region_corners(user)
    camera, base = rig_camera(scene, user, corners, settings.fov_deg)
    world, images = _world(scene, user, backgrounds)
    bpy.data.scenes.remove(user)
    sun = add_sun(scene)
    return SceneHandles(camera=camera, sun=sun, world=world, backdrop=None, hdri_images=images,
                        rig_base=base, region=to_camera_frame(base, corners))


def inspect_blend(path, fov_deg: float, require_camera: bool = False, fresh: bool = False) -> dict:
    """{"problems": [...], "camera": "file" | "made", "region": 8 camera-frame corners} of a .blend.

    Loads the file into the current Blender session (run it in a child process); `fresh`
    first empties the session (factory settings).
    """
    if fresh:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    user, problems = open_user_scene(path, require_camera)
    out = {"problems": problems, "camera": None, "region": None}
    if not problems:
        scene = bpy.context.scene
        merge(scene, user)
        corners = region_corners(user)
        out["camera"] = "file" if user.camera is not None else "made"
        _, base = rig_camera(scene, user, corners, fov_deg)
        out["region"] = [list(c) for c in to_camera_frame(base, corners)]
        if all(c[2] <= 0 for c in out["region"]):
            out["problems"].append(f"region {REGION_NAME!r} lies behind the camera")
    return out


# ---------------------------------------------------------------- loading
def open_user_scene(path, require_camera: bool = False):
    """(the appended scene or None, problems): the scene holding the region, else the file's first."""
    bad = header_problem(path)
    if bad:
        return None, [bad]
    bpy.context.preferences.filepaths.use_scripts_auto_execute = False
    before = {s.name for s in bpy.data.scenes}
    try:
        with bpy.data.libraries.load(str(path), link=False) as (src, dst):
            dst.scenes = list(src.scenes)
    except (OSError, RuntimeError) as e:
        return None, [f"scene file {path} could not be read: {e}"]
    new = [s for s in bpy.data.scenes if s.name not in before]
    if not new:
        return None, [f"scene file {path} holds no scene"]
    user = next((s for s in new if _region_object(s) or _region_collection(s)), new[0])
    for s in new:
        if s != user:
            bpy.data.scenes.remove(s)
    return user, _problems(user, path, require_camera)


def _problems(user, path, require_camera: bool) -> list[str]:
    out = []
    if _region_object(user) is None and _region_collection(user) is None:
        out.append(f"scene {user.name!r} of {path} has no object or collection named {REGION_NAME!r}: "
                   f"add an empty (or a collection of objects) named {REGION_NAME!r} where the object goes")
    elif _region_object(user) is None and not _region_collection(user).all_objects:
        out.append(f"collection {REGION_NAME!r} in {path} holds no objects: its objects' bounds are the region")
    if require_camera and user.camera is None:
        out.append(f"scene {user.name!r} of {path} has no camera (scene.camera is unset) and the dataset "
                   "asks for the file's own camera")
    return out


def _region_object(user):
    return next((o for o in user.objects if o.name == REGION_NAME), None)


def _region_collection(user):
    return next((c for c in user.collection.children_recursive if c.name == REGION_NAME), None)


def region_corners(user) -> list[Vector]:
    """The region's 8 corners in world coordinates (call after `merge`: world matrices are evaluated then)."""
    ob = _region_object(user)
    if ob is not None:
        s = ob.empty_display_size if ob.type == "EMPTY" else 1.0
        local = [Vector(c) * s for c in _unit_box()] if ob.type == "EMPTY" else [Vector(c) for c in ob.bound_box]
        return [ob.matrix_world @ v for v in local]
    pts = [o.matrix_world @ Vector(c) for o in _region_collection(user).all_objects for c in o.bound_box]
    lo = [min(p[i] for p in pts) for i in range(3)]
    hi = [max(p[i] for p in pts) for i in range(3)]
    return [Vector((x, y, z)) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]


def _unit_box():
    return [(x, y, z) for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)]


# ---------------------------------------------------------------- rigging
def merge(scene, user):
    """Link the user scene's collections and objects into `scene`; markers hidden, nothing in the mask."""
    for c in user.collection.children:
        scene.collection.children.link(c)
    for o in user.collection.objects:
        scene.collection.objects.link(o)
    for o in user.objects:
        o.pass_index = 0
    marker = _region_object(user)
    for o in [marker] if marker is not None else _region_collection(user).all_objects:
        o.hide_render = True
    bpy.context.view_layer.update()


def rig_camera(scene, user, corners, fov_deg: float):
    """(camera object, its base pose: a 4x4 rotation + translation) for the stage to hang the camera frame from."""
    cam = user.camera
    if cam is None:
        cam = add_camera(scene, fov_deg)
        base = _framing(corners, fov_deg)
    else:
        mw = cam.evaluated_get(bpy.context.evaluated_depsgraph_get()).matrix_world.copy()
        loc, rot, _ = mw.decompose()
        base = Matrix.LocRotScale(loc, rot, None)
        cam.animation_data_clear()
        cam.constraints.clear()
        cam.parent = None
        cam.data.type = "PERSP"
        cam.data.sensor_fit = "AUTO"
        cam.data.angle = math.radians(fov_deg)
        cam.data.shift_x = cam.data.shift_y = 0.0
    cam.matrix_world = base
    scene.camera = cam
    return cam, base


def _framing(corners, fov_deg: float) -> Matrix:
    """A camera pose in front of and above the region (Z-up file), looking at its centre, framing it."""
    centre = sum(corners, Vector()) / len(corners)
    radius = max((c - centre).length for c in corners)
    d = 1.2 * radius / math.sin(math.radians(fov_deg) / 2)
    eye = centre + d * Vector((0.0, -1.0, 0.5)).normalized()
    return Matrix.LocRotScale(eye, (centre - eye).to_track_quat("-Z", "Y"), None)


def to_camera_frame(base: Matrix, corners) -> tuple:
    """World points as camera-frame (x right, y up, z away from the camera) tuples."""
    inv = base.inverted()
    return tuple((p.x, p.y, -p.z) for p in (inv @ c for c in corners))


def _world(scene, user, backgrounds):
    """(our world nodes or None, per-background images): the file's world wins when it has one."""
    if user.world is not None:
        scene.world = user.world
        return None, (None,) * len(backgrounds)
    return load_world(scene, backgrounds)
