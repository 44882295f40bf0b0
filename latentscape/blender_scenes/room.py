"""A procedural room around the camera: floor, four walls (a window in the one ahead), a ceiling,
and a window light.

World frame as in the studio (+Y up, the camera at the origin looking along -Z at env_rotation
0). The room is centred on the camera, `HALF_WIDTH` metres to each wall, so the object stays
inside at every env_rotation (the camera turns inside the room). Per image (`SceneState`):
`camera_height` (above the floor), `camera_pitch`, `room_material` (index into `ROOM_STYLES`:
a floor and a wall material). The environment (HDRI or colour) shows through the window.

Lighting: a rectangular area light fills the window, shining in. Walls and ceiling cast no
shadows and take no part in diffuse bounces (Cycles ray visibility: the camera and glossy
reflections see them), so the key light and the environment reach the object and the floor
as outdoors, the object's shadow lies on the floor, and a few samples per pixel stay clean.
Measured: a closed room with ordinary walls (interreflections) came out over-exposed and
grainy at 8 samples per pixel; a room lit only through its window is dark and noisier still.
"""
from __future__ import annotations

import math

import bpy

from latentscape.blender_scenes import (CEILING_RGB, ROOM_HALF_WIDTH as HALF_WIDTH, ROOM_HEIGHT as HEIGHT,
                                        ROOM_WINDOW as WINDOW, WINDOW_COLOUR, WINDOW_WATTS, SceneHandles)
from latentscape.blender_scenes.environment import add_ground_plane, build_environment
from latentscape.blender_scenes.surfaces import add_mesh, plain, room_styles


def build(scene, settings, backgrounds) -> SceneHandles:
    """Camera, sun, world, the room (first style shown) and its window light."""
    camera, sun, world, images = build_environment(scene, settings, backgrounds)
    root = bpy.data.objects.new("room", None)
    scene.collection.objects.link(root)
    floor = add_ground_plane(scene, "floor", HALF_WIDTH, parent=root)
    ceiling = _ceiling(scene, root)
    walls = _walls(scene, root)
    for ob in (ceiling, *walls):  # seen by the camera and in reflections; no shadows, no diffuse bounces
        ob.visible_shadow = ob.visible_diffuse = False
    _window_light(scene, root)
    styles = room_styles()
    floor.data.materials[0] = styles[0][0]
    for w in walls:
        w.data.materials[0] = styles[0][1]
    ceiling.data.materials[0] = plain("ceiling", CEILING_RGB)
    choices = ((floor, tuple(s[0] for s in styles)),) + tuple((w, tuple(s[1] for s in styles)) for w in walls)
    return SceneHandles(camera=camera, sun=sun, world=world, backdrop=None, hdri_images=images,
                        ground=root, materials=(("room_material", choices),))


def _ceiling(scene, root):
    ob = add_ground_plane(scene, "ceiling", HALF_WIDTH, parent=root)
    ob.rotation_euler = (math.pi / 2, 0.0, 0.0)  # normal down
    ob.location = (0.0, HEIGHT, 0.0)
    return ob


def _walls(scene, root):
    """Four walls, each in its local XY plane (x along the wall, y up, +z into the room)."""
    w, (x0, x1, y0, y1) = HALF_WIDTH, WINDOW
    full = [_quad(-w, w, 0.0, HEIGHT)]
    with_window = [_quad(-w, x0, 0.0, HEIGHT), _quad(x1, w, 0.0, HEIGHT), _quad(x0, x1, 0.0, y0),
                   _quad(x0, x1, y1, HEIGHT)]
    placed = (("wall-front", with_window, (0.0, 0.0, -w), 0.0), ("wall-back", full, (0.0, 0.0, w), math.pi),
              ("wall-left", full, (-w, 0.0, 0.0), math.pi / 2), ("wall-right", full, (w, 0.0, 0.0), -math.pi / 2))
    walls = []
    for name, quads, loc, yaw in placed:
        verts = [v for q in quads for v in q]
        ob = add_mesh(scene, name, verts, [tuple(range(4 * i, 4 * i + 4)) for i in range(len(quads))], root)
        ob.location, ob.rotation_euler = loc, (0.0, yaw, 0.0)
        walls.append(ob)
    return walls


def _quad(x0, x1, y0, y1):
    return [(x0, y0, 0.0), (x1, y0, 0.0), (x1, y1, 0.0), (x0, y1, 0.0)]


def _window_light(scene, root):
    """An area light filling the window, shining into the room, unseen by the camera."""
    x0, x1, y0, y1 = WINDOW
    li = bpy.data.lights.new("window", "AREA")
    li.shape = "RECTANGLE"
    li.size, li.size_y = x1 - x0, y1 - y0
    li.energy = WINDOW_WATTS
    li.color = WINDOW_COLOUR
    ob = bpy.data.objects.new("window", li)
    scene.collection.objects.link(ob)
    ob.parent = root
    ob.location = ((x0 + x1) / 2, (y0 + y1) / 2, -HALF_WIDTH - 0.01)
    ob.rotation_euler = (math.pi, 0.0, 0.0)  # emits along local -Z -> world +Z, into the room
    ob.visible_camera = False  # the environment shows through the window
    return ob
