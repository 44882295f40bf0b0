"""Sweet Home 3D models' hulls and mean colours, measured without Blender (assets.sh3d_measure), and
checked against Blender's own import of the same files through the renderer's path
(`_extract_sh3d`, then `_imported(..., per_axis=True)`, in a Blender child process)."""
import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentscape.assets import hulls, objfile, sh3d
from latentscape.assets.sh3d_measure import zup as _zup
from latentscape.latents.geometry import hull_area_2d, support_hull

needs_bpy = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")
needs_sh3d = pytest.mark.skipif(not sh3d.available(), reason="apt-get install sweethome3d-furniture")

PLANES = ((0, 1), (0, 2), (1, 2))

# ---------------------------------------------------------------- a synthetic catalogue
# "two": a 2 x 2 floor (material red) and a triangle of area 1 in the plane x = 0 (green), Y-up.
# In Blender's frame (x, -z, y) its box is 2 x 2 x 1; at 200 x 200 x 100 cm the canonical scale is
# 0.5 on every axis, so the canonical areas are 1 and 0.25.
TWO_OBJ = """# two materials
mtllib two.mtl
v 0 0 0
v 2 0 0
v 2 0 2
v 0 0 2
v 0 1 0
vt 0 0
vn 0 1 0
o floor
usemtl red
f 1/1/1 4/1/1 3/1/1 2/1/1
o wall
usemtl green
f -5//1 -1//1 -2//1
"""
TWO_MTL = "newmtl red\nKd 0.5 0.1 0.2\nnewmtl green\nKd 0.0 0.6 0.1\n"
RED, GREEN = np.array([0.5, 0.1, 0.2]), np.array([0.0, 0.6, 0.1])
TWO_COLOUR = (1.0 * RED + 0.25 * GREEN) / 1.25  # (0.4, 0.2, 0.18)
TWO_HULL = {(-0.5, 0.5, -0.25), (0.5, 0.5, -0.25), (0.5, -0.5, -0.25), (-0.5, -0.5, -0.25), (-0.5, 0.5, 0.25)}

# "rules": one square per model, each with one of the material cases
SQUARE = "v 0 0 0\nv 1 0 0\nv 1 0 1\nv 0 0 1\n"
RULES_MTL = """newmtl tex
Kd 0.2 0.3 0.4
map_Kd -s 1 1 1 tex.png
newmtl winpath
Kd 0.2 0.3 0.4
map_Kd C:\\Users\\someone\\textures\\tex.png
newmtl gone
Kd 0.2 0.3 0.4
map_Kd missing.png
newmtl nokd
Ka 0.1 0.1 0.1
newmtl red
Kd 0.5 0.1 0.2
"""
TEX_PIXELS = np.array([[[255, 0, 0, 255], [255, 0, 0, 0]], [[0, 0, 255, 255], [0, 128, 0, 255]]], np.uint8)
TEX_COLOUR = hulls.srgb_to_linear(TEX_PIXELS[..., :3].reshape(-1, 3).mean(0) / 255.0)  # alpha ignored
FALLBACK = np.array([0.6, 0.6, 0.6])  # the renderer's colour for faces without a material
RULES = {  # model -> (its faces, the expected colour)
    "tex": ("usemtl tex\nf 1 2 3 4\n", TEX_COLOUR),        # map_Kd replaces Kd (not multiplied)
    "winpath": ("usemtl winpath\nf 1 2 3 4\n", TEX_COLOUR),  # found by its base name
    "gone": ("usemtl gone\nf 1 2 3 4\n", np.array([0.2, 0.3, 0.4])),  # texture missing: Kd
    "nokd": ("usemtl nokd\nf 1 2 3 4\n", np.full(3, 0.8)),  # no Kd: 0.8
    "ghost": ("usemtl ghost\nf 1 2 3 4\n", np.full(3, 0.8)),  # not in the MTL: 0.8
    "first": ("f 1 2 3\nusemtl red\nf 1 3 4\n", RED),  # before the first usemtl: the object's first material
    "fallback": ("o a\nf 1 2 3\no b\nusemtl red\nf 1 3 4\n", (FALLBACK + RED) / 2),  # an object without any
}


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def _write_catalogue(folder: Path) -> Path:
    """Fake.sh3f with the models "two" and the RULES (id Fake#NAME, model NAME/NAME.obj)."""
    folder.mkdir(parents=True, exist_ok=True)
    props = ["id#1=Fake#two", "name#1=Two", "model#1=/two/two.obj", "width#1=200", "depth#1=200", "height#1=100"]
    files = {"two/two.obj": TWO_OBJ, "two/two.mtl": TWO_MTL}
    for k, (name, (faces, _)) in enumerate(RULES.items(), start=2):
        props += [f"id#{k}=Fake#{name}", f"name#{k}={name}", f"model#{k}=/{name}/{name}.obj",
                  f"width#{k}=100", f"depth#{k}=100", f"height#{k}=0"]
        files[f"{name}/{name}.obj"] = f"mtllib rules.mtl\n{SQUARE}{faces}"
        files[f"{name}/rules.mtl"] = RULES_MTL
        files[f"{name}/tex.png"] = _png(TEX_PIXELS)
    path = folder / "Fake.sh3f"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("PluginFurnitureCatalog.properties", "\n".join(props) + "\n")
        for name, data in files.items():
            z.writestr(name, data)
    return path


def test_two_materials_give_the_exact_area_weighted_mean_and_hull(tmp_path):
    m = sh3d.read_model(_write_catalogue(tmp_path), "Fake#two")
    assert m.colour == hulls.colour_record(TWO_COLOUR) == (0.4, 0.2, 0.18)
    assert {tuple(p) for p in hulls.hull_points(m.hull).tolist()} == TWO_HULL


@pytest.mark.parametrize("name", list(RULES))
def test_material_rules(tmp_path, name):
    m = sh3d.read_model(_write_catalogue(tmp_path), f"Fake#{name}")
    assert m.colour == hulls.colour_record(RULES[name][1])


def test_index_cache_round_trips_hull_and_colour(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSCAPE_SH3D_DIR", str(tmp_path / "sh3d"))
    _write_catalogue(tmp_path / "sh3d")
    built = sh3d.load_index(tmp_path / "cache")
    assert list((tmp_path / "cache").glob("sh3d-index-*.json"))
    cached = sh3d.load_index(tmp_path / "cache")
    assert cached == built and len(built) == 1 + len(RULES)
    two = next(m for m in cached if m.key == "Fake#two")
    assert isinstance(two.colour, tuple) and two.colour == (0.4, 0.2, 0.18)
    assert hulls.hull_points(two.hull).shape == (5, 3)


def test_obj_parser_reads_what_the_importer_reads():
    text = ("\ufeff# comment\r\nmtllib my lib.mtl\r\n  v 0 0 0\r\nv 1 0 0\r\nv 1 1 \\\r\n 0\r\nv 9 9 9\r\n"
            "v 0 1 0 1.0\r\nl 4 1\r\nf 1/1 2/2 3/3\r\nf 1 2 99\r\nf 1 2 2 3 1\r\nf 3 2 1\r\n").encode()
    g = objfile.parse_obj(text)
    assert g.mtllibs == ["my lib.mtl"]
    assert g.positions.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0], [9, 9, 9], [0, 1, 0]]  # w ignored
    assert g.referenced.tolist() == [0, 1, 2, 3]  # the line's vertices count; an unreferenced one does not
    # out-of-range face skipped; repeated corners dropped; a repeat of a face (any order) not created
    assert g.counts.tolist() == [3] and g.corners.tolist() == [0, 1, 2] and g.material.tolist() == [-1]


@pytest.mark.parametrize("text", [b"", b"f 1 2 3", b"f 1 2 3\r\nf 1 2 3 4\rf  1\n f 1 2 3\nf\t1 2 3\nf 1 2\\\n 3 4\n",
                                  b"f\n\nf \nf 1\x0b2\x0c3 4", b"\xef\xbb\xbff 1 2 3 4\n", b"  f 1 2 3\nf 1 2 3 4 5\n"])
def test_triangle_count_is_the_line_by_line_count(text):
    lines = objfile.obj_lines(text)
    expected = sum(max(1, len(line.split()) - 3) for line in text.splitlines() if line.startswith(b"f "))
    assert objfile.count_triangles(text) == expected
    assert objfile.count_triangles(text, lines[0] if lines[1] else None) == expected


# ---------------------------------------------------------------- against Blender
# Varied real models: a plain Kd; a texture (its Kd 0.92 is not multiplied in); a 3-cycle
# modelRotation with 4 materials; a 90-degree rotation with a material missing from the MTL;
# a 2-degree rotation with a texture among 3 materials.
REAL = {"Scopia.sh3f": ["Scopia#cendrier", "Scopia#saloon_table", "Scopia#coffee_table"],
        "KatorLegaz.sh3f": ["Kator Legaz#bathmat"], "BlendSwap-CC-0.sh3f": ["Blend Swap CC-0#headphones"]}


def _blender_measure(items):
    """In a Blender child: each (catalogue dir, catalogue, model, extents, rotation) built as the
    renderer builds it; its canonical box, support hull, area-weighted mean base colour (float64)
    and its materials' Base Colours; and probe_file's extents (the unscaled box's proportions)."""
    import os
    import tempfile

    import bpy

    from latentscape.renderer.blender import objects as O
    from latentscape.renderer.types import ObjectRef
    tmp = Path(tempfile.mkdtemp())
    out = []
    for i, (folder, catalogue, model, extents, rotation) in enumerate(items):
        os.environ["LATENTSCAPE_SH3D_DIR"] = folder
        ref = ObjectRef(f"test/{i}", f"sh3d:{catalogue}:{model}", extents, rotation, "")
        path = O._extract_sh3d(ref, catalogue, model, tmp / str(i))
        probe = O.probe_file(path, rotation)["extents"]
        loaded = O._imported(bpy.context.scene, ref, path, per_axis=True)
        co, total, weight, mats = [], np.zeros(3), 0.0, {}
        for ob in loaded.parts:
            me, m = ob.data, np.array(ob.matrix_world)
            co.append(O._vertex_coords(me) @ m[:3, :3].T + m[:3, 3])
            colours = [_blender_material_colour(mat) for mat in me.materials]
            for mat, c in zip(me.materials, colours):
                bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
                mats[mat.name] = {"base": list(bsdf.inputs["Base Color"].default_value[:3]), "colour": c.tolist(),
                                  "linked": bool(bsdf.inputs["Base Color"].links)}
            area = np.zeros(len(me.polygons))
            index = np.zeros(len(me.polygons), dtype=np.int64)
            me.polygons.foreach_get("area", area)
            me.polygons.foreach_get("material_index", index)
            for k, c in enumerate(colours):
                a = float(area[np.minimum(index, len(colours) - 1) == k].sum())
                total, weight = total + a * c, weight + a
        co = np.concatenate(co)
        out.append({"lo": co.min(0).tolist(), "hi": co.max(0).tolist(), "hull": support_hull(co).tolist(),
                    "colour": (total / weight).tolist(), "materials": mats, "probe": list(probe)})
        O._free(loaded)
    return out


def _blender_material_colour(mat) -> np.ndarray:
    """A material's linear base colour as the renderer keeps it: the mean of a linked image whose
    file exists (sRGB mean, then linear; summed in float64), else the Base Color."""
    from latentscape.renderer.blender import objects as O
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    for link in bsdf.inputs["Base Color"].links:
        img = link.from_node.image if link.from_node.type == "TEX_IMAGE" else None
        if img is not None and O._image_ok(img) and img.size[0] > 0:
            px = np.empty(img.size[0] * img.size[1] * img.channels, np.float32)
            img.pixels.foreach_get(px)
            return hulls.srgb_to_linear(px.reshape(-1, img.channels)[:, :3].astype(np.float64).mean(0))
    return np.asarray(bsdf.inputs["Base Color"].default_value[:3], dtype=np.float64)


def _in_blender(models, folder):
    from latentscape.renderer.child import run_in_blender_child
    items = []
    for m in models:
        size = np.maximum(np.asarray(m.size_cm, dtype=np.float64), 1e-3)
        items.append((str(folder), m.catalogue, m.model, tuple((size / size.max()).tolist()),
                      _zup(m.rotation) if m.rotation else None))
    return run_in_blender_child(_blender_measure, items, what="sh3d hulls", timeout=120)


def _oriented_extents(m) -> np.ndarray:
    """The model's box proportions before the per-axis scaling (the importer's axes and the rotation)."""
    with zipfile.ZipFile(sh3d.catalogue_dir() / m.catalogue) as z:
        g = objfile.parse_obj(z.read(m.model))
    rot = np.asarray(_zup(m.rotation)).reshape(3, 3) if m.rotation else np.eye(3)
    pts = g.positions[g.referenced] @ (rot @ np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])).T
    size = pts.max(0) - pts.min(0)
    return size / size.max()


def _material(b, name):
    """A material of a Blender measurement by its MTL name (Blender may have added a .NNN suffix)."""
    (found,) = [v for k, v in b["materials"].items() if k == name or (k.rpartition(".")[0] == name
                                                                        and k.rpartition(".")[2].isdigit())]
    return found


def _assert_matches_blender(m, b):
    pts = hulls.hull_points(m.hull)
    lo, hi = np.array(b["lo"]), np.array(b["hi"])
    assert (pts >= lo - 1e-3).all() and (pts <= hi + 1e-3).all(), m.key
    assert np.allclose(pts.min(0), lo, atol=1e-3) and np.allclose(pts.max(0), hi, atol=1e-3), m.key  # box kept
    ref = np.array(b["hull"])
    for a, c in PLANES:
        assert hull_area_2d(pts[:, [a, c]]) == pytest.approx(hull_area_2d(ref[:, [a, c]]), rel=0.02), (m.key, a, c)
    assert np.allclose(m.colour, b["colour"], atol=2e-3), (m.key, m.colour, b["colour"])


@pytest.mark.blender
@needs_bpy
@needs_sh3d
def test_real_models_match_blenders_import():
    models = [sh3d.read_model(sh3d.catalogue_dir() / cat, key) for cat, keys in REAL.items() for key in keys]
    got = dict(zip([m.key for m in models], _in_blender(models, sh3d.catalogue_dir())))
    for m in models:
        _assert_matches_blender(m, got[m.key])
        assert np.allclose(_oriented_extents(m), got[m.key]["probe"], atol=1e-4), m.key  # axes and rotation
    # a plain Kd: Blender's Base Color is the MTL's Kd, and so is the colour
    (ash,) = got["Scopia#cendrier"]["materials"].values()
    assert not ash["linked"] and np.allclose(ash["base"], [0.129624, 0.150257, 0.158455], atol=1e-6)
    assert np.allclose(next(m for m in models if m.key == "Scopia#cendrier").colour, ash["base"], atol=1e-3)
    # a texture: the Base Color socket holds Kd but is linked to the image, whose mean is the colour
    (mat,) = got["Kator Legaz#bathmat"]["materials"].values()
    assert mat["linked"] and np.allclose(mat["base"], 0.917267, atol=1e-6)
    bathmat = next(m for m in models if m.key == "Kator Legaz#bathmat")
    with zipfile.ZipFile(sh3d.catalogue_dir() / "KatorLegaz.sh3f") as z:
        img = np.asarray(Image.open(io.BytesIO(z.read("katorlegaz/bathmat/bathmat.jpg"))).convert("RGB"), np.float64)
    tex = hulls.srgb_to_linear(img.reshape(-1, 3).mean(0) / 255.0)
    assert np.allclose(bathmat.colour, tex, atol=1e-3) and not np.allclose(bathmat.colour, 0.917267 * tex, atol=1e-2)
    # a material missing from the MTL: the importer's default 0.8
    assert np.allclose(_material(got["Scopia#saloon_table"], "glasstransparent")["base"], 0.8)


@pytest.mark.blender
@needs_bpy
def test_synthetic_models_match_blenders_import(tmp_path):
    path = _write_catalogue(tmp_path)
    models = [sh3d.read_model(path, f"Fake#{name}") for name in ["two", *RULES]]
    for m, b in zip(models, _in_blender(models, tmp_path)):
        assert np.allclose(m.colour, b["colour"], atol=1e-4), (m.key, m.colour, b["colour"])
        if m.key == "Fake#two":
            _assert_matches_blender(m, b)
