"""The public Python API; the CLI is a thin layer over it.

    from latentscape import DatasetSpec, render, sample_latents, verify, LatentDataset
    spec = DatasetSpec(n=200, resolution=64, vary=("pose", "position"))
    summary = render(spec, "demo", device="cpu", workers=2)
    report = verify("demo")            # report.ok, report.problems
    lat = sample_latents(spec, 0, 10)  # no Blender needed

Every function validates its input at the boundary and raises the same typed
exceptions (subclasses of `latentscape.errors.LatentscapeError`) that the CLI turns
into one line.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentscape.config import DatasetSpec
from latentscape.dataset.writer import ShardWriter
from latentscape.errors import DatasetMismatchError, SpecError
from latentscape.outpaths import check_output_dir, check_output_file, check_replaceable
from latentscape.pipeline.cluster import ClusterOptions, render_on_cluster
from latentscape.pipeline.failures import DEFAULT_MAX_ATTEMPTS
from latentscape.pipeline.ray_engine import RayOptions
from latentscape.pipeline.slurm import SlurmOptions
from latentscape.pipeline.status import RootStatus, root_status
from latentscape.pipeline.local import DEFAULT_RECYCLE_SHARDS, RenderSummary, render_resolved, repair_dataset
from latentscape.pipeline.rerender import RerenderReport
from latentscape.resolve import ResolvedDataset, resolve

__all__ = ["ClusterOptions", "DatasetSpec", "RayOptions", "RenderSummary", "RerenderReport", "ResolvedDataset",
           "SlurmOptions", "VerifyReport", "as_spec", "publish", "render", "repair", "rerender_check", "resolve",
           "sample_latents", "status", "verify", "write_latents"]

_CHUNK = 1000


def as_spec(spec) -> DatasetSpec:
    """A DatasetSpec from a DatasetSpec, a mapping (the YAML keys) or a YAML file path."""
    if isinstance(spec, DatasetSpec):
        return spec
    if isinstance(spec, dict):
        return DatasetSpec.from_dict(spec, where="spec")
    if isinstance(spec, (str, os.PathLike)):
        return DatasetSpec.from_yaml(spec)
    raise SpecError(f"spec must be a DatasetSpec, a mapping or a YAML file path, got {type(spec).__name__}")


def render(spec, out, *, device: str = "auto", workers: int | None = None, workers_per_device: int = 1,
           overwrite: bool = False, progress: bool = True, cluster: ClusterOptions | None = None,
           recycle_shards: int = DEFAULT_RECYCLE_SHARDS, max_attempts: int = DEFAULT_MAX_ATTEMPTS):
    """Render (or finish, or repair the cheap way) the dataset `spec` describes into `out`.

    Resumable and safe to interrupt; several calls (processes, hosts) may share one
    `out`. Returns a `RenderSummary` (`.rendered`, `.present`, `.n`, `.line()`); with
    `cluster` (a `ClusterOptions`: Slurm or Ray jobs) a `ClusterSummary`.
    """
    spec = as_spec(spec)
    root = check_output_dir(out, what="dataset root", parents=True)
    _check_workers(workers, workers_per_device)
    if cluster is not None:
        return render_on_cluster(resolve(spec), root, cluster, device=device, workers=workers,
                                 workers_per_device=workers_per_device, overwrite=overwrite, progress=progress,
                                 recycle_shards=recycle_shards, max_attempts=max_attempts)
    return render_resolved(resolve(spec), root, device=device, workers=workers, workers_per_device=workers_per_device,
                           overwrite=overwrite, progress=progress, recycle_shards=recycle_shards,
                           max_attempts=max_attempts)


def repair(root, *, device: str = "auto", workers: int | None = None, workers_per_device: int = 1,
           progress: bool = True, recycle_shards: int = DEFAULT_RECYCLE_SHARDS,
           max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> RenderSummary:
    """Re-render exactly the shards `verify` flags, from the description stored in `root`."""
    _check_workers(workers, workers_per_device)
    return repair_dataset(check_output_dir(root, what="dataset root"), device=device, workers=workers,
                          workers_per_device=workers_per_device, progress=progress, recycle_shards=recycle_shards,
                          max_attempts=max_attempts)


def publish(root, *, name: str, version: str, to: str, license: str, creators, title: str = "",
            description: str = "", progress: bool = True):
    """Publish `root` as release NAME VERSION at `to` (a folder or fsspec URL; see docs/publishing.md).
    Returns a `PublishResult` (`.status`: "published" | "unchanged", `.url`, `.record`)."""
    from latentscape.publish.info import ReleaseInfo
    from latentscape.publish.targets import publish_release
    info = ReleaseInfo(name=name, version=version, license=license, creators=tuple(creators), title=title,
                       description=description)
    return publish_release(check_output_dir(root, what="dataset root"), info, to, progress=progress)


def status(root) -> RootStatus:
    """Shards done / running / failed / missing, rate and ETA of a root (`.lines()` to print)."""
    return root_status(check_output_dir(root, what="dataset root"))


def _check_workers(workers, per_device):
    for name, v, hi in (("workers", workers, 1024), ("workers_per_device", per_device, 64)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi):
            raise SpecError(f"{name} must be an integer in 1..{hi}, got {v!r}")


def sample_latents(spec, start: int = 0, stop: int | None = None) -> dict[str, np.ndarray]:
    """Latents (and per-image metadata) of images start..stop-1, exactly as `render` stores them."""
    spec = as_spec(spec)
    stop = spec.n if stop is None else stop
    for name, v in (("start", start), ("stop", stop)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= spec.n:
            raise SpecError(f"{name} must be an integer in 0..{spec.n}, got {v!r}")
    if start > stop:
        raise SpecError(f"start {start} is after stop {stop}")
    return resolve(spec).sampler.sample_range(start, stop)


@dataclass
class VerifyReport:
    """What `verify` found: `ok` is True only if the dataset is whole."""

    problems: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(root, *, fast: bool = False, progress=None, workers: int = 1) -> VerifyReport:
    """Check that a dataset is whole (indices, sha256 unless `fast`, latent ranges, images);
    `workers` processes check the shards in parallel."""
    from latentscape.dataset.verify import verify as run
    _check_workers(workers, None)
    problems, summary = run(root, fast=fast, progress=progress, workers=workers)
    return VerifyReport(problems, summary)


def rerender_check(root, k: int, *, seed: int = 0, device: str = "cpu", progress: bool = False) -> RerenderReport:
    """Re-render `k` random images of `root` (chosen by `default_rng(seed)`) from the description
    stored in its manifest, in one Blender child process on `device`: their stored latents must
    equal the drawn ones exactly, their pixels the re-rendered ones within the determinism
    tolerance (docs/determinism.md). Returns a `RerenderReport` (`.ok`, `.problems`, `.checks`,
    `.worst`, `.line()`); `latentscape verify ROOT --rerender K` runs it after `verify`."""
    from latentscape.pipeline.rerender import rerender_check as run
    return run(root, k, seed=seed, device=device, progress=progress)


def write_latents(spec, out: str | Path, overwrite: bool = False, progress=None) -> Path:
    """Sample latents of images 0..n-1 into one shard-format HDF5 file without images.

    `out` is checked before any work (OutputPathError: empty, a directory, a device or FIFO
    even with `overwrite`, a missing parent, a read-only filesystem...) and written atomically:
    a new file in a private temporary directory beside it, renamed over `out` when whole.
    """
    spec = as_spec(spec)
    out = check_output_file(out, overwrite=True, what="latents file")
    if out.exists() and not overwrite:
        raise DatasetMismatchError(f"{out} exists; use --overwrite to replace it")
    resolved = resolve(spec)
    sampler = resolved.sampler
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
    attrs = {"spec_hash": resolved.identity(), "resolved_spec": resolved.to_dict(),
             "categories": resolved.library.categories, "objects": [o.name for o in resolved.library.objects],
             "backgrounds": [b.name for b in resolved.backgrounds]}
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
