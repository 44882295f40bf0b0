"""Put a release on a local folder or any fsspec URL (s3://, file://, ...): DEST/NAME/VERSION.

Files go to a staging prefix (DEST/NAME/.staging-VERSION) first; a rerun after an
interruption skips what is already there. Finalising moves them to DEST/NAME/VERSION
and writes release.json last: a version exists exactly when its release.json does, so
nobody sees a half-release. Versions are immutable: the same files again is a no-op,
other content is refused.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from latentscape.errors import first_line
from latentscape.publish.info import PublishError, ReleaseInfo
from latentscape.publish.release import RELEASE, ReleasePlan, build_release, require_publishable


@dataclass
class PublishResult:
    url: str
    status: str          # "published" | "unchanged"
    record: dict

    def line(self) -> str:
        r = self.record
        if self.status == "unchanged":
            return f"{self.url} already holds these files (identity {r['identity'][:16]}): nothing to do"
        size = sum(f["bytes"] for f in r["files"].values())
        return (f"published {r['name']} {r['version']} to {self.url}: {len(r['files']) + 1} files, "
                f"{size / 1e6:.1f} MB, identity {r['identity'][:16]}")


def _fs(dest: str):
    import fsspec
    try:
        fs, base = fsspec.core.url_to_fs(str(dest))
    except (ImportError, ValueError) as e:
        raise PublishError(f"cannot use destination {dest!r}: {e}") from None
    return fs, base.rstrip("/")


def release_url(dest: str, name: str, version: str) -> str:
    return f"{str(dest).rstrip('/')}/{name}/{version}"


def publish_release(root: str | Path, info: ReleaseInfo, dest: str, progress: bool = True) -> PublishResult:
    """Verify `root`, build its release and put it at DEST/NAME/VERSION (see the module doc)."""
    root = Path(root)
    fs, base = _fs(dest)
    final, staging = f"{base}/{info.name}/{info.version}", f"{base}/{info.name}/.staging-{info.version}"
    url = release_url(dest, info.name, info.version)
    existing = _guard(lambda: _read_json(fs, f"{final}/{RELEASE}"), dest)
    require_publishable(root)
    with tempfile.TemporaryDirectory(prefix="latentscape-release-") as work:
        plan = build_release(root, info, Path(work), existing.get("date") if existing else None)
        if existing:
            diff = _difference(existing, plan.record)
            if diff:
                raise PublishError(f"{url} exists with other content ({diff}); versions are immutable: "
                                   f"publish this as a new version")
            return PublishResult(url, "unchanged", existing)
        _guard(lambda: _upload(fs, plan, staging, progress), dest)
        _guard(lambda: _finalise(fs, plan, staging, final), dest)
    return PublishResult(url, "published", plan.record)


def _guard(fn, dest):
    """Storage errors (unreachable, refused) as one line naming the destination."""
    try:
        return fn()
    except PublishError:
        raise
    except (OSError, ValueError, RuntimeError) as e:
        raise PublishError(f"cannot write to {dest}: {type(e).__name__}: {first_line(e)[:200]}") from None
    except Exception as e:  # noqa: BLE001 - botocore & co. raise their own types for an unreachable store
        if type(e).__module__.split(".")[0] in ("botocore", "aiobotocore", "s3fs", "fsspec", "aiohttp"):
            raise PublishError(f"cannot write to {dest}: {type(e).__name__}: {first_line(e)[:200]}") from None
        raise


def _read_json(fs, path: str) -> dict | None:
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        rec = json.loads(fh.read())
    if not isinstance(rec, dict) or not isinstance(rec.get("files"), dict):
        raise PublishError(f"{path} is not a latentscape release record; refusing to touch that version")
    return rec


def _drop_strays(staging: Path, keep: set):
    """Delete what a local staging folder holds besides the release's files (the sidecar,
    partial or stale files of earlier runs) before it is renamed into place."""
    for p in sorted(staging.rglob("*"), reverse=True):
        rel = p.relative_to(staging).as_posix()
        if p.is_file() and rel not in keep:
            p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()


def _difference(old: dict, new: dict) -> str | None:
    for key in ("identity", "license", "creators", "title"):
        if old.get(key) != new.get(key):
            return f"{key} differs: {old.get(key)!r} there, {new.get(key)!r} here"
    for rel in sorted(set(old["files"]) | set(new["files"])):
        a, b = old["files"].get(rel), new["files"].get(rel)
        if a is None or b is None:
            return f"{rel} {'is new' if a is None else 'would be missing'}"
        if a.get("sha256") != b.get("sha256"):
            return f"{rel} differs"
    return None


STAGED = ".staged.json"   # in the staging prefix: release path -> sha256 of what was staged there


def _upload(fs, plan: ReleasePlan, staging: str, progress: bool):
    """Stage every file; a file staged by an earlier (interrupted) run is kept only if it is
    the same content (its recorded sha256 and its size match), else it is replaced."""
    from tqdm import tqdm
    want = {rel: h["sha256"] for rel, h in plan.record["files"].items()}
    staged = _read_staged(fs, staging)
    todo = []
    for rel, src in sorted(plan.files.items()):
        if staged.get(rel) == want[rel] and _same_size(fs, f"{staging}/{rel}", src):
            continue
        if fs.exists(f"{staging}/{rel}"):
            fs.rm(f"{staging}/{rel}")  # stale: gone before the record can claim otherwise
        staged.pop(rel, None)
        todo.append((rel, src))
    total = sum(src.stat().st_size for _, src in todo)
    with tqdm(total=total, unit="B", unit_scale=True, desc="upload", disable=not progress,
              dynamic_ncols=True) as bar:
        for rel, src in todo:
            fs.makedirs(f"{staging}/{rel}".rsplit("/", 1)[0], exist_ok=True)
            tmp = f"{staging}/{rel}.partial"
            fs.put_file(str(src), tmp)
            fs.mv(tmp, f"{staging}/{rel}")   # a file under its own name is whole
            staged[rel] = want[rel]
            _write_staged(fs, staging, staged)
            bar.update(src.stat().st_size)


def _read_staged(fs, staging: str) -> dict:
    try:
        with fs.open(f"{staging}/{STAGED}", "rb") as fh:
            d = json.loads(fh.read())
        return d if isinstance(d, dict) else {}
    except (FileNotFoundError, ValueError):
        return {}


def _write_staged(fs, staging: str, staged: dict):
    fs.makedirs(staging, exist_ok=True)
    with fs.open(f"{staging}/{STAGED}", "wb") as fh:
        fh.write(json.dumps(staged).encode())


def _same_size(fs, path: str, src: Path) -> bool:
    try:
        return fs.exists(path) and fs.size(path) == src.stat().st_size
    except (OSError, ValueError):
        return False


def _finalise(fs, plan: ReleasePlan, staging: str, final: str):
    """Move the staged files into place, then write release.json (the version now exists)."""
    from fsspec.implementations.local import LocalFileSystem
    body = plan.release_json()
    if isinstance(fs, LocalFileSystem) and not fs.exists(final):
        _drop_strays(Path(staging), set(plan.files))
        with open(f"{staging}/{RELEASE}", "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(staging, final)  # one atomic step on a local disk
        return
    for rel in sorted(plan.files):
        fs.makedirs(f"{final}/{rel}".rsplit("/", 1)[0], exist_ok=True)
        fs.mv(f"{staging}/{rel}", f"{final}/{rel}")
    with fs.open(f"{final}/{RELEASE}", "wb") as fh:
        fh.write(body)
    try:
        fs.rm(staging, recursive=True)
    except (OSError, FileNotFoundError):
        pass
