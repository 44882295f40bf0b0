"""User .blend files for the scene tests, written in a Blender child (`run_in_blender_child`)."""
from __future__ import annotations

from pathlib import Path


def write_user_blends(folder: str, marker: str, kinds=("good", "collection", "noregion")) -> list[str]:
    """In a Blender child: scene files FOLDER/KIND.blend with a floor, a sun and a text block registered
    to run on load (it would write `marker`): 'good' (camera, region empty), 'collection' (region
    collection, no camera), 'noregion' (camera, no region). Returns the file names in the folder."""
    import bpy
    from mathutils import Vector
    bpy.ops.wm.read_factory_settings(use_empty=True)
    text = bpy.data.texts.new("autorun.py")
    text.write(f"open({marker!r}, 'w').write('a script ran')\n")
    text.use_module = True  # Blender runs it when it opens the file with scripts trusted

    def scene(name, camera: bool, region: str | None):
        sc = bpy.data.scenes.new(name)
        me = bpy.data.meshes.new("floor")
        me.from_pydata([(-5, -5, 0), (5, -5, 0), (5, 5, 0), (-5, 5, 0)], [], [(0, 1, 2, 3)])
        sc.collection.objects.link(bpy.data.objects.new("floor", me))
        sun = bpy.data.objects.new("user-sun", bpy.data.lights.new("user-sun", "SUN"))
        sc.collection.objects.link(sun)
        if camera:
            cam = bpy.data.objects.new("user-cam", bpy.data.cameras.new("user-cam"))
            cam.location = (1.0, -6.0, 2.5)
            cam.rotation_mode = "QUATERNION"
            cam.rotation_quaternion = (Vector((0.0, 0.0, 0.5)) - cam.location).to_track_quat("-Z", "Y")
            sc.collection.objects.link(cam)
            sc.camera = cam
        if region == "empty":
            e = bpy.data.objects.new("latentscape_region", None)
            e.location, e.empty_display_size = (0.0, 0.0, 0.5), 0.5
            sc.collection.objects.link(e)
        elif region == "collection":
            coll = bpy.data.collections.new("latentscape_region")
            sc.collection.children.link(coll)
            box = bpy.data.meshes.new("box")
            box.from_pydata([(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (0, 1)], [], [(0, 1, 3, 2)])
            coll.objects.link(bpy.data.objects.new("region-box", box))
        return sc

    layouts = {"good": (True, "empty"), "collection": (False, "collection"), "noregion": (True, None)}
    for name in kinds:
        camera, region = layouts[name]
        bpy.data.libraries.write(str(Path(folder) / f"{name}.blend"), {scene(name, camera, region), text})
    return sorted(p.name for p in Path(folder).iterdir())
