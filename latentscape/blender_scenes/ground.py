"""A textured ground plane under the environment; the object stands on it.

Per image (`SceneState`): `camera_height` (metres above the ground), `camera_pitch` (radians,
positive looks up) and `ground_material` (index into `GROUND_MATERIALS`: procedural textures,
no image files). The object is placed where the image state says (camera frame, as everywhere):
the latent side chooses the position that makes its lowest point touch the ground
(`latentscape.latents.ground.resting_y`).
"""
from __future__ import annotations

from latentscape.blender_scenes import SceneHandles
from latentscape.blender_scenes.environment import add_ground_plane, build_environment
from latentscape.blender_scenes.surfaces import ground_materials


def build(scene, settings, backgrounds) -> SceneHandles:
    """Camera, sun, world and the textured ground (first material shown)."""
    camera, sun, world, images = build_environment(scene, settings, backgrounds)
    plane = add_ground_plane(scene, "ground")
    mats = ground_materials()
    plane.data.materials[0] = mats[0]
    return SceneHandles(camera=camera, sun=sun, world=world, backdrop=None, hdri_images=images,
                        ground=plane, materials=(("ground_material", ((plane, mats),)),))
