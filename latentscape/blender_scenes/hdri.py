"""The environment alone (an HDRI or a colour around the object, as the studio without its sweep),
with an optional invisible ground under the object that catches its shadow.

Per image (`SceneState`): `camera_height` (the catcher lies that far below the camera),
`camera_pitch`, `shadow_catcher` (False hides the catcher: the object floats as in the studio).
The catcher is a Cycles shadow catcher: it shows the environment behind it, darkened where
the object shadows it, and is never part of the object mask.
"""
from __future__ import annotations

from latentscape.blender_scenes import SceneHandles
from latentscape.blender_scenes.environment import add_ground_plane, build_environment
from latentscape.blender_scenes.surfaces import plain


def build(scene, settings, backgrounds) -> SceneHandles:
    """Camera, sun, world and the shadow catcher (shown per image)."""
    camera, sun, world, images = build_environment(scene, settings, backgrounds)
    catcher = add_ground_plane(scene, "shadow-catcher")
    catcher.data.materials[0] = plain("shadow-catcher", (0.5, 0.5, 0.5))
    catcher.is_shadow_catcher = True
    return SceneHandles(camera=camera, sun=sun, world=world, backdrop=None, hdri_images=images,
                        ground=catcher, shadow_catcher=catcher)
