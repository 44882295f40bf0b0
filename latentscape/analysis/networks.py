"""The network whose layers are analysed: a `latentscape train` run (its latest checkpoint) or
any torchvision classification model by name (random init, or local ImageNet weights: nothing
is downloaded)."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from latentscape.errors import AnalysisError, TrainError

RESNET_LAYERS = ("layer1", "layer2", "layer3", "layer4", "avgpool")


@dataclass
class Network:
    """A model in eval mode, the input size it expects, and a JSON description of where it came from."""

    model: nn.Module
    input_size: int | None  # None: feed images at the dataset's resolution
    source: dict

    def layer_names(self) -> list[str]:
        return [n for n, _ in self.model.named_modules() if n]

    def default_layers(self) -> list[str]:
        names = set(self.layer_names())
        if all(x in names for x in RESNET_LAYERS):
            return list(RESNET_LAYERS)
        return [n for n, _ in self.model.named_children()]

    def check_layers(self, layers) -> list[str]:
        layers = list(layers) if layers else self.default_layers()
        names = self.layer_names()
        for x in layers:
            if x not in names:
                close = difflib.get_close_matches(x, names, n=3)
                hint = f"did you mean {', '.join(close)}? " if close else ""
                tops = ", ".join(n for n, _ in self.model.named_children())
                raise AnalysisError(f"{self.source['name']} has no layer {x!r}; {hint}top-level layers: {tops} "
                                    f"(any name from model.named_modules(), e.g. layer4.1.conv2)")
        if len(set(layers)) != len(layers):
            raise AnalysisError(f"layer names repeat in {', '.join(layers)}")
        return layers


def load_network(source, *, weights=None, input_size: int | None = None) -> Network:
    """`source`: a training run directory (holds config.yaml and checkpoint.pt) or a torchvision
    architecture name. `weights`: a local state-dict file for an architecture name."""
    p = Path(str(source))
    if p.is_dir():
        if weights is not None:
            raise AnalysisError("--weights applies to an architecture name, not to a run (its checkpoint is used)")
        return _from_run(p, input_size)
    if p.exists() or "/" in str(source):
        raise AnalysisError(f"{source} is neither a training run directory nor an architecture name "
                            f"(e.g. resnet18, or a directory written by `latentscape train`)")
    from latentscape.train.models import build_model
    try:
        with torch.random.fork_rng(devices=[]):  # a reproducible random init; the caller's RNG is left alone
            torch.manual_seed(0)
            model = build_model(str(source), 1000, weights, input_size or 224)
    except TrainError as e:
        raise AnalysisError(str(e)) from None
    src = {"kind": "architecture", "name": str(source), "weights": str(Path(weights).resolve()) if weights else None,
           "init_seed": None if weights else 0}
    return Network(model.eval(), input_size, src)


def _from_run(run: Path, input_size: int | None) -> Network:
    from latentscape.train.checkpoint import load_checkpoint
    from latentscape.train.heads import heads_from_list
    from latentscape.train.models import build_model
    from latentscape.train.rundir import CHECKPOINT, open_run
    try:
        run, cfg = open_run(run)
        if not (run / CHECKPOINT).is_file():
            raise AnalysisError(f"run {run} has no {CHECKPOINT} yet; let it train (or resume it) first")
        ck = load_checkpoint(run / CHECKPOINT)
        heads = heads_from_list(ck["heads"])
        model = build_model(cfg.arch, sum(h.width for h in heads), None, ck["input_size"])
    except TrainError as e:
        raise AnalysisError(str(e)) from None
    model.load_state_dict(ck["model"])
    if input_size is not None and input_size != ck["input_size"]:
        raise AnalysisError(f"run {run} was trained on {ck['input_size']} px inputs; --input-size {input_size} "
                            f"would analyse another regime (drop it)")
    src = {"kind": "run", "name": run.name, "path": str(run.resolve()), "arch": cfg.arch, "step": int(ck["step"]),
           "targets": list(cfg.targets), "data": cfg.data}
    return Network(model.eval(), int(ck["input_size"]), src)
