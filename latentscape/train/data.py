"""Data for training: the split's parts as `LatentDataset`s (fast uint8 path), the order of
images (a pure function of the run seed and the global step, so a resumed run reads exactly
the batches an uninterrupted one would), the per-rank micro-batch slicing for DDP, and the
conversion of uint8 images to normalised float on the device.

Order: the training part is read in epochs; epoch e is the permutation
`default_rng([seed, e, EPOCH_STREAM]).permutation(n)`; step s takes the positions
s*B .. (s+1)*B - 1 of the concatenated epochs (B = the global batch). That global batch is
cut into world_size * accumulate equal micro-batches: rank r takes micro-batches
r*accumulate .. (r+1)*accumulate - 1 (`micro_batch`). One process with accumulate=k therefore
sees exactly the micro-batches that k ranks with accumulate=1 see.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from latentscape.dataset.torch import LatentDataset
from latentscape.errors import TrainError

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # input normalisation (torchvision's; needed by ImageNet weights)
IMAGENET_STD = (0.229, 0.224, 0.225)
EPOCH_STREAM = 0x747261696E  # keeps the data-order stream apart from other uses of the run seed


# ---- the split's parts ------------------------------------------------------------------------
def split_args(split, part: str | None) -> dict:
    """LatentDataset's split=/splits= for part `part` (None: all images) of a run's split."""
    if part is None:
        return {"split": None, "splits": split if isinstance(split, dict) else None}
    if isinstance(split, dict):
        return {"split": part, "splits": split}
    if split == "default":
        return {"split": part, "splits": None}
    return {"split": f"{split}/{part}", "splits": None}


def open_part(root, cfg, part: str | None, *, zscore: bool) -> LatentDataset:
    """Part `part` of the run's split on the dataset at `root`, images as uint8 (converted on the
    device). zscore=True: continuous targets z-scored with the training part's statistics."""
    return LatentDataset(root, targets=list(cfg.targets), rotation=cfg.rotation,
                         continuous="zscore" if zscore else "raw", image="uint8", **split_args(cfg.split, part))


def check_parts(ds_train, ds_val):
    for ds, part in ((ds_train, "train"), (ds_val, "val")):
        if len(ds) == 0:
            raise TrainError(f"the {part} part of split {ds.split_name!r} of {ds.root} has no image; "
                             f"use a larger dataset or another split")


def check_targets_vary(ds) -> None:
    """Refuse a target whose stored latent takes one value in every training image (nothing to
    learn; its R² would be undefined)."""
    from latentscape.dataset.reader import DatasetReader
    with DatasetReader(ds.root) as r:
        lat = r.latents()
    rows = np.searchsorted(lat["index"], ds.indices)
    fixed = []
    for t in ds.target_spec:
        x = np.asarray(lat[t.source])[rows]
        if len(x) and np.all(x == x[:1]):
            fixed.append(t.key)
    if fixed:
        varying = [k for k in lat if k != "index" and not k.startswith("meta/") and len(lat[k])
                   and not np.all(lat[k] == lat[k][:1])]
        raise TrainError(f"target(s) {', '.join(fixed)} do not vary in the training images of {ds.root} (every "
                         f"image has the same value); latents that vary: {', '.join(varying) or 'none'}")


def dataset_identity(manifest: dict) -> dict:
    """What a run records of its dataset: the spec hash (the identity) and n, resolution and a
    digest of the shard checksums."""
    import hashlib
    digest = hashlib.sha256("".join(s.get("sha256") or "" for s in manifest["shards"]).encode()).hexdigest()
    return {"spec_hash": manifest["spec_hash"], "n": int(manifest["n"]), "resolution": int(manifest["resolution"]),
            "shards_sha256": digest[:32], "latentscape_version": manifest.get("latentscape_version")}


# ---- order ----------------------------------------------------------------------------------
def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch, EPOCH_STREAM]).permutation(n)


def global_batch(step: int, batch_size: int, n: int, seed: int, _cache: dict | None = None) -> np.ndarray:
    """Positions (0..n-1 in the training part) of the global batch of step `step` (0-based)."""
    pos = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    epochs, offs = pos // n, pos % n
    out = np.empty(batch_size, dtype=np.int64)
    for e in np.unique(epochs):
        key = int(e)
        perm = _cache.get(key) if _cache is not None else None
        if perm is None:
            perm = epoch_permutation(seed, key, n)
            if _cache is not None:
                _cache.clear()  # steps run forward: the previous epoch is no longer needed
                _cache[key] = perm
        sel = epochs == e
        out[sel] = perm[offs[sel]]
    return out


def micro_batch(batch, rank: int, world_size: int, j: int = 0, accumulate: int = 1):
    """Micro-batch j (0..accumulate-1) of rank `rank` of a global batch: the global batch is cut
    into world_size * accumulate equal contiguous pieces; rank r takes pieces r*accumulate + j."""
    parts = world_size * accumulate
    if len(batch) % parts:
        raise TrainError(f"batch_size {len(batch)} must be a multiple of world size x accumulate = {parts}")
    if not (0 <= rank < world_size and 0 <= j < accumulate):
        raise ValueError(f"rank {rank} of {world_size}, micro-batch {j} of {accumulate}")
    size = len(batch) // parts
    k = rank * accumulate + j
    return batch[k * size:(k + 1) * size]


class StepBatchSampler(Sampler):
    """Yields this rank's micro-batches (lists of dataset positions) for steps start..stop-1."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0,
                 world_size: int = 1, accumulate: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.stop = start, stop
        self.rank, self.world_size, self.accumulate = rank, world_size, accumulate

    def __iter__(self):
        cache: dict = {}
        for step in range(self.start, self.stop):
            batch = global_batch(step, self.batch_size, self.n, self.seed, cache)
            for j in range(self.accumulate):
                yield micro_batch(batch, self.rank, self.world_size, j, self.accumulate).tolist()

    def __len__(self) -> int:
        return (self.stop - self.start) * self.accumulate


def train_loader(ds, cfg, start: int, rank: int, world_size: int, pin_memory: bool) -> DataLoader:
    sampler = StepBatchSampler(len(ds), cfg.batch_size, cfg.seed, start, cfg.steps, rank, world_size,
                               cfg.accumulate)
    return _loader(ds, sampler, cfg.num_workers, pin_memory, cfg.seed)


def eval_loader(ds, batch_size: int, num_workers: int, pin_memory: bool) -> DataLoader:
    batches = [list(range(i, min(i + batch_size, len(ds)))) for i in range(0, len(ds), batch_size)]
    return _loader(ds, batches, num_workers, pin_memory, 0)


def _loader(ds, batch_sampler, num_workers, pin_memory, seed) -> DataLoader:
    # a private generator: iterating a DataLoader never draws from torch's global RNG
    return DataLoader(ds, batch_sampler=batch_sampler, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False, generator=torch.Generator().manual_seed(seed),
                      prefetch_factor=4 if num_workers else None)


# ---- on the device --------------------------------------------------------------------------
def prepare_images(x: torch.Tensor, device: torch.device, size: int, channels_last: bool = False) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 on `device`, scaled to [0, 1], normalised with the ImageNet
    mean and std, resized (bilinear) to size x size when H != size."""
    x = x.to(device, non_blocking=True).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    x = (x - mean) / std
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def targets_to(y: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in y.items()}
