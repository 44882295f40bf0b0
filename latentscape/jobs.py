"""Top-level jobs behind CLI commands that do not render (rendering lives in pipeline/)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscape.config import DatasetSpec
from latentscape.dataset.writer import ShardWriter
from latentscape.errors import DatasetMismatchError
from latentscape.latents.sampling import LatentSampler

_CHUNK = 1000


def write_latents_file(spec: DatasetSpec, out: Path, overwrite: bool = False, progress=None) -> Path:
    """Sample latents of images 0..n-1 into one shard-format HDF5 file without images."""
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
    with ShardWriter(out, 0, spec.n, resolution=None, compression=spec.storage.compression, attrs=attrs) as w:
        w.write_latents(lat)
    return out
