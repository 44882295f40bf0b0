"""Read a dataset: the manifest, shard files, latents as arrays, single images."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from latentscape.dataset.format import open_checked_shard, read_dataset
from latentscape.dataset.manifest import check_coverage, load_manifest
from latentscape.errors import FormatError


class DatasetReader:
    """Random access to a dataset root. Shard files open lazily and stay open.

    On opening, the manifest's shards must cover 0..n-1 exactly (IncompleteDatasetError
    for an interrupted render; `complete=False` accepts gaps, for summaries); each shard
    file is checked against its manifest entry (path inside the root, indices) before its
    first item is served. Not fork-safe once a shard is open: open one reader per process.
    """

    def __init__(self, root: str | Path, complete: bool = True):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        check_coverage(self.manifest, self.root, complete=complete)
        self.shards = self.manifest["shards"]
        self._starts = np.array([s["index_start"] for s in self.shards], dtype=np.int64)
        self._files: dict[int, object] = {}

    def __len__(self) -> int:
        return sum(s["count"] for s in self.shards)

    @property
    def categories(self) -> list[str]:
        return self.manifest["assets"]["categories"]

    @property
    def objects(self) -> list[str]:
        return [o["name"] for o in self.manifest["assets"]["objects"]]

    def _file(self, k: int):
        if k not in self._files:
            self._files[k] = open_checked_shard(self.root, self.shards[k], self.manifest["spec_hash"],
                                                self.manifest["resolution"])
        return self._files[k]

    def locate(self, index: int) -> tuple[int, int]:
        """(shard number, row within the shard) of a global image index."""
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        if k < 0 or index >= self.shards[k]["index_stop"]:
            raise IndexError(f"image index {index} not in the dataset (0..{self.manifest['n'] - 1})")
        return k, index - self.shards[k]["index_start"]

    def image(self, index: int) -> np.ndarray:
        return self._pixels("images", index)

    def mask(self, index: int) -> np.ndarray:
        """The 0..255 object mask of an image (datasets rendered with the mask pass)."""
        return self._pixels("masks", index)

    def has_masks(self) -> bool:
        return bool(self.shards) and "masks" in self._file(0)

    def _pixels(self, name: str, index: int) -> np.ndarray:
        k, row = self.locate(index)
        f = self._file(k)
        if name not in f:
            raise FormatError(f"{f.filename}: has no {name} dataset")
        return f[name][row]

    def row(self, index: int) -> dict[str, np.ndarray]:
        """Latents and per-image metadata (`meta/NAME`) of one image, named as `latents()` names them."""
        k, row = self.locate(index)
        f = self._file(k)
        out = {name: read_rows(f, f"latents/{name}", self.shards[k]["count"])[row] for name in _names(f, "latents")}
        if "meta" in f:
            out.update({f"meta/{name}": read_rows(f, f"meta/{name}", self.shards[k]["count"])[row]
                        for name in _names(f, "meta")})
        return out

    def shard_attr(self, index: int, name: str):
        """An attribute (e.g. `device`) of the shard holding image `index`; None if it has none."""
        return self._file(self.locate(index)[0]).attrs.get(name)

    def latents(self, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Every latent (or those named) concatenated over shards in index order, plus `index`."""
        out: dict[str, list] = {}
        keys = list(names) if names else None
        for k in range(len(self.shards)):  # the first shard's latent names are required of every shard
            f, count = self._file(k), self.shards[k]["count"]
            keys = _names(f, "latents") if keys is None else keys
            for name in keys:
                out.setdefault(name, []).append(read_rows(f, f"latents/{name}", count))
            out.setdefault("index", []).append(f["index"][()])
            for name in _names(f, "meta"):
                out.setdefault(f"meta/{name}", []).append(read_rows(f, f"meta/{name}", count))
        # metadata every shard holds (a root repaired by a newer version may hold more in some)
        out = {k: v for k, v in out.items() if not k.startswith("meta/") or len(v) == len(self.shards)}
        try:
            return {k: np.concatenate(v) for k, v in out.items()}
        except ValueError as e:
            raise FormatError(f"{self.root}: shards store {', '.join(out)} with different shapes ({e})") from None

    def close(self):
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _names(f: h5py.File, group: str) -> list[str]:
    g = f.get(group)
    if not isinstance(g, h5py.Group):
        raise FormatError(f"{f.filename}: has no {group!r} group")
    return list(g.keys())


def read_rows(f: h5py.File, name: str, count: int) -> np.ndarray:
    """A per-image dataset of a shard: one row per image, else FormatError (labels never shift)."""
    ds = f.get(name)
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(f"{f.filename}: lacks dataset {name!r}")
    if not ds.shape or ds.shape[0] != count:
        raise FormatError(f"{f.filename}: {name} has shape {ds.shape}, expected {count} rows (one per image)")
    return read_dataset(f, name)
