"""Reading Wavefront OBJ and MTL text (numpy-vectorised over `v` and `f` lines), as Blender 5.0's
OBJ importer reads it, reduced to what a model's hull and colour need (ObjGeometry); and the
triangle count that the Sweet Home 3D index records (count_triangles).

The importer behaviours copied (each checked against that importer):
* text: a UTF-8 byte order mark is skipped, \\r\\n and \\r end lines, a backslash at a line's end
  joins the next line, leading blanks are ignored.
* vertices: every `v` (its first three numbers; w and vertex colours ignored); those the meshes
  hold are the ones referenced by an `f` (any length) or `l` line.
* faces: indices are 1-based or relative (-1: the last vertex before the line); a face with an
  index out of range is skipped; corners repeating the previous one (cyclically) are dropped,
  faces left with < 3 corners and repeats of an earlier face of the same object (same vertex
  set) are not created.
* materials: `usemtl` carries across `o` lines; faces before the first `usemtl` take the first
  material named in their object, or, in an object without any, none (-1).
* `mtllib`: one path, spaces and all. MTL: the Base Color is Kd (components not given: 0.8,
  MTL_DEFAULT); `map_Kd` is the path after its options; a repeated `newmtl` keeps the first.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

MTL_DEFAULT = (0.8, 0.8, 0.8)  # the importer's base colour where the MTL gives none

_SPACE = np.zeros(256, bool)
_SPACE[list(b" \t\n\r\x0b\x0c")] = True  # what bytes.split() splits on


def count_triangles(obj: bytes, lines: _Lines | None = None) -> int:
    """For each line starting with "f ": max(1, tokens - 3), summed, the lines being those of
    bytes.splitlines and the tokens those of bytes.split (vectorised). `lines`: the line index
    of `obj` (plus a final newline), if already made."""
    if lines is None:
        if b"\r" in obj:
            obj = obj.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = _Lines(obj if obj.endswith(b"\n") else obj + b"\n")
    text = lines.text(lines.select(b"f", b" "))
    if not text:
        return 0
    buf = np.frombuffer(text, np.uint8)
    space = _SPACE[buf]
    starts = ~space
    starts[1:] &= space[:-1]
    tokens = np.diff(np.concatenate(([0], np.cumsum(starts)[buf == 10])))
    return int(np.maximum(1, tokens - 3).sum())


class _Lines:
    """The lines of a text that ends with a newline: where each starts and ends, its first two bytes."""

    def __init__(self, data: bytes):
        buf = np.frombuffer(data, np.uint8)
        self.data = data
        self.ends = np.flatnonzero(buf == 10)
        self.starts = np.empty_like(self.ends)
        self.starts[:1] = 0
        self.starts[1:] = self.ends[:-1] + 1
        self.first = buf[self.starts]  # a newline for an empty line
        self.second = buf[np.minimum(self.starts + 1, buf.size - 1)]

    def select(self, first: bytes, second: bytes) -> np.ndarray:
        """Indices of the lines whose first byte is one of `first` and second one of `second`."""
        t0, t1 = np.zeros(256, bool), np.zeros(256, bool)
        t0[list(first)] = True
        t1[list(second)] = True
        return np.flatnonzero(t0[self.first] & t1[self.second])

    def line(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]

    def text(self, idx: np.ndarray) -> bytes:
        """The lines `idx` (ascending), each with its newline, joined (copied by runs of consecutive lines)."""
        if idx.size == 0:
            return b""
        brk = np.flatnonzero(np.diff(idx) != 1)
        a = self.starts[idx[np.concatenate(([0], brk + 1))]].tolist()
        b = self.ends[idx[np.concatenate((brk, [idx.size - 1]))]].tolist()
        return b"".join([self.data[i:j + 1] for i, j in zip(a, b)])


@dataclass
class ObjGeometry:
    """What Blender's OBJ importer makes of a file, reduced to what the hull and colour need."""
    positions: np.ndarray    # (n, 3) every `v` of the file, OBJ coordinates
    referenced: np.ndarray   # indices of the vertices the imported meshes hold
    corners: np.ndarray      # vertex indices of the faces' corners, face after face
    counts: np.ndarray       # corners per face (>= 3)
    material: np.ndarray     # per face: index into `materials`, or -1 (no material: the fallback colour)
    materials: list[str]     # material names, as in `usemtl`
    mtllibs: list[str]       # `mtllib` paths, relative to the OBJ's folder


def parse_obj(data: bytes) -> ObjGeometry:
    """The geometry and face materials of an OBJ file (numpy-vectorised over `v` and `f` lines)."""
    return parse_lines(obj_lines(data)[0])


def _normalise_obj(data: bytes) -> tuple[bytes, bool]:
    """(the text with \\n line ends, line continuations joined and a final newline; whether it is
    `data` itself but for that final newline)."""
    out = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if b"\r" in out:
        out = out.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if b"\\" in out and b"\\\n" in out:  # line continuation
        out = out.replace(b"\\\n", b" ")
    same = out is data
    return (out if out.endswith(b"\n") else out + b"\n"), same


def obj_lines(data: bytes) -> tuple[_Lines, bool]:
    """The line index of an OBJ file's normalised text (see _normalise_obj; lines' leading blanks
    removed too), and whether that text is `data` but for a final newline."""
    text, same = _normalise_obj(data)
    lines = _Lines(text)
    if ((lines.first == 32) | (lines.first == 9)).any():
        lines, same = _Lines(re.sub(rb"(?m)^[ \t]+", b"", text)), False
    return lines, same


def parse_lines(lines: _Lines) -> ObjGeometry:
    vf = lines.select(b"vf", b" \t")
    kind = lines.first[vf]
    v_lines, f_lines = vf[kind == ord("v")], vf[kind == ord("f")]
    o_lines, u_lines, u_names, mtllibs, l_lines, l_refs = [], [], [], [], [], []
    for i in lines.select(b"loum", b" \t\nst").tolist():
        key, rest = (lines.line(i).split(None, 1) + [b""])[:2]
        rest = rest.strip()
        if key == b"o":
            o_lines.append(i)
        elif key == b"usemtl":
            u_lines.append(i)
            u_names.append(_text(rest))
        elif key == b"mtllib" and rest:
            mtllibs.append(_text(rest))  # one path, spaces and all (as the importer reads it)
        elif key == b"l":
            refs = _indices(rest.split())
            l_lines.append(np.full(len(refs), i))
            l_refs.append(refs)
    positions = _vertices(lines, v_lines)
    n = len(positions)
    flat, counts = _faces(lines, f_lines)
    if flat.size and flat.min() < 0:  # relative indices: -1 is the last vertex before the line
        flat = np.where(flat < 0, np.repeat(np.searchsorted(v_lines, f_lines), counts) + flat, flat - 1)
    else:
        flat = flat - 1
    face_of = np.repeat(np.arange(counts.size), counts)
    valid = np.ones(counts.size, bool)
    valid[face_of[(flat < 0) | (flat >= n)]] = False  # a face with an index out of range is skipped
    used = np.zeros(n, bool)
    used[flat[valid[face_of]]] = True
    if l_refs:
        lr, li = np.concatenate(l_refs), np.concatenate(l_lines)
        lr = np.where(lr < 0, np.searchsorted(v_lines, li) + lr, lr - 1)
        used[lr[(lr >= 0) & (lr < n)]] = True
    # the material state of each face; before the first `usemtl`: the first one named in its object
    u_arr = np.asarray(u_lines, dtype=np.int64)
    o_arr = np.asarray(o_lines, dtype=np.int64)
    obj = np.searchsorted(o_arr, f_lines)  # 0: before the first `o`
    state = np.searchsorted(u_arr, f_lines) - 1
    if (state < 0).any() and u_arr.size:
        obj_start = np.concatenate(([0], o_arr))[obj]
        obj_end = np.concatenate((o_arr, [np.iinfo(np.int64).max]))[obj]
        first = np.searchsorted(u_arr, obj_start)
        named = (first < u_arr.size) & (u_arr[np.minimum(first, u_arr.size - 1)] < obj_end)
        state = np.where((state < 0) & named, first, state)
    corners, counts, face = _clean_faces(flat, counts, valid, obj)
    names = sorted({u_names[s] for s in np.unique(state[face]).tolist() if s >= 0})
    lookup = np.array([names.index(u) if u in names else -1 for u in u_names] + [-1], dtype=np.int64)
    return ObjGeometry(positions=positions, referenced=np.flatnonzero(used), corners=corners, counts=counts,
                       material=lookup[state[face]], materials=names, mtllibs=mtllibs)


def _text(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _numbers(text: bytes, dtype):
    """The blank-separated numbers of `text` (np.fromstring), or None if one does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy's "could not be read to its end"
        try:
            return np.fromstring(text, dtype=dtype, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def _vertices(lines: _Lines, idx) -> np.ndarray:
    vals = _numbers(lines.text(idx).translate(None, b"v"), np.float64)
    if vals is not None and vals.size == 3 * idx.size:
        return vals.reshape(-1, 3)
    out = np.zeros((idx.size, 3))  # unusual lines (w, vertex colours, junk): their first three numbers
    for k, i in enumerate(idx.tolist()):
        for j, tok in enumerate(lines.line(i).split()[1:4]):
            try:
                out[k, j] = float(tok)
            except ValueError:
                break
    return out


def _faces(lines: _Lines, idx):
    """(vertex index of each corner as written (1-based or negative), corners per `f` line)."""
    text = lines.text(idx).translate(None, b"f")
    fast = _first_fields(text)
    if fast is not None:
        return fast
    if b"/" in text:
        text = re.sub(rb"/[^ \t\n]*", b"", text)  # v/vt/vn -> v
    vals = _numbers(text.replace(b"\n", b" 0 "), np.int64)  # 0 (never an index) ends each line
    if vals is not None:
        zeros = np.flatnonzero(vals == 0)
        if zeros.size == idx.size:
            return np.delete(vals, zeros), np.diff(np.concatenate(([-1], zeros))) - 1
    per_line = [_indices(lines.line(i).split()[1:]) for i in idx.tolist()]
    return (np.concatenate(per_line) if per_line else np.zeros(0, np.int64)), \
        np.array([len(x) for x in per_line], dtype=np.int64)


_BLANK = np.zeros(256, bool)
_BLANK[list(b" \t\n")] = True
_SLASH_TO_SPACE = bytes.maketrans(b"/", b" ")


def _first_fields(text: bytes):
    """(the first number of each blank-separated token, tokens per line) of face lines (without
    their 'f'), the tokens being N, N/N, N//N, N/N/N in any mix; None if some field is empty or
    not an integer (then the caller parses it another way)."""
    if b"//" in text:
        text = text.replace(b"//", b"/0/")
    b = np.frombuffer(text, np.uint8)
    blank = _BLANK[b]
    start = ~blank
    start[1:] &= blank[:-1]
    begun = np.cumsum(start, dtype=np.int64)  # tokens begun up to each byte
    per_line = np.diff(np.concatenate(([0], begun[b == 10])))
    tokens = int(begun[-1]) if begun.size else 0
    slashes = np.flatnonzero(b == 47)
    vals = _numbers(text.translate(_SLASH_TO_SPACE), np.int64)
    if vals is None or vals.size != tokens + slashes.size:  # an empty field ("1/2/"), or junk
        return None
    if slashes.size == 0:
        return vals, per_line
    width = np.bincount(begun[slashes] - 1, minlength=tokens) + 1  # numbers in each token
    return vals[np.cumsum(width) - width], per_line


def _indices(tokens) -> np.ndarray:
    out = []
    for tok in tokens:
        try:
            out.append(int(tok.split(b"/")[0]))
        except ValueError:
            continue
    return np.asarray([i for i in out if i != 0], dtype=np.int64)


def _clean_faces(flat, counts, valid, obj):
    """The faces Blender creates: corners repeating the previous one dropped, faces with < 3
    corners and repeats of an earlier face of the same object (same vertex set) left out.
    Returns (corners, counts, index of each kept face among the `f` lines)."""
    face_of = np.repeat(np.arange(counts.size), counts)
    prev = np.arange(flat.size) - 1
    firsts = (np.cumsum(counts) - counts)[counts > 0]
    prev[firsts] = firsts + counts[counts > 0] - 1  # the first corner's predecessor is the last
    keep = (flat != flat[prev]) & valid[face_of]
    new_counts = np.bincount(face_of[keep], minlength=counts.size)
    ok = new_counts >= 3
    keep &= ok[face_of]
    corners, new_counts, faces = flat[keep], new_counts[ok], np.flatnonzero(ok)
    repeat = _repeated_faces(corners, new_counts, obj[faces])
    if repeat.any():
        corners = corners[np.repeat(~repeat, new_counts)]
        new_counts, faces = new_counts[~repeat], faces[~repeat]
    return corners, new_counts, faces


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of integers (wrapping uint64 arithmetic)."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _repeated_faces(corners, counts, obj) -> np.ndarray:
    """Per face: whether an earlier face of the same object has the same vertex set (found by an
    order-free hash, then checked)."""
    out = np.zeros(counts.size, bool)
    if counts.size < 2:
        return out
    with np.errstate(over="ignore"):
        h = np.add.reduceat(_mix(corners), np.cumsum(counts) - counts) + _mix(obj * 1_000_003 + counts)
    order = np.argsort(h, kind="stable")
    pair = np.flatnonzero(h[order][1:] == h[order][:-1])
    a, b = order[pair], order[pair + 1]  # b may repeat a (a < b: the sort is stable)
    same_size = counts[a] == counts[b]
    a, b = a[same_size], b[same_size]
    offsets = np.cumsum(counts) - counts
    for k in np.unique(counts[a]).tolist():
        sel = counts[a] == k
        rows = lambda f: np.sort(corners[offsets[f][:, None] + np.arange(k)], axis=1)  # noqa: E731
        out[b[sel][(rows(a[sel]) == rows(b[sel])).all(axis=1)]] = True
    return out


_TEX_OPTION = re.compile(r"\s*-(?:(?:o|s|t)(?:\s+[-+0-9.eE]+){1,3}|(?:bm|boost|texres)\s+\S+|mm\s+\S+\s+\S+"
                         r"|(?:blendu|blendv|cc|clamp)\s+\S+|imfchan\s+\S+|type\s+\S+)(?=\s)")


def parse_mtl(data: bytes) -> dict[str, tuple[tuple[float, float, float], str | None]]:
    """name -> (Kd, map_Kd path or None) of an MTL file; a repeated `newmtl` keeps the first."""
    out: dict[str, tuple] = {}
    cur = None
    for line in _text(data).splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        key, rest = parts[0], parts[1].strip() if len(parts) > 1 else ""
        if key == "newmtl":
            cur = None if rest in out else rest
            if cur is not None:
                out[cur] = [list(MTL_DEFAULT), None]
        elif cur is None:
            continue
        elif key == "Kd":
            for j, tok in enumerate(rest.split()[:3]):
                try:
                    out[cur][0][j] = float(tok)
                except ValueError:
                    break
        elif key == "map_Kd":
            path = rest
            while (m := _TEX_OPTION.match(path)) is not None:
                path = path[m.end():]
            out[cur][1] = path.strip().replace('"', "") or None
    return {k: (tuple(kd), tex) for k, (kd, tex) in out.items()}
