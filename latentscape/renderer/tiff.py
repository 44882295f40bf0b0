"""A minimal reader of the uncompressed 8-bit TIFF that Blender's `save_render` writes (no bpy:
tested on hand-built files, used by renderer/blender/pixels.py)."""
from __future__ import annotations

import struct

import numpy as np

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}
_TYPE_CODES = {1: "B", 3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 16: "Q"}


def parse_tiff(buf: bytes) -> np.ndarray:
    """Parse an uncompressed, chunky (interleaved) 8-bit TIFF into [H, W, C] uint8.

    Row 0 of the result is the top row of the image (TIFF orientation 1).
    Raises ``ValueError`` for anything it does not handle (compression,
    planar layout, other bit depths, orientations other than top-left).
    """
    if len(buf) < 8:
        raise ValueError("TIFF too short")
    bo = buf[:2]
    if bo == b"II":
        e = "<"
    elif bo == b"MM":
        e = ">"
    else:
        raise ValueError("not a TIFF (bad byte order mark)")
    magic, ifd = struct.unpack_from(e + "HI", buf, 2)
    if magic != 42:
        raise ValueError("not a classic TIFF (magic %d)" % magic)
    (n,) = struct.unpack_from(e + "H", buf, ifd)
    tags: dict[int, tuple] = {}
    for i in range(n):
        tag, typ, count, raw = struct.unpack_from(e + "HHI4s", buf, ifd + 2 + 12 * i)
        size = _TYPE_SIZES.get(typ, 1) * count
        code = _TYPE_CODES.get(typ)
        if code is None:
            continue
        if size <= 4:
            vals = struct.unpack_from(e + code * count, raw, 0)
        else:
            (off,) = struct.unpack(e + "I", raw)
            vals = struct.unpack_from(e + code * count, buf, off)
        tags[tag] = vals
    width = tags[256][0]
    height = tags[257][0]
    bps = tags.get(258, (1,))
    comp = tags.get(259, (1,))[0]
    spp = tags.get(277, (1,))[0]
    planar = tags.get(284, (1,))[0]
    orient = tags.get(274, (1,))[0]
    if comp != 1:
        raise ValueError("compressed TIFF (compression=%d)" % comp)
    if any(b != 8 for b in bps):
        raise ValueError("TIFF bits per sample %r, expected 8" % (bps,))
    if planar != 1 and spp > 1:
        raise ValueError("planar TIFF not supported")
    if orient != 1:
        raise ValueError("TIFF orientation %d not supported" % orient)
    offsets = tags[273]
    counts = tags[279]
    nbytes = width * height * spp
    if len(offsets) == 1:
        o = offsets[0]
        data = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=o)
    else:
        data = np.frombuffer(b"".join(buf[o:o + c] for o, c in zip(offsets, counts)), dtype=np.uint8)
        if data.size < nbytes:
            raise ValueError("TIFF strips too short")
        data = data[:nbytes]
    return data.reshape(height, width, spp)
