"""The built-in procedural object library: determinism, mesh validity, canonical frame."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from latentscape.assets import procedural as P
from latentscape.assets.procedural import primitives as prim
from latentscape.errors import SpecError

ALL = [(c, i) for c in P.CATEGORIES for i in range(P.INSTANCES_PER_CATEGORY)]


@pytest.fixture(scope="module")
def meshes():
    return {key: P.build(*key) for key in ALL}


def _edge_problems(faces: np.ndarray) -> tuple[int, int]:
    """(undirected edges not used exactly twice, directed edges used more than once)."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    und = np.sort(e, axis=1)
    _, ucount = np.unique(und, axis=0, return_counts=True)
    _, dcount = np.unique(e, axis=0, return_counts=True)
    return int((ucount != 2).sum()), int((dcount != 1).sum())


def _component_volumes(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = len(v)
    rows = np.concatenate([f[:, 0], f[:, 1]])
    cols = np.concatenate([f[:, 1], f[:, 2]])
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    ncomp, label = connected_components(g, directed=False)
    a, b, c = (v[f[:, k]] for k in range(3))
    vol = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return np.bincount(label[f[:, 0]], weights=vol, minlength=ncomp)


def test_library_size():
    assert len(P.CATEGORIES) >= 12
    assert list(P.CATEGORIES) == sorted(P.CATEGORIES)
    assert len(set(P.CATEGORIES)) == len(P.CATEGORIES)
    assert P.INSTANCES_PER_CATEGORY >= 8


def test_every_mesh_is_valid(meshes):
    for key, m in meshes.items():
        v, f = m.vertices, m.faces
        assert v.dtype == np.float64 and v.ndim == 2 and v.shape[1] == 3, key
        assert f.dtype == np.int64 and f.ndim == 2 and f.shape[1] == 3, key
        assert 12 <= len(f) <= 50_000, (key, len(f))
        assert np.isfinite(v).all(), key
        assert f.min() >= 0 and f.max() < len(v), key
        assert (np.bincount(f.ravel(), minlength=len(v)) > 0).all(), (key, "unused vertices")
        # closed 2-manifold parts, consistently oriented
        assert _edge_problems(f) == (0, 0), (key, _edge_problems(f))
        # no degenerate triangles
        a, b, c = (v[f[:, k]] for k in range(3))
        area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
        assert area.min() > 1e-12, (key, area.min())
        # outward normals: every connected component encloses positive volume
        vols = _component_volumes(v, f)
        assert (vols > 0).all(), (key, vols.min())
        # canonical frame
        ext = np.array(m.extents())
        assert abs(ext.max() - 1.0) < 1e-9, (key, ext)
        centre = (v.max(axis=0) + v.min(axis=0)) / 2
        assert np.abs(centre).max() < 1e-9, (key, centre)


def test_materials_are_plausible(meshes):
    for key, m in meshes.items():
        mat = m.material
        assert set(mat) >= {"base_color", "roughness", "metallic"}, key
        assert len(mat["base_color"]) == 3 and all(0 <= x <= 1 for x in mat["base_color"]), key
        assert 0 <= mat["roughness"] <= 1 and 0 <= mat["metallic"] <= 1, key
        assert isinstance(m.smooth, bool), key


def test_build_is_deterministic():
    for c in P.CATEGORIES:
        for i in (0, P.INSTANCES_PER_CATEGORY - 1):
            a, b = P.build(c, i), P.build(c, i)
            assert a.sha256() == b.sha256(), (c, i)
            assert a.material == b.material and a.smooth == b.smooth
            np.testing.assert_array_equal(a.vertices, b.vertices)
            np.testing.assert_array_equal(a.faces, b.faces)


def test_instances_differ(meshes):
    for c in P.CATEGORIES:
        hashes = {meshes[(c, i)].sha256() for i in range(P.INSTANCES_PER_CATEGORY)}
        assert len(hashes) == P.INSTANCES_PER_CATEGORY, c
    all_hashes = {m.sha256() for m in meshes.values()}
    assert len(all_hashes) == len(meshes)


def test_sha256_is_hex_and_ignores_tiny_noise():
    m = P.build(P.CATEGORIES[0], 0)
    h = m.sha256()
    assert len(h) == 64 and int(h, 16) >= 0
    noisy = P.Mesh(m.vertices + 1e-13, m.faces, m.material, m.smooth)
    assert noisy.sha256() == h


def test_instance_name():
    assert P.instance_name("chair", 3) == "chair-03"
    assert P.instance_name("wine_glass", 0) == "wine_glass-00"


@pytest.mark.parametrize("cat,inst", [("spaceship", 0), ("chair", -1), ("chair", 8), ("chair", 1.5), ("chair", True)])
def test_unknown_category_or_instance(cat, inst):
    with pytest.raises(SpecError) as err:
        P.build(cat, inst)
    msg = str(err.value)
    assert ("chair" in msg and "table" in msg) if cat == "spaceship" else "0..7" in msg
    with pytest.raises(SpecError):
        P.instance_name(cat, inst)


def test_canonical_orientation():
    """Spot checks of the canonical frame: up +Z, front -Y."""
    for i in range(P.INSTANCES_PER_CATEGORY):
        # chair: the back rest is at +Y, so the highest vertices are at the back
        v = P.build("chair", i).vertices
        top = v[v[:, 2] > v[:, 2].max() - 0.05]
        assert top[:, 1].mean() > 0.1, i
        # mug: handle sticks out on +X, so the round rim is centred at x < 0
        v = P.build("mug", i).vertices
        rim = v[v[:, 2] > v[:, 2].max() - 1e-6]
        assert rim[:, 0].mean() < -0.05, i
        # bottle: tall, narrow at the top
        m = P.build("bottle", i)
        ext = m.extents()
        assert ext[2] == max(ext), i
        # bed: headboard at +Y is the tallest part
        v = P.build("bed", i).vertices
        top = v[v[:, 2] > v[:, 2].max() - 0.02]
        assert top[:, 1].min() > 0.3, i


def test_primitives_are_closed_and_outward():
    parts = [
        prim.box((1, 2, 3)), prim.cylinder(1, 0, 2), prim.frustum(1, 0, 0, 1), prim.sphere(1),
        prim.torus(1, 0.2), prim.rounded_box((1, 1, 0.3)), prim.prism([(0, 0), (1, 0), (0.5, 1)], 0, 1),
        prim.tube([(0, 0, 0), (1, 0, 1), (2, 0, 0)], 0.1), prim.cylinder_between((0, 0, 0), (1, 1, 1), 0.1),
        prim.box_between((0, 0, 0), (1, 0, -1), 0.1), prim.box((1, 1, 1)).scaled((-1, 1, 1)),
        prim.lathe(prim.hollow_profile([(1, 0), (1.2, 1)], 0.1, 0.1)),
    ]
    for k, g in enumerate(parts):
        assert _edge_problems(g.faces) == (0, 0), k
        assert prim.signed_volume(g.vertices, g.faces) > 0, k
    merged = prim.merge(parts)
    assert (_component_volumes(merged.vertices, merged.faces) > 0).all()
    assert abs(prim.signed_volume(*(lambda g: (g.vertices, g.faces))(prim.box((1, 2, 3)))) - 6) < 1e-12
    assert abs(prim.signed_volume(*(lambda g: (g.vertices, g.faces))(prim.sphere(1, segments=64, rings=32)))
               - 4 / 3 * np.pi) < 0.05


def test_no_bpy_import():
    import sys
    import latentscape.assets.procedural  # noqa: F401
    src = [m for m in sys.modules if m.startswith("latentscape.assets.procedural")]
    for name in src:
        mod = sys.modules[name]
        text = open(mod.__file__).read()
        assert "import bpy" not in text, name
