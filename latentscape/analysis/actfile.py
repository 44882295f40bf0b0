"""The activation file (HDF5): one row per analysed image, one 2-D dataset per layer.

    /index              (n,) int64    the dataset's global image index of each row (an image
                                      folder: 0..n-1, with the file names in /stimulus_id)
    /stimulus_id        (n,) str      only for an image folder: the file name of each row
    /layers/<name>      (n, d) float32, attrs: shape (the layer's per-image output shape),
                                      reduction ("flatten" | "pool" | "project")
    attrs: format="latentscape-activations", version=1, meta (JSON: network, data, spec_hash,
           layers in order, reduction, width, seed, input_size, latentscape_version)

numpy + h5py only: every statistic reads activations without importing torch.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from latentscape.errors import AnalysisError

FORMAT = "latentscape-activations"
VERSION = 1


class ActivationWriter:
    """Writes rows batch by batch into pre-sized datasets of a temporary file, moved into place
    by `commit()` (a crash leaves no half-written file under the user's name)."""

    def __init__(self, path: Path, n: int, widths: dict[str, int], shapes: dict[str, tuple],
                 reductions: dict[str, str], meta: dict, stimulus_ids: list[str] | None = None):
        from latentscape.files import owner_tag
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.{owner_tag()}.tmp")
        self.tmp.unlink(missing_ok=True)
        self.f = h5py.File(self.tmp, "w")
        self.f.attrs["format"] = FORMAT
        self.f.attrs["version"] = VERSION
        self.f.attrs["meta"] = json.dumps({**meta, "layers": list(widths)})
        self.f.create_dataset("index", data=np.arange(n, dtype=np.int64) if stimulus_ids is not None
                              else np.full(n, -1, dtype=np.int64))
        if stimulus_ids is not None:
            self.f.create_dataset("stimulus_id", data=np.array(stimulus_ids, dtype=object),
                                  dtype=h5py.string_dtype())
        g = self.f.create_group("layers")
        for name, d in widths.items():
            ds = g.create_dataset(name, shape=(n, d), dtype=np.float32, chunks=(min(n, max(1, 2**20 // (4 * d))), d))
            ds.attrs["shape"] = list(shapes[name])
            ds.attrs["reduction"] = reductions[name]
        self.rows = 0
        self.n = n

    def write(self, index: np.ndarray, feats: dict[str, np.ndarray]) -> None:
        a, b = self.rows, self.rows + len(index)
        if "stimulus_id" not in self.f:
            self.f["index"][a:b] = index
        for name, x in feats.items():
            self.f["layers"][name][a:b] = x
        self.rows = b

    def commit(self) -> Path:
        if self.rows != self.n:
            raise AnalysisError(f"{self.path}: {self.rows} of {self.n} rows written; nothing saved")
        self.f.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class ActivationFile:
    """Read an activation file: `layers` (in extraction order), `index`, `image_ids` (global
    image indices, or file names for an image folder), `meta`, `features(layer)`."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise AnalysisError(f"activation file {self.path} not found; make one with "
                                f"`latentscape analyze activations RUN --data DATA --out {self.path.name}`")
        try:
            with h5py.File(self.path, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise AnalysisError(f"{self.path} is not a latentscape activation file (no format={FORMAT!r})")
                if int(f.attrs.get("version", 0)) != VERSION:
                    raise AnalysisError(f"{self.path}: activation file version {f.attrs.get('version')} is not "
                                        f"{VERSION}; re-extract with this latentscape")
                self.meta = json.loads(f.attrs["meta"])
                self.index = f["index"][()]
                self.stimulus_id = ([s.decode() if isinstance(s, bytes) else str(s) for s in f["stimulus_id"][()]]
                                    if "stimulus_id" in f else None)
                self.widths = {k: int(f["layers"][k].shape[1]) for k in self.meta["layers"]}
        except OSError as e:
            raise AnalysisError(f"{self.path} cannot be read as HDF5 ({e})") from None
        self.layers = list(self.meta["layers"])

    def __len__(self) -> int:
        return len(self.index)

    @property
    def image_ids(self) -> np.ndarray:
        """Row identifiers: global image indices (int64) or, for an image folder, file names."""
        return np.array(self.stimulus_id, dtype=object) if self.stimulus_id is not None else self.index

    @property
    def data(self) -> str | None:
        return self.meta.get("data")

    def check_layers(self, layers) -> list[str]:
        layers = list(layers) if layers else self.layers
        bad = [x for x in layers if x not in self.widths]
        if bad:
            raise AnalysisError(f"{self.path}: no layer {bad[0]!r}; it holds {', '.join(self.layers)}")
        return layers

    def features(self, layer: str, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, d) float32 activations of `layer` (all rows, or `rows`, any order)."""
        self.check_layers([layer])
        with h5py.File(self.path, "r") as f:
            x = f["layers"][layer][()]
        x = x if rows is None else x[rows]
        if not np.all(np.isfinite(x)):
            raise AnalysisError(f"{self.path}: layer {layer!r} holds {int((~np.isfinite(x)).sum())} non-finite "
                                f"value(s); the network produced NaN/inf on these images")
        return x

    def load(self, layers=None, rows=None) -> dict[str, np.ndarray]:
        return {k: self.features(k, rows) for k in self.check_layers(layers)}


def common_rows(a: ActivationFile, b: ActivationFile) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `a` and `b` holding the same images, in the same order. Two files must hold the
    same image set (same dataset identity, same indices, in any order): else one clear error."""
    sa, sb = a.meta.get("spec_hash"), b.meta.get("spec_hash")
    if sa != sb:
        raise AnalysisError(f"{a.path} and {b.path} come from different datasets (spec {sa} vs {sb}); "
                            f"extract both from the same --data")
    if sa is None and a.meta.get("data") != b.meta.get("data"):  # image folders: the same folder
        raise AnalysisError(f"{a.path} and {b.path} come from different image folders ({a.meta.get('data')} vs "
                            f"{b.meta.get('data')}); extract both from the same --data")
    ia, ib = a.image_ids, b.image_ids
    if len(ia) != len(ib) or set(ia.tolist()) != set(ib.tolist()):
        only_a = sorted(set(ia.tolist()) - set(ib.tolist()))
        only_b = sorted(set(ib.tolist()) - set(ia.tolist()))
        raise AnalysisError(f"{a.path} ({len(ia)} images) and {b.path} ({len(ib)} images) hold different image sets "
                            f"({len(only_a)} only in the first, e.g. {only_a[:3]}; {len(only_b)} only in the second, "
                            f"e.g. {only_b[:3]}); extract both with the same --data and --split")
    order_a = np.argsort(ia, kind="stable")
    order_b = np.argsort(ib, kind="stable")
    return order_a, order_b
