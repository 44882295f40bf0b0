"""RUN/checkpoint.pt: written atomically (a temporary file, fsync, rename), read with
`weights_only=True` (tensors and plain Python values only: RNG states are stored as such).

A checkpoint holds: format, step, model (the unwrapped, uncompiled state dict), optimizer,
scheduler (the schedule's name and the last lr; the lr is a pure function of the step),
scaler (AMP), rng (one entry per rank: torch, CUDA, numpy, python), data (the order's seed,
batch size, n and the position reached), loss_sum/loss_count (the training loss since the
last evaluation), heads (heads.Head.to_dict per target), config (TrainConfig.to_dict), dataset
(data.dataset_identity), input_size, versions.
"""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from latentscape.errors import TrainError
from latentscape.files import replace_atomically

FORMAT = "latentscape-checkpoint"
VERSION = 1


def rng_states() -> dict:
    """Every RNG state of this process, as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
            "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "python": {"version": py_version, "state": list(py_state), "gauss": py_gauss}}


def set_rng_states(s: dict) -> None:
    torch.set_rng_state(s["torch"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"][:torch.cuda.device_count()])
    n = s["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = s["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def save_checkpoint(path: Path, state: dict) -> None:
    """Replace `path` with `state` atomically: a reader (or a resume after a kill) sees the
    previous checkpoint or this one, never half of one."""
    replace_atomically(path, lambda fh: torch.save({"format": FORMAT, "version": VERSION, **state}, fh))


def load_checkpoint(path: Path) -> dict:
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"{path} does not exist: not a resumable run (it stopped before its first checkpoint?)") \
            from None
    except Exception as e:  # truncated, foreign or hostile files: one line, never unpickled code
        raise TrainError(f"{path} cannot be read as a latentscape checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:120] if str(e) else ''})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise TrainError(f"{path} is not a latentscape checkpoint")
    if ck.get("version") != VERSION:
        raise TrainError(f"{path}: checkpoint version {ck.get('version')!r}; this latentscape reads {VERSION}")
    return ck
