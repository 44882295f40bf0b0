"""DistributedDataParallel on the CPU: two gloo processes train exactly as one process that
accumulates gradients over the same per-rank micro-batches.

Each rank is a real process (this file run as a script, with torchrun's environment: RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT=a free port) calling
`latentscape.train.train`; the reference is `train` in this process with `accumulate=2`.
BatchNorm running buffers are not compared: each rank keeps its own statistics."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from latentscape.train import TrainConfig, train  # noqa: E402
from latentscape.train.data import StepBatchSampler, global_batch, micro_batch  # noqa: E402
from latentscape.train.models import build_model  # noqa: E402

BUFFERS = ("running_mean", "running_var", "num_batches_tracked")  # per-rank BatchNorm statistics
STEPS, BATCH = 6, 32


def config(root, accumulate: int) -> TrainConfig:
    # lr 1e-2: the weights move well away from their initial values within the 6 steps; an evaluation
    # and a checkpoint (RNG states gathered from both ranks) after step 3 and step 6
    return TrainConfig(str(root), targets=("image_xy", "category"), arch="tinycnn", steps=STEPS, batch_size=BATCH,
                       lr=1e-2, accumulate=accumulate, eval_every=3, num_workers=0, device="cpu")


def parameters(run) -> dict:
    sd = torch.load(Path(run) / "checkpoint.pt", weights_only=True)["model"]
    return {k: v for k, v in sd.items() if not k.endswith(BUFFERS)}


def train_losses(run) -> list[float]:
    rows = (Path(run) / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("train_loss")
    return [float(r.split(",")[col]) for r in rows[1:]]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(root, out, world: int = 2, tries: int = 3) -> None:
    """Start `world` rank processes training into `out`; wait for all of them. A port taken
    between choosing it and binding it (another program's) is retried with a new one."""
    for attempt in range(tries):
        port = free_port()
        procs = []
        for rank in range(world):
            env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}
            procs.append(subprocess.Popen([sys.executable, __file__, str(root), str(out)], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        logs = []
        for p in procs:
            try:
                logs.append(p.communicate(timeout=300)[0])  # a safety net against a hang, not a timing
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                output = "\n".join(q.communicate()[0] for q in procs)
                pytest.fail(f"a rank process did not finish within 300 s:\n{output}")
        if all(p.returncode == 0 for p in procs):
            return
        text = "\n".join(f"--- rank {r} (exit {p.returncode}):\n{log}" for r, (p, log) in enumerate(zip(procs, logs)))
        if "address already in use" not in text.lower() or attempt == tries - 1:
            pytest.fail(text)


@pytest.fixture(scope="module")
def learn_root(tmp_path_factory):
    from test_train import write_learnable  # a learnable dataset written through the storage layer
    root = tmp_path_factory.mktemp("ddp") / "ds"
    write_learnable(root, n=200)
    return root


def test_two_gloo_ranks_equal_one_process_accumulating(learn_root, tmp_path):
    ddp_run = tmp_path / "ddp"
    run_ranks(learn_root, ddp_run)
    rec = (ddp_run / "config.yaml").read_text()
    assert "world_size: 2" in rec

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(config(learn_root, accumulate=2), tmp_path / "single", progress=False).run
        whole = train(config(learn_root, accumulate=1), tmp_path / "whole", progress=False).run
    finally:
        torch.set_num_threads(before)

    a, b = parameters(ddp_run), parameters(single)
    assert a.keys() == b.keys() and len(a) >= 8
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-6, msg=lambda m, k=k: f"{k}: {m}")
    # the loss both saw per step (mean over the micro-batches / over the ranks) agrees too
    np.testing.assert_allclose(train_losses(ddp_run), train_losses(single), rtol=1e-4)
    ck = torch.load(ddp_run / "checkpoint.pt", weights_only=True)
    assert ck["step"] == STEPS and len(ck["rng"]) == 2 and ck["data"]["world_size"] == 2

    # the comparison is sensitive: the weights moved far from where they started, and one
    # process taking the whole batch at once (BatchNorm over 32 images, not 2 x 16) ends elsewhere
    torch.manual_seed(0)  # the initial weights, as train makes them (seeded with cfg.seed)
    start = build_model("tinycnn", a["fc.weight"].shape[0], input_size=16).state_dict()
    whole = parameters(whole)
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    assert moved > 100 * 1e-4
    assert any(not torch.allclose(whole[k], b[k], rtol=1e-4, atol=1e-6) for k in b)


@pytest.mark.parametrize("n, batch, world, accumulate", [(10, 4, 2, 1), (10, 4, 2, 2), (37, 12, 3, 2),
                                                         (100, 64, 4, 4), (7, 6, 1, 3)])
def test_rank_slices_partition_the_global_batch(n, batch, world, accumulate):
    """For every step, the micro-batches of all ranks (rank-major, then accumulation index) are
    the global batch cut into equal contiguous pieces: nothing lost, nothing seen twice, and
    exactly what one process accumulating world x accumulate micro-batches sees."""
    seed, steps = 5, 7
    per_rank = [list(StepBatchSampler(n, batch, seed, 0, steps, r, world, accumulate)) for r in range(world)]
    alone = list(StepBatchSampler(n, batch, seed, 0, steps, 0, 1, world * accumulate))
    size = batch // (world * accumulate)
    for s in range(steps):
        g = global_batch(s, batch, n, seed)
        pieces = [per_rank[r][s * accumulate + j] for r in range(world) for j in range(accumulate)]
        assert all(len(p) == size for p in pieces)
        assert np.array_equal(np.concatenate(pieces), g)  # a partition of the batch's slots, in order
        assert pieces == alone[s * world * accumulate:(s + 1) * world * accumulate]
        for r in range(world):
            for j in range(accumulate):
                assert micro_batch(g, r, world, j, accumulate).tolist() == per_rank[r][s * accumulate + j]
    # over whole epochs every image is taken exactly once per epoch
    epochs = steps * batch // n
    seen = np.concatenate([global_batch(s, batch, n, seed) for s in range(steps)])[:epochs * n]
    assert np.array_equal(np.bincount(seen, minlength=n), np.full(n, epochs))


if __name__ == "__main__":  # one rank of test_two_gloo_ranks_equal_one_process_accumulating
    torch.set_num_threads(1)
    train(config(sys.argv[1], accumulate=1), sys.argv[2], progress=False)
