"""Scene templates images are rendered in, one module per scene (this file imports no bpy).

A template is a module of this package whose name is listed in `SCENES`. It defines

    build(scene, settings, backgrounds) -> SceneHandles

which builds the camera rig, key light, world and surfaces into a fresh Blender scene
(`settings`: a `latentscape.renderer.types.StageSettings`; `backgrounds`: the
`BackgroundRef`s the world must be able to show, in background-id order). The stage
sets per-image state through the handles; render settings, the mask compositor and
the pixel readback belong to the renderer, not to a template.
Adding a template: one new module here and its name in `SCENES`.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

SCENES = ("studio",)


@dataclass(frozen=True)
class WorldNodes:
    """The world shader nodes that change per image (bpy nodes)."""

    background: object   # ShaderNodeBackground: its Strength carries env_strength where exposure cannot
    colour: object       # ShaderNodeRGB: the uniform world of the colour and backdrop kinds
    environment: object  # ShaderNodeTexEnvironment: its image is the HDRI shown
    mix: object          # ShaderNodeMix: factor 0 shows the HDRI, 1 the colour


@dataclass(frozen=True)
class SceneHandles:
    """What a template built that the stage changes per image (bpy objects)."""

    camera: object                 # at the origin, looking along world -Z; env_rotation turns it
    sun: object                    # key light (SUN), rotation_mode QUATERNION
    world: WorldNodes
    backdrop: object | None        # the studio sweep (parented to the camera), shown for backdrop backgrounds
    hdri_images: tuple             # per background id: its loaded image (hdri kind) or None


def build(name: str, scene, settings, backgrounds) -> SceneHandles:
    """Build scene template `name` into `scene`."""
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; allowed: {', '.join(SCENES)}")
    return importlib.import_module(f"{__name__}.{name}").build(scene, settings, backgrounds)
