"""ShardWriter: writes one shard to a temporary file and renames it when whole."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import h5py
import numpy as np

from latentscape.version import __version__
from latentscape.files import owner_tag
from latentscape.dataset.format import SCHEMA_VERSION, SHARD_FORMAT, compression_kwargs, sha256_file
from latentscape.latents.space import CLUTTER_META, DESIGN_META, META, stored_latents


class ShardWriter:
    """Write `count` images (optional) and their latents for global indices start..start+count-1.

    Use as a context manager: on a clean exit the file is flushed, fsynced and
    renamed to `path`; on an exception the temporary file is removed, so a
    reader never sees a partial shard. With `rename=False` the finished file stays
    at `tmp` for the caller to move into place (the pipeline does so under its
    manifest lock, see pipeline/root.py).
    """

    def __init__(self, path: str | Path, start: int, count: int, resolution: int | None,
                 compression: str = "lzf", attrs: dict | None = None, passes: tuple[str, ...] = (),
                 tmp: str | Path | None = None, rename: bool = True):
        self.path = Path(path)
        self.tmp = Path(tmp) if tmp else self.path.with_name(f".{self.path.name}.{owner_tag()}.tmp")
        self.rename = rename
        self.start, self.count, self.resolution = start, count, resolution
        self.compression = compression_kwargs(compression)
        self.compression_name = compression
        self.attrs = dict(attrs or {})
        self.passes = tuple(passes)
        self._f: h5py.File | None = None
        self._latents_written = False
        self._images_written = np.zeros(count, dtype=bool) if resolution else None
        self.sha256: str | None = None
        self.nbytes: int | None = None

    def __enter__(self) -> "ShardWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp.unlink(missing_ok=True)  # our own leftover, or something planted: never written through
        self._f = h5py.File(self.tmp, "w-")  # O_EXCL: does not follow a symlink
        f, n, r = self._f, self.count, self.resolution
        f.attrs.update({"format": SHARD_FORMAT, "schema_version": SCHEMA_VERSION,
                        "latentscape_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "index_start": self.start, "count": n, "compression": self.compression_name})
        for k, v in self.attrs.items():
            f.attrs[k] = v if isinstance(v, (str, int, float, np.integer, np.floating)) else json.dumps(v)
        if r:
            f.create_dataset("images", (n, r, r, 3), dtype="uint8", chunks=(1, r, r, 3), **self.compression)
            if "mask" in self.passes:
                f.create_dataset("masks", (n, r, r), dtype="uint8", chunks=(1, r, r), **self.compression)
            if "depth" in self.passes:
                f.create_dataset("depth", (n, r, r), dtype="float16", chunks=(1, r, r), **self.compression)
        return self

    def write_latents(self, latents: dict[str, np.ndarray]):
        """Write every latent, `index` and per-image metadata for the whole shard."""
        f = self._f
        idx = np.asarray(latents["index"], dtype=np.int64)
        if len(idx) != self.count or idx[0] != self.start or np.any(np.diff(idx) != 1):
            raise ValueError(f"latents index must be {self.start}..{self.start + self.count - 1}")
        f.create_dataset("index", data=idx)
        for name, lt in stored_latents(latents).items():  # a scene's latents where its template takes them
            ds = f.create_dataset(f"latents/{name}", data=np.asarray(latents[name], dtype=lt.dtype))
            ds.attrs.update({"group": lt.group, "unit": lt.unit, "kind": lt.kind})
        for name, (dtype, doc) in META.items():
            f.create_dataset(f"meta/{name}", data=np.asarray(latents[name], dtype=dtype)).attrs["doc"] = doc
        for name, (dtype, doc) in {**DESIGN_META, **CLUTTER_META}.items():  # a design's coordinates, distractors
            if name in latents:
                f.create_dataset(f"meta/{name}", data=np.asarray(latents[name], dtype=dtype)).attrs["doc"] = doc
        self._latents_written = True

    def write_meta(self, name: str, values: np.ndarray, doc: str = ""):
        self._f.create_dataset(f"meta/{name}", data=values).attrs["doc"] = doc

    def set_attrs(self, **attrs):
        """Add file attributes (e.g. measurements known only at the end of the shard)."""
        self._f.attrs.update(attrs)

    def write_image(self, i: int, rgb: np.ndarray, mask: np.ndarray | None = None, depth: np.ndarray | None = None):
        """Store image `i` (0-based within the shard) and its optional passes."""
        self._f["images"][i] = rgb
        if mask is not None and "masks" in self._f:
            self._f["masks"][i] = mask
        if depth is not None and "depth" in self._f:
            self._f["depth"][i] = depth.astype(np.float16)
        self._images_written[i] = True

    def __exit__(self, exc_type, exc, tb):
        try:
            try:
                if exc_type is None:
                    self._check_complete()
                    self._f.flush()
            finally:
                if self._f is not None:
                    self._f.close()
                self._f = None
            if exc_type is None:
                with open(self.tmp, "rb") as fh:
                    os.fsync(fh.fileno())
                self.sha256 = sha256_file(self.tmp)
                self.nbytes = self.tmp.stat().st_size
                if self.rename:
                    os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
        return False

    def _check_complete(self):
        if not self._latents_written:
            self._abort("latents were not written")
        if self._images_written is not None and not self._images_written.all():
            missing = np.flatnonzero(~self._images_written)
            self._abort(f"{len(missing)} image(s) not written, first at shard position {missing[0]}")

    def _abort(self, why: str):
        self._f.close()
        self._f = None
        self.tmp.unlink(missing_ok=True)
        raise RuntimeError(f"shard {self.path.name} incomplete: {why}")

    def record(self) -> dict:
        """The manifest entry of the finished shard."""
        return {"file": f"shards/{self.path.name}", "count": self.count, "index_start": self.start,
                "index_stop": self.start + self.count, "bytes": self.nbytes, "sha256": self.sha256}
