"""Devices and torchrun. Under `torchrun --nproc_per_node K -m latentscape train ...` (env RANK,
WORLD_SIZE, LOCAL_RANK) the run joins a process group (NCCL on CUDA, gloo on the CPU), wraps the
model in DistributedDataParallel, and each rank trains on its slice of every global batch
(data.micro_batch); rank 0 evaluates and writes the run's files. A single process is the
world of size 1 and never touches torch.distributed.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from latentscape.errors import TrainError


@dataclass
class Context:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # the process group was started here (and is ended by teardown)

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_world() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from torchrun's environment; (0, 1, 0) without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise TrainError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (set by torchrun)") from None
    return rank, world, local


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """auto: the GPU of this rank when CUDA is available, else the CPU."""
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainError(f"device {name!r} asked for, but torch finds no CUDA GPU "
                         f"(torch {torch.__version__}); use --device cpu or auto")
    index = int(name.split(":")[1]) if ":" in name else local_rank
    if index >= torch.cuda.device_count():
        raise TrainError(f"device cuda:{index} asked for; this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)


def setup(device: str) -> Context:
    """The rank, world and device of this process; joins the process group torchrun describes
    (env://) unless one is already initialised (then its rank and size are used)."""
    rank, world, local = env_world()
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    dev = pick_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    owns = False
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=datetime.timedelta(hours=2))
        owns = True
    return Context(rank, world, local, dev, owns)


def teardown(ctx: Context) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def on_main(ctx: Context, fn):
    """Run fn() on rank 0 and give every rank its result; an error there is raised on every
    rank (so no rank waits forever for one that failed)."""
    result, error = None, None
    if ctx.main:
        try:
            result = fn()
        except TrainError as e:
            error = str(e)
        except Exception as e:
            if not ctx.distributed:
                raise
            error = f"{type(e).__name__}: {e}"
    if ctx.distributed:
        box = [(result, error)]
        dist.broadcast_object_list(box, src=0)
        result, error = box[0]
    if error is not None:
        raise TrainError(error)
    return result


def gather(ctx: Context, obj) -> list:
    """obj from every rank, in rank order (on every rank)."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def any_rank(ctx: Context, flag: bool) -> bool:
    """True if `flag` is set on any rank (every rank gets the same answer)."""
    if not ctx.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=ctx.device if ctx.device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(ctx: Context, value: torch.Tensor) -> torch.Tensor:
    if not ctx.distributed:
        return value
    t = value.detach().clone()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t / ctx.world_size


def sync_batchnorm(ctx: Context, model: torch.nn.Module, on: bool) -> torch.nn.Module:
    """SyncBatchNorm in place of BatchNorm when asked (CUDA only; a no-op for one process)."""
    if on and ctx.device.type != "cuda":
        raise TrainError("sync_bn (--sync-bn) needs CUDA GPUs; on the CPU every rank keeps its own "
                         "BatchNorm statistics")
    if on and ctx.distributed:
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def ddp(ctx: Context, model: torch.nn.Module) -> torch.nn.Module:
    """DistributedDataParallel around `model` when distributed; a single process gets it back."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel
    if ctx.device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[ctx.device.index])
    return DistributedDataParallel(model)
