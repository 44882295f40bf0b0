"""Read a dataset: the manifest, shard files, latents as arrays, single images."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscape.dataset.format import open_shard, read_dataset
from latentscape.dataset.manifest import load_manifest


class DatasetReader:
    """Random access to a dataset root. Shard files open lazily and stay open.

    Not fork-safe once a shard is open: open one reader per process.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
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
            self._files[k] = open_shard(self.root / self.shards[k]["file"])
        return self._files[k]

    def locate(self, index: int) -> tuple[int, int]:
        """(shard number, row within the shard) of a global image index."""
        k = int(np.searchsorted(self._starts, index, side="right")) - 1
        if k < 0 or index >= self.shards[k]["index_stop"]:
            raise IndexError(f"image index {index} not in the dataset (0..{self.manifest['n'] - 1})")
        return k, index - self.shards[k]["index_start"]

    def image(self, index: int) -> np.ndarray:
        k, row = self.locate(index)
        return self._file(k)["images"][row]

    def latents(self, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Every latent (or those named) concatenated over shards in index order, plus `index`."""
        out: dict[str, list] = {}
        for k in range(len(self.shards)):
            f = self._file(k)
            keys = names or list(f["latents"].keys())
            for name in keys:
                out.setdefault(name, []).append(read_dataset(f, f"latents/{name}"))
            out.setdefault("index", []).append(f["index"][()])
            for name in f["meta"].keys():
                out.setdefault(f"meta/{name}", []).append(f["meta"][name][()])
        return {k: np.concatenate(v) for k, v in out.items()}

    def close(self):
        for f in self._files.values():
            f.close()
        self._files.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
