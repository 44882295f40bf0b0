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

from latentscape.renderer.tiff import parse_tiff

__all__ = ["ReadbackError", "RenderReader", "parse_tiff"]


class ReadbackError(RuntimeError):
    """The render result could not be read back into numpy."""


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
