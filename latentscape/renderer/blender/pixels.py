"""Fast readback of Blender's render result into numpy.

There is no in-memory pixel path in the bpy module (the Viewer node is not
evaluated in background mode and ``Render Result.pixels`` is empty), so the
render result is written with ``Image.save_render`` as an *uncompressed* 8-bit
TIFF into an anonymous ``os.memfd_create`` file (RAM only, no filesystem) and
the TIFF strips are parsed here with numpy. ``save_render`` applies the scene's
view transform, so the 8-bit values are display-referred (sRGB with the
'Standard' view transform).

If the TIFF cannot be parsed (unexpected layout) the module falls back to a
PNG written into the same memfd and decoded with PIL; if that also fails a
``ReadbackError`` is raised.
"""
from __future__ import annotations

import io
import os
import struct

import bpy
import numpy as np

__all__ = ["ReadbackError", "RenderReader", "parse_tiff"]


class ReadbackError(RuntimeError):
    """The render result could not be read back into numpy."""


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


class RenderReader:
    """Reads ``bpy.data.images['Render Result']`` into numpy via a memfd.

    One reader owns one anonymous memory file; call ``close()`` (or let it be
    garbage-collected) to release it.  The scene's ``render.image_settings``
    are set to TIFF/8-bit/uncompressed by ``configure(scene, rgba)``.
    """

    def __init__(self) -> None:
        self._fd = os.memfd_create("latentscape_render", 0)
        self._path = "/proc/self/fd/%d" % self._fd
        self.used_fallback = False

    def configure(self, scene, rgba: bool) -> None:
        s = scene.render.image_settings
        s.media_type = "IMAGE"
        s.file_format = "TIFF"
        s.color_depth = "8"
        s.color_mode = "RGBA" if rgba else "RGB"
        s.tiff_codec = "NONE"
        self._scene = scene
        self._rgba = rgba

    def _save(self) -> bytes:
        img = bpy.data.images["Render Result"]
        img.save_render(self._path, scene=self._scene)
        size = os.fstat(self._fd).st_size
        return os.pread(self._fd, size, 0)

    def read(self) -> np.ndarray:
        """Return the current render result as uint8 [H, W, C] (C = 3 or 4), row 0 = top."""
        if not self.used_fallback:
            buf = self._save()
            try:
                return parse_tiff(buf).copy()
            except (ValueError, KeyError, struct.error) as exc:  # pragma: no cover - defensive
                self._tiff_error = exc
                self.used_fallback = True
        return self._read_png()

    def read_depth(self) -> np.ndarray:
        """The Depth pass (camera-plane distance, metres) as float32 [H, W], inf where nothing was hit.

        Saved as an uncompressed half-float multi-layer EXR into the same memory file
        and parsed with latentscape.renderer.exr; the TIFF settings are restored.
        """
        from latentscape.renderer.exr import read_exr
        s = self._scene.render.image_settings
        try:
            s.media_type = "MULTI_LAYER_IMAGE"
            s.color_depth = "16"
            s.exr_codec = "NONE"
            buf = self._save()
        finally:
            self.configure(self._scene, self._rgba)
        channels = read_exr(buf)
        key = next((k for k in channels if k.endswith("Depth.Z")), None)
        if key is None:
            raise ReadbackError("no Depth pass in the render result (view_layer.use_pass_z is off)")
        z = channels[key]
        return np.where(z < 1e4, z, np.inf).astype(np.float32)

    def _read_png(self) -> np.ndarray:
        try:
            from PIL import Image
        except ImportError as exc:  # pragma: no cover
            raise ReadbackError(
                "TIFF readback failed (%r) and PIL is not installed for the PNG fallback"
                % getattr(self, "_tiff_error", None)) from exc
        s = self._scene.render.image_settings
        fmt = s.file_format
        try:
            s.file_format = "PNG"
            s.color_depth = "8"
            s.compression = 0
            buf = self._save()
        finally:
            s.file_format = fmt
        try:
            arr = np.asarray(Image.open(io.BytesIO(buf)))
        except Exception as exc:
            raise ReadbackError("could not decode render result (TIFF error %r, PNG error %r)"
                                % (getattr(self, "_tiff_error", None), exc)) from exc
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return arr

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):  # pragma: no cover
        try:
            self.close()
        except Exception:
            pass
