"""Reading a published release: `LOCATION/NAME@VERSION` -> a verified local copy in the cache.

LOCATION is a local folder or any fsspec URL (s3://bucket/prefix, file://...). The
release (LOCATION/NAME/VERSION, see publish/targets.py) is fetched once into
`$LATENTSCAPE_CACHE` (default: the user's cache directory, e.g. ~/.cache/latentscape):
every file is checked against the sha256 in release.json while it is fetched, and the
copy appears under its final name only when all of them matched. Later opens read the
cached copy without fetching or hashing again.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
from pathlib import Path

from latentscape.errors import DatasetNotFoundError, FormatError, first_line

CACHE_ENV = "LATENTSCAPE_CACHE"
RELEASE = "release.json"


def is_release_ref(ref) -> bool:
    """True for 'LOCATION/NAME@VERSION' strings that are not an existing local path."""
    return isinstance(ref, str) and "@" in ref.rsplit("/", 1)[-1] and not os.path.exists(ref)


def cache_dir() -> Path:
    raw = os.environ.get(CACHE_ENV)
    if raw:
        return Path(raw)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "latentscape"


NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # a release name
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?$")


def split_ref(ref: str) -> tuple[str, str, str]:
    """'LOCATION/NAME@VERSION' -> (LOCATION, NAME, VERSION)."""
    head, _, version = ref.rpartition("@")
    location, _, name = head.rstrip("/").rpartition("/")
    if not NAME.match(name) or not SEMVER.match(version):
        raise FormatError(f"{ref!r}: a release is named LOCATION/NAME@VERSION with a lower-case NAME and a "
                          f"semantic VERSION (e.g. s3://bucket/releases/tdwlike@1.2.0)")
    return location or ".", name, version


def fetch_release(ref: str, progress=None) -> Path:
    """The local, verified copy of release `ref` (fetched on first use)."""
    location, name, version = split_ref(ref)
    url = f"{location.rstrip('/')}/{name}/{version}"
    fs, base = _storage(url)
    # keyed by the absolute location, so that a relative LOCATION means one thing
    key = hashlib.sha256(fs.unstrip_protocol(base).encode()).hexdigest()[:16]
    dest = cache_dir() / "releases" / key / name / version
    if (dest / RELEASE).is_file():
        return dest
    try:
        with fs.open(f"{base}/{RELEASE}", "rb") as fh:
            record = json.loads(fh.read())
    except FileNotFoundError:
        raise DatasetNotFoundError(f"release not found: {url} has no {RELEASE} (not published, or unfinished)") from None
    except ValueError:
        raise FormatError(f"{url}/{RELEASE} is not valid JSON") from None
    except Exception as e:  # noqa: BLE001 - botocore, aiohttp & co. raise their own types
        raise DatasetNotFoundError(f"cannot read {url}: {type(e).__name__}: {first_line(e)[:200]}") from None
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
        raise FormatError(f"{url}/{RELEASE} is not a latentscape release record")
    part = dest.parent / f".{version}.partial-{socket.gethostname()}-{os.getpid()}"
    shutil.rmtree(part, ignore_errors=True)
    try:
        for rel, want in (progress(sorted(files.items())) if progress else sorted(files.items())):
            try:
                _fetch_one(fs, f"{base}/{rel}", part, rel, want, url)
            except (FormatError, DatasetNotFoundError):
                raise
            except Exception as e:  # noqa: BLE001 - the store failed mid-fetch: nothing is cached
                raise DatasetNotFoundError(f"cannot read {url}/{rel}: {type(e).__name__}: {first_line(e)[:200]}") from None
        (part / RELEASE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(part, dest)
        except OSError:  # another process finished the same fetch first
            if not (dest / RELEASE).is_file():
                raise
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return dest


def _storage(url: str):
    import fsspec
    try:
        fs, base = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise DatasetNotFoundError(f"cannot read {url}: {first_line(e)[:200]}") from None
    return fs, base.rstrip("/")


def _fetch_one(fs, src: str, part: Path, rel: str, want: dict, url: str):
    p = Path(rel)
    if p.is_absolute() or ".." in p.parts:
        raise FormatError(f"{url}/{RELEASE} lists {rel!r}, a path outside the release")
    out = part / p
    out.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with fs.open(src, "rb") as fi, open(out, "wb") as fo:
        while chunk := fi.read(1 << 20):
            h.update(chunk)
            fo.write(chunk)
    if h.hexdigest() != want.get("sha256"):
        raise FormatError(f"{url}/{rel}: sha256 {h.hexdigest()[:16]} differs from {RELEASE}'s "
                          f"{str(want.get('sha256'))[:16]}; the release is damaged (nothing was cached)")
