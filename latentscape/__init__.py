"""latentscape: synthetic image datasets of 3D objects with every generative factor labelled."""
__version__ = "0.1.0"


def __getattr__(name):
    # LatentDataset needs torch; import it lazily so the core works without it.
    if name in ("LatentDataset", "LatentIterableDataset"):
        from latentscape.dataset import torch as _torch
        return getattr(_torch, name)
    raise AttributeError(name)
