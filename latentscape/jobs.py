"""Top-level jobs behind CLI commands that do not render (rendering lives in pipeline/)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from latentscape.config import DatasetSpec
from latentscape.dataset.writer import ShardWriter
from latentscape.errors import DatasetMismatchError
from latentscape.latents.sampling import LatentSampler
from latentscape.outpaths import check_output_file, check_replaceable

_CHUNK = 1000


def write_latents_file(spec: DatasetSpec, out: str | Path, overwrite: bool = False, progress=None) -> Path:
    """Sample latents of images 0..n-1 into one shard-format HDF5 file without images.

    `out` is checked before any work (OutputPathError: empty, a directory, a device or FIFO
    even with `overwrite`, a missing parent, a read-only filesystem...) and written atomically:
    a new file in a private temporary directory beside it, renamed over `out` when whole.
    """
    out = check_output_file(out, overwrite=True, what="latents file")
    if out.exists() and not overwrite:
        raise DatasetMismatchError(f"{out} exists; use --overwrite to replace it")
    sampler = LatentSampler.for_spec(spec)
    parts = []
    bar = progress(total=spec.n, desc="latents", unit="img") if progress else None
    for start in range(0, spec.n, _CHUNK):
        stop = min(spec.n, start + _CHUNK)
        parts.append(sampler.sample_range(start, stop))
        if bar:
            bar.update(stop - start)
    if bar:
        bar.close()
    lat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    attrs = {"spec_hash": sampler.spec_hash(), "resolved_spec": sampler.resolved(),
             "categories": sampler.library.categories, "objects": [o.name for o in sampler.library.objects],
             "backgrounds": [b.name for b in sampler.backgrounds]}
    _write_atomic(out, lambda path: _write_shard(path, spec, lat, attrs))
    return out


def _write_shard(path: Path, spec: DatasetSpec, lat: dict, attrs: dict):
    with ShardWriter(path, 0, spec.n, resolution=None, compression=spec.storage.compression, attrs=attrs) as w:
        w.write_latents(lat)


def _write_atomic(out: Path, write):
    """Call write(path) on a path in a new private directory beside `out`, then rename it over
    `out` (refused if `out` became anything but a regular file meanwhile)."""
    tmpdir = Path(tempfile.mkdtemp(prefix=".latentscape-", dir=out.parent))
    try:
        part = tmpdir / "part.h5"
        write(part)
        check_replaceable(out, "latents file")
        os.replace(part, out)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
