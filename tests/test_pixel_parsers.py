"""The TIFF and EXR parsers that read Blender's render results, on files with known pixels
built here (by hand, byte by byte, and with PIL), without Blender.

`parse_tiff` lives in latentscape/renderer/tiff.py (no bpy); renderer/blender/pixels.py uses it."""
import io
import struct

import numpy as np
import pytest

from latentscape.renderer.exr import EXRError, read_exr
from latentscape.renderer.tiff import parse_tiff




# ---- a TIFF writer (baseline TIFF 6.0, uncompressed) -------------------------------------
def make_tiff(px: np.ndarray, order="<", rows_per_strip=None, compression=1, bps=8, planar=1, orientation=1,
              extra=()) -> bytes:
    """Bytes of a TIFF holding `px` ([H, W, C] uint8): header, strips, then the IFD."""
    h, w, c = px.shape
    rps = rows_per_strip or h
    strips = [px[y:y + rps].tobytes() for y in range(0, h, rps)]
    data = b"".join(strips)
    head = (b"II" if order == "<" else b"MM")
    body = bytearray(data)
    base = 8

    def put(fmt, vals):  # an out-of-line value: appended after the strips, returns its offset
        off = base + len(body)
        body.extend(struct.pack(order + fmt * len(vals), *vals))
        if len(body) % 2:
            body.append(0)
        return off

    offsets = list(np.cumsum([0] + [len(s) for s in strips[:-1]]) + base)
    tags = {256: (4, [w]), 257: (3, [h]), 258: (3, [bps] * c), 259: (3, [compression]), 262: (3, [2 if c >= 3 else 1]),
            273: (4, offsets), 274: (3, [orientation]), 277: (3, [c]), 278: (4, [rps]),
            279: (4, [len(s) for s in strips]), 284: (3, [planar]), 282: (5, [72, 1])}  # XResolution: RATIONAL
    tags.update(dict(extra))
    entries = []
    for tag in sorted(tags):
        typ, vals = tags[tag]
        fmt, size = {3: ("H", 2), 4: ("I", 4), 5: ("I", 4)}[typ]
        count = len(vals) // 2 if typ == 5 else len(vals)
        raw = struct.pack(order + fmt * len(vals), *vals)
        if len(raw) <= 4:
            entries.append(struct.pack(order + "HHI", tag, typ, count) + raw.ljust(4, b"\0"))
        else:
            entries.append(struct.pack(order + "HHII", tag, typ, count, put(fmt, vals)))
    ifd = base + len(body)
    body.extend(struct.pack(order + "H", len(entries)) + b"".join(entries) + struct.pack(order + "I", 0))
    return head + struct.pack(order + "HI", 42, ifd) + bytes(body)


def _image(h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("c, rps", [(3, None), (4, None), (3, 2), (4, 3), (1, 5)])
def test_tiff_known_pixels(order, c, rps):
    px = _image(7, 5, c, seed=c)
    got = parse_tiff(make_tiff(px, order=order, rows_per_strip=rps))
    assert got.dtype == np.uint8 and got.shape == (7, 5, c)
    assert np.array_equal(got, px)  # row 0 = top row


@pytest.mark.parametrize("mode, c", [("RGB", 3), ("RGBA", 4)])
def test_tiff_written_by_pil(mode, c):
    from PIL import Image
    px = _image(9, 11, c, seed=4)
    buf = io.BytesIO()
    Image.fromarray(px, mode).save(buf, format="TIFF", compression="raw")
    assert np.array_equal(parse_tiff(buf.getvalue()), px)


@pytest.mark.parametrize("kw, words", [
    ({"compression": 5}, r"compressed TIFF \(compression=5\)"),
    ({"bps": 16}, "bits per sample"),
    ({"planar": 2}, "planar TIFF not supported"),
    ({"orientation": 3}, "orientation 3 not supported"),
])
def test_tiff_layouts_it_does_not_handle_are_refused(kw, words):
    with pytest.raises(ValueError, match=words):
        parse_tiff(make_tiff(_image(4, 4, 3), **kw))


def test_tiff_broken_files_are_refused():
    good = make_tiff(_image(4, 4, 3))
    with pytest.raises(ValueError, match="too short"):
        parse_tiff(good[:6])
    with pytest.raises(ValueError, match="bad byte order mark"):
        parse_tiff(b"XX" + good[2:])
    with pytest.raises(ValueError, match="not a classic TIFF"):
        parse_tiff(good[:2] + struct.pack("<H", 43) + good[4:])  # BigTIFF
    multi = make_tiff(_image(4, 4, 3), rows_per_strip=1)
    bad = bytearray(multi)
    ifd = struct.unpack_from("<I", multi, 4)[0]
    n = struct.unpack_from("<H", multi, ifd)[0]
    for k in range(n):  # strip byte counts cut short: strips too short
        e = ifd + 2 + 12 * k
        if struct.unpack_from("<H", multi, e)[0] == 279:
            off = struct.unpack_from("<I", multi, e + 8)[0]
            struct.pack_into("<4I", bad, off, 12, 12, 12, 1)
    with pytest.raises(ValueError, match="strips too short"):
        parse_tiff(bytes(bad))


# ---- an OpenEXR writer (scanline, compression NONE) -------------------------------------
def _attr(name, typ, value: bytes) -> bytes:
    return name.encode() + b"\0" + typ.encode() + b"\0" + struct.pack("<i", len(value)) + value


def _chlist(chans) -> bytes:
    out = b""
    for name, ptype in chans:
        out += name.encode() + b"\0" + struct.pack("<iB3xii", ptype, 0, 1, 1)
    return out + b"\0"


def _header(chans, w, h, y0=0, compression=0, name=None, multipart=False) -> bytes:
    out = _attr("channels", "chlist", _chlist(chans))
    out += _attr("compression", "compression", bytes([compression]))
    out += _attr("dataWindow", "box2i", struct.pack("<iiii", 0, y0, w - 1, y0 + h - 1))
    out += _attr("displayWindow", "box2i", struct.pack("<iiii", 0, y0, w - 1, y0 + h - 1))
    out += _attr("lineOrder", "lineOrder", b"\0")
    out += _attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
    out += _attr("screenWindowCenter", "v2f", struct.pack("<ff", 0, 0))
    out += _attr("screenWindowWidth", "float", struct.pack("<f", 1.0))
    if multipart:
        out += _attr("name", "string", name.encode())
        out += _attr("type", "string", b"scanlineimage")
        out += _attr("chunkCount", "int", struct.pack("<i", h))
    return out + b"\0"


_PTYPE = {np.float16: 1, np.float32: 2, np.uint32: 0}


def make_exr(parts, multipart=False, compression=0) -> bytes:
    """parts: list of (part name, {channel: [H, W] array}, y0). Channels are stored sorted by name."""
    version = 2 | (0x1000 if multipart else 0)
    out = bytearray(struct.pack("<ii", 20000630, version))
    for name, chans, y0 in parts:
        h, w = next(iter(chans.values())).shape
        out += _header([(c, _PTYPE[a.dtype.type]) for c, a in sorted(chans.items())], w, h, y0, compression,
                       name, multipart)
    if multipart:
        out += b"\0"
    tables_at = len(out)
    out += b"\0" * (8 * sum(next(iter(c.values())).shape[0] for _, c, _ in parts))
    offsets = []
    for p, (name, chans, y0) in enumerate(parts):
        h, w = next(iter(chans.values())).shape
        for row in range(h):
            offsets.append(len(out))
            data = b"".join(chans[c][row].astype(chans[c].dtype.newbyteorder("<")).tobytes() for c in sorted(chans))
            out += (struct.pack("<i", p) if multipart else b"") + struct.pack("<ii", y0 + row, len(data)) + data
    struct.pack_into(f"<{len(offsets)}Q", out, tables_at, *offsets)
    return bytes(out)


def test_exr_single_part_half_and_float_channels():
    h, w = 3, 4
    z = np.array([[0.0, 1.5, -2.0, 65504.0], [np.inf, 0.25, 3.0, 7.0], [1e-3, 2.0, 4.0, 8.0]], np.float16)
    r = (np.arange(h * w).reshape(h, w) * 0.5 + 1e10 * (np.arange(h * w).reshape(h, w) == 5)).astype(np.float32)
    got = read_exr(make_exr([("", {"Z": z, "R": r}, 0)]))
    assert set(got) == {"Z", "R"}
    assert all(a.dtype == np.float32 and a.shape == (h, w) for a in got.values())
    assert np.array_equal(got["Z"], z.astype(np.float32))  # row 0 = first scanline (top)
    assert np.array_equal(got["R"], r)


def test_exr_multipart_like_blender_with_a_data_window_offset():
    """Blender's multi-layer files: one part per layer, channels named in full (ViewLayer.Depth.Z)."""
    depth = np.array([[2.5, np.inf], [3.0, 60000.0]], np.float16)
    rgba = {c: np.full((2, 2), v, np.float16) for c, v in zip("RGBA", (0.1, 0.2, 0.3, 1.0))}
    buf = make_exr([("ViewLayer.Depth", {"ViewLayer.Depth.Z": depth}, 0),
                    ("ViewLayer.Combined", {f"ViewLayer.Combined.{c}": a for c, a in rgba.items()}, 7)],
                   multipart=True)
    got = read_exr(buf)
    assert set(got) == {"ViewLayer.Depth.Z"} | {f"ViewLayer.Combined.{c}" for c in "RGBA"}
    assert np.array_equal(got["ViewLayer.Depth.Z"], depth.astype(np.float32))
    assert np.array_equal(got["ViewLayer.Combined.G"], np.full((2, 2), np.float16(0.2), np.float32))


def test_exr_part_names_are_prefixed_when_channels_are_short():
    got = read_exr(make_exr([("layer", {"Z": np.ones((1, 2), np.float32)}, 0)], multipart=True))
    assert list(got) == ["layer.Z"]


def test_exr_refusals():
    good = make_exr([("", {"Z": np.ones((2, 2), np.float16)}, 0)])
    with pytest.raises(EXRError, match="not an OpenEXR file"):
        read_exr(b"\0\0\0\0" + good[4:])
    with pytest.raises(EXRError, match="compressed EXR parts are not supported"):
        read_exr(make_exr([("", {"Z": np.ones((2, 2), np.float16)}, 0)], compression=3))  # ZIP
    assert issubclass(EXRError, ValueError)
