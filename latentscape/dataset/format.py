"""The on-disk format: names, schema version, compression options (see docs/format.md)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import h5py

from latentscape.errors import FormatError

SCHEMA_VERSION = 1
SHARD_FORMAT = "latentscape-shard"
DATASET_FORMAT = "latentscape-dataset"
MANIFEST = "dataset.json"
SHARD_DIR = "shards"


def shard_name(shard_id: int) -> str:
    return f"shard-{shard_id:06d}.h5"


def compression_kwargs(compression: str) -> dict:
    """h5py create_dataset keywords for a compression option (none, lzf, gzip-N, zstd)."""
    if compression == "none":
        return {}
    if compression == "lzf":
        return {"compression": "lzf"}
    if compression.startswith("gzip-"):
        return {"compression": "gzip", "compression_opts": int(compression[5:])}
    if compression == "zstd":
        try:
            import hdf5plugin
        except ImportError:
            raise FormatError("compression 'zstd' needs the hdf5plugin package: pip install hdf5plugin") from None
        return dict(hdf5plugin.Zstd(clevel=3))
    raise FormatError(f"unknown compression {compression!r}; allowed: none, lzf, gzip-0..gzip-9, zstd")


def load_filter_plugins():
    """Register optional HDF5 filters (zstd) if hdf5plugin is installed."""
    try:
        import hdf5plugin  # noqa: F401
    except ImportError:
        pass


def open_shard(path: Path) -> h5py.File:
    """Open a shard read-only, refusing foreign files and unknown schema versions."""
    load_filter_plugins()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not a readable HDF5 file ({e})") from None
    fmt = f.attrs.get("format")
    if fmt != SHARD_FORMAT:
        f.close()
        raise FormatError(f"{path}: not a latentscape shard (format attribute {fmt!r}, expected {SHARD_FORMAT!r})")
    version = int(f.attrs.get("schema_version", -1))
    if version != SCHEMA_VERSION:
        f.close()
        raise FormatError(f"{path}: unknown schema version {version}; this latentscape reads version {SCHEMA_VERSION}")
    return f


def read_dataset(f: h5py.File, name: str):
    """Read a whole dataset, turning a missing-filter error into a clear message."""
    try:
        return f[name][()]
    except OSError as e:
        if "filter" in str(e).lower() or "can't synchronously read" in str(e).lower():
            raise FormatError(f"{f.filename}: {name} uses an HDF5 filter that is not available "
                              f"(zstd needs: pip install hdf5plugin)") from None
        raise


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
