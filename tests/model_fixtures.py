"""Tiny model files in every format latentscape reads, written by hand (no downloads)."""
from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np


def box(size=(2.0, 1.0, 0.5)):
    """Vertices and outward-facing triangles of an axis-aligned box centred at the origin."""
    sx, sy, sz = (s / 2 for s in size)
    v = np.array([[x, y, z] for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)], dtype=np.float32)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    f = np.array([t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))], dtype=np.uint32)
    return v, f


def write_obj(path: Path, v, f):
    lines = [f"v {x} {y} {z}" for x, y, z in v] + [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    path.write_text("\n".join(lines) + "\n")


def write_ply(path: Path, v, f):
    head = ["ply", "format ascii 1.0", f"element vertex {len(v)}", "property float x", "property float y",
            "property float z", f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    body = [f"{x} {y} {z}" for x, y, z in v] + [f"3 {a} {b} {c}" for a, b, c in f]
    path.write_text("\n".join(head + body) + "\n")


def write_stl(path: Path, v, f):
    out = ["solid box"]
    for a, b, c in f:
        n = np.cross(v[b] - v[a], v[c] - v[a])
        n = n / np.linalg.norm(n)
        out += [f"facet normal {n[0]} {n[1]} {n[2]}", "outer loop"]
        out += [f"vertex {x} {y} {z}" for x, y, z in (v[a], v[b], v[c])]
        out += ["endloop", "endfacet"]
    path.write_text("\n".join(out + ["endsolid box"]) + "\n")


def _gltf(v, f, uri=None):
    vb, ib = v.astype("<f4").tobytes(), f.astype("<u4").tobytes()
    buf = vb + ib
    doc = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "buffers": [{"byteLength": len(buf), **({"uri": uri(buf)} if uri else {})}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(vb), "target": 34962},
                        {"buffer": 0, "byteOffset": len(vb), "byteLength": len(ib), "target": 34963}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(v), "type": "VEC3",
                       "min": v.min(0).tolist(), "max": v.max(0).tolist()},
                      {"bufferView": 1, "componentType": 5125, "count": f.size, "type": "SCALAR"}],
    }
    return doc, buf


def write_gltf(path: Path, v, f):
    doc, _ = _gltf(v, f, uri=lambda b: "data:application/octet-stream;base64," + base64.b64encode(b).decode())
    path.write_text(json.dumps(doc))


def write_glb(path: Path, v, f):
    doc, buf = _gltf(v, f)
    js = json.dumps(doc).encode()
    js += b" " * (-len(js) % 4)
    buf += b"\0" * (-len(buf) % 4)
    chunks = struct.pack("<I4s", len(js), b"JSON") + js + struct.pack("<I4s", len(buf), b"BIN\0") + buf
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks)


WRITERS = {".obj": write_obj, ".ply": write_ply, ".stl": write_stl, ".gltf": write_gltf, ".glb": write_glb}
