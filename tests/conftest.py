"""Shared fixtures and hooks.

* `write_synthetic_dataset` writes real shards with generated pixels (noise) so format,
  reader and verify tests run without Blender.
* Every test runs with private caches (LATENTSCAPE_CACHE, HOME, XDG dirs in a session
  temporary directory): tests never write to the user's ~/.cache.
* With the environment variable CI set, a skipped test fails the run: CI installs bpy,
  torch and the furniture catalogues, so a skip there means a test silently did not run.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from latentscape.config import DatasetSpec
from latentscape.dataset.manifest import save_manifest
from latentscape.dataset.writer import ShardWriter
from latentscape.dataset.format import shard_name
from latentscape.latents.sampling import LatentSampler
from latentscape.resolve import ResolvedDataset, resolve
from latentscape.pipeline.root import pending_tasks, prepare_root


def make_sampler(spec: DatasetSpec) -> LatentSampler:
    return resolve(spec).sampler


def make_resolved(spec: DatasetSpec) -> ResolvedDataset:
    return resolve(spec)


def write_synthetic_dataset(root: Path, spec: DatasetSpec, overwrite=False) -> dict:
    """Shards as the renderer writes them (attributes, latents; masks, depth and
    meta/visible_fraction for the spec's passes), with noise images: image i is
    default_rng(i).integers(0, 256, (r, r, 3))."""
    resolved = make_resolved(spec)
    sampler = resolved.sampler
    m = prepare_root(root, resolved, overwrite=overwrite)
    passes = tuple(spec.render.passes)
    for task in pending_tasks(m):
        lat = sampler.sample_range(task.start, task.stop)
        r = spec.resolution
        with ShardWriter(root / "shards" / shard_name(task.shard_id), task.start, task.count, r,
                         spec.storage.compression, attrs={"spec_hash": m["spec_hash"], "resolved_spec": m["resolved"]},
                         passes=passes) as w:
            w.write_latents(lat)
            visible = np.zeros(task.count, np.float32)
            for i, idx in enumerate(range(task.start, task.stop)):
                mask, depth = synthetic_passes(idx, r)
                visible[i] = mask.mean() / 255.0
                w.write_image(i, np.random.default_rng(idx).integers(0, 256, (r, r, 3), dtype=np.uint8),
                              mask=mask if "mask" in passes else None, depth=depth if "depth" in passes else None)
            if passes:
                w.write_meta("visible_fraction", visible, "fraction of image pixels covered by the object (0..1)")
        m["shards"].append(w.record())
        save_manifest(root, m)
    return m


def synthetic_passes(index: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """A mask and a depth map like the renderer's for image `index`: a disc of full coverage
    with an anti-aliased rim; depth finite (2..3 m) where the mask is not 0, inf elsewhere."""
    rng = np.random.default_rng([index, 1])
    cy, cx = rng.uniform(0.3 * r, 0.7 * r, 2)
    dist = np.hypot(*np.mgrid[0:r, 0:r] + 0.5 - np.array([cy, cx])[:, None, None])
    cover = np.clip(0.25 * r - dist + 0.5, 0, 1)
    mask = np.round(cover * 255).astype(np.uint8)
    depth = np.where(mask > 0, 2.0 + dist / r, np.inf).astype(np.float32)
    return mask, depth


@pytest.fixture
def small_spec():
    return DatasetSpec(library="placeholder", n=25, shard_size=10, resolution=8, seed=3)


@pytest.fixture
def dataset(tmp_path, small_spec):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, small_spec)
    return root


# ---- private caches ---------------------------------------------------------------------
PRIVATE_ENV = ("LATENTSCAPE_CACHE", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "MPLCONFIGDIR")


@pytest.fixture(scope="session", autouse=True)
def private_caches(tmp_path_factory):
    """Point every cache at a session temporary directory, for this process and every child
    it starts (renders, CLI runs): the Sweet Home 3D index, model probes, split and
    statistics caches, matplotlib's font cache, Blender's thumbnails. Nothing is written to
    the user's home."""
    home = tmp_path_factory.mktemp("home")
    values = {"LATENTSCAPE_CACHE": home / ".cache" / "latentscape", "HOME": home,
              "XDG_CACHE_HOME": home / ".cache", "XDG_CONFIG_HOME": home / ".config",
              "XDG_DATA_HOME": home / ".local" / "share", "MPLCONFIGDIR": home / ".config" / "matplotlib"}
    old = {k: os.environ.get(k) for k in PRIVATE_ENV}
    os.environ.update({k: str(v) for k, v in values.items()})
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# ---- CI: a skipped test is a failure ------------------------------------------------------
def ci_requested() -> bool:
    """True when the environment variable CI is set (to anything but '', 0, false, no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_SKIPPED: list[tuple[str, str]] = []  # (test or module, reason) of every skip in this session


def _skip_reason(report) -> str:
    lr = report.longrepr
    return str(lr[2]) if isinstance(lr, tuple) and len(lr) == 3 else str(lr)


def pytest_sessionstart(session):
    _SKIPPED.clear()


def pytest_collectreport(report):
    if report.skipped:  # a module-level skip (pytest.skip(allow_module_level=True), importorskip)
        _SKIPPED.append((report.nodeid or str(report.fspath), _skip_reason(report)))


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):  # an expected failure is not a skip
        _SKIPPED.append((report.nodeid, _skip_reason(report)))


def pytest_sessionfinish(session, exitstatus):
    if ci_requested() and _SKIPPED and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if ci_requested() and _SKIPPED:
        tr = terminalreporter
        tr.section(f"CI is set: {len(_SKIPPED)} skipped test(s) fail the run", sep="=", red=True, bold=True)
        for where, why in _SKIPPED:
            tr.line(f"SKIPPED IN CI {where}: {why}", red=True)
        tr.line("CI must run every test: install what the skip names (bpy, torch, sweethome3d-furniture).")
