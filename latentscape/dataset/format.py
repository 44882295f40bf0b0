"""The on-disk format: names, schema version, compression options (see docs/format.md)."""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path, PurePosixPath

import h5py
import numpy as np

from latentscape.errors import FormatError
from latentscape.outpaths import file_kind

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


def shard_entry_problem(root: str | Path, rel) -> tuple[Path | None, str | None]:
    """(checked path, None) for a manifest shard entry, or (None, why it may not be opened).

    The entry must be a relative path inside ROOT (not absolute, no '..', no symlink
    leading out of ROOT) naming an existing regular file. Nothing is opened.
    """
    if not isinstance(rel, str) or not rel or "\0" in rel:
        return None, f"is not a file name ({rel!r})"
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        return None, "is an absolute path; shard entries must be relative to the dataset root"
    if ".." in pure.parts:
        return None, "contains '..'; shard entries must stay inside the dataset root"
    try:
        base = Path(root).resolve()
        real = (base / pure).resolve()
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        return None, f"cannot be resolved ({e})"
    if real == base:
        return None, "names the dataset root itself, not a shard file"
    if not real.is_relative_to(base):
        return None, f"leads outside the dataset root (to {real}); not opened"
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return None, "listed in the manifest but missing"
    except OSError as e:
        return None, f"cannot be accessed ({e.strerror})"
    if not stat.S_ISREG(mode):
        return None, f"is {file_kind(mode)}, not a regular file; not opened"
    return real, None


def shard_path(root: str | Path, rel) -> Path:
    """The checked file of a manifest shard entry (see `shard_entry_problem`); FormatError otherwise."""
    path, why = shard_entry_problem(root, rel)
    if why:
        raise FormatError(f"{Path(root) / MANIFEST}: shard {rel!r} {why}")
    return path


def require_regular_file(path: Path):
    """FormatError unless `path` is an existing regular file (devices and FIFOs are never opened)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise FormatError(f"{path}: cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise FormatError(f"{path} is {file_kind(mode)}, not a regular file; not opened")


def shard_index_problem(f: h5py.File, rec: dict, spec_hash: str | None = None) -> str | None:
    """Why an open shard does not hold exactly the images its manifest entry `rec` lists, or None."""
    start, count = rec["index_start"], rec["count"]
    for key, want in (("index_start", start), ("count", count)):
        got = f.attrs.get(key)
        if got is None or not isinstance(got, (int, np.integer)) or int(got) != want:
            return f"attribute {key} is {got!r}, the manifest says {want}"
    if spec_hash is not None and f.attrs.get("spec_hash") != spec_hash:
        return f"spec hash {f.attrs.get('spec_hash')!r} is not the dataset's {spec_hash!r}"
    ds = f.get("index")
    if not isinstance(ds, h5py.Dataset) or ds.shape != (count,) or ds.dtype.kind not in "iu":
        return f"index dataset is {getattr(ds, 'shape', None)} {getattr(ds, 'dtype', None)}, expected ({count},) int"
    idx = ds[()]
    if not np.array_equal(idx, np.arange(start, start + count)):
        return (f"holds indices {int(idx.min())}..{int(idx.max())} (not in order {start}..{start + count - 1} "
                f"as the manifest says)")
    return None


def open_checked_shard(root: str | Path, rec: dict, spec_hash: str, resolution: int | None = None) -> h5py.File:
    """Open the shard of manifest entry `rec` after checking its path, then check that it holds
    exactly the indices (and image size) the entry lists. FormatError otherwise."""
    path = shard_path(root, rec["file"])
    f = open_shard(path)
    try:
        why = shard_index_problem(f, rec, spec_hash)
        if why is None and resolution is not None and "images" in f:
            want = (rec["count"], resolution, resolution, 3)
            if f["images"].shape != want:
                why = f"images have shape {f['images'].shape}, expected {want}"
    except (KeyError, OSError, TypeError, ValueError) as e:
        why = f"cannot be read ({e})"
    if why:
        f.close()
        raise FormatError(f"{Path(root) / MANIFEST}: shard {rec['file']!r} does not match its manifest entry: "
                          f"{why}; run `latentscape verify {root}`")
    return f


def open_shard(path: Path) -> h5py.File:
    """Open a shard read-only, refusing non-regular files, foreign files and unknown schema versions."""
    require_regular_file(path)
    load_filter_plugins()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not a readable HDF5 file ({e})") from None
    fmt = f.attrs.get("format")
    if fmt != SHARD_FORMAT:
        f.close()
        raise FormatError(f"{path}: not a latentscape shard (format attribute {fmt!r}, expected {SHARD_FORMAT!r})")
    version = f.attrs.get("schema_version", -1)
    if not isinstance(version, (int, np.integer)) or version != SCHEMA_VERSION:
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
    """Hex sha256 of a regular file (anything else is refused unread)."""
    require_regular_file(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
