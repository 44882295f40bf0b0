"""Prepare an output root: new, resumed (same spec hash) or refused (different dataset)."""
from __future__ import annotations

import shutil
from pathlib import Path

from latentscape.dataset.format import MANIFEST, SHARD_DIR, open_shard, sha256_file, shard_name
from latentscape.dataset.manifest import latent_schema, load_manifest, new_manifest, save_manifest
from latentscape.errors import DatasetMismatchError, FormatError
from latentscape.latents.sampling import LatentSampler
from latentscape.pipeline.plan import ShardTask, plan_shards


def prepare_root(root: Path, sampler: LatentSampler, overwrite: bool = False) -> dict:
    """Return the manifest to continue from, creating the root if needed.

    A root holding a different dataset (other spec hash) is refused unless
    `overwrite`, which deletes its manifest and shards first. Leftover temporary
    files of killed runs are removed; whole shard files that a crash left out of
    the manifest are checked and adopted.
    """
    root = Path(root)
    h = sampler.spec_hash()
    if (root / MANIFEST).exists():
        old = _load_or_none(root)
        if old is not None and old["spec_hash"] == h:
            remove_tmp_files(root)
            _adopt_orphans(root, old, h)
            return old
        if not overwrite:
            what = f"spec hash {old['spec_hash']}" if old else "an unreadable manifest"
            raise DatasetMismatchError(f"{root} holds a different dataset ({what}, this spec {h}); "
                                       f"use --overwrite to replace it or choose another --out")
        _remove_dataset(root)
    elif root.exists() and any(root.iterdir()) and not overwrite:
        if (root / SHARD_DIR).exists():
            raise DatasetMismatchError(f"{root} has shards but no manifest; use --overwrite to replace them")
    elif overwrite:
        _remove_dataset(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / SHARD_DIR).mkdir(exist_ok=True)
    remove_tmp_files(root)
    m = new_manifest(sampler.resolved(), h, latent_schema(sampler.dists, sampler.spec.fov_deg),
                     sampler.library.to_dict(), [b.to_dict() for b in sampler.backgrounds])
    save_manifest(root, m)
    return m


def pending_tasks(manifest: dict) -> list[ShardTask]:
    """Shards of the plan not yet listed in the manifest."""
    done = {s["index_start"] for s in manifest["shards"]}
    spec = manifest["spec"]
    return [t for t in plan_shards(spec["n"], spec["shard_size"]) if t.start not in done]


def _load_or_none(root):
    try:
        return load_manifest(root)
    except FormatError:
        return None


def _remove_dataset(root: Path):
    (root / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(root / SHARD_DIR, ignore_errors=True)


def remove_tmp_files(root: Path):
    """Delete temporary files that interrupted writers left in a dataset root."""
    for p in list(root.glob(".*.tmp")) + list((root / SHARD_DIR).glob(".*.tmp")):
        p.unlink(missing_ok=True)


def _adopt_orphans(root: Path, manifest: dict, spec_hash: str):
    """Add whole shards written just before a crash that missed the manifest update."""
    listed = {s["file"] for s in manifest["shards"]}
    spec = manifest["spec"]
    plan = {t.shard_id: t for t in plan_shards(spec["n"], spec["shard_size"])}
    changed = False
    for k, task in plan.items():
        rel = f"{SHARD_DIR}/{shard_name(k)}"
        path = root / rel
        if rel in listed or not path.exists():
            continue
        try:
            with open_shard(path) as f:
                ok = (f.attrs.get("spec_hash") == spec_hash and int(f.attrs["index_start"]) == task.start
                      and int(f.attrs["count"]) == task.count and "index" in f)
        except (FormatError, KeyError, OSError):
            ok = False
        if not ok:
            path.unlink()
            continue
        manifest["shards"].append({"file": rel, "count": task.count, "index_start": task.start,
                                   "index_stop": task.stop, "bytes": path.stat().st_size,
                                   "sha256": sha256_file(path)})
        changed = True
    if changed:
        save_manifest(root, manifest)
