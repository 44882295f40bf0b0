"""Blender objects for every asset source, loaded on demand and evicted between shards.

Each object is an `ObjectRef` (latentscape.renderer.types); its builder says how:
  primitive:NAME                placeholder Blender primitives (cone, cube, ...)
  procedural:CATEGORY:INSTANCE  meshes from latentscape.assets.procedural (numpy)
  sh3d:CATALOGUE:MODEL          an OBJ inside a Sweet Home 3D catalogue zip
  file:PATH                     a user model (obj, glb, gltf, ply, stl, blend)
Every object is normalised to the canonical frame (up +Z, front -Y, centred on its
box, box = `extents`, longest side 1) and hangs under one root object that carries
the pose transform. An object is loaded exactly as the dataset was resolved: where
its `sha256` is given and the bytes are read anyway (the procedural mesh, the OBJ in
its catalogue, a user's model file), a different content is an `AssetError`, and so is
a missing source file; nothing is substituted.
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import shutil
import tempfile
import weakref
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import bpy  # noqa: I001  (bpy must be imported before bmesh)
import bmesh
import numpy as np
from mathutils import Matrix

from latentscape.assets.hulls import FALLBACK_COLOUR as _FALLBACK_COLOUR, colour_record, hull_text, srgb_to_linear
from latentscape.assets.library import PLACEHOLDER_COLOURS
from latentscape.errors import AssetError

from .quiet import quiet

PLACEHOLDER_CATEGORIES = ("cone", "cube", "cylinder", "monkey", "sphere", "torus")

_PLACEHOLDER_COLOURS = PLACEHOLDER_COLOURS  # one table, kept by the asset library

# ---------------------------------------------------------------- placeholders
def _vertex_coords(me) -> np.ndarray:
    """A mesh's vertex coordinates as float64 [V, 3] (mesh space)."""
    co = np.empty(len(me.vertices) * 3, np.float64)
    me.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def _rotation_matrix(rotation) -> Matrix:
    """4x4 of a row-major 3x3 rotation (None = identity), in Blender's Z-up frame after import."""
    if not rotation:
        return Matrix.Identity(4)
    return Matrix([rotation[0:3], rotation[3:6], rotation[6:9]]).to_4x4()


def _torus_mesh(name, major=1.0, minor=0.25, n_major=48, n_minor=12):
    a = np.linspace(0, 2 * np.pi, n_major, endpoint=False)
    b = np.linspace(0, 2 * np.pi, n_minor, endpoint=False)
    A, B = np.meshgrid(a, b, indexing="ij")
    r = major + minor * np.cos(B)
    verts = np.stack([r * np.cos(A), r * np.sin(A), minor * np.sin(B)], -1).reshape(-1, 3)
    faces = []
    for i in range(n_major):
        for j in range(n_minor):
            i2, j2 = (i + 1) % n_major, (j + 1) % n_minor
            faces.append((i * n_minor + j, i2 * n_minor + j, i2 * n_minor + j2, i * n_minor + j2))
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts.tolist(), [], faces)
    return me


def _bmesh_mesh(name, build):
    bm = bmesh.new()
    build(bm)
    me = bpy.data.meshes.new(name)
    bm.to_mesh(me)
    bm.free()
    return me


def _build_placeholder_mesh(cat: str):
    if cat == "cone":
        me = _bmesh_mesh(cat, lambda bm: bmesh.ops.create_cone(
            bm, cap_ends=True, cap_tris=False, segments=48, radius1=1.0, radius2=0.0, depth=2.0))
        smooth = math.radians(50)
    elif cat == "cube":
        me = _bmesh_mesh(cat, lambda bm: bmesh.ops.create_cube(bm, size=2.0))
        smooth = None
    elif cat == "cylinder":
        me = _bmesh_mesh(cat, lambda bm: bmesh.ops.create_cone(
            bm, cap_ends=True, cap_tris=False, segments=48, radius1=1.0, radius2=1.0, depth=2.0))
        smooth = math.radians(50)
    elif cat == "monkey":
        me = _bmesh_mesh(cat, lambda bm: bmesh.ops.create_monkey(bm))
        smooth = math.radians(80)
    elif cat == "sphere":
        me = _bmesh_mesh(cat, lambda bm: bmesh.ops.create_uvsphere(
            bm, u_segments=48, v_segments=24, radius=1.0))
        smooth = math.radians(180)
    elif cat == "torus":
        me = _torus_mesh(cat)
        smooth = math.radians(180)
    else:  # pragma: no cover
        raise ValueError(cat)
    # normalise: bbox centre -> origin, longest side -> 1
    co = _vertex_coords(me)
    lo, hi = co.min(0), co.max(0)
    co = (co - (lo + hi) / 2) / float((hi - lo).max())
    me.vertices.foreach_set("co", co.astype(np.float32).ravel())
    me.update()
    if smooth is not None:
        me.shade_smooth()
        if smooth < math.pi:
            me.set_sharp_from_angle(angle=smooth)
    return me


def _placeholder_material(cat: str):
    return _principled(cat, _PLACEHOLDER_COLOURS[cat], 0.55, 0.0)


def _mesh_extents(me) -> tuple[float, float, float]:
    co = _vertex_coords(me)
    return tuple(float(v) for v in (co.max(0) - co.min(0)))


def _compute_placeholder_extents() -> dict[str, tuple[float, float, float]]:
    out = {}
    for cat in PLACEHOLDER_CATEGORIES:
        me = _build_placeholder_mesh(cat)
        out[cat] = _mesh_extents(me)
        bpy.data.meshes.remove(me)
    return out


#: Normalised bbox extents (dx, dy, dz) in the canonical asset frame, computed
#: from the actual placeholder meshes at import time (a few ms).
PLACEHOLDER_EXTENTS: dict[str, tuple[float, float, float]] = _compute_placeholder_extents()


# ---------------------------------------------------------------- loaded objects
@dataclass
class Loaded:
    root: object              # carries location / rotation / scale
    parts: list               # mesh objects (visibility, pass index)
    datablocks: list          # meshes, materials, images to free on eviction


class ObjectStore:
    """Loads objects by id when first needed; `keep_only` frees the others."""

    def __init__(self, scene, objects):
        self.scene = scene
        self.objects = tuple(objects)  # ObjectRef per object id
        self.loaded: dict[int, Loaded] = {}
        self.loads, self.load_seconds = 0, 0.0  # totals since the store was made
        self._tmp = Path(tempfile.mkdtemp(prefix="latentscape-assets-"))
        # removed with the store, or at the latest when the (worker) process exits
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, ignore_errors=True)

    def get(self, oid: int) -> Loaded:
        if not 0 <= oid < len(self.objects):
            raise IndexError("object_id %d out of range 0..%d" % (oid, len(self.objects) - 1))
        if oid not in self.loaded:
            ref = self.objects[oid]
            t0 = time.perf_counter()
            try:
                self.loaded[oid] = _build(self.scene, ref, self._tmp)
            except AssetError:
                raise
            except Exception as e:  # noqa: BLE001
                raise RuntimeError("could not load object %r (%s): %s" % (ref.name, ref.builder, e)) from e
            for ob in self.loaded[oid].parts:
                ob.hide_render = True
            self.loads += 1
            self.load_seconds += time.perf_counter() - t0
        return self.loaded[oid]

    def keep_only(self, ids) -> int:
        """Free every loaded object not in `ids`; returns how many were freed."""
        drop = [k for k in self.loaded if k not in set(ids)]
        for k in drop:
            _free(self.loaded.pop(k))
        if drop:
            _malloc_trim()
        return len(drop)

    def close(self):
        self._cleanup()


def _malloc_trim():
    """Hand freed heap back to the OS: without it a worker's RSS crept up ~17 MB per
    100 imported models; with it the growth levelled off (measured, benchmarks/asset_memory.py)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass


def _free(obj: Loaded):
    for ob in {id(o): o for o in [*obj.parts, obj.root]}.values():  # root may be a part
        try:
            bpy.data.objects.remove(ob, do_unlink=True)
        except ReferenceError:
            pass
    order = {bpy.types.Mesh: 0, bpy.types.Material: 1, bpy.types.Image: 2}
    for db in sorted(obj.datablocks, key=lambda d: order.get(type(d), 3)):  # users drop in this order
        try:
            coll = {bpy.types.Mesh: bpy.data.meshes, bpy.types.Material: bpy.data.materials,
                    bpy.types.Image: bpy.data.images}.get(type(db))
            if coll is not None and db.users == 0:
                coll.remove(db)
        except ReferenceError:
            pass


def _build(scene, ref, tmp: Path) -> Loaded:
    kind, _, arg = ref.builder.partition(":")
    if kind == "primitive":
        me = _build_placeholder_mesh(arg)
        me.materials.append(_placeholder_material(arg))
        return _single(scene, ref.name, me)
    if kind == "procedural":
        return _procedural(scene, ref, arg)
    if kind == "sh3d":
        catalogue, _, model = arg.partition(":")
        return _imported(scene, ref, _extract_sh3d(ref, catalogue, model, tmp), per_axis=True)
    if kind == "file":
        path = _read_path(ref, Path(arg))
        if ref.sha256:
            _check_content(ref, path.read_bytes())
        return _imported(scene, ref, path, per_axis=False)
    raise ValueError("unknown builder %r" % ref.builder)


def _read_path(ref, path: Path) -> Path:
    """`path`, if it is a file; else an AssetError naming the object and the path."""
    if not path.is_file():
        raise AssetError(f"object {ref.name!r}: its source file {path} is missing")
    return path


def _check_content(ref, content: bytes | None = None, digest: str | None = None):
    """Refuse an object whose content hash (of `content`, or `digest`) differs from the
    one the dataset was resolved with. Objects resolved without a hash are not checked."""
    if not ref.sha256:
        return
    found = digest if digest is not None else hashlib.sha256(content).hexdigest()
    if found != ref.sha256:
        raise AssetError(f"object {ref.name!r} differs from the dataset's (sha256 {ref.sha256}, found {found}): "
                         f"its asset source changed")


def _single(scene, name, me) -> Loaded:
    ob = bpy.data.objects.new("obj_" + name, me)
    scene.collection.objects.link(ob)
    ob.rotation_mode = "QUATERNION"
    ob.pass_index = 1
    return Loaded(root=ob, parts=[ob], datablocks=[me, *me.materials])


def _procedural(scene, ref, arg) -> Loaded:
    from latentscape.assets.procedural import build
    cat, _, inst = arg.rpartition(":")
    mesh = build(cat, int(inst))
    _check_content(ref, digest=mesh.sha256())
    me = bpy.data.meshes.new(ref.name)
    me.from_pydata(mesh.vertices.tolist(), [], mesh.faces.tolist())
    me.validate()
    me.update()
    if getattr(mesh, "smooth", False):
        me.shade_smooth()
        me.set_sharp_from_angle(angle=math.radians(40))
    m = mesh.material
    me.materials.append(_principled(ref.name, m.get("base_color", _FALLBACK_COLOUR),
                                    m.get("roughness", 0.5), m.get("metallic", 0.0)))
    return _single(scene, ref.name, me)


def _principled(name, colour, roughness, metallic):
    mat = bpy.data.materials.new("mat_" + name)
    if mat.node_tree is None:
        mat.use_nodes = True
    bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Base Color"].default_value = (*colour, 1.0)
    bsdf.inputs["Roughness"].default_value = float(roughness)
    bsdf.inputs["Metallic"].default_value = float(metallic)
    return mat


def _extract_sh3d(ref, catalogue: str, model: str, tmp: Path) -> Path:
    """Extract a model's folder (OBJ, MTL, textures) from its catalogue zip, checking the OBJ's hash."""
    from latentscape.assets.sh3d import catalogue_dir
    folder = model.rsplit("/", 1)[0] + "/" if "/" in model else ""
    with zipfile.ZipFile(_read_path(ref, catalogue_dir() / catalogue)) as z:
        if model not in z.namelist():
            raise AssetError(f"object {ref.name!r}: its model {model} is missing from {catalogue_dir() / catalogue}")
        if ref.sha256:
            _check_content(ref, z.read(model))
        for name in z.namelist():
            if name.startswith(folder) and not name.endswith("/") and "/" not in name[len(folder):]:
                target = tmp / catalogue / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.write_bytes(z.read(name))
    return tmp / catalogue / model


def import_file(path: Path) -> list:
    """Import a model file; return the new mesh objects. .blend files run no scripts."""
    with quiet():
        return _import_file(path)


def _import_file(path: Path) -> list:
    before = set(bpy.data.objects)
    ext = path.suffix.lower()
    if ext == ".obj":
        bpy.ops.wm.obj_import(filepath=str(path))
    elif ext in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
    elif ext == ".ply":
        bpy.ops.wm.ply_import(filepath=str(path))
    elif ext == ".stl":
        bpy.ops.wm.stl_import(filepath=str(path))
    elif ext == ".blend":
        bpy.context.preferences.filepaths.use_scripts_auto_execute = False
        with bpy.data.libraries.load(str(path), link=False) as (src, dst):
            dst.objects = list(src.objects)
        for ob in dst.objects:
            if ob is not None:
                bpy.context.scene.collection.objects.link(ob)
    else:
        raise ValueError("unsupported model format %r" % ext)
    new = [ob for ob in bpy.data.objects if ob not in before]
    meshes = [ob for ob in new if ob.type == "MESH"]
    for ob in new:
        if ob.type != "MESH":
            bpy.data.objects.remove(ob, do_unlink=True)
    if not meshes or not any(len(ob.data.polygons) for ob in meshes):
        for ob in meshes:
            bpy.data.objects.remove(ob, do_unlink=True)
        raise ValueError("no mesh with faces in %s" % path.name)
    return meshes


def probe_file(path: Path, rotation=None) -> dict:
    """Import a model, measure it in the canonical orientation, and remove it again."""
    meshes = import_file(path)
    try:
        lo, hi = _bounds(meshes, _rotation_matrix(rotation))
        size = hi - lo
        if not np.all(np.isfinite(size)) or size.max() <= 0:
            raise ValueError("degenerate geometry (zero size)")
        tris = sum(sum(len(p.vertices) - 2 for p in ob.data.polygons) for ob in meshes)
        canonical = (_world_coords(meshes, _rotation_matrix(rotation)) - (lo + hi) / 2) / size.max()
        return {"extents": (size / size.max()).tolist(), "triangles": int(tris), "hull": hull_text(canonical),
                "colour": list(colour_record(_mean_base_colour(meshes))), "size_m": float(size.max())}
    finally:
        for ob in meshes:
            me = ob.data
            bpy.data.objects.remove(ob, do_unlink=True)
            if me.users == 0:
                bpy.data.meshes.remove(me)


def _imported(scene, ref, path: Path, per_axis: bool) -> Loaded:
    meshes = import_file(path)
    pre = _rotation_matrix(ref.rotation)
    datablocks = []
    for ob in meshes:
        if ob.data.users > 1:
            ob.data = ob.data.copy()
        ob.data.transform(pre @ ob.matrix_world)
        ob.matrix_world = Matrix.Identity(4)
        _ensure_material(ob, ref.name)
        mats = [m for m in ob.data.materials if m is not None]
        datablocks += [ob.data, *mats, *[n.image for m in mats if m.node_tree for n in m.node_tree.nodes
                                         if n.type == "TEX_IMAGE" and n.image is not None]]
    lo, hi = _bounds(meshes)
    size = np.maximum(hi - lo, 1e-9)
    target = np.asarray(ref.extents, dtype=np.float64) if per_axis else size / size.max()
    scale = target / size if per_axis else np.full(3, 1.0 / size.max())
    norm = Matrix.Diagonal((*scale, 1.0)) @ Matrix.Translation(-(lo + hi) / 2)
    root = bpy.data.objects.new("obj_" + ref.name, None)
    scene.collection.objects.link(root)
    root.rotation_mode = "QUATERNION"
    for ob in meshes:
        ob.data.transform(norm)
        ob.parent = root
        ob.pass_index = 1
        if ob.name not in scene.collection.objects and not ob.users_collection:
            scene.collection.objects.link(ob)
    return Loaded(root=root, parts=meshes, datablocks=datablocks)


def _bounds(meshes, pre: Matrix | None = None):
    """(min, max) corners of the meshes' vertices in world space, after `pre` if given."""
    allco = _world_coords(meshes, pre)
    return allco.min(0), allco.max(0)


def _world_coords(meshes, pre: Matrix | None = None) -> np.ndarray:
    """Every vertex of the meshes in world space, after `pre` if given."""
    cos = []
    for ob in meshes:
        m = np.array(pre @ ob.matrix_world if pre is not None else ob.matrix_world)
        cos.append(_vertex_coords(ob.data) @ m[:3, :3].T + m[:3, 3])
    return np.concatenate(cos)


def _mean_base_colour(meshes) -> np.ndarray:
    """Area-weighted mean linear base colour of the meshes' faces (what `_ensure_material` keeps:
    a texture's mean where its file exists, else the Base Color; no material: the fallback)."""
    total, weight = np.zeros(3), 0.0
    for ob in meshes:
        me = ob.data
        areas = np.zeros(len(me.polygons))
        index = np.zeros(len(me.polygons), dtype=np.int64)
        me.polygons.foreach_get("area", areas)
        me.polygons.foreach_get("material_index", index)
        colours = [_material_colour(m) for m in me.materials] or [np.asarray(_FALLBACK_COLOUR)]
        for k, c in enumerate(colours):
            a = float(areas[np.minimum(index, len(colours) - 1) == k].sum())
            total += a * c
            weight += a
    return total / weight if weight > 0 else np.asarray(_FALLBACK_COLOUR, dtype=np.float64)


def _material_colour(mat) -> np.ndarray:
    if mat is None or mat.node_tree is None:
        return np.asarray(_FALLBACK_COLOUR, dtype=np.float64)
    bsdf = next((n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED"), None)
    if bsdf is None:
        return np.asarray(mat.diffuse_color[:3], dtype=np.float64)
    socket = bsdf.inputs["Base Color"]
    for link in socket.links:
        node = link.from_node
        if node.type == "TEX_IMAGE" and _image_ok(node.image) and node.image.size[0] > 0:
            px = np.empty(node.image.size[0] * node.image.size[1] * node.image.channels, dtype=np.float32)
            node.image.pixels.foreach_get(px)
            rgb = px.reshape(-1, node.image.channels)[:, :3].mean(0, dtype=np.float64)
            srgb = node.image.colorspace_settings.name.lower().startswith("srgb")
            return srgb_to_linear(rgb) if srgb and not node.image.is_float else rgb.astype(np.float64)
    return np.asarray(socket.default_value[:3], dtype=np.float64)


def _ensure_material(ob, name):
    """Give the mesh a plain material if it has none; drop texture nodes whose file is missing.

    Blender still reports `has_data` for an image whose file does not exist (it makes a
    pink placeholder), so the file itself is checked. Without its missing texture a
    material falls back to its plain base colour.
    """
    mats = [m for m in ob.data.materials if m is not None]
    if not mats:
        ob.data.materials.clear()
        ob.data.materials.append(_principled(name, _FALLBACK_COLOUR, 0.6, 0.0))
        return
    for m in mats:
        if m.node_tree is None:
            continue
        for n in [n for n in m.node_tree.nodes if n.type == "TEX_IMAGE" and not _image_ok(n.image)]:
            img = n.image
            m.node_tree.nodes.remove(n)
            if img is not None and img.users == 0:
                bpy.data.images.remove(img)


def _image_ok(img) -> bool:
    if img is None:
        return False
    if img.packed_file is not None:
        return True
    try:
        return bool(img.filepath) and os.path.exists(bpy.path.abspath(img.filepath))
    except Exception:  # noqa: BLE001
        return False
