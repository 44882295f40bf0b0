"""Scene templates images are rendered in, one module per scene (this file imports no bpy).

A template is a module of this package whose name is listed in `SCENES`. It defines

    build(scene, settings, backgrounds) -> SceneHandles

which builds the camera rig, key light, world and surfaces into a fresh Blender scene
(`settings`: a `latentscape.renderer.types.StageSettings`; `backgrounds`: the
`BackgroundRef`s the world must be able to show, in background-id order). The stage
sets per-image state through the handles; render settings, the mask compositor and
the pixel readback belong to the renderer, not to a template.
Adding a template: one new module here, its name in `SCENES` and its per-image
parameters in `SCENE_PARAMS`.

What each template takes per image (docs/scenes.md) is declared here, importable
without Blender, so a spec can be checked before anything renders:

* `SCENE_PARAMS[name]`: the `SceneState` fields the template needs in every image
  (studio and userblend: none, the image state's `scene` is None);
* `SCENE_BACKGROUNDS[name]`: the background kinds its world can show;
* `GROUND_MATERIALS`, `ROOM_STYLES`: the names behind the `ground_material` and
  `room_material` indices.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

# what the templates are made of, as data the latent side predicts contrast from
from latentscape.latents.surfaces import (CEILING_RGB, GROUND_HALF_SIZE, GROUND_MATERIALS,  # noqa: F401
                                          ROOM_HALF_WIDTH, ROOM_HEIGHT, ROOM_STYLES, ROOM_WINDOW, SURFACE_ALBEDO,
                                          WINDOW_COLOUR, WINDOW_WATTS)

SCENES = ("studio", "hdri", "ground", "room", "userblend")

SCENE_PARAMS = {
    "studio": (),
    "hdri": ("camera_height", "camera_pitch", "shadow_catcher"),
    "ground": ("camera_height", "camera_pitch", "ground_material"),
    "room": ("camera_height", "camera_pitch", "room_material"),
    "userblend": (),
}
SCENE_BACKGROUNDS = {
    "studio": ("color", "backdrop", "hdri"),
    "hdri": ("color", "hdri"),
    "ground": ("color", "hdri"),
    "room": ("color", "hdri"),  # seen through the window
    "userblend": ("color", "hdri"),  # only where the user's scene has no world of its own
}
REGION_NAME = "latentscape_region"  # the empty or collection marking where a user's scene takes the object


@dataclass(frozen=True)
class WorldNodes:
    """The world shader nodes that change per image (bpy nodes)."""

    background: object   # ShaderNodeBackground: its Strength carries env_strength where exposure cannot
    colour: object       # ShaderNodeRGB: the uniform world of the colour and backdrop kinds
    environment: object  # ShaderNodeTexEnvironment: its image is the HDRI shown
    mix: object          # ShaderNodeMix: factor 0 shows the HDRI, 1 the colour


@dataclass(frozen=True)
class SceneHandles:
    """What a template built that the stage changes per image (bpy objects).

    The fields after `hdri_images` are optional: the studio leaves them None.
    """

    camera: object                 # at the origin, looking along world -Z; env_rotation turns it
    sun: object                    # key light (SUN), rotation_mode QUATERNION
    world: WorldNodes | None       # None: the world is the user's own (userblend), not ours
    backdrop: object | None        # the studio sweep (parented to the camera), shown for backdrop backgrounds
    hdri_images: tuple             # per background id: its loaded image (hdri kind) or None
    ground: object | None = None   # world-fixed, moved to y = -camera_height per image (plane or room root)
    shadow_catcher: object | None = None  # hdri: the catcher plane, hidden when shadow_catcher is False
    materials: tuple = ()          # ((SceneState field, ((object, (material per index, ...)), ...)), ...)
    rig_base: object | None = None  # userblend: the user camera's 4x4 world matrix the camera frame hangs from
    region: tuple | None = None    # userblend: the region's 8 corners in the camera frame


def build(name: str, scene, settings, backgrounds) -> SceneHandles:
    """Build scene template `name` into `scene`."""
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; allowed: {', '.join(SCENES)}")
    return importlib.import_module(f"{__name__}.{name}").build(scene, settings, backgrounds)
