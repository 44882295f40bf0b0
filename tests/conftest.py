"""Shared fixtures. `write_synthetic_dataset` writes real shards with generated pixels
(noise) so format, reader and verify tests run without Blender."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentscape.config import DatasetSpec
from latentscape.dataset.manifest import save_manifest
from latentscape.dataset.writer import ShardWriter
from latentscape.dataset.format import shard_name
from latentscape.latents.sampling import LatentSampler
from latentscape.pipeline.root import pending_tasks, prepare_root


def make_sampler(spec: DatasetSpec) -> LatentSampler:
    return LatentSampler.for_spec(spec)


def write_synthetic_dataset(root: Path, spec: DatasetSpec, overwrite=False) -> dict:
    sampler = make_sampler(spec)
    m = prepare_root(root, sampler, overwrite=overwrite)
    for task in pending_tasks(m):
        lat = sampler.sample_range(task.start, task.stop)
        r = spec.resolution
        with ShardWriter(root / "shards" / shard_name(task.shard_id), task.start, task.count, r,
                         spec.storage.compression, attrs={"spec_hash": m["spec_hash"]}) as w:
            w.write_latents(lat)
            for i, idx in enumerate(range(task.start, task.stop)):
                w.write_image(i, np.random.default_rng(idx).integers(0, 256, (r, r, 3), dtype=np.uint8))
        m["shards"].append(w.record())
        save_manifest(root, m)
    return m


@pytest.fixture
def small_spec():
    return DatasetSpec(library="placeholder", n=25, shard_size=10, resolution=8, seed=3)


@pytest.fixture
def dataset(tmp_path, small_spec):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, small_spec)
    return root
