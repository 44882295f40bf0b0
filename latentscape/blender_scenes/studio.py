"""The studio: a camera at the origin, one sun, a world that can show every background,
and a paper sweep behind the object for the backdrop background.

Conventions (docs/latents.md):

* Camera frame: x right, y up (in the image), z away from the camera, metres. The
  camera sits at the world origin with identity rotation (looks along world -Z, up +Y,
  right +X), so camera-frame (x, y, z) is Blender world (x, y, -z). Perspective,
  square image, ``fov_deg`` horizontal = vertical.
* Key light: a SUN whose colour comes from Blender's own blackbody
  (``Light.temperature``, ``use_temperature``).
* Environment: equirectangular HDRI oriented so its zenith is world +Y (image up,
  horizon horizontal in the image): the HDRI is looked up in direction
  Rx(90deg) @ d_world. At env_rotation=0 the camera (world -Z) looks at the HDRI
  direction Blender calls +Y in a Z-up world.
"""
from __future__ import annotations

import math
import os

import bpy

from latentscape.blender_scenes import SceneHandles, WorldNodes

# The backdrop sweep in the camera frame (metres): floor `FLOOR_BELOW` under the optical
# axis, wall at depth `WALL_DISTANCE`, beyond every object the default position ranges allow.
FLOOR_BELOW, WALL_DISTANCE, SWEEP_RADIUS, HALF_WIDTH = 3.0, 9.0, 2.0, 12.0


def build(scene, settings, backgrounds) -> SceneHandles:
    """Camera, sun, world (with every background's HDRI loaded) and, if a background needs it, the sweep."""
    camera = add_camera(scene, settings.fov_deg)
    sun = add_sun(scene)
    world = add_world(scene)
    images, backdrop, cache = [], None, {}
    for bg in backgrounds:
        if bg.kind == "backdrop" and backdrop is None:
            backdrop = add_backdrop(scene, camera, bg.rgb)
        images.append(_load_hdri(bg, cache) if bg.kind == "hdri" else None)
    first = next((i for i in images if i is not None), None)
    world.environment.image = first
    world.mix.inputs[0].default_value = 1.0 if first is None else 0.0
    return SceneHandles(camera=camera, sun=sun, world=world, backdrop=backdrop, hdri_images=tuple(images))


def add_camera(scene, fov_deg: float):
    cam = bpy.data.cameras.new("camera")
    cam.type = "PERSP"
    cam.sensor_fit = "AUTO"
    cam.angle = math.radians(fov_deg)
    cam.shift_x = cam.shift_y = 0.0
    cam.clip_start = 0.01
    cam.clip_end = 1000.0  # latentscape.latents.space.CLIP_END
    ob = bpy.data.objects.new("camera", cam)
    scene.collection.objects.link(ob)
    ob.location = (0, 0, 0)
    ob.rotation_mode = "XYZ"
    ob.rotation_euler = (0, 0, 0)
    scene.camera = ob
    return ob


def add_sun(scene):
    li = bpy.data.lights.new("sun", "SUN")
    li.angle = math.radians(2.0)
    li.use_temperature = True
    li.temperature = 6500.0
    li.color = (1.0, 1.0, 1.0)
    li.energy = 3.0
    ob = bpy.data.objects.new("sun", li)
    scene.collection.objects.link(ob)
    ob.rotation_mode = "QUATERNION"
    return ob


def add_world(scene) -> WorldNodes:
    """One world node tree that can show every background.

    Mapping -> Environment Texture (its ``.image`` swapped among preloaded HDRIs) and
    an RGB node (the 'color' kind), blended by a Mix node whose factor is 0 (HDRI) or
    1 (colour). Measured alternative: one Environment node per HDRI chained through
    Mix nodes was slower (~16 ms vs ~13 ms per switch at 64 px), so we swap the image.
    """
    w = bpy.data.worlds.new("world")
    scene.world = w
    if w.node_tree is None:  # use_nodes is deprecated in 5.0
        w.use_nodes = True
    w.cycles.sampling_method = "MANUAL"
    w.cycles.sample_map_resolution = 256
    nt = w.node_tree
    nt.nodes.clear()
    tc = nt.nodes.new("ShaderNodeTexCoord")
    mp = nt.nodes.new("ShaderNodeMapping")
    mp.vector_type = "POINT"
    mp.inputs["Rotation"].default_value = (math.pi / 2, 0.0, 0.0)
    env = nt.nodes.new("ShaderNodeTexEnvironment")
    env.projection = "EQUIRECTANGULAR"
    env.interpolation = "Linear"
    rgb = nt.nodes.new("ShaderNodeRGB")
    rgb.outputs[0].default_value = (0.5, 0.5, 0.5, 1.0)
    mix = nt.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.blend_type = "MIX"
    mix.clamp_factor = True
    bg = nt.nodes.new("ShaderNodeBackground")
    out = nt.nodes.new("ShaderNodeOutputWorld")
    nt.links.new(tc.outputs["Generated"], mp.inputs["Vector"])
    nt.links.new(mp.outputs["Vector"], env.inputs["Vector"])
    nt.links.new(env.outputs["Color"], mix.inputs[6])  # A (RGBA)
    nt.links.new(rgb.outputs["Color"], mix.inputs[7])  # B (RGBA)
    nt.links.new(mix.outputs[2], bg.inputs["Color"])  # Result (RGBA)
    nt.links.new(bg.outputs["Background"], out.inputs["Surface"])
    return WorldNodes(background=bg, colour=rgb, environment=env, mix=mix)


def _load_hdri(bg, cache: dict):
    """The HDRI image of background `bg` (loaded once per file)."""
    p = os.path.abspath(bg.path)
    if p not in cache:
        if not os.path.exists(p):
            raise FileNotFoundError(f"HDRI background {bg.name!r} not found: {p}")
        img = bpy.data.images.load(p, check_existing=True)
        img.colorspace_settings.name = "Linear Rec.709"
        cache[p] = img
    return cache[p]


def add_backdrop(scene, camera, paper_rgb):
    """A seamless studio sweep (floor curving up into a back wall), fixed to the camera.

    In the camera frame the floor lies at y = -FLOOR_BELOW and the wall at
    z = WALL_DISTANCE; the object casts shadows on it. Ambient light comes from a
    uniform world colour (the background's `world_rgb`). Hidden until a backdrop
    background is shown.
    """
    verts, faces = sweep_mesh(FLOOR_BELOW, WALL_DISTANCE, SWEEP_RADIUS, HALF_WIDTH)
    me = bpy.data.meshes.new("backdrop")
    me.from_pydata(verts, [], faces)
    me.shade_smooth()
    mat = bpy.data.materials.new("backdrop")
    if mat.node_tree is None:
        mat.use_nodes = True
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (*paper_rgb, 1.0)
    bsdf.inputs["Roughness"].default_value = 0.9
    me.materials.append(mat)
    ob = bpy.data.objects.new("backdrop", me)
    scene.collection.objects.link(ob)
    ob.parent = camera  # turns with the camera (env_rotation), so it stays put in the image
    ob.pass_index = 0  # never part of the object mask
    ob.hide_render = True
    return ob


def sweep_mesh(floor_below, wall_distance, radius, half_width, n_arc=16):
    """Vertices (Blender camera-local: x right, y up, -z forward) and quads of a studio sweep."""
    # profile in the (depth d, height h) plane: floor from d=0.5 to the arc, arc, wall up to +20 m
    prof = [(0.5, -floor_below), (wall_distance - radius, -floor_below)]
    for k in range(1, n_arc + 1):
        a = (math.pi / 2) * k / n_arc
        prof.append((wall_distance - radius + radius * math.sin(a), -floor_below + radius * (1 - math.cos(a))))
    prof.append((wall_distance, 20.0))
    verts = [(x, h, -d) for x in (-half_width, half_width) for d, h in prof]
    n = len(prof)
    faces = [(i, i + 1, n + i + 1, n + i) for i in range(n - 1)]
    return verts, faces
