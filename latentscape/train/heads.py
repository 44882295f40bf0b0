"""Output heads: one slice of the network's last linear layer per target, built from the
dataset's target schema (`LatentDataset.target_spec`, `target_layout`, z-score statistics and
class tables). numpy only; a head list is stored in every checkpoint (`to_dict`), so a run can
be evaluated without its training dataset.

    kind         encoding          width                      loss (losses.py)      metrics (metrics.py)
    continuous   zscore            the latent's components    MSE on z-scores       R², MAE (natural units)
    circular     sincos            2                          MSE                   MAE in degrees (wrapped)
    rotation     sincos | 6d | quat  6 | 6 | 4                MSE (quat: sign-free) yaw/pitch/roll MAE, geodesic
    categorical  index             number of classes          cross-entropy         accuracy, top-5
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from latentscape.errors import TrainError

#: names of the components of multi-column continuous latents (metric columns `position.x.r2`)
COMPONENTS = {"position": ("x", "y", "z"), "image_xy": ("u", "v")}
EULER = ("yaw", "pitch", "roll")
UNITS = {"position": "m", "image_xy": "[-1,1]", "distance": "m", "scale": "x", "light_azimuth": "rad",
         "light_elevation": "rad", "light_intensity": "W/m2", "light_temperature": "K", "env_strength": "x"}


@dataclass(frozen=True)
class Head:
    key: str  # target key (`y[key]` of the dataset)
    source: str  # stored latent it is read from
    kind: str  # continuous | circular | rotation | categorical
    encoding: str  # zscore | sincos | 6d | quat | index
    width: int  # output columns
    weight: float = 1.0  # loss weight
    mean: tuple[float, ...] | None = None  # z-score statistics (continuous heads)
    std: tuple[float, ...] | None = None
    classes: tuple[str, ...] | None = None  # class names (categorical heads)

    @property
    def components(self) -> tuple[str, ...]:
        if self.kind == "rotation":
            return EULER
        if self.kind == "continuous" and self.width > 1:
            return COMPONENTS.get(self.source, tuple(str(i) for i in range(self.width)))
        return ()

    def scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) float64 arrays for z-scoring; a std of 0 (a fixed component) counts as 1,
        as in the dataset layer (the component is only centred)."""
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        return mean, np.where(std > 0, std, 1.0)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("mean", "std", "classes"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @staticmethod
    def from_dict(d: dict) -> "Head":
        d = dict(d)
        for k in ("mean", "std", "classes"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return Head(**d)


def heads_from_dataset(ds, weight_of=lambda key: 1.0) -> list[Head]:
    """The heads for a `LatentDataset` opened with continuous="zscore" (its statistics are those
    of the split's training part). `weight_of(key)` gives each loss weight."""
    layout = ds.target_layout
    tables = {"category": ds.categories, "object_id": ds.objects, "background_id": ds.backgrounds}
    heads = []
    for t in ds.target_spec:
        w = float(weight_of(t.key))
        if t.kind == "categorical":
            classes = tuple(tables[t.source])
            if not classes:
                raise TrainError(f"target {t.key!r}: the dataset's manifest names no classes")
            heads.append(Head(t.key, t.source, t.kind, t.encoding, len(classes), w, classes=classes))
            continue
        width = layout[t.key].stop - layout[t.key].start
        mean = std = None
        if t.encoding == "zscore":
            s = ds.stats["latents"][t.source]
            mean = tuple(float(x) for x in np.atleast_1d(s["mean"]))
            std = tuple(float(x) for x in np.atleast_1d(s["std"]))
        heads.append(Head(t.key, t.source, t.kind, t.encoding, width, w, mean, std))
    return heads


def output_layout(heads: list[Head]) -> dict[str, slice]:
    """Columns of each head in the network's output."""
    out, pos = {}, 0
    for h in heads:
        out[h.key] = slice(pos, pos + h.width)
        pos += h.width
    return out


def output_width(heads: list[Head]) -> int:
    return sum(h.width for h in heads)


def heads_to_list(heads: list[Head]) -> list[dict]:
    return [h.to_dict() for h in heads]


def heads_from_list(items: list[dict]) -> list[Head]:
    return [Head.from_dict(d) for d in items]
