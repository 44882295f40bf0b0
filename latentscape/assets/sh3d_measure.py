"""A Sweet Home 3D model's convex hull and mean base colour, measured (no Blender) as the renderer
builds the furniture object (renderer/blender/objects.py, `_imported` with per_axis=True) from what
Blender 5.0's OBJ importer makes of the file (objfile.ObjGeometry); each rule below was checked
against that importer:
* vertices: the importer's Y-up -> Z-up conversion maps OBJ (x, y, z) to (x, -z, y); then
  zup(modelRotation); then centred on the box and scaled per axis to the extents furniture_objects
  gives (size_cm / max(size_cm)).
* materials: faces without a material take the renderer's fallback colour. The Base Color is the
  MTL's Kd (a material missing from the MTL, or an MTL that cannot be read: 0.8). A `map_Kd` whose
  file exists replaces it (Kd is not multiplied in); the image is looked up at the MTL's folder +
  the path, then the path's base name in that folder (the importer also tries the path as it
  stands, which names nothing in the renderer's temporary folder). The renderer extracts only the
  files directly in the model's folder, so only those exist. A texture's colour is srgb_to_linear
  of its pixels' mean RGB (as the renderer's own probe measures it; alpha ignored).
* mean: weighted by the faces' areas in the canonical frame (|sum of the fan triangles' cross
  products| / 2, which is Blender's polygon area).
"""
from __future__ import annotations

import io
import posixpath
import re
import zipfile

import numpy as np

from latentscape.assets.objfile import MTL_DEFAULT, ObjGeometry, parse_mtl

_Y2Z = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])  # OBJ (x, y, z) -> Blender (x, -z, y)


def measure_model(z: zipfile.ZipFile, model: str, g: ObjGeometry, size_cm, rotation, cache: dict):
    """(hull text, colour) of the model `model` (parsed: `g`) of the open catalogue `z` (see the module
    docstring); `cache` keeps what the models of one catalogue share (folder listings, texture means)."""
    from latentscape.assets.hulls import FALLBACK_COLOUR, colour_record, hull_text
    canonical = canonical_vertices(g, size_cm, rotation)
    if canonical is None:
        return "", colour_record(FALLBACK_COLOUR)
    hull = hull_text(_hull_candidates(canonical[g.referenced]))
    if g.counts.size == 0:
        return hull, colour_record(FALLBACK_COLOUR)
    colours = _material_colours(z, model, g, cache)
    palette = np.array([colours.get(name, MTL_DEFAULT) for name in g.materials] + [FALLBACK_COLOUR],
                       dtype=np.float64)
    areas = face_areas(canonical, g.corners, g.counts)
    per_face = palette[g.material]  # -1: the fallback, last in the palette
    total = areas.sum()
    return hull, colour_record((areas @ per_face) / total if total > 0 else per_face.mean(0))


def canonical_vertices(g: ObjGeometry, size_cm, rotation) -> np.ndarray | None:
    """All of `g`'s vertices in the renderer's canonical frame: Blender's Z-up axes, then the
    pre-rotation, then centred on the box of the referenced vertices and scaled per axis to the
    extents furniture_objects gives. None if no finite vertex is referenced."""
    size = np.maximum(np.asarray(size_cm, dtype=np.float64), 1e-3)
    m = (np.asarray(zup(rotation), dtype=np.float64).reshape(3, 3) if rotation else np.eye(3)) @ _Y2Z
    pts = g.positions @ m.T
    used = pts[g.referenced]
    if used.size == 0 or not np.isfinite(used).all():
        return None
    lo, hi = used.min(0), used.max(0)
    return (pts - (lo + hi) / 2) * (size / size.max() / np.maximum(hi - lo, 1e-9))


def face_areas(points: np.ndarray, corners: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Area of each polygon: half the length of the sum of its fan triangles' cross products
    (Newell's vector area, which is Blender's polygon area; for a quad, half |d1 x d2| of its diagonals)."""
    out = np.zeros(counts.size)
    offsets = np.cumsum(counts) - counts
    for k in np.unique(counts).tolist():
        sel = np.flatnonzero(counts == k)
        c = [points[corners[offsets[sel] + j]] for j in range(k)]
        if k == 4:
            vec = _cross(c[2] - c[0], c[3] - c[1])
        else:
            vec = sum(_cross(c[j] - c[0], c[j + 1] - c[0]) for j in range(1, k - 1))
        out[sel] = np.sqrt((vec ** 2).sum(axis=1)) / 2
    return out


def _cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.stack([u[:, 1] * v[:, 2] - u[:, 2] * v[:, 1], u[:, 2] * v[:, 0] - u[:, 0] * v[:, 2],
                     u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]], axis=1)


def _hull_candidates(points: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """The points (in their order) within a hair of the maximum in one of support_hull's directions:
    support_hull gives the same on them as on all, without its slow column-wise argmax over every point."""
    from latentscape.latents.geometry import HULL_DIRECTIONS, sphere_directions
    dirs = np.concatenate([np.vstack([np.eye(3), -np.eye(3)]), sphere_directions(HULL_DIRECTIONS)])
    if len(points) <= len(dirs):
        return points
    s = [dirs @ points[k:k + chunk].T for k in range(0, len(points), chunk)]
    top = np.max([x.max(axis=1) for x in s], axis=0)
    eps = 1e-9 * max(1.0, float(np.abs(points).max()))
    keep = np.concatenate([(x >= (top - eps)[:, None]).any(axis=0) for x in s])
    return points[keep]


def _material_colours(z: zipfile.ZipFile, model: str, g: ObjGeometry, cache: dict) -> dict[str, tuple]:
    """Linear base colour of each material the MTL libraries define (first definition wins)."""
    folder = posixpath.dirname(model)
    if ("dir", folder) not in cache:
        cache["dir", folder] = _extracted(z, folder)
    present = cache["dir", folder]
    out: dict[str, tuple] = {}
    for lib in g.mtllibs:
        path = posixpath.normpath(posixpath.join(folder, lib.strip('"')))
        if path not in present:
            continue
        for name, (kd, tex) in parse_mtl(z.read(path)).items():
            if name in out:
                continue
            mean = _texture_mean(z, present, posixpath.dirname(path), tex, cache) if tex else None
            out[name] = mean if mean is not None else kd
    return out


def _extracted(z: zipfile.ZipFile, folder: str) -> frozenset[str]:
    """The zip entries the renderer extracts with a model of `folder`: the files directly in it."""
    prefix = folder + "/" if folder else ""
    return frozenset(n for n in z.namelist() if n.startswith(prefix) and "/" not in n[len(prefix):] and n != prefix)


def _texture_mean(z, present, mtl_dir: str, tex: str, cache: dict):
    """Linear colour of a map_Kd image as the importer finds it (MTL folder + path, then the
    path's base name there), or None where it does not exist or cannot be decoded."""
    base = re.split(r"[/\\]", tex)[-1]
    for cand in (posixpath.normpath(posixpath.join(mtl_dir, tex)), posixpath.join(mtl_dir, base) if mtl_dir else base):
        if cand in present:
            if ("texture", cand) not in cache:
                cache["texture", cand] = _image_mean(z.read(cand))
            return cache["texture", cand]
    return None


def _image_mean(data: bytes):
    """srgb_to_linear of an image's mean RGB (alpha ignored), or None if Pillow cannot decode it."""
    from PIL import Image, ImageStat

    from latentscape.assets.hulls import srgb_to_linear
    try:
        with Image.open(io.BytesIO(data)) as im:
            rgb = im.convert("RGB")
    except Exception:  # noqa: BLE001  (any decoding failure: the importer's Kd stays)
        return None
    if rgb.width * rgb.height == 0:
        return None
    mean = np.asarray(ImageStat.Stat(rgb).sum, dtype=np.float64) / (rgb.width * rgb.height * 255.0)
    return tuple(float(x) for x in srgb_to_linear(mean))


def zup(rotation) -> tuple[float, ...]:
    """A Sweet Home 3D modelRotation (acting in the OBJ's Y-up frame) as a rotation in Blender's Z-up frame."""
    r = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    y2z = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # OBJ (x, y, z) -> Blender (x, -z, y)
    return tuple((y2z @ r @ y2z.T).ravel().tolist())
