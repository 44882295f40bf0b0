"""PyTorch datasets over a latentscape dataset root (the only torch module of latentscape.dataset).

    ds = LatentDataset("demo", targets=["position", "pose", "category"], split="train")
    img, y = ds[0]     # img: (3, H, W) float32 in [0, 1]; y: {"position": (3,), "pose": (6,), "category": ()}

`LatentDataset` is map-style (random access); `LatentIterableDataset` streams shard by
shard through a shuffle buffer, split across DataLoader workers and distributed ranks.
HDF5 files are opened lazily in the process that reads them; the pickled state holds
no open handle and a handle opened before a fork is never used after it. Building a
dataset never writes into its root: splits and statistics are computed in memory (and
cached outside the root); `ds.save_split()` records them there. See docs/dataset.md.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from latentscape.dataset.design_access import design_of, grid_index, sweep_index
from latentscape.dataset.encodings import TargetEncoder, dataset_latents, resolve_targets, save_stats, split_stats
from latentscape.dataset.format import open_checked_shard
from latentscape.dataset.manifest import check_coverage, load_manifest
from latentscape.dataset.reader import read_rows
from latentscape.dataset.remote import fetch_release, is_release_ref
from latentscape.dataset.splits import create_split, resolve_split, split_path
from latentscape.dataset.reader import DatasetReader
from latentscape.errors import FormatError, SplitError, TargetError
from latentscape.latents.space import DISTRACTOR_LATENTS, GROUPS

IMAGE_MODES = ("float", "uint8", "pil", "numpy")

__all__ = ["LatentDataset", "LatentIterableDataset", "LatentPairs"]


def _chunk_decoder(dset):
    """A fast reader of image `row` for datasets chunked one image per chunk: the chunk's
    stored bytes (read_direct_chunk) decoded in Python, which skips h5py's selection
    machinery (several times faster). None when the layout or filters are not handled
    (the caller then reads through h5py)."""
    shape = dset.shape[1:]
    if (dset.chunks != (1,) + shape or dset.dtype != np.uint8 or dset.shuffle or dset.fletcher32
            or dset.scaleoffset is not None):
        return None
    filters = dict(dset._filters)
    nbytes = int(np.prod(shape))
    if not filters:
        decode = None
    elif list(filters) == ["gzip"]:
        import zlib
        decode = zlib.decompress
    elif list(filters) == ["lzf"]:
        try:
            import lzf  # python-lzf (optional)
        except ImportError:
            return None

        def decode(b):
            return lzf.decompress(b, nbytes)
    elif list(filters) == ["32015"]:  # zstd (hdf5plugin)
        try:
            import zstandard
        except ImportError:
            return None
        dctx = zstandard.ZstdDecompressor()

        def decode(b):
            return dctx.decompress(b, max_output_size=nbytes)
    else:
        return None
    dsid = dset.id

    def read(row: int) -> np.ndarray:
        mask, raw = dsid.read_direct_chunk((row,) + (0,) * len(shape))
        if mask:  # a filter was skipped for this chunk: let HDF5 handle it
            return dset[row]
        data = bytearray(raw if decode is None else decode(raw))  # writable for torch.from_numpy
        if len(data) != nbytes:
            return dset[row]
        return np.frombuffer(data, dtype=np.uint8).reshape(shape)

    return read


class _Base:
    """Manifest, targets, split and statistics, shared by both datasets."""

    def _setup(self, root, targets, split, transform, target_transform, splits, rotation, continuous,
               circular, image, flat_targets, load_latents: bool):
        if is_release_ref(root):  # "LOCATION/NAME@VERSION": a published release, fetched and checked once
            root = fetch_release(root)
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        check_coverage(self.manifest, self.root)  # shards cover 0..n-1 exactly, or refuse
        if image not in IMAGE_MODES:
            raise TargetError(f"unknown image mode {image!r}; allowed: {', '.join(IMAGE_MODES)}")
        self.transform, self.target_transform = transform, target_transform
        self.image_mode, self.flat_targets = image, bool(flat_targets)
        self.target_spec = resolve_targets(targets, rotation=rotation, continuous=continuous, circular=circular,
                                           stored=dataset_latents(self.manifest))
        self.encodings = {"rotation": rotation, "continuous": continuous, "circular": circular}
        self.split = split
        self._shards = self.manifest["shards"]
        self._starts = np.array([s["index_start"] for s in self._shards], dtype=np.int64)
        self._files: dict[int, object] = {}
        self._dsets: dict[int, object] = {}
        self._readers: dict[int, object] = {}
        self._pid = None

        lat_cache = {}

        def all_latents():
            if "lat" not in lat_cache:
                from latentscape.dataset.reader import DatasetReader
                with DatasetReader(self.root) as r:  # closed before any worker forks
                    lat_cache["lat"] = r.latents()
            return lat_cache["lat"]

        lat = all_latents() if load_latents else None
        self.split_def, self.split_part, idx, parts = resolve_split(self.root, split, splits, latents=all_latents,
                                                                    manifest=self.manifest)
        self.split_name = self.split_def.name
        self._split_parts = parts
        self.indices = (np.arange(self.manifest["n"], dtype=np.int64) if idx is None
                        else np.asarray(idx, dtype=np.int64))
        self.stats = None
        if any(t.encoding == "zscore" for t in self.target_spec):
            if "train" not in parts:
                raise SplitError(f"z-scored targets need a 'train' part; split {self.split_name!r} has "
                                 f"{', '.join(parts)}")
            self.stats = split_stats(self.root, self.manifest["spec_hash"], self.split_name, parts["train"],
                                     all_latents, [t.source for t in self.target_spec if t.encoding == "zscore"])
        self.encoder = TargetEncoder(self.target_spec, self.stats)
        return lat

    def save_split(self, overwrite: bool = False) -> list[Path]:
        """Record the split in use as ROOT/splits/<name>.json (and, with z-scored targets, its
        statistics as ROOT/stats-<name>.json): the only way a dataset writes into its root.
        A recorded split with the same definition is kept; another one is an error unless
        `overwrite`. Returns the files written or kept."""
        create_split(self.root, self.split_def, overwrite=overwrite, parts=self._split_parts)
        paths = [split_path(self.root, self.split_name)]
        if self.stats is not None:
            paths.append(save_stats(self.root, {**self.stats, "split": self.split_name}))
        return paths

    # ---- name tables (torchvision style) ----
    @property
    def categories(self) -> list[str]:
        return list(self.manifest["assets"]["categories"])

    classes = categories

    @property
    def objects(self) -> list[str]:
        return [o["name"] for o in self.manifest["assets"]["objects"]]

    @property
    def backgrounds(self) -> list[str]:
        return [b["name"] for b in self.manifest.get("backgrounds", [])]

    @property
    def target_layout(self) -> dict[str, slice]:
        """Columns of each target in the flat target vector (`flat_targets=True`)."""
        return dict(self.encoder.layout)

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    # ---- files, opened lazily per process ----
    def _images(self, k: int):
        pid = os.getpid()
        if self._pid != pid:  # new process (fork/spawn): never touch a handle of the parent
            self._files, self._dsets, self._readers, self._pid = {}, {}, {}, pid
        d = self._dsets.get(k)
        if d is None:  # first item of shard k in this process: path and indices checked first
            f = open_checked_shard(self.root, self._shards[k], self.manifest["spec_hash"], self.resolution)
            if "images" not in f:
                name = f.filename
                f.close()
                raise FormatError(f"{name}: has no images dataset")
            self._files[k] = f
            d = self._dsets[k] = f["images"]
            self._readers[k] = _chunk_decoder(d) or d.__getitem__
        return d

    def _image(self, k: int, row: int) -> np.ndarray:
        if self._pid != os.getpid() or k not in self._readers:
            self._images(k)
        return self._readers[k](row)

    def close(self):
        """Close the shard files this process opened (they reopen on the next read)."""
        if self._pid == os.getpid():
            for f in self._files.values():
                f.close()
        self._files, self._dsets, self._readers, self._pid = {}, {}, {}, None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_files"], state["_dsets"], state["_readers"], state["_pid"] = {}, {}, {}, None
        state["_split_parts"] = None  # all parts' indices: not needed by workers (save_split recomputes)
        return state

    def _to_image(self, arr: np.ndarray):
        if self.image_mode == "numpy":
            return arr
        if self.image_mode == "pil":
            from PIL import Image
            return Image.fromarray(arr)
        t = torch.from_numpy(arr).permute(2, 0, 1)  # HWC -> CHW view; the next line copies
        if self.image_mode == "uint8":
            return t.contiguous()
        return t.to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)

    def _finish(self, arr, y):
        img = self._to_image(arr)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            y = self.target_transform(y)
        return img, y

    def _repr_lines(self, n) -> list[str]:
        img = {"float": "3xHxW float32 in [0, 1]", "uint8": "3xHxW uint8", "pil": "PIL RGB", "numpy": "HxWx3 uint8"}
        split = "all images" if self.split_part is None else f"{self.split_name}/{self.split_part}"
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {n}",
                 f"    Root location: {self.root}", f"    Split: {split}",
                 f"    Image: {self.resolution}x{self.resolution}, {img[self.image_mode]}",
                 f"    Targets{' (flat)' if self.flat_targets else ''}: {self.encoder.describe()}"]
        if self.stats is not None:
            lines.append(f"    Statistics: train part of split {self.split_name} ({self.stats['count']} images)")
        if self.transform is not None:
            lines.append("    Transform: " + repr(self.transform).replace("\n", "\n    "))
        if self.target_transform is not None:
            lines.append("    Target transform: " + repr(self.target_transform).replace("\n", "\n    "))
        return lines


class LatentDataset(_Base, Dataset):
    """Map-style dataset: `ds[i]` -> (image, targets) for the i-th image of the split.

    Args:
        root: dataset root (holds dataset.json).
        targets: latent or group names (see latentscape.dataset.encodings).
        split: None (all images), "train" | "val" | "test" (the built-in random 80/10/10,
            seed 0), or "NAME/PART" of a split recorded in ROOT/splits/NAME.json.
        transform, target_transform: applied to the image and to the targets.
        splits: a split definition (SplitSpec, dict or YAML path); `split` then names one of
            its parts. Computed in memory; `save_split()` records it in ROOT/splits/<name>.json.
        rotation: "sincos" | "quat" | "6d" | "matrix" | "euler" (encoding of the pose target).
        continuous: "raw" | "zscore" (statistics of the split's train part).
        circular: "sincos" | "raw" (env_rotation).
        image: "float" (3xHxW float32 in [0,1]) | "uint8" (3xHxW) | "pil" | "numpy" (HxWx3).
        flat_targets: one float32 vector instead of a dict (columns: `target_layout`).

    `ds.indices[i]` is the global image index of item i. Encoded targets of the whole
    split are computed once at construction (a few floats per image). Construction writes
    nothing into ROOT (see `save_split`).
    """

    def __init__(self, root, targets=("category",), split=None, transform=None, target_transform=None, *,
                 splits=None, rotation="sincos", continuous="raw", circular="sincos", image="float",
                 flat_targets=False):
        lat = self._setup(root, targets, split, transform, target_transform, splits, rotation, continuous,
                          circular, image, flat_targets, load_latents=True)
        rows = np.searchsorted(lat["index"], self.indices)
        enc = self.encoder.encode({s: lat[s][rows] for s in self.encoder.sources})
        self._y = self.encoder.flatten(enc) if self.flat_targets else enc
        self._shard = (np.searchsorted(self._starts, self.indices, side="right") - 1).astype(np.int64)
        self._row = self.indices - self._starts[self._shard]
        self._clutter = {k.removeprefix("distractor_"): lat[k][rows] for k in DISTRACTOR_LATENTS if k in lat}

    def __len__(self) -> int:
        return len(self.indices)

    def distractors(self, i: int) -> dict:
        """Item i's distractors as tensors: `count`, and `object_id`, `category` (-1 past the count),
        `position` (K, 3), `rotation_quat` (K, 4), `scale`, `size_m` (NaN past the count), padded to
        the dataset's largest count K (docs/dataset.md)."""
        if not self._clutter:
            raise TargetError(f"{self.root} has no distractors (it was rendered without --distractors)")
        return {k: torch.from_numpy(np.array(v[i])) for k, v in self._clutter.items()}

    def targets_of(self, i: int):
        """The encoded targets of item i (no image read)."""
        if self.flat_targets:
            return torch.from_numpy(self._y[i].copy())
        return {k: torch.from_numpy(np.array(v[i])) for k, v in self._y.items()}

    def __getitem__(self, i):
        n = len(self.indices)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for a dataset of {n} images")
        i = int(i) % n
        arr = self._image(int(self._shard[i]), int(self._row[i]))
        return self._finish(arr, self.targets_of(i))

    def __repr__(self) -> str:
        return "\n".join(self._repr_lines(len(self)))

    # ---- design coordinates -------------------------------------------------------
    @property
    def design(self) -> dict | None:
        """The design the dataset was made with (`spec.design` of its manifest), or None for i.i.d. draws."""
        return design_of(self.manifest)

    def item_of(self, index: int) -> int:
        """The item i with `ds.indices[i] == index` (a global image index), or a clear error."""
        i = int(np.searchsorted(self.indices, index))
        if i >= len(self.indices) or self.indices[i] != index:
            raise TargetError(f"image {index} is not in split {self.split_name!r}")
        return i

    def grid_item(self, **levels: int):
        """`ds[i]` of the grid image at these level indices, e.g. `ds.grid_item(yaw=3, category=1)`."""
        return self[self.item_of(grid_index(self.design, **levels))]

    def sweep_item(self, base: int, level: int):
        """`ds[i]` of sweep base draw `base` at level index `level`."""
        return self[self.item_of(sweep_index(self.design, base, level))]


class LatentPairs(Dataset):
    """The pairs of a pairs-design dataset: `ds[j]` -> (img_a, img_b, changed).

    `changed` is a bool tensor over `ds.groups` (the latent groups): the groups images 2j and
    2j+1 differ in (every other latent is identical). With a `split`, the pairs whose two
    images are both in it. `ds.targets(j)` gives both images' encoded targets; other keyword
    arguments are `LatentDataset`'s."""

    def __init__(self, root, targets=("category",), split=None, transform=None, **kw):
        self.images = LatentDataset(root, targets, split, transform, **kw)
        design = self.images.design
        if not design or design.get("kind") != "pairs":
            raise TargetError(f"{root} is not a pairs dataset (its design: {design['kind'] if design else 'i.i.d.'}); "
                              f"render one with --design pairs")
        self.groups = GROUPS
        with DatasetReader(self.images.root) as r:
            mask = r.latents(["category"])["meta/design_changed"]
        idx = self.images.indices
        a = idx[(idx % 2 == 0) & np.isin(idx + 1, idx)]
        self._a = np.searchsorted(idx, a)
        self._b = self._a + 1
        bits = mask[a][:, None] >> np.arange(len(GROUPS))[None, :]
        self._changed = torch.from_numpy((bits & 1).astype(bool))

    def __len__(self) -> int:
        return len(self._a)

    def __getitem__(self, j):
        n = len(self)
        if not -n <= j < n:
            raise IndexError(f"pair {j} out of range for {n} pairs")
        j = int(j) % n
        img_a, _ = self.images[int(self._a[j])]
        img_b, _ = self.images[int(self._b[j])]
        return img_a, img_b, self._changed[j].clone()

    def targets(self, j: int):
        """The encoded targets of both images of pair j."""
        return self.images.targets_of(int(self._a[j])), self.images.targets_of(int(self._b[j]))

    def changed_names(self, j: int) -> list[str]:
        return [g for g, c in zip(self.groups, self._changed[j].tolist()) if c]


class LatentIterableDataset(_Base, IterableDataset):
    """Streams the split shard by shard (reading blocks of `block_size` consecutive rows)
    through a shuffle buffer of `buffer_size` images.

    Each epoch the shard order (and the block order inside shards) is permuted with
    (seed, epoch); the stream is then cut into world_size contiguous parts (one per
    rank) and each into num_workers parts, so every image of the split is yielded
    exactly once per epoch over all workers and ranks (parts differ by at most one
    image). Call `set_epoch(e)` before each epoch (as with DistributedSampler); it
    reaches persistent workers. rank/world_size default to torch.distributed's when
    it is initialised, else 0 and 1. Arguments as for LatentDataset, plus shuffle,
    buffer_size, seed, rank, world_size, block_size.
    """

    def __init__(self, root, targets=("category",), split=None, transform=None, target_transform=None, *,
                 splits=None, rotation="sincos", continuous="raw", circular="sincos", image="float",
                 flat_targets=False, shuffle=True, buffer_size=1000, seed=0, rank=None, world_size=None,
                 block_size=64):
        self._setup(root, targets, split, transform, target_transform, splits, rotation, continuous,
                    circular, image, flat_targets, load_latents=False)
        if (rank is None) != (world_size is None):
            raise ValueError("give both rank and world_size, or neither")
        if world_size is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0..world_size-1, got rank={rank}, world_size={world_size}")
        self.shuffle, self.buffer_size, self.seed = bool(shuffle), max(1, int(buffer_size)), int(seed)
        self.block_size = max(1, int(block_size))
        self._rank, self._world = rank, world_size
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    # ---- epoch and partitioning ----
    def set_epoch(self, epoch: int):
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def rank_world(self) -> tuple[int, int]:
        if self._world is not None:
            return self._rank, self._world
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def epoch_stream(self, epoch: int) -> np.ndarray:
        """All global indices of the split in this epoch's reading order (before the buffer)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self._shards)) if self.shuffle else np.arange(len(self._shards))
        out = []
        for k in order:
            s = self._shards[k]
            lo, hi = np.searchsorted(self.indices, [s["index_start"], s["index_stop"]])
            ix = self.indices[lo:hi]
            if self.shuffle and len(ix):
                blocks = [ix[j:j + self.block_size] for j in range(0, len(ix), self.block_size)]
                ix = np.concatenate([blocks[b] for b in rng.permutation(len(blocks))])
            out.append(ix)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def part_of(self, epoch: int, rank: int, world: int, worker: int, workers: int) -> np.ndarray:
        stream = self.epoch_stream(epoch)
        mine = np.array_split(stream, world)[rank]
        return np.array_split(mine, workers)[worker]

    def __len__(self) -> int:
        rank, world = self.rank_world()
        return len(np.array_split(np.arange(len(self.indices)), world)[rank])

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        rank, world = self.rank_world()
        epoch = self.epoch
        mine = self.part_of(epoch, rank, world, worker, workers)
        rng = np.random.default_rng([self.seed, epoch, rank, worker, 7])
        buf: list = []
        for item in self._read(mine):
            if not self.shuffle:
                yield self._finish(*item)
                continue
            if len(buf) < self.buffer_size:
                buf.append(item)
                continue
            j = int(rng.integers(len(buf)))
            out, buf[j] = buf[j], item
            yield self._finish(*out)
        for j in rng.permutation(len(buf)):
            yield self._finish(*buf[j])

    def _read(self, indices: np.ndarray):
        """(image array, targets) in the order of `indices`, one block of rows at a time."""
        if len(indices) == 0:
            return
        shard = np.searchsorted(self._starts, indices, side="right") - 1
        cuts = np.flatnonzero(np.diff(shard) != 0) + 1
        for seg in np.split(np.arange(len(indices)), cuts):
            k = int(shard[seg[0]])
            self._images(k)
            f = self._files[k]
            fast = self._readers[k] != self._dsets[k].__getitem__  # per-chunk decoding beats h5py
            rows_all = indices[seg] - self._starts[k]
            lo, hi = int(rows_all.min()), int(rows_all.max()) + 1
            count = self._shards[k]["count"]
            lat = {s: read_rows(f, f"latents/{s}", count)[lo:hi] for s in self.encoder.sources}
            enc = self.encoder.encode(lat)
            y_all = self.encoder.flatten(enc) if self.flat_targets else enc
            step = np.diff(rows_all)
            breaks = np.flatnonzero((step < 0) | (step > 8)) + 1  # runs of nearby increasing rows
            for run in np.split(rows_all, breaks):
                for j in range(0, len(run), self.block_size):
                    rows = run[j:j + self.block_size]
                    a, b = int(rows[0]), int(rows[-1]) + 1
                    if fast:
                        imgs = None
                    else:
                        imgs = self._dsets[k][a:b]  # one contiguous read of nearby rows
                    for r in rows:
                        r = int(r)
                        if self.flat_targets:
                            y = torch.from_numpy(y_all[r - lo].copy())
                        else:
                            y = {key: torch.from_numpy(np.array(v[r - lo])) for key, v in y_all.items()}
                        yield (self._image(k, r) if fast else imgs[r - a]), y

    def __repr__(self) -> str:
        rank, world = self.rank_world()
        lines = self._repr_lines(len(self.indices))
        lines.insert(2, f"    Streaming: shuffle={self.shuffle}, buffer_size={self.buffer_size}, seed={self.seed}, "
                        f"rank {rank} of {world}, epoch {self.epoch}")
        return "\n".join(lines)
