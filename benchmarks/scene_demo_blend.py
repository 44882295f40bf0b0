"""A demo user scene for `--scene FILE.blend` (docs/scenes.md): a floor, a pedestal, a wall, a camera and
a region empty above the pedestal. Run: python benchmarks/scene_demo_blend.py OUT.blend"""
import sys

import bpy
from mathutils import Vector
bpy.ops.wm.read_factory_settings(use_empty=True)
sc = bpy.data.scenes.new("demo")
def box(name, lo, hi, rgb):
    me = bpy.data.meshes.new(name)
    v = [(x, y, z) for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    f = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    me.from_pydata(v, [], f)
    m = bpy.data.materials.new(name); m.use_nodes = True
    b = next(n for n in m.node_tree.nodes if n.type == "BSDF_PRINCIPLED"); b.inputs["Base Color"].default_value = (*rgb, 1)
    me.materials.append(m)
    ob = bpy.data.objects.new(name, me); sc.collection.objects.link(ob); return ob
box("floor", (-6, -6, -0.1), (6, 6, 0), (0.3, 0.25, 0.2))
box("pedestal", (-0.6, -0.6, 0), (0.6, 0.6, 0.8), (0.6, 0.6, 0.6))
box("wall", (-6, 2.5, 0), (6, 2.7, 3), (0.2, 0.3, 0.45))
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam")); cam.location = (1.5, -4.5, 2.2)
cam.rotation_mode = "QUATERNION"; cam.rotation_quaternion = (Vector((0, 0, 1.1)) - cam.location).to_track_quat("-Z", "Y")
sc.collection.objects.link(cam); sc.camera = cam
e = bpy.data.objects.new("latentscape_region", None); e.location = (0, 0, 1.0); e.empty_display_size = 0.3
sc.collection.objects.link(e)
bpy.data.libraries.write(sys.argv[-1], {sc})
