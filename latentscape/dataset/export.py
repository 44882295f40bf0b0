"""Export a dataset as WebDataset tar shards (numpy + PIL; the webdataset package is not needed).

    export_webdataset("demo", "demo-wds", image_format="png", shard_size=10000)

writes OUT/latentscape-000000.tar, ... Each image is two members with the same key (the
zero-padded 9-digit global index): `<key>.png` (or `.jpg`) and `<key>.json`, the latter
holding every latent of the image plus the names of its category, object and background:

    {"index": 12, "latents": {"category": 1, "position": [x, y, z], ...},
     "names": {"category": "cube", "object": "cube", "background": "city"}}

Tar files are written to a temporary name and renamed when complete; member metadata
(mtime 0, uid 0, mode 0644) is fixed, so the same dataset exports to identical bytes
(for PNG).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np

from latentscape.dataset.format import open_shard, read_dataset
from latentscape.dataset.manifest import load_manifest
from latentscape.errors import ExportError, SpecError
from latentscape.latents.space import LATENTS

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


def _plain(v):
    v = np.asarray(v)
    return v.tolist()


def export_webdataset(root: str | Path, out_dir: str | Path, image_format: str = "png",
                      shard_size: int = 10000, quality: int = 95, indices=None, overwrite: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write the dataset at `root` (or only the global `indices`) as WebDataset tar shards.

    Returns the tar paths written. `progress(done, total)` is called after each image.
    Errors: DatasetNotFoundError (no dataset at root), SpecError (bad image_format,
    shard_size or quality), ExportError (out_dir already holds latentscape-*.tar and
    not `overwrite`), FormatError (an unreadable shard).
    """
    ext = IMAGE_FORMATS.get(str(image_format).lower())
    if ext is None:
        raise SpecError(f"unknown image format {image_format!r}; allowed: png, jpeg")
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise SpecError(f"shard_size must be an integer >= 1, got {shard_size!r}")
    if not isinstance(quality, int) or not 1 <= quality <= 100:
        raise SpecError(f"quality must be an integer in 1..100, got {quality!r}")
    manifest = load_manifest(root)
    root, out = Path(root), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    existing = sorted(out.glob("latentscape-*.tar"))
    if existing and not overwrite:
        raise ExportError(f"{out} already holds {len(existing)} latentscape-*.tar file(s); "
                          f"choose another directory or overwrite")
    for p in existing:
        p.unlink()

    wanted = None if indices is None else np.unique(np.asarray(indices, dtype=np.int64))
    total = manifest["n"] if wanted is None else len(wanted)
    cats = manifest["assets"]["categories"]
    objs = [o["name"] for o in manifest["assets"]["objects"]]
    bgs = [b["name"] for b in manifest.get("backgrounds", [])]
    written: list[Path] = []
    tar, tmp, count, done = None, None, 0, 0

    def close_tar():
        nonlocal tar, tmp
        if tar is not None:
            tar.close()
            final = tmp.with_name(tmp.name.split(".tmp")[0].lstrip("."))
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
            with open_shard(root / s["file"]) as f:
                lat = {name: read_dataset(f, f"latents/{name}") for name in LATENTS if f"latents/{name}" in f}
                images = f["images"]
                for idx in sel:
                    row = int(idx - start)
                    if tar is None:
                        name = f"latentscape-{len(written):06d}.tar"
                        tmp = out / f".{name}.tmp{os.getpid()}"
                        tar = tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT)
                        count = 0
                    key = f"{int(idx):0{KEY_DIGITS}d}"
                    values = {name: _plain(v[row]) for name, v in lat.items()}
                    names = {"category": cats[values["category"]] if "category" in values else None,
                             "object": objs[values["object_id"]] if "object_id" in values else None,
                             "background": (bgs[values["background_id"]]
                                            if "background_id" in values and bgs else None)}
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
            tar.close()
            tmp.unlink(missing_ok=True)
        raise
    return written
