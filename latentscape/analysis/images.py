"""Where analysed images come from: a latentscape dataset (all images or a split part) or a
folder of image files (for stimuli shown in an experiment). Both give batches of
(uint8 (B, 3, H, W) tensor, identifiers)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from latentscape.errors import AnalysisError, LatentscapeError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class ImageSource:
    """`n` images; `batches(batch_size)` yields (uint8 images, global indices). `meta` describes
    the source for the activation file; `stimulus_ids` are file names for a folder, else None."""

    n: int
    meta: dict
    stimulus_ids: list[str] | None
    _batches: object

    def batches(self, batch_size: int):
        return self._batches(batch_size)


def open_images(data, split: str | None = None, size: int | None = None, num_workers: int = 0) -> ImageSource:
    """A dataset root (holds dataset.json) or a folder of image files (`size`: the square size
    each file is resized to; default the first image's width)."""
    p = Path(str(data))
    if (p / "dataset.json").is_file():
        return _dataset(p, split, num_workers)
    if p.is_dir():
        if split is not None:
            raise AnalysisError(f"{p} is a folder of images, not a dataset: --split does not apply")
        return _folder(p, size)
    raise AnalysisError(f"--data {p}: not a latentscape dataset (no dataset.json) nor a folder of images")


def _dataset(root: Path, split, num_workers: int) -> ImageSource:
    from latentscape.dataset.torch import LatentDataset
    from latentscape.train.data import eval_loader
    try:
        ds = LatentDataset(root, targets=["category"], split=split, image="uint8")
    except LatentscapeError as e:
        raise AnalysisError(str(e)) from None
    indices = np.asarray(ds.indices, dtype=np.int64)

    def batches(batch_size):
        loader = eval_loader(ds, batch_size, num_workers, False)
        for k, (x, _) in enumerate(loader):
            yield x, indices[k * batch_size: k * batch_size + len(x)]

    meta = {"data": str(root.resolve()), "split": split, "spec_hash": ds.manifest["spec_hash"],
            "n_dataset": int(ds.manifest["n"])}
    return ImageSource(len(ds), meta, None, batches)


def _folder(root: Path, size: int | None) -> ImageSource:
    from PIL import Image
    files = sorted(f for f in root.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise AnalysisError(f"{root} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    if size is None:
        with Image.open(files[0]) as im:
            size = im.width

    def load(f: Path) -> np.ndarray:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.BILINEAR)
                return np.asarray(im).transpose(2, 0, 1)
        except OSError as e:
            raise AnalysisError(f"{f}: cannot be read as an image ({e})") from None

    def batches(batch_size):
        for a in range(0, len(files), batch_size):
            chunk = files[a:a + batch_size]
            yield torch.from_numpy(np.stack([load(f) for f in chunk])), np.arange(a, a + len(chunk))

    meta = {"data": str(root.resolve()), "split": None, "spec_hash": None, "folder_size": size}
    return ImageSource(len(files), meta, [f.name for f in files], batches)
