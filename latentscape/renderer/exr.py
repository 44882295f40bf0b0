"""A reader for the uncompressed (multi-part) scanline OpenEXR files Blender writes.

Only what latentscape needs: compression NONE, scanline parts, half or float
channels. Used to read the depth pass without a filesystem round trip.
"""
from __future__ import annotations

import struct

import numpy as np

_MAGIC = 20000630
_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4"), 0: np.dtype("<u4")}


class EXRError(ValueError):
    """The file is not an EXR this reader understands."""


def _attrs(buf: bytes, i: int) -> tuple[dict, int]:
    out = {}
    while buf[i] != 0:
        j = buf.index(b"\0", i)
        k = buf.index(b"\0", j + 1)
        name, typ = buf[i:j].decode(), buf[j + 1:k].decode()
        size = struct.unpack_from("<i", buf, k + 1)[0]
        out[name] = (typ, buf[k + 5:k + 5 + size])
        i = k + 5 + size
    return out, i + 1


def _channels(raw: bytes) -> list[tuple[str, np.dtype]]:
    out, i = [], 0
    while raw[i] != 0:
        j = raw.index(b"\0", i)
        ptype = struct.unpack_from("<i", raw, j + 1)[0]
        out.append((raw[i:j].decode(), _DTYPES[ptype]))
        i = j + 1 + 16
    return out


def read_exr(buf: bytes) -> dict[str, np.ndarray]:
    """Every channel of every part as {channel name: float32 [H, W]} (row 0 = top).

    Blender's multi-part files name channels in full ("ViewLayer.Depth.Z").
    """
    magic, version = struct.unpack_from("<ii", buf, 0)
    if magic != _MAGIC:
        raise EXRError("not an OpenEXR file")
    multipart = bool(version & 0x1000)
    i, headers = 8, []
    while True:
        h, i = _attrs(buf, i)
        headers.append(h)
        if not multipart or buf[i] == 0:
            i += 1 if multipart else 0
            break
    parts = []
    for h in headers:
        if h.get("compression", ("", b"\0"))[1] != b"\0":
            raise EXRError("compressed EXR parts are not supported (write with exr_codec NONE)")
        x0, y0, x1, y1 = struct.unpack("<iiii", h["dataWindow"][1])
        n_chunks = struct.unpack("<i", h["chunkCount"][1])[0] if "chunkCount" in h else y1 - y0 + 1
        name = h["name"][1].rstrip(b"\0").decode() if "name" in h else ""
        parts.append((name, _channels(h["channels"][1]), x1 - x0 + 1, y1 - y0 + 1, y0, n_chunks))
    offsets = []
    for *_, n_chunks in parts:
        offsets.append(struct.unpack_from(f"<{n_chunks}Q", buf, i))
        i += 8 * n_chunks
    out = {}
    for p, (name, chans, w, h, y0, _) in enumerate(parts):
        arrays = {c: np.empty((h, w), np.float32) for c, _ in chans}
        for off in offsets[p]:
            j = off + (4 if multipart else 0)
            y, size = struct.unpack_from("<ii", buf, j)
            j += 8
            for c, dt in chans:
                arrays[c][y - y0] = np.frombuffer(buf, dt, w, j)
                j += w * dt.itemsize
        for c, a in arrays.items():
            out[c if c.startswith(name) else f"{name}.{c}".lstrip(".")] = a
    return out
