"""TrainConfig: every option of a training run, frozen and validated when built (an invalid
config cannot exist), with a YAML round trip. numpy/yaml only: no torch here.

    cfg = TrainConfig("demo", targets=("position", "pose", "category"), arch="resnet18", steps=20000)
    TrainConfig.from_yaml("runs/x/config.yaml") == cfg    # a run's config.yaml reads back as its config

The defaults are the seed paper's recipe (Xie et al. 2024): ResNet-18 from random weights,
Adam at lr 1e-3, batch 64, no augmentation, MSE on z-scored continuous targets, sin/cos of the
Euler angles for the pose, cross-entropy for classes, a budget in steps.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from latentscape.errors import LatentscapeError, TrainError

SCHEDULES = ("none", "cosine", "step")
ROTATIONS = ("sincos", "6d", "quat")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_SPLIT = "default"
#: options that may change between a run and its resumption without changing its trajectory
RESUMABLE_CHANGES = ("steps", "num_workers")


@dataclass(frozen=True)
class TrainConfig:
    """Options of one training run (see docs/training.md for each)."""

    data: str  # dataset root
    targets: tuple[str, ...]  # latent or group names, e.g. ("position", "pose", "category")
    arch: str = "resnet18"  # any torchvision classification model name, or "tinycnn"
    steps: int = 20000  # optimiser steps (the budget; one step = one global batch)
    batch_size: int = 64  # global batch (summed over ranks and accumulation micro-batches)
    lr: float = 1e-3  # Adam
    weight_decay: float = 0.0
    schedule: str = "none"  # none | cosine (to 0 at `steps`) | step (x0.1 at 1/2 and 3/4 of `steps`)
    input_size: int | None = None  # None: the dataset's resolution; else resized on the device
    rotation: str = "sincos"  # pose encoding: sincos (the paper) | 6d | quat
    target_weights: dict = field(default_factory=dict)  # target (or group) -> loss weight (default 1)
    split: object = DEFAULT_SPLIT  # "default", a split recorded in the dataset, or a definition (mapping)
    seed: int = 0  # model init, data order, and the seed of a split definition that gives none
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision on CUDA (ignored on the CPU)
    compile: bool = False  # torch.compile the model
    sync_bn: bool = False  # SyncBatchNorm under torchrun (CUDA only)
    accumulate: int = 1  # micro-batches per step and rank (gradient accumulation)
    eval_every: int = 1000  # steps between evaluations (and checkpoints); one more at the end
    num_workers: int = 2  # DataLoader worker processes
    pretrained: str | None = None  # local file of ImageNet weights for `arch` (never downloaded)

    def __post_init__(self):
        s = object.__setattr__
        s(self, "data", _path_str(self.data, "data"))
        s(self, "targets", _targets(self.targets))
        s(self, "arch", _word(self.arch, "arch"))
        for name in ("steps", "batch_size", "accumulate", "eval_every"):
            s(self, name, _int(getattr(self, name), name, 1))
        s(self, "num_workers", _int(self.num_workers, "num_workers", 0, 256))
        s(self, "seed", _int(self.seed, "seed", 0, 2**63 - 1))
        s(self, "lr", _float(self.lr, "lr", positive=True))
        s(self, "weight_decay", _float(self.weight_decay, "weight_decay", positive=False))
        if self.input_size is not None:
            s(self, "input_size", _int(self.input_size, "input_size", 8, 4096))
        _choice(self.schedule, SCHEDULES, "schedule")
        _choice(self.rotation, ROTATIONS, "rotation")
        if not (self.device in DEVICES or (isinstance(self.device, str) and self.device.startswith("cuda:")
                                           and self.device[5:].isdigit())):
            raise TrainError(f"device must be one of {', '.join(DEVICES)} or cuda:N, got {self.device!r}")
        for name in ("amp", "compile", "sync_bn"):
            if not isinstance(getattr(self, name), bool):
                raise TrainError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.batch_size % self.accumulate:
            raise TrainError(f"batch_size ({self.batch_size}) must be a multiple of accumulate ({self.accumulate})")
        if self.pretrained is not None:
            s(self, "pretrained", _path_str(self.pretrained, "pretrained"))
        s(self, "target_weights", _weights(self.target_weights, self.targets))
        s(self, "split", _split(self.split, self.seed))

    def __hash__(self):  # the mappings (target_weights, a split definition) are compared by value
        import json
        return hash(json.dumps(self.to_dict(), sort_keys=True, default=str))

    # ---- derived --------------------------------------------------------------------------
    @property
    def target_keys(self) -> list[str]:
        """The target keys the groups expand to (e.g. lighting -> light_azimuth, ...)."""
        return [t.key for t in _resolve(self.targets, self.rotation)]

    def weight_of(self, key: str) -> float:
        """Loss weight of target key `key` (its own weight, else its group's, else 1)."""
        return _weight_of(self.target_weights, key)

    def same_run(self, other: "TrainConfig") -> bool:
        """True if `other` continues the same trajectory (only RESUMABLE_CHANGES may differ)."""
        a, b = self.to_dict(), other.to_dict()
        for k in RESUMABLE_CHANGES:
            a.pop(k), b.pop(k)
        return a == b

    def differences(self, other: "TrainConfig") -> list[str]:
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]

    def replace(self, **changes) -> "TrainConfig":
        return replace(self, **changes)

    # ---- mappings and YAML ------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        d["target_weights"] = dict(self.target_weights)
        return d

    @staticmethod
    def from_dict(d: dict, where: str = "train config") -> "TrainConfig":
        """A config from a mapping of its fields. A `run` key (the record a run's config.yaml
        holds beside the options) is ignored; any other unknown key is an error."""
        if not isinstance(d, dict):
            raise TrainError(f"{where}: expected a mapping of options, got {type(d).__name__}")
        names = [f.name for f in fields(TrainConfig)]
        unknown = sorted(set(d) - set(names) - {"run"})
        if unknown:
            raise TrainError(f"{where}: unknown option(s) {', '.join(unknown)}; allowed: {', '.join(names)}")
        missing = [k for k in ("data", "targets") if k not in d]
        if missing:
            raise TrainError(f"{where}: missing {', '.join(missing)}")
        return TrainConfig(**{k: v for k, v in d.items() if k in names})

    def to_yaml(self, run: dict | None = None) -> str:
        import yaml
        d = self.to_dict()
        if run is not None:
            d["run"] = run
        return yaml.safe_dump(d, sort_keys=False)

    @staticmethod
    def from_yaml(path) -> "TrainConfig":
        return TrainConfig.from_dict(read_yaml(path), where=str(path))


def read_yaml(path) -> dict:
    import yaml
    p = Path(path)
    try:
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise TrainError(f"{p}: cannot read the YAML file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") \
            from None
    if not isinstance(d, dict):
        raise TrainError(f"{p}: expected a mapping of options, got {type(d).__name__}")
    return d


# ---- validation helpers -----------------------------------------------------------------------
def _int(v, name, lo, hi=None) -> int:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)
    if not ok:
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise TrainError(f"{name} must be an integer {rng}, got {v!r}")
    return int(v)


def _float(v, name, positive: bool) -> float:
    ok = (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and (v > 0 if positive else v >= 0))
    if not ok:
        raise TrainError(f"{name} must be a finite number {'> 0' if positive else '>= 0'}, got {v!r}")
    return float(v)


def _choice(v, allowed, name):
    if v not in allowed:
        raise TrainError(f"unknown {name} {v!r}; allowed: {', '.join(allowed)}")


def _word(v, name) -> str:
    if not isinstance(v, str) or not v.strip():
        raise TrainError(f"{name} must be a non-empty name, got {v!r}")
    return v.strip()


def _path_str(v, name) -> str:
    import os
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str) or not v.strip() or "\0" in v:
        raise TrainError(f"{name} must be a path, got {v!r}")
    return v


def _resolve(targets, rotation="sincos"):
    """Targets a run may name: every latent, and the scene latents (camera_height, ...) a dataset of a
    scene template stores; whether the dataset holds them is checked when it is opened. Distractor
    tables are refused: padded per image, they have no loss yet."""
    from latentscape.dataset.encodings import resolve_targets
    from latentscape.latents.space import DISTRACTOR_LATENTS, SCENE_LATENTS
    clutter = [t for t in targets if t in DISTRACTOR_LATENTS or t == "distractors"]
    if clutter:
        raise TrainError(f"target {clutter[0]!r}: distractor tables are padded per image and cannot be trained "
                         f"on yet; read them with LatentDataset (docs/dataset.md)")
    try:
        return resolve_targets(list(targets), rotation=rotation, continuous="zscore", stored=SCENE_LATENTS)
    except LatentscapeError as e:
        raise TrainError(str(e)) from None


def _group_keys(name: str) -> tuple[str, ...]:
    from latentscape.dataset.encodings import GROUP_TARGETS
    return GROUP_TARGETS.get(name, (name,))


def _targets(v) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [t.strip() for t in v.split(",") if t.strip()]
    if not isinstance(v, (list, tuple)) or not all(isinstance(t, str) for t in v):
        raise TrainError(f"targets must be a list of latent or group names, got {v!r}")
    out = tuple(dict.fromkeys(v))
    for t in _resolve(out):
        if t.source in ("rotation_quat", "rotation_euler") and t.key != "pose":
            raise TrainError(f"target {t.key!r} is the stored rotation; train on 'pose' and choose its encoding "
                             f"with rotation ({', '.join(ROTATIONS)})")
    return out


def _weights(v, targets) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise TrainError(f"target_weights must be a mapping TARGET: WEIGHT, got {v!r}")
    keys = [t.key for t in _resolve(targets)]
    allowed = list(dict.fromkeys(list(targets) + keys))
    out = {}
    for k, w in v.items():
        if k not in allowed:
            raise TrainError(f"target_weights names {k!r}, which is not a target of this run; targets: "
                             f"{', '.join(allowed)}")
        out[k] = _float(w, f"the weight of {k}", positive=False)
    if all(_weight_of(out, k) == 0 for k in keys):
        raise TrainError("target_weights are all 0: at least one target must have a positive weight")
    return out


def _weight_of(w: dict, key: str) -> float:
    if key in w:
        return w[key]
    for name, x in w.items():
        if key in _group_keys(name):
            return x
    return 1.0


def _split(v, seed: int):
    """'default', the name of a split recorded in the dataset, or a definition as a canonical
    mapping (a definition without a seed takes the run's seed)."""
    from latentscape.dataset.splits import SplitSpec
    if isinstance(v, SplitSpec):
        return v.validate().to_dict()
    if isinstance(v, Path) or (isinstance(v, str) and v.endswith((".yaml", ".yml", ".json"))):
        v = read_yaml(v)
    if isinstance(v, str):
        if not v or "/" in v:
            raise TrainError(f"split must be 'default', the name of a split recorded in the dataset, or a split "
                             f"definition (YAML file or mapping), got {v!r}; the run uses its train and val parts")
        return v
    if isinstance(v, dict):
        d = dict(v)
        d.setdefault("seed", seed)
        try:
            return SplitSpec.from_dict(d, where="split definition").to_dict()
        except LatentscapeError as e:
            raise TrainError(str(e)) from None
    raise TrainError(f"split must be a name or a definition (mapping or YAML file), got {type(v).__name__}")
