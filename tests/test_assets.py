"""Asset sources: Sweet Home 3D catalogues, user folders in every format, previews."""
import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from latentscape.assets import sh3d
from latentscape.assets.folders import folder_objects, sidecar_rotation
from latentscape.assets.sources import build_library
from latentscape.renderer.asset_probe import probe_models
from latentscape.errors import AssetError, SpecError

import model_fixtures as M

HAS_BPY = importlib.util.find_spec("bpy") is not None
needs_bpy = pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
needs_sh3d = pytest.mark.skipif(not sh3d.available(), reason="apt-get install sweethome3d-furniture")


def test_properties_parser_handles_java_escapes():
    data = "# c\nname#1=Caf\\u00e9 table\nwidth#1 = 80\nlong=a\\\n   b\nkey\\:x=1\n".encode("latin-1")
    p = sh3d.parse_properties(data)
    assert p == {"name#1": "Café table", "width#1": "80", "long": "ab", "key:x": "1"}


@pytest.mark.parametrize("name, cat", [("Coffee table", "coffee_table"), ("Armchair", "armchair"),
                                       ("Office chair", "office_chair"), ("Chair", "chair"), ("Table lamp", "lamp"), ("Desk lamp", "lamp"), ("Wall switch", "electrical"),
                                       ("Child bed", "bed"), ("Sitting female", "person"), ("Butter", None),
                                       ("Hot dog", None), ("Apple iMac 2004", "computer"), ("Fork lift", None),
                                       ("Siamese cat", "animal")])
def test_name_to_category_rules(name, cat):
    assert sh3d.categorise(name) == cat


@needs_sh3d
def test_furniture_library_has_30_categories_with_3_models_and_licences():
    lib = build_library("furniture")
    counts = {c: len(lib.objects_in(i)) for i, c in enumerate(lib.categories)}
    assert sum(n >= 3 for n in counts.values()) >= 30 and min(counts.values()) >= 3
    assert {o.licence for o in lib.objects} <= {"CC0-1.0", "CC-BY-3.0", "CC-BY-3.0-US"}
    assert all(o.sha256 and o.triangles > 0 and max(o.extents) == pytest.approx(1.0) for o in lib.objects)
    assert sum(bool(o.creator) for o in lib.objects) > 0.9 * len(lib.objects)
    cc0 = build_library("furniture", licence="cc0")
    assert {o.licence for o in cc0.objects} == {"CC0-1.0"} and len(cc0.categories) >= 15
    assert all(o.source == "sh3d:BlendSwap-CC-0.sh3f" for o in cc0.objects)


def test_unknown_library_lists_valid_ones():
    with pytest.raises(SpecError, match="valid: default, placeholder, procedural, furniture"):
        build_library("kitchen")


def _folder(tmp_path, bad=False):
    root = tmp_path / "models"
    v, f = M.box((2.0, 1.0, 0.5))
    for k, (ext, write) in enumerate(M.WRITERS.items()):
        d = root / ("crate" if k % 2 else "brick")
        d.mkdir(parents=True, exist_ok=True)
        write(d / f"m{ext[1:]}{ext}", v, f)
    if bad:
        (root / "brick" / "corrupt.obj").write_text("v 1 2\nf 1 2 9\nthis is not an obj\n")
        (root / "crate" / "empty.stl").write_bytes(b"")
    return root


@needs_bpy
def test_user_folder_every_format_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path)
    objs, skipped = folder_objects(root, probe=probe_models)
    assert skipped == [] and len(objs) == 5 and {o.category for o in objs} == {"brick", "crate"}
    for o in objs:
        # OBJ and glTF are Y-up formats (Blender turns them Z-up); PLY and STL are Z-up already
        want = (1.0, 0.25, 0.5) if o.builder.endswith((".obj", ".gltf", ".glb")) else (1.0, 0.5, 0.25)
        assert np.allclose(o.extents, want, atol=1e-5), (o.name, o.extents)
        assert o.triangles == 12
        # a box's hull is its 8 corners, in the canonical frame (centred, longest side 1)
        hull = o.hull_points()
        assert len(hull) == 8 and np.allclose(np.sort(np.abs(hull), axis=0), np.tile(np.array(want) / 2, (8, 1)),
                                              atol=1e-4), (o.name, hull)
        assert o.size_m == pytest.approx(2.0)  # the model's own units (the box is 2 x 1 x 0.5)
        assert len(o.colour) == 3 and all(0 <= c <= 1 for c in o.colour)


@needs_bpy
def test_bad_files_are_listed_before_rendering(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    root = _folder(tmp_path, bad=True)
    with pytest.raises(AssetError) as e:
        folder_objects(root, probe=probe_models)
    msg = str(e.value)
    assert "2 unreadable model file(s)" in msg and "corrupt.obj" in msg and "empty.stl" in msg
    with pytest.warns(UserWarning) as warned:
        lib = build_library("placeholder", folders=(str(root),), skip_bad=True, probe=probe_models)
    assert sorted(str(w.message).split(":")[0].rsplit("/", 1)[-1] for w in warned) == ["corrupt.obj", "empty.stl"]
    assert len(lib.skipped) == 2 and any("empty.stl" in s for s in lib.skipped)
    assert "brick" in lib.categories and "cube" in lib.categories


@needs_bpy
def test_sidecar_gives_front_and_up(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "m"
    (root / "slab").mkdir(parents=True)
    v, f = M.box((2.0, 1.0, 0.5))
    M.write_ply(root / "slab" / "a.ply", v, f)
    (root / "slab" / "a.yaml").write_text("up: +X\nfront: -Y\n")  # the model lies on its side
    r = np.array(sidecar_rotation(root / "slab" / "a.ply")).reshape(3, 3)
    assert np.allclose(r @ [1, 0, 0], [0, 0, 1]) and np.allclose(r @ [0, -1, 0], [0, -1, 0])
    (o,), _ = folder_objects(root, probe=probe_models)
    assert np.allclose(o.extents, (0.25, 0.5, 1.0), atol=1e-5)  # now standing upright
    (root / "slab" / "a.yaml").write_text("up: +X\nfront: +X\n")
    with pytest.raises(SpecError, match="perpendicular"):
        sidecar_rotation(root / "slab" / "a.ply")


@needs_bpy
def test_blend_file_scripts_do_not_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "script-ran"
    blend = tmp_path / "models" / "thing" / "evil.blend"
    blend.parent.mkdir(parents=True)
    make = textwrap.dedent(f"""
        import bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        me = bpy.data.meshes.new("m")
        me.from_pydata([(0,0,0),(1,0,0),(0,1,0),(0,0,1)], [], [(0,1,2),(0,1,3),(0,2,3),(1,2,3)])
        ob = bpy.data.objects.new("thing", me)
        bpy.context.scene.collection.objects.link(ob)
        t = bpy.data.texts.new("autorun.py")
        t.write("open({str(marker)!r}, 'w').write('ran')")
        t.use_module = True  # 'Register': runs when the file is opened with auto-run enabled
        ob["drv"] = 0.0
        d = ob.driver_add('["drv"]').driver
        d.type = 'SCRIPTED'
        d.use_self = True
        d.expression = "__import__('pathlib').Path({str(marker)!r}).write_text('driver')"
        bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})
    """)
    subprocess.run([sys.executable, "-c", make], check=True, capture_output=True)
    assert not marker.exists()
    objs, _ = folder_objects(blend.parent.parent, probe=probe_models)
    assert len(objs) == 1 and objs[0].triangles == 4
    assert not marker.exists()
    # control: opening the same file with auto-run enabled does run its script
    opener = ("import bpy; bpy.context.preferences.filepaths.use_scripts_auto_execute = True; "
              f"bpy.ops.wm.open_mainfile(filepath={str(blend)!r}, use_scripts=True)")
    subprocess.run([sys.executable, "-c", opener], check=True, capture_output=True)
    assert marker.exists()


@needs_bpy
@needs_sh3d
def test_category_previews_are_not_blank_and_differ(tmp_path):
    from latentscape.config import DatasetSpec
    from latentscape.preview import render_objects
    from latentscape.resolve import resolve
    resolved = resolve(DatasetSpec(library="furniture", resolution=48))
    lib = resolved.library
    ids = [lib.objects_in(lib.category_index(c))[0] for c in ("chair", "lamp", "sofa")]
    imgs = render_objects(resolved, ids, {"position": (0, 0, 2.2), "seed": 0})
    for i in ids:
        assert imgs[i].std() > 5  # something is there
    a, b, c = (imgs[i].astype(int) for i in ids)
    assert np.abs(a - b).mean() > 2 and np.abs(a - c).mean() > 2 and np.abs(b - c).mean() > 2
