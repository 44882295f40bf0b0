"""Measurements of the templates' surfaces in Blender, the contrast model's inputs (docs/scenes.md):
each ground and room material's albedo palette (`latents/surfaces.py` SURFACE_ALBEDO) and the window
light against its point-source model (`latents/surround.py` WINDOW_GAIN).

`benchmarks/surface_albedo.py` prints the table; tests/test_scene_contrast.py checks the stored one
against a fresh measurement. Each function resets Blender: call it in a fresh process (a Blender child).
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path

import bpy
import numpy as np

from latentscape.blender_scenes import GROUND_MATERIALS, ROOM_STYLES, WINDOW_COLOUR, room
from latentscape.blender_scenes.studio import add_camera, add_world
from latentscape.blender_scenes.surfaces import add_plane, ground_materials, plain, room_styles
from latentscape.latents.surround import window_irradiance

WORLD = 0.5


def linearise(srgb8: np.ndarray) -> np.ndarray:
    """Linear values of 8-bit sRGB (the Standard view transform)."""
    v = srgb8.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def palette(rgb: np.ndarray, bins: int) -> list[list[float]]:
    """`bins` equal-count groups of pixels sorted by luminance, as their mean linear RGB."""
    px = rgb.reshape(-1, 3)
    order = np.argsort(px @ np.array([0.2126, 0.7152, 0.0722]), kind="stable")
    return [[round(float(c), 4) for c in g.mean(0)] for g in np.array_split(px[order], bins)]


def _fresh_scene(size: int, samples: int):
    """An empty Cycles scene rendering `size`^2 PNGs through the Standard view transform."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_depth = "8"
    scene.render.image_settings.color_mode = "RGB"
    return scene


def _render(scene, path: Path) -> np.ndarray:
    """Render to `path` and return the linear RGB pixels."""
    from PIL import Image
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    return linearise(np.asarray(Image.open(path).convert("RGB")))


def measure(size: int = 192, samples: int = 16, bins: int = 8) -> dict[str, list]:
    """{material name: palette} for every ground material and every room style's floor and wall."""
    scene = _fresh_scene(size, samples)
    cam = add_camera(scene, 40.0)
    cam.location = (0.0, 0.0, 20.0)  # looking down -Z at the plane z = 0
    world = add_world(scene)
    world.colour.outputs[0].default_value = (WORLD, WORLD, WORLD, 1.0)
    world.mix.inputs[0].default_value = 1.0
    plane = add_plane(scene, "surface", 20.0)
    mats = dict(zip(GROUND_MATERIALS, ground_materials()))
    for name, (floor, wall) in zip(ROOM_STYLES, room_styles()):
        mats[f"{name}/floor"], mats[f"{name}/wall"] = floor, wall
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, mat in mats.items():
            plane.data.materials[0] = mat
            out[name] = palette(_render(scene, Path(tmp) / "r.png") / WORLD, bins)
    return out


def window_gain(samples: int = 64) -> list[dict]:
    """The room's window light on a white diffuse floor (albedo 0.5, no specular), no world, no sun:
    per floor point, the measured linear radiance and the point-source model's (gain 1), so that
    their ratio is the model's gain (latents/surround.py WINDOW_GAIN)."""
    scene = _fresh_scene(16, samples)
    root = bpy.data.objects.new("room", None)
    scene.collection.objects.link(root)
    floor = add_plane(scene, "floor", 6.0, parent=root)
    floor.rotation_euler = (-math.pi / 2, 0.0, 0.0)
    mat = plain("white", (0.5, 0.5, 0.5), roughness=1.0)
    next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED").inputs["Specular IOR Level"].default_value = 0.0
    floor.data.materials[0] = mat
    room._window_light(scene, root)
    cam = add_camera(scene, 5.0)
    cam.rotation_euler = (-math.pi / 2, 0.0, 0.0)  # looking down (world -Y)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for x, z in ((0.0, -4.0), (0.0, -2.0), (0.0, 0.0), (1.5, -3.0), (-2.5, 1.0), (0.0, 3.0)):
            cam.location = (x, 0.3, z)
            px = _render(scene, Path(tmp) / "w.png")
            measured = float(px.reshape(-1, 3).mean(0) @ [0.2126, 0.7152, 0.0722])
            e = float(window_irradiance(np.array([[x, 0.0, z]]), np.array([[0.0, 1.0, 0.0]]))[0])
            model = 0.5 / math.pi * e * float(np.dot(WINDOW_COLOUR, [0.2126, 0.7152, 0.0722]))
            out.append({"floor_xz": [x, z], "measured": measured, "model_gain_1": model, "ratio": measured / model})
    return out
