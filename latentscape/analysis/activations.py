"""Activations of named layers over a set of images, reduced to a bounded width and written to an
activation file (actfile.py) batch by batch: memory holds one batch and the projection
matrices, never all images.

Reductions (per layer; `reduce=`):
    project  flatten the layer's output; when it is wider than `width`, multiply by a seeded
             sparse random projection to `width` columns (Johnson-Lindenstrauss: distances and
             inner products kept up to a small relative error; "very sparse" Li et al. 2006
             entries +-sqrt(1/(s*width)) with density s = 1/sqrt(D), so its memory grows with
             sqrt(D)*width, not D*width). Keeps where things are in the image. The default.
    pool     average over the spatial positions (conv: B,C,H,W -> C; tokens: B,T,C -> C).
    flatten  the layer's output as is (may be very wide).
"""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latentscape.analysis.actfile import ActivationWriter
from latentscape.analysis.networks import Network
from latentscape.errors import AnalysisError

REDUCTIONS = ("project", "pool", "flatten")
PROJECTION_STREAM = 0x4A4C  # keeps projection draws apart from other uses of the seed


def projection(d_in: int, width: int, seed: int, layer: str) -> torch.Tensor:
    """The sparse random projection of `layer`, as its transpose (width, d_in), a coalesced COO tensor (a pure
    function of the arguments): entries 0 or +-sqrt(1/(density*width)), density 1/sqrt(d_in),
    so E[|P x|^2] = |x|^2."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, PROJECTION_STREAM, zlib.crc32(layer.encode())]))
    density = 1.0 / math.sqrt(d_in)
    nnz = max(width, int(round(d_in * width * density)))
    rows = rng.integers(0, d_in, nnz)
    cols = rng.integers(0, width, nnz)
    vals = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), nnz) * np.float32(math.sqrt(1.0 / (density * width)))
    p = torch.sparse_coo_tensor(torch.from_numpy(np.stack([cols, rows])), torch.from_numpy(vals), (width, d_in),
                                check_invariants=False)
    return p.coalesce()


class _Reducer:
    """Turns one layer's output batch into (B, width) float32 rows."""

    def __init__(self, layer: str, shape: tuple, reduce: str, width: int, seed: int, device):
        self.layer, self.shape = layer, shape
        d = int(np.prod(shape)) if shape else 1
        if reduce == "pool" and len(shape) >= 2:
            self.kind, self.width = "pool", int(shape[0] if len(shape) == 3 else shape[-1])
        elif reduce == "project" and d > width:
            self.kind, self.width = "project", width
            self.p = projection(d, width, seed, layer).to(device)
        else:
            self.kind, self.width = "flatten", d

    def __call__(self, out: torch.Tensor) -> np.ndarray:
        out = out.detach().float()
        if self.kind == "pool":
            x = out.mean(dim=(2, 3)) if out.dim() == 4 else out.mean(dim=1)
        else:
            x = out.reshape(len(out), -1)
            if self.kind == "project":
                x = torch.sparse.mm(self.p, x.t()).t()
        return x.cpu().numpy().astype(np.float32, copy=False)


def _output_tensor(out, layer: str) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise AnalysisError(f"layer {layer!r} returns {type(out).__name__}, not a tensor; choose another layer")


class _Hooks:
    """Forward hooks that keep the latest output of each named layer."""

    def __init__(self, model: nn.Module, layers: list[str]):
        self.out: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {name: 0 for name in layers}
        mods = dict(model.named_modules())
        self.handles = [mods[name].register_forward_hook(self._keep(name)) for name in layers]

    def _keep(self, name):
        def hook(_module, _inputs, output):
            self.out[name] = _output_tensor(output, name)
            self.calls[name] += 1
        return hook

    def check_once(self) -> None:
        """Each layer must run exactly once per forward pass: a module that never runs has no
        output, one that runs twice (ResNet blocks call the same `relu` twice) an ambiguous one."""
        for name, k in self.calls.items():
            if k == 0:
                raise AnalysisError(f"layer {name!r} does not run in the forward pass (a module used only through "
                                    f"its weights?); choose another layer")
            if k > 1:
                parent = name.rpartition(".")[0]
                hint = f" such as {parent!r}" if parent else ""
                raise AnalysisError(f"layer {name!r} runs {k} times per forward pass (one module used twice), so its "
                                    f"output is ambiguous; choose a module that runs once{hint}")

    def reset(self) -> None:
        self.out.clear()
        self.calls = dict.fromkeys(self.calls, 0)

    def remove(self):
        for h in self.handles:
            h.remove()


def extract(net: Network, batches, n: int, out, *, layers=None, reduce: str = "project", width: int = 2048,
            seed: int = 0, device="cpu", meta: dict | None = None, stimulus_ids=None, progress=None) -> Path:
    """Run `net` over `batches` (an iterable of (uint8 images (B,3,H,W), global indices (B,))) of
    `n` images in all and write the reduced activations of `layers` to the activation file `out`.
    Returns its path. The file appears only when every row is written."""
    from latentscape.train.data import prepare_images
    if reduce not in REDUCTIONS:
        raise AnalysisError(f"unknown reduction {reduce!r}; allowed: {', '.join(REDUCTIONS)}")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise AnalysisError(f"width must be an integer >= 1, got {width!r}")
    if n < 1:
        raise AnalysisError("no images to analyse")
    if net.input_size is not None and net.input_size < 8:
        raise AnalysisError(f"input size must be >= 8 pixels, got {net.input_size}")
    layers = net.check_layers(layers)
    device = torch.device(device)
    model = net.model.to(device).eval()
    hooks = _Hooks(model, layers)
    writer, reducers = None, {}
    try:
        with torch.no_grad():
            for x, index in batches:
                size = net.input_size or x.shape[-1]
                model(prepare_images(x, device, size))
                hooks.check_once()
                if writer is None:
                    reducers = {k: _Reducer(k, tuple(hooks.out[k].shape[1:]), reduce, width, seed, device)
                                for k in layers}
                    from latentscape.version import __version__
                    info = {"reduction": reduce, "width": width, "seed": seed, "input_size": size,
                            "latentscape_version": __version__, **(meta or {})}
                    writer = ActivationWriter(Path(out), n, {k: r.width for k, r in reducers.items()},
                                              {k: r.shape for k, r in reducers.items()},
                                              {k: r.kind for k, r in reducers.items()}, info, stimulus_ids)
                writer.write(np.asarray(index, dtype=np.int64), {k: reducers[k](hooks.out[k]) for k in layers})
                hooks.reset()
                if progress is not None:
                    progress(len(x))
        if writer is None:
            raise AnalysisError("no images to analyse")
        return writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        hooks.remove()


def check_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AnalysisError(f"device {device!r} asked for, but torch sees no CUDA device here; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise AnalysisError(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N")
    return device

