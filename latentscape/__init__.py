"""latentscape: synthetic image datasets of 3D objects with every generative factor labelled.

    from latentscape import DatasetSpec, render, sample_latents, verify, LatentDataset

See docs/api.md. `LatentDataset` needs torch (`pip install latentscape[torch]`).
"""
from latentscape.api import (RenderSummary, ResolvedDataset, VerifyReport, render, repair, resolve,
                             sample_latents, verify, write_latents)
from latentscape.config import DatasetSpec
from latentscape.version import __version__

__all__ = ["DatasetSpec", "LatentDataset", "LatentIterableDataset", "RenderSummary", "ResolvedDataset",
           "VerifyReport", "__version__", "render", "repair", "resolve", "sample_latents", "verify",
           "write_latents"]


def __getattr__(name):
    # LatentDataset needs torch: imported on first use, so the core works without it.
    if name in ("LatentDataset", "LatentIterableDataset"):
        from latentscape.dataset import torch as _torch
        return getattr(_torch, name)
    raise AttributeError(f"module 'latentscape' has no attribute {name!r}")
