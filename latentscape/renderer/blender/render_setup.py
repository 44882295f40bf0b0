"""Render settings (Cycles, colour management) and the object-mask compositor.

Output colour: view transform 'AgX' (the default: a filmic curve whose highlights roll off
instead of clipping) or 'Standard' (plain sRGB-encoded scene-linear radiance, clipped: datasets
made before latentscape 0.3); look None, exposure 0, gamma 1, display sRGB. Mask =
anti-aliased ID mask of the visible object (0..255), carried in the alpha channel.
"""
from __future__ import annotations

import bpy
import numpy as np

# Alpha floor used to carry the mask through Blender's un-premultiply on save.
_MASK_EPS = 1.0 / 255.0


def configure_render(scene, settings):
    """Resolution, Cycles sampling and denoising, threads, and plain sRGB 8-bit colour management."""
    r = scene.render
    r.resolution_x = r.resolution_y = settings.resolution
    r.resolution_percentage = 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.use_persistent_data = True
    r.film_transparent = False
    r.use_border = False
    r.dither_intensity = 0.0  # default 1.0 adds noise when quantising to 8 bit
    if settings.threads > 0:
        r.threads_mode = "FIXED"
        r.threads = settings.threads
    else:
        r.threads_mode = "AUTO"
    c = scene.cycles
    c.samples = settings.samples
    c.use_adaptive_sampling = settings.adaptive_threshold > 0
    if settings.adaptive_threshold > 0:
        c.adaptive_threshold = settings.adaptive_threshold
        c.adaptive_min_samples = 0  # Cycles' automatic minimum
    c.max_bounces = settings.max_bounces
    c.sample_clamp_indirect = settings.clamp_indirect
    c.filter_width = settings.filter_width
    c.sampling_pattern = "TABULATED_SOBOL"
    c.use_animated_seed = False
    c.seed = 0
    c.use_auto_tile = True
    c.tile_size = max(settings.resolution, 64)
    c.use_denoising = settings.denoise
    if settings.denoise:
        c.denoiser = "OPENIMAGEDENOISE"
        accurate = settings.denoise_prefilter == "accurate"
        c.denoising_prefilter = "ACCURATE" if accurate else "FAST"
        if "denoising_quality" in c.bl_rna.properties:
            c.denoising_quality = "HIGH" if accurate else "FAST"
        c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
    # Colour management: sRGB 8-bit output through AgX or the plain Standard transform.
    scene.display_settings.display_device = "sRGB"
    vs = scene.view_settings
    vs.view_transform = {"agx": "AgX", "standard": "Standard"}[settings.view_transform]
    vs.look = "None"
    vs.exposure = 0.0
    vs.gamma = 1.0
    vs.use_curve_mapping = False
    c.film_exposure = 1.0


def disable_compositor(scene):
    scene.render.use_compositing = False
    scene.compositing_node_group = None


def add_mask_compositor(scene):
    """Composite the object mask (pass index 1) into the alpha channel; see `decode_mask`."""
    scene.view_layers[0].use_pass_object_index = True
    ng = bpy.data.node_groups.new("latentscape_mask", "CompositorNodeTree")
    ng.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    rl = ng.nodes.new("CompositorNodeRLayers")
    rl.scene = scene
    idm = ng.nodes.new("CompositorNodeIDMask")
    idm.inputs["Index"].default_value = 1
    idm.inputs["Anti-Alias"].default_value = True
    # Saving RGBA to an 8-bit file makes Blender un-premultiply (RGB / A).
    # With a plain 'Replace Alpha' that corrupts every partially covered
    # pixel (measured: up to 195/255 off at the silhouette).  So we store
    # A = eps + (1 - eps) * mask (eps = 1/255, never 0) and premultiply
    # RGB by A ('Apply Mask'); Blender's division then restores the RGB
    # exactly, and the mask is decoded as (A8 - 1) * 255 / 254.
    ma = ng.nodes.new("ShaderNodeMath")
    ma.operation = "MULTIPLY_ADD"
    ma.use_clamp = True
    ma.inputs[1].default_value = 1.0 - _MASK_EPS
    ma.inputs[2].default_value = _MASK_EPS
    sa = ng.nodes.new("CompositorNodeSetAlpha")
    sa.inputs["Type"].default_value = "Apply Mask"
    go = ng.nodes.new("NodeGroupOutput")
    ng.links.new(rl.outputs["Object Index"], idm.inputs["ID value"])
    ng.links.new(rl.outputs["Image"], sa.inputs["Image"])
    ng.links.new(idm.outputs[0], ma.inputs[0])
    ng.links.new(ma.outputs[0], sa.inputs["Alpha"])
    ng.links.new(sa.outputs[0], go.inputs[0])
    scene.compositing_node_group = ng
    scene.render.use_compositing = True
    return ng


def decode_mask(alpha: np.ndarray) -> np.ndarray:
    """The 0..255 object mask from the 8-bit alpha `add_mask_compositor` wrote."""
    a = alpha.astype(np.int32)
    return np.clip(((a - 1) * 255 + 127) // 254, 0, 255).astype(np.uint8)
