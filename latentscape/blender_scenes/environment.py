"""What the hdri, ground and room templates share: the studio's camera, key light and world
(colours and HDRIs, no backdrop sweep), and a level ground plane.

World frame as in the studio: +Y is up, the camera sits at the origin looking along -Z. The
ground is fixed in the world (level); per image the stage moves it to y = -camera_height and
pitches the camera, so the HDRI's horizon and the ground's horizon stay one line.
"""
from __future__ import annotations

import math

from latentscape.blender_scenes import GROUND_HALF_SIZE
from latentscape.blender_scenes.studio import _load_hdri, add_camera, add_sun, add_world
from latentscape.blender_scenes.surfaces import add_plane



def build_environment(scene, settings, backgrounds):
    """(camera, sun, world nodes, per-background HDRI images) with the first HDRI shown, if any."""
    camera = add_camera(scene, settings.fov_deg)
    sun = add_sun(scene)
    world, images = load_world(scene, backgrounds)
    return camera, sun, world, images


def load_world(scene, backgrounds):
    """(world nodes, per-background HDRI image or None) with the first HDRI shown, if any."""
    world = add_world(scene)
    cache: dict = {}
    images = tuple(_load_hdri(bg, cache) if bg.kind == "hdri" else None for bg in backgrounds)
    first = next((i for i in images if i is not None), None)
    world.environment.image = first
    world.mix.inputs[0].default_value = 1.0 if first is None else 0.0
    return world, images


def add_ground_plane(scene, name: str, half_size: float = GROUND_HALF_SIZE, parent=None):
    """A level plane through its origin (normal world +Y); the stage sets its height per image."""
    ob = add_plane(scene, name, half_size, parent)
    ob.rotation_mode = "XYZ"
    ob.rotation_euler = (-math.pi / 2, 0.0, 0.0)  # local +Z (the normal) -> world +Y
    return ob
