"""Export a dataset as WebDataset tar shards (numpy + PIL; the webdataset package is not needed).

    export_webdataset("demo", "demo-wds", image_format="png", shard_size=10000)

writes OUT/latentscape-000000.tar, ... Each image is two members with the same key (the
zero-padded 9-digit global index): `<key>.png` (or `.jpg`) and `<key>.json`, the latter
holding every latent of the image plus the names of its category, object and background:

    {"index": 12, "latents": {"category": 1, "position": [x, y, z], ...},
     "names": {"category": "cube", "object": "cube", "background": "city"}}

Tar files are written to a new temporary file and renamed when complete; member metadata
(mtime 0, uid 0, mode 0644) is fixed, so the same dataset exports to identical bytes
(for PNG).
"""
from __future__ import annotations

import fnmatch
import io
import json
import os
import stat
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from latentscape.dataset.format import open_checked_shard
from latentscape.dataset.manifest import check_coverage, load_manifest
from latentscape.dataset.reader import read_rows
from latentscape.errors import ExportError, FormatError, SpecError
from latentscape.latents.space import stored_latents
from latentscape.outpaths import check_output_dir, check_replaceable, file_kind

IMAGE_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}
KEY_DIGITS = 9


def _encode_image(arr: np.ndarray, ext: str, quality: int) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    if ext == "png":
        Image.fromarray(arr).save(buf, format="PNG", compress_level=6)
    else:
        Image.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes):
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _trim_padding(values: dict) -> dict:
    """Distractor tables cut to the image's count (the shard pads them with -1 / NaN, which JSON lacks)."""
    if "distractor_count" in values:
        c = values["distractor_count"]
        values.update({k: v[:c] for k, v in values.items() if k.startswith("distractor_") and isinstance(v, list)})
    return values


def _plain(v):
    v = np.asarray(v)
    return v.tolist()


def export_webdataset(root: str | Path, out_dir: str | Path, image_format: str = "png",
                      shard_size: int = 10000, quality: int = 95, indices=None, overwrite: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write the dataset at `root` (or only the global `indices`) as WebDataset tar shards.

    Returns the tar paths written. `progress(done, total)` is called after each image.
    Errors: DatasetNotFoundError (no dataset at root), SpecError (bad image_format,
    shard_size, quality or indices), OutputPathError (out_dir is not a directory, its parent
    is missing, it is read-only...), ExportError (out_dir already holds latentscape-*.tar and
    not `overwrite`, or such a name is not a regular file), FormatError (an unreadable or
    incomplete dataset, a shard that does not match its manifest entry).
    """
    ext = IMAGE_FORMATS.get(str(image_format).lower())
    if ext is None:
        raise SpecError(f"unknown image format {image_format!r}; allowed: png, jpeg")
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise SpecError(f"shard_size must be an integer >= 1, got {shard_size!r}")
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise SpecError(f"quality must be an integer in 1..100, got {quality!r}")
    out = check_output_dir(out_dir, what="export directory")
    manifest = load_manifest(root)
    root = Path(root)
    check_coverage(manifest, root)
    wanted = None if indices is None else _wanted(indices, manifest["n"])
    out.mkdir(exist_ok=True)
    existing = _existing_tars(out)
    if existing and not overwrite:
        raise ExportError(f"{out} already holds {len(existing)} latentscape-*.tar file(s); "
                          f"choose another directory or overwrite")
    for p in existing:
        p.unlink()

    total = manifest["n"] if wanted is None else len(wanted)
    cats = manifest["assets"]["categories"]
    objs = [o["name"] for o in manifest["assets"]["objects"]]
    bgs = [b["name"] for b in manifest.get("backgrounds", [])]
    written: list[Path] = []
    tar, tmp, count, done = None, None, 0, 0

    def close_tar():
        nonlocal tar, tmp
        if tar is not None:
            _close(tar)
            final = out / f"latentscape-{len(written):06d}.tar"
            check_replaceable(final, "export file")
            os.replace(tmp, final)
            written.append(final)
            tar, tmp = None, None

    try:
        for s in manifest["shards"]:
            start, stop = s["index_start"], s["index_stop"]
            if wanted is not None:
                sel = wanted[(wanted >= start) & (wanted < stop)]
                if len(sel) == 0:
                    continue
            else:
                sel = np.arange(start, stop)
            with open_checked_shard(root, s, manifest["spec_hash"], manifest["resolution"]) as f:
                lat = {name: read_rows(f, f"latents/{name}", s["count"]) for name in stored_latents(f["latents"])
                       if f"latents/{name}" in f}
                if "images" not in f:
                    raise FormatError(f"{f.filename}: has no images dataset")
                images = f["images"]
                for idx in sel:
                    row = int(idx - start)
                    if tar is None:
                        tar, tmp = _new_tar(out, f"latentscape-{len(written):06d}.tar")
                        count = 0
                    key = f"{int(idx):0{KEY_DIGITS}d}"
                    values = _trim_padding({name: _plain(v[row]) for name, v in lat.items()})
                    names = {"category": _name(cats, values, "category", s),
                             "object": _name(objs, values, "object_id", s),
                             "background": _name(bgs, values, "background_id", s) if bgs else None}
                    meta = {"index": int(idx), "latents": values, "names": names}
                    _add(tar, f"{key}.{ext}", _encode_image(images[row], ext, quality))
                    _add(tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode())
                    count += 1
                    done += 1
                    if progress is not None:
                        progress(done, total)
                    if count >= shard_size:
                        close_tar()
        close_tar()
    except BaseException:
        if tar is not None:
            _close(tar)
            tmp.unlink(missing_ok=True)
        raise
    return written


def _wanted(indices, n: int) -> np.ndarray:
    """Sorted unique global indices, each in 0..n-1."""
    try:
        wanted = np.unique(np.asarray(indices, dtype=np.int64))
    except (TypeError, ValueError) as e:
        raise SpecError(f"indices must be integers, got {str(indices)[:60]!r} ({e})") from None
    bad = wanted[(wanted < 0) | (wanted >= n)]
    if len(bad):
        raise SpecError(f"indices must be in 0..{n - 1}; got {', '.join(map(str, bad[:5]))}")
    return wanted


def _existing_tars(out: Path) -> list[Path]:
    """The latentscape-*.tar entries of `out`; ExportError if one is not a regular file."""
    found = []
    with os.scandir(out) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if not fnmatch.fnmatchcase(e.name, "latentscape-*.tar"):
            continue
        mode = e.stat(follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            raise ExportError(f"{out / e.name} is {file_kind(mode)}, not a regular file; "
                              f"refusing to replace it (remove it yourself or choose another directory)")
        found.append(Path(e.path))
    return found


def _new_tar(out: Path, name: str) -> tuple[tarfile.TarFile, Path]:
    """(tar open for writing, its path): a new, uniquely named temporary file in `out` (created
    exclusively, so an existing file or symlink is never followed or truncated)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
    os.fchmod(fd, 0o644)
    return tarfile.open(fileobj=os.fdopen(fd, "wb"), mode="w", format=tarfile.USTAR_FORMAT), Path(tmp)


def _close(tar: tarfile.TarFile):
    """Finish a tar from `_new_tar` and close its file (tarfile leaves a given file object open)."""
    try:
        tar.close()
    finally:
        tar.fileobj.close()


def _name(names: list[str], values: dict, key: str, rec: dict):
    """The name of the id stored in latent `key`, None when not stored; FormatError if out of range."""
    if key not in values:
        return None
    v = values[key]
    if not isinstance(v, int) or not 0 <= v < len(names):
        raise FormatError(f"shard {rec['file']!r}: {key} {v!r} is not one of the manifest's "
                          f"{len(names)} ids (0..{len(names) - 1})")
    return names[v]
