"""latentscape: synthetic image datasets of 3D objects with every generative factor labelled.

    from latentscape import DatasetSpec, render, sample_latents, verify, LatentDataset

See docs/api.md. `LatentDataset` needs torch (`pip install latentscape[torch]`).
"""
from latentscape.api import (ClusterOptions, RayOptions, RenderSummary, RerenderReport, ResolvedDataset, SlurmOptions,
                             VerifyReport, render, repair, rerender_check, resolve, sample_latents, status, verify,
                             write_latents)
from latentscape.config import DatasetSpec
from latentscape.latents.designs import Block, Design
from latentscape.version import __version__

__all__ = ["Block", "ClusterOptions", "DatasetSpec", "Design", "LatentDataset", "LatentIterableDataset", "LatentPairs", "RayOptions", "RenderSummary",
           "RerenderReport", "ResolvedDataset", "SlurmOptions", "VerifyReport", "__version__", "render", "repair",
           "rerender_check", "resolve", "sample_latents", "status", "verify", "write_latents"]


def __getattr__(name):
    # LatentDataset needs torch: imported on first use, so the core works without it.
    if name in ("LatentDataset", "LatentIterableDataset", "LatentPairs"):
        from latentscape.dataset import torch as _torch
        return getattr(_torch, name)
    raise AttributeError(f"module 'latentscape' has no attribute {name!r}")
