"""Procedural surfaces for the scene templates: planes, boxes and materials built from Blender's
own texture nodes (no image files). Texture coordinates are object coordinates in metres, so a
texture keeps its real size on a plane of any extent."""
from __future__ import annotations

import bpy

from latentscape.blender_scenes import GROUND_MATERIALS, ROOM_STYLES


def add_mesh(scene, name: str, verts, faces, parent=None):
    """A mesh object from vertices and faces, linked into `scene`, never part of the object mask."""
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces)
    me.materials.append(None)
    ob = bpy.data.objects.new(name, me)
    scene.collection.objects.link(ob)
    ob.parent = parent
    ob.pass_index = 0
    return ob


def add_plane(scene, name: str, half_size: float, parent=None):
    """A square plane in its local XY plane (normal +Z), centred on its origin."""
    h = half_size
    return add_mesh(scene, name, [(-h, -h, 0.0), (h, -h, 0.0), (h, h, 0.0), (-h, h, 0.0)], [(0, 1, 2, 3)], parent)


def set_material(ob, mat):
    """Show `mat` on every face of `ob` (its single material slot)."""
    if ob.data.materials[0] != mat:
        ob.data.materials[0] = mat


# ---------------------------------------------------------------- materials
def _material(name: str, roughness: float):
    mat = bpy.data.materials.new(name)
    if mat.node_tree is None:  # use_nodes is deprecated in 5.0
        mat.use_nodes = True
    nt = mat.node_tree
    bsdf = next(n for n in nt.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = roughness
    return mat, nt, bsdf


def _coords(nt, scale=(1.0, 1.0, 1.0)):
    """Object coordinates (metres) scaled per axis: the vector socket textures read."""
    tc = nt.nodes.new("ShaderNodeTexCoord")
    mp = nt.nodes.new("ShaderNodeMapping")
    mp.inputs["Scale"].default_value = scale
    nt.links.new(tc.outputs["Object"], mp.inputs["Vector"])
    return mp.outputs["Vector"]


def _ramp(nt, fac, colours, bsdf):
    """Base colour from `fac` through a colour ramp over `colours` (linear RGB, evenly spaced)."""
    r = nt.nodes.new("ShaderNodeValToRGB")
    els = r.color_ramp.elements
    while len(els) < len(colours):
        els.new(0.5)
    for i, (el, c) in enumerate(zip(els, colours)):
        el.position = i / (len(colours) - 1)
        el.color = (*c, 1.0)
    nt.links.new(fac, r.inputs["Fac"])
    nt.links.new(r.outputs["Color"], bsdf.inputs["Base Color"])


def checker(name, c1, c2, cell_m):
    mat, nt, bsdf = _material(name, 0.6)
    tex = nt.nodes.new("ShaderNodeTexChecker")
    tex.inputs["Scale"].default_value = 1.0 / (2.0 * cell_m)  # Blender's checker: 2 cells per 1/scale
    tex.inputs["Color1"].default_value = (*c1, 1.0)
    tex.inputs["Color2"].default_value = (*c2, 1.0)
    nt.links.new(_coords(nt), tex.inputs["Vector"])
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def noisy(name, colours, scale, roughness=0.9, detail=6.0):
    """A mottled surface: fractal noise of feature size ~1/scale m through `colours`."""
    mat, nt, bsdf = _material(name, roughness)
    tex = nt.nodes.new("ShaderNodeTexNoise")
    tex.inputs["Scale"].default_value = scale
    tex.inputs["Detail"].default_value = detail
    nt.links.new(_coords(nt), tex.inputs["Vector"])
    _ramp(nt, tex.outputs["Fac"], colours, bsdf)
    return mat


def bricks(name, c1, c2, mortar, brick_m, row_m, roughness=0.8, offset=0.5):
    """Bricks, planks or tiles: `brick_m` x `row_m` metres with mortar lines of colour `mortar`."""
    mat, nt, bsdf = _material(name, roughness)
    tex = nt.nodes.new("ShaderNodeTexBrick")
    tex.offset = offset
    tex.inputs["Scale"].default_value = 1.0
    tex.inputs["Brick Width"].default_value = brick_m
    tex.inputs["Row Height"].default_value = row_m
    tex.inputs["Mortar Size"].default_value = min(brick_m, row_m) * 0.04
    for sock, c in (("Color1", c1), ("Color2", c2), ("Mortar", mortar)):
        tex.inputs[sock].default_value = (*c, 1.0)
    nt.links.new(_coords(nt), tex.inputs["Vector"])
    nt.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
    return mat


def plain(name, colour, roughness=0.9):
    mat, _, bsdf = _material(name, roughness)
    bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
    return mat


def ground_materials() -> tuple:
    """One material per name in GROUND_MATERIALS, same order."""
    made = {
        "checker": lambda: checker("ground-checker", (0.55, 0.55, 0.55), (0.12, 0.12, 0.12), 0.5),
        "grass": lambda: noisy("ground-grass", ((0.03, 0.09, 0.015), (0.08, 0.2, 0.03), (0.18, 0.25, 0.06)), 3.0),
        "asphalt": lambda: noisy("ground-asphalt", ((0.03, 0.03, 0.03), (0.08, 0.08, 0.08), (0.14, 0.14, 0.13)),
                                 25.0, roughness=0.7),
        "sand": lambda: noisy("ground-sand", ((0.35, 0.27, 0.16), (0.5, 0.4, 0.25), (0.6, 0.5, 0.34)), 6.0),
    }
    return tuple(made[n]() for n in GROUND_MATERIALS)


def room_styles() -> tuple:
    """Per name in ROOM_STYLES: (floor material, wall material), same order."""
    made = {
        "oak-plaster": lambda: (bricks("floor-oak", (0.35, 0.18, 0.07), (0.25, 0.12, 0.05), (0.1, 0.05, 0.02),
                                       1.2, 0.15, roughness=0.5),
                                noisy("wall-plaster", ((0.42, 0.41, 0.38), (0.5, 0.49, 0.45)), 4.0)),
        "tiles-blue": lambda: (bricks("floor-tiles", (0.5, 0.5, 0.48), (0.42, 0.43, 0.43), (0.15, 0.15, 0.15),
                                      0.4, 0.4, roughness=0.3, offset=0.0),
                               plain("wall-blue", (0.25, 0.4, 0.6))),
        "concrete-brick": lambda: (noisy("floor-concrete", ((0.2, 0.2, 0.19), (0.35, 0.35, 0.33)), 8.0),
                                   bricks("wall-brick", (0.4, 0.12, 0.06), (0.3, 0.09, 0.05), (0.5, 0.48, 0.45),
                                          0.25, 0.075)),
        "carpet-beige": lambda: (noisy("floor-carpet", ((0.25, 0.08, 0.08), (0.35, 0.12, 0.1)), 60.0, detail=2.0),
                                 plain("wall-beige", (0.45, 0.4, 0.3))),
    }
    return tuple(made[n]() for n in ROOM_STYLES)
