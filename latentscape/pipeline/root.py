"""A dataset root shared by cooperating writers: prepare, check, claim, commit, repair.

Layout besides the data: `manifest.lock` (a lease held while the manifest is
re-read and replaced) and `claims/shard-XXXXXX.claim` (a lease per shard being
rendered). Every writer follows the same protocol (pipeline/claims.py), so any
number of processes on any number of hosts can render into one root at once.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from latentscape.dataset.format import MANIFEST, SHARD_DIR, open_shard, sha256_file, shard_name
from latentscape.dataset.manifest import latent_schema, load_manifest, new_manifest, save_manifest
from latentscape.files import create_in_shared_dir, owner_tag
from latentscape.errors import DatasetMismatchError, FormatError
from latentscape.pipeline.design_table import DESIGN_TABLE, ensure_design_table
from latentscape.resolve import ResolvedDataset, check_identity
from latentscape.pipeline import claims
from latentscape.pipeline.plan import ShardTask

LOCK = "manifest.lock"
CLAIMS = "claims"


@dataclass(frozen=True)
class Dropped:
    """A listed shard taken out of the manifest to be rendered again."""

    file: str
    why: str
    sha256: str | None = None  # the entry that was checked (None: whatever is listed)

    def __str__(self):
        return f"{self.file} ({self.why})"


def manifest_lock(root: Path, ttl: float | None = None):
    """Context manager holding the root's manifest lease (waits for other writers)."""
    root = Path(root)
    return claims.held(root / LOCK, ttl or claims.lease_seconds(),
                       on_takeover=lambda old: remove_tmp_files(root, old.get("tag")))


def prepare_root(root: Path, resolved: ResolvedDataset, overwrite: bool = False) -> dict:
    """The manifest to continue from (see `open_root`)."""
    return open_root(root, resolved, overwrite)[0]


def open_root(root: Path, resolved: ResolvedDataset, overwrite: bool = False,
              check: bool = True) -> tuple[dict, list[Dropped]]:
    """Create or resume a root; returns (manifest, listed shards dropped as damaged).

    A root holding a different dataset (other identity, or made by an older version)
    is refused in one line unless `overwrite`. Listed shards get the cheap check (entry matches the plan, file is a
    regular file of the recorded size, header names the same shard and spec);
    failures leave the manifest and are rendered again. Whole shard files that a
    crash left out of the manifest are adopted. sha256 is checked by `verify` and
    `render --repair`, not here. `check=False` skips the per-shard checks and the adoption
    (a cluster job: its driver just did them; at 100k shards they take ~90 s per job start).
    """
    root = Path(root)
    h = resolved.identity()
    if (root / MANIFEST).exists() and not overwrite:
        old = _load_or_none(root)
        if old is None:
            raise DatasetMismatchError(f"{root} holds an unreadable manifest; use --overwrite to replace it "
                                       f"or choose another --out")
        check_identity(old, resolved, root)
        if not check:
            return old, []
        bad = check_listed(root, old)
        with manifest_lock(root):
            m = drop_shards(root, bad)
            _adopt_orphans(root, m, h)
            ensure_design_table(root, resolved)
        return m, bad
    if root.exists() and (root / SHARD_DIR).is_dir() and any((root / SHARD_DIR).iterdir()) and not overwrite:
        raise DatasetMismatchError(f"{root} has shards but no manifest; use --overwrite to replace them")
    root.mkdir(parents=True, exist_ok=True)
    with manifest_lock(root):
        if (root / MANIFEST).exists() and not overwrite:  # another writer created it meanwhile
            m = _load_or_none(root)
            if m is None or m["spec_hash"] != h:
                raise DatasetMismatchError(f"{root} was just created by another run with a different spec")
            return m, []
        if overwrite:
            _remove_dataset(root)
        (root / SHARD_DIR).mkdir(exist_ok=True)
        m = new_manifest(resolved.to_dict(), h, latent_schema(resolved.dists, resolved.spec.fov_deg),
                         resolved.library.to_dict(), [b.to_dict() for b in resolved.backgrounds])
        save_manifest(root, m)
        ensure_design_table(root, resolved)
    return m, []


def pending_shards(manifest: dict) -> Iterator[ShardTask]:
    """Shards of the plan not listed in the manifest, in order (lazily: n may be huge)."""
    done = {s["index_start"] for s in manifest["shards"]}
    spec = manifest["spec"]
    n, size = spec["n"], spec["shard_size"]
    for k, start in enumerate(range(0, n, size)):
        if start not in done:
            yield ShardTask(k, start, min(n, start + size))


def pending_tasks(manifest: dict) -> list[ShardTask]:
    """`pending_shards` as a list (small datasets, tests)."""
    return list(pending_shards(manifest))


def check_listed(root: Path, manifest: dict) -> list[Dropped]:
    """The cheap check of every listed shard: plan, file type and size, header."""
    spec = manifest["spec"]
    seen: set[int] = set()
    bad = []
    for rec in manifest["shards"]:
        why = _entry_problem(root, rec, spec, manifest["spec_hash"], seen)
        if why:
            bad.append(Dropped(str(rec.get("file")), why, rec.get("sha256")))
    return bad


def _entry_problem(root: Path, rec: dict, spec: dict, spec_hash: str, seen: set) -> str | None:
    start, size = rec.get("index_start"), spec["shard_size"]
    if not isinstance(start, int) or start % size or start in seen:
        return "not a shard of the plan"
    k = start // size
    want = ShardTask(k, start, min(spec["n"], start + size))
    if rec.get("file") != f"{SHARD_DIR}/{shard_name(k)}" or (rec.get("index_stop"), rec.get("count")) != (want.stop, want.count):
        return "entry does not match the plan"
    seen.add(start)
    path = root / rec["file"]
    if path.is_symlink() or not path.is_file():
        return "missing" if not path.exists() and not path.is_symlink() else "not a regular file"
    if path.stat().st_size != rec.get("bytes"):
        return f"size {path.stat().st_size} bytes, manifest says {rec.get('bytes')}"
    return _header_problem(path, want, spec_hash)


def _header_problem(path: Path, task: ShardTask, spec_hash: str) -> str | None:
    try:
        with open_shard(path) as f:
            a = f.attrs
            if a.get("spec_hash") != spec_hash:
                return "written for another spec"
            if int(a["index_start"]) != task.start or int(a["count"]) != task.count or "index" not in f:
                return "header names another index range"
    except (FormatError, KeyError, OSError, ValueError) as e:
        return f"unreadable ({str(e).splitlines()[0][:120]})"
    return None


def drop_shards(root: Path, bad: list[Dropped]) -> dict:
    """Re-read the manifest and take out the damaged entries (call under the manifest lock).

    An entry is dropped only if the file still is what was checked (a writer may have
    re-rendered it meanwhile); a dropped file that is a regular file is deleted.
    """
    m = load_manifest(root)
    if not bad:
        return m
    checked = {d.file: d.sha256 for d in bad}
    keep, gone = [], []
    for rec in m["shards"]:
        f = rec.get("file")
        same = f in checked and checked[f] in (None, rec.get("sha256"))
        (gone if same else keep).append(rec)
    m["shards"] = keep
    save_manifest(root, m)
    for rec in gone:
        path = root / str(rec.get("file"))
        if isinstance(rec.get("file"), str) and rec["file"].startswith(f"{SHARD_DIR}/") and path.is_file() \
                and not path.is_symlink():
            path.unlink()
    return m


def claim_path(root: Path, task: ShardTask) -> Path:
    return Path(root) / CLAIMS / f"shard-{task.shard_id:06d}.claim"


def shard_tmp(root: Path, task: ShardTask, tag: str | None = None) -> Path:
    """The temporary name a writer (tag = host.pid) renders shard `task` under."""
    return Path(root) / SHARD_DIR / f".{shard_name(task.shard_id)}.{tag or owner_tag()}.tmp"


def claim_shard(root: Path, task: ShardTask, ttl: float) -> claims.Lease | None:
    """Claim shard `task`, taking over an expired claim (and deleting its holder's temp file)."""
    root = Path(root)

    def cleanup(old: dict):
        if isinstance(old.get("tag"), str) and "/" not in old["tag"]:
            shard_tmp(root, task, old["tag"]).unlink(missing_ok=True)

    return create_in_shared_dir(root / CLAIMS, lambda: claims.acquire(claim_path(root, task), ttl,
                                                                      on_takeover=cleanup))


def commit_shard(root: Path, task: ShardTask, tmp: Path, record: dict, lease: claims.Lease) -> tuple[dict, bool]:
    """Move a finished shard into place and list it; returns (manifest re-read, committed?).

    Under the manifest lock: if the claim was lost or the shard is already listed,
    the temporary file is discarded instead.
    """
    root = Path(root)
    with manifest_lock(root):
        m = load_manifest(root)
        listed = any(s["index_start"] == task.start for s in m["shards"])
        if listed or not lease.held():
            tmp.unlink(missing_ok=True)
            return m, False
        tmp.replace(root / record["file"])
        m["shards"].append(record)
        save_manifest(root, m)
    return m, True


def remove_tmp_files(root: Path, tag: str | None = None):
    """Delete the temporary files writer `tag` (default: this process) left in a root."""
    root = Path(root)
    tag = tag or owner_tag()
    if not isinstance(tag, str) or "/" in tag:
        return
    for d in (root, root / SHARD_DIR, root / CLAIMS):
        for p in d.glob(f".*.{tag}.tmp"):
            p.unlink(missing_ok=True)


def remove_claims_dir(root: Path):
    """Remove `claims/` once no claim is left in it."""
    try:
        (Path(root) / CLAIMS).rmdir()
    except OSError:
        pass


def _load_or_none(root):
    try:
        return load_manifest(root)
    except FormatError:
        return None


def _remove_dataset(root: Path):
    (root / MANIFEST).unlink(missing_ok=True)
    (root / DESIGN_TABLE).unlink(missing_ok=True)
    # failure records and job logs describe the dataset being replaced
    for d in (SHARD_DIR, "failures", "jobs"):
        shutil.rmtree(root / d, ignore_errors=True)


def _adopt_orphans(root: Path, manifest: dict, spec_hash: str):
    """Add whole shards renamed into place just before a crash that missed the manifest update."""
    listed = {s["file"] for s in manifest["shards"]}
    spec = manifest["spec"]
    plan_len = -(-spec["n"] // spec["shard_size"])
    changed = False
    for path in sorted((root / SHARD_DIR).glob("shard-*.h5")):
        rel = f"{SHARD_DIR}/{path.name}"
        k = _shard_number(path.name)
        if rel in listed or k is None or k >= plan_len or path.is_symlink() or not path.is_file():
            continue
        start = k * spec["shard_size"]
        task = ShardTask(k, start, min(spec["n"], start + spec["shard_size"]))
        if _header_problem(path, task, spec_hash):
            path.unlink()
            continue
        manifest["shards"].append({"file": rel, "count": task.count, "index_start": task.start,
                                   "index_stop": task.stop, "bytes": path.stat().st_size,
                                   "sha256": sha256_file(path)})
        changed = True
    if changed:
        save_manifest(root, manifest)


def _shard_number(name: str) -> int | None:
    digits = name[len("shard-"):-len(".h5")]
    return int(digits) if digits.isdigit() and name == shard_name(int(digits)) else None
