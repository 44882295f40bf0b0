"""latentscape.train and the `train` / `evaluate` commands, with real torch training on the CPU.

Datasets are written through the storage layer without Blender: `write_learnable` draws a
square whose position is the image position (image_xy) and whose colour is the category, so
a small network learns both in a few hundred steps; `write_synthetic_dataset` (noise pixels)
serves where pixels do not matter (heads, schema, refusals)."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import write_synthetic_dataset  # noqa: E402
from latentscape.cli import main  # noqa: E402
from latentscape.config import DatasetSpec  # noqa: E402
from latentscape.dataset.format import shard_name  # noqa: E402
from latentscape.dataset.manifest import save_manifest  # noqa: E402
from latentscape.dataset.torch import LatentDataset  # noqa: E402
from latentscape.dataset.writer import ShardWriter  # noqa: E402
from latentscape.errors import TrainError  # noqa: E402
from latentscape.pipeline.root import pending_tasks, prepare_root  # noqa: E402
from latentscape.resolve import resolve  # noqa: E402
from latentscape.train import TrainConfig, evaluate, train  # noqa: E402
from latentscape.train.data import StepBatchSampler, global_batch, micro_batch  # noqa: E402
from latentscape.train.heads import heads_from_dataset, output_width  # noqa: E402
from latentscape.train.losses import head_loss, normalise_targets, split_outputs, total_loss  # noqa: E402
from latentscape.train.metrics import compute_metrics, metric_names  # noqa: E402
from latentscape.train.models import build_model  # noqa: E402

PALETTE = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255], [255, 255, 40], [255, 40, 255], [40, 255, 255]],
                   dtype=np.uint8)
FAST = dict(arch="tinycnn", num_workers=0, batch_size=32)


def learnable_image(lat: dict, i: int, r: int) -> np.ndarray:
    """A 4x4 square at the image position (u right, v up) in the colour of the category."""
    u, v = lat["image_xy"][i]
    col, row = int(round((u + 1) / 2 * (r - 1))), int(round((1 - v) / 2 * (r - 1)))
    img = np.zeros((r, r, 3), np.uint8)
    img[max(row - 2, 0):row + 2, max(col - 2, 0):col + 2] = PALETTE[int(lat["category"][i]) % len(PALETTE)]
    return img


def write_learnable(root, n=400, resolution=16, seed=1, vary=("position", "category")) -> dict:
    """A dataset (placeholder library: 6 categories) whose pixels show image_xy and category."""
    spec = DatasetSpec(library="placeholder", n=n, shard_size=(n + 1) // 2, resolution=resolution, seed=seed, vary=vary)
    resolved = resolve(spec)
    m = prepare_root(root, resolved)
    for task in pending_tasks(m):
        lat = resolved.sampler.sample_range(task.start, task.stop)
        with ShardWriter(root / "shards" / shard_name(task.shard_id), task.start, task.count, resolution, "none",
                         attrs={"spec_hash": m["spec_hash"], "resolved_spec": m["resolved"]}) as w:
            w.write_latents(lat)
            for i in range(task.count):
                w.write_image(i, learnable_image(lat, i, resolution))
        m["shards"].append(w.record())
        save_manifest(root, m)
    return m


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def weights_of(run):
    return torch.load(run / "checkpoint.pt", weights_only=True)["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a 2-core machine shared with other work, two threads spin against
    each other (measured 10x slower); results do not depend on it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def learn_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("learn") / "ds"
    write_learnable(root)
    return root


@pytest.fixture(scope="module")
def noise_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("noise") / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=48, shard_size=24, resolution=8, seed=2,
                                              vary=("category", "identity", "position", "pose", "scale",
                                                    "lighting")))
    return root


@pytest.fixture(scope="module")
def learned(learn_root, tmp_path_factory):
    """One run of 150 steps on the learnable dataset (shared by the tests that read a run)."""
    cfg = TrainConfig(learn_root, targets=("image_xy", "category"), steps=150, eval_every=50, **FAST)
    result = train(cfg, tmp_path_factory.mktemp("runs") / "learned", progress=False)
    return result


# ---- learning -------------------------------------------------------------------------------
def test_loss_decreases_and_metrics_beat_chance(learned, learn_root):
    run = learned.run
    rows = (run / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[:5] == ["step", "split", "lr", "train_loss", "loss"]
    assert header[5:] == ["image_xy.loss", "category.loss", "image_xy.u.r2", "image_xy.u.mae", "image_xy.v.r2",
                          "image_xy.v.mae", "category.acc", "category.top5"]
    vals = [dict(zip(header, r.split(","))) for r in rows[1:]]
    assert [int(v["step"]) for v in vals] == [50, 100, 150] and {v["split"] for v in vals} == {"val"}
    assert float(vals[-1]["train_loss"]) < 0.3 * float(vals[0]["train_loss"])
    m = learned.metrics
    assert m["image_xy.u.r2"] > 0.8 and m["image_xy.v.r2"] > 0.8  # chance: R² 0
    assert m["image_xy.u.mae"] < 0.15  # in image units [-1, 1]
    assert m["category.acc"] > 3 / 6  # 6 categories: chance 1/6
    # the run records what reruns it: the config, the dataset's identity, the package version
    cfg = TrainConfig.from_yaml(run / "config.yaml")
    assert cfg.steps == 150 and cfg.arch == "tinycnn" and str(learn_root) in cfg.data
    import yaml

    from latentscape.version import __version__
    rec = yaml.safe_load((run / "config.yaml").read_text())["run"]
    manifest = json.loads((learn_root / "dataset.json").read_text())
    assert rec["dataset"]["spec_hash"] == manifest["spec_hash"] and rec["latentscape_version"] == __version__
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    try:
        import tensorboard  # noqa: F401  (optional extra)
        assert any((run / "tb").glob("events.out.tfevents*"))
    except ImportError:
        assert not (run / "tb").exists()


def test_evaluate_on_another_dataset(learned, tmp_path, capsys):
    other = tmp_path / "other"
    write_learnable(other, n=60, seed=7)
    r = evaluate(learned.run, data=other)
    assert r["split"] == "all" and r["n"] == 60 and r["step"] == 150
    assert r["metrics"]["image_xy.u.r2"] > 0.6 and r["metrics"]["category.acc"] > 0.4
    saved = json.loads((learned.run / "eval-other-all.json").read_text())
    assert saved["metrics"] == pytest.approx(r["metrics"]) and saved["dataset"]["n"] == 60
    code, out, err = run_cli(["evaluate", learned.run, "--data", other, "--split", "all", "--name", "o2", "--quiet"],
                             capsys)
    assert code == 0, err
    assert "image_xy.u.r2" in out and "category.chance" in out and (learned.run / "eval-o2.json").is_file()
    own = evaluate(learned.run)  # the run's own dataset: its test part
    assert own["split"] == "test" and own["n"] == 40


# ---- schema, losses, metrics ------------------------------------------------------------------
@pytest.mark.parametrize("rotation", ["sincos", "6d", "quat"])
def test_heads_match_the_dataset_schema(noise_root, rotation):
    targets = ["position", "pose", "category", "identity", "scale", "lighting", "image_xy"]
    ds = LatentDataset(noise_root, targets=targets, split="train", rotation=rotation, continuous="zscore",
                       image="uint8")
    heads = heads_from_dataset(ds)
    layout = ds.target_layout
    for h in heads:
        if h.kind == "categorical":
            assert h.width == len({"category": ds.categories, "object_id": ds.objects}[h.key])
        else:
            assert h.width == layout[h.key].stop - layout[h.key].start
    assert {h.key: h.width for h in heads}["pose"] == {"sincos": 6, "6d": 6, "quat": 4}[rotation]
    model = build_model("tinycnn", output_width(heads), input_size=8)
    x = torch.stack([ds[i][0] for i in range(4)]).float() / 255
    out = model(x)
    assert out.shape == (4, output_width(heads))
    assert {k: v.shape[1] for k, v in split_outputs(out, heads).items()} == {h.key: h.width for h in heads}
    # the dataset layer's z-scores are the run's: raw targets normalised here equal them
    raw = LatentDataset(noise_root, targets=targets, split="train", rotation=rotation, image="uint8")
    for i in range(3):
        zs, rs = ds.targets_of(i), normalise_targets({k: v[None] for k, v in raw.targets_of(i).items()}, heads)
        for k in zs:
            torch.testing.assert_close(rs[k][0].float(), zs[k].float(), rtol=1e-5, atol=1e-5)
    # perfect predictions: zero loss, perfect metrics in natural units
    n = len(raw)
    y = {k: np.stack([raw.targets_of(i)[k].numpy() for i in range(n)]) for k in raw.targets_of(0)}
    zy = {k: np.stack([ds.targets_of(i)[k].numpy() for i in range(n)]) for k in y}
    preds = {}
    for h in heads:
        if h.kind == "categorical":
            preds[h.key] = np.eye(h.width)[y[h.key]] * 10
        else:
            preds[h.key] = zy[h.key].reshape(n, -1)
    m = compute_metrics(heads, preds, y)
    assert list(m) == metric_names(heads)
    for k, v in m.items():
        want = 1.0 if k.endswith((".r2", ".acc", ".top5")) else 0.0
        tol = 2e-3 if k.endswith(".mae") else 1e-4  # float32 z-scores of kelvins: 1e-4 K
        assert v == pytest.approx(want, abs=tol) or (k.endswith(".r2") and np.isnan(v)), (k, v)
    assert "position.x.mae" in m and "pose.yaw.mae_deg" in m and "pose.geodesic_deg" in m
    loss, parts = total_loss(torch.cat([torch.as_tensor(preds[h.key], dtype=torch.float32).reshape(n, -1)
                                        for h in heads], 1), {k: torch.as_tensor(v) for k, v in zy.items()}, heads)
    assert all(float(parts[h.key]) < 1e-3 for h in heads if h.kind != "categorical")


def test_quaternion_loss_is_sign_free_and_angles_wrap():
    from latentscape.train.heads import Head
    h = Head("pose", "rotation_quat", "rotation", "quat", 4)
    q = torch.tensor([[0.1, 0.7, -0.7, 0.1]])
    assert float(head_loss(h, -q, q)) == 0.0 and float(head_loss(h, q, q)) == 0.0
    circ = Head("env_rotation", "env_rotation", "circular", "sincos", 2)
    a, b = np.array([np.pi - 0.01]), np.array([-np.pi + 0.01])  # 0.02 rad apart across the wrap
    m = compute_metrics([circ], {"env_rotation": np.stack([np.sin(a), np.cos(a)], 1)},
                        {"env_rotation": np.stack([np.sin(b), np.cos(b)], 1)})
    assert m["env_rotation.mae_deg"] == pytest.approx(np.degrees(0.02), abs=1e-6)


def test_torchvision_arch_trains_every_group(noise_root, tmp_path):
    """resnet18 by name, all latent groups at once, 6d pose: two steps, heads sized by the schema."""
    cfg = TrainConfig(noise_root, targets=("position", "pose", "category", "identity", "scale", "lighting"),
                      arch="resnet18", steps=2, batch_size=8, eval_every=2, rotation="6d", num_workers=0,
                      target_weights={"pose": 2.0, "lighting": 0.5})
    r = train(cfg, tmp_path / "run", progress=False)
    ck = torch.load(r.run / "checkpoint.pt", weights_only=True)
    widths = {h["key"]: h["width"] for h in ck["heads"]}
    assert widths["position"] == 3 and widths["pose"] == 6 and widths["light_azimuth"] == 1
    assert ck["model"]["fc.weight"].shape == (sum(widths.values()), 512)
    assert {h["key"]: h["weight"] for h in ck["heads"]}["light_azimuth"] == 0.5
    assert np.isfinite(r.metrics["pose.geodesic_deg"]) and "scale.r2" in r.metrics


# ---- order, resume -------------------------------------------------------------------------------
def test_data_order_is_a_function_of_seed_and_step():
    n, b = 10, 4
    seq = np.concatenate([global_batch(s, b, n, seed=3) for s in range(5)])  # 20 positions = 2 epochs
    assert sorted(seq[:10]) == list(range(10)) and sorted(seq[10:]) == list(range(10))
    assert not np.array_equal(seq[:10], seq[10:])  # a new permutation each epoch
    assert np.array_equal(global_batch(3, b, n, seed=3), seq[12:16])
    assert not np.array_equal(global_batch(0, b, n, seed=4), seq[:4])
    batch = np.arange(12)
    pieces = [micro_batch(batch, r, 2, j, 3) for r in range(2) for j in range(3)]
    assert np.array_equal(np.concatenate(pieces), batch) and all(len(p) == 2 for p in pieces)
    # one process accumulating 2 micro-batches sees what 2 ranks see
    assert [micro_batch(batch, 0, 1, j, 2).tolist() for j in range(2)] == \
        [micro_batch(batch, r, 2).tolist() for r in range(2)]
    with pytest.raises(TrainError, match="multiple"):
        micro_batch(np.arange(10), 0, 3)
    full = list(StepBatchSampler(n, b, 3, 0, 6, rank=1, world_size=2))
    assert list(StepBatchSampler(n, b, 3, 4, 6, rank=1, world_size=2)) == full[4:]


def test_resume_after_a_kill_continues_the_same_trajectory(learn_root, tmp_path, capsys):
    cfg = TrainConfig(learn_root, targets=("image_xy", "category"), steps=24, eval_every=8, schedule="cosine",
                      batch_size=40, arch="tinycnn", num_workers=0)
    straight = train(cfg, tmp_path / "straight", progress=False).run

    class Killed(Exception):
        pass

    def kill_at_13(step):
        if step == 13:
            raise Killed

    with pytest.raises(Killed):  # dies between checkpoints: steps 9..13 are lost and redone
        train(cfg, tmp_path / "killed", progress=False, on_step=kill_at_13)
    assert torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=True)["step"] == 8
    train(resume=tmp_path / "killed", progress=False, num_workers=1)  # DataLoader workers: same batches
    assert_same_weights(weights_of(straight), weights_of(tmp_path / "killed"))
    assert (straight / "metrics.csv").read_text() == (tmp_path / "killed" / "metrics.csv").read_text()

    train(cfg, tmp_path / "halves", progress=False, stop_after=12)  # stops off an evaluation step
    code, out, err = run_cli(["train", "--resume", tmp_path / "halves", "--quiet"], capsys)
    assert code == 0 and "trained 24 steps" in out, err
    assert_same_weights(weights_of(straight), weights_of(tmp_path / "halves"))
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "halves" / "checkpoint.pt", weights_only=True)
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    torch.testing.assert_close(a["optimizer"]["state"][0]["exp_avg_sq"], b["optimizer"]["state"][0]["exp_avg_sq"])
    assert (straight / "metrics.csv").read_text() == (tmp_path / "halves" / "metrics.csv").read_text()


def test_cli_reruns_extends_and_overwrites(learn_root, tmp_path, capsys):
    base = ["train", learn_root, "--targets", "image_xy,category", "--arch", "tinycnn", "--batch-size", "16",
            "--eval-every", "4", "--num-workers", "0", "--quiet", "--out", tmp_path / "r"]
    code, out, err = run_cli(base + ["--steps", "4"], capsys)
    assert code == 0 and "trained 4 steps" in out and "image_xy.u.r2" in out, err
    code, out, err = run_cli(base + ["--steps", "8"], capsys)  # the same command, a larger budget: continues
    assert code == 0 and "trained 8 steps" in out, err
    steps = [line.split(",")[0] for line in (tmp_path / "r" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["4", "8"]
    # config.yaml reruns the run: the same weights
    code, out, err = run_cli(["train", "--config", tmp_path / "r" / "config.yaml", "--out", tmp_path / "again",
                              "--quiet"], capsys)
    assert code == 0, err
    assert_same_weights(weights_of(tmp_path / "r"), weights_of(tmp_path / "again"))
    code, out, err = run_cli(base + ["--steps", "4", "--lr", "0.01", "--overwrite"], capsys)
    assert code == 0, err
    steps = [line.split(",")[0] for line in (tmp_path / "r" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["4"] and TrainConfig.from_yaml(tmp_path / "r" / "config.yaml").lr == 0.01


# ---- configuration --------------------------------------------------------------------------------
def test_config_yaml_round_trip(tmp_path):
    cfg = TrainConfig("data/x", targets="position,pose,category,lighting", arch="resnet50", steps=123,
                      batch_size=48, lr=3e-4, weight_decay=1e-5, schedule="cosine", input_size=224, rotation="6d",
                      target_weights={"pose": 2.0, "light_azimuth": 0.5}, seed=9, device="cpu", amp=False,
                      compile=True, accumulate=2, eval_every=50, num_workers=3, pretrained="w.pth",
                      split={"name": "unseen", "fractions": {"train": 0.9, "val": 0.1},
                             "holdout": [{"part": "test", "objects_per_category": 1}]})
    assert cfg.targets == ("position", "pose", "category", "lighting")
    assert cfg.split["seed"] == 9  # a definition without a seed takes the run's
    assert cfg.weight_of("pose") == 2.0 and cfg.weight_of("light_azimuth") == 0.5 and cfg.weight_of("category") == 1
    (tmp_path / "c.yaml").write_text(cfg.to_yaml(run={"anything": 1}))
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == cfg
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.same_run(cfg.replace(steps=999, num_workers=0)) and not cfg.same_run(cfg.replace(lr=1e-3))
    (tmp_path / "split.yaml").write_text("name: s\nfractions: {train: 0.5, val: 0.5}\n")
    assert TrainConfig("d", targets=["scale"], split=str(tmp_path / "split.yaml")).split["name"] == "s"


@pytest.mark.parametrize("change, msg", [
    ({"steps": 0}, "steps must be an integer >= 1"),
    ({"batch_size": 2.5}, "batch_size must be an integer"),
    ({"lr": float("nan")}, "lr must be a finite number > 0"),
    ({"weight_decay": -1}, "weight_decay must be"),
    ({"schedule": "linear"}, "unknown schedule 'linear'; allowed: none, cosine, step"),
    ({"rotation": "euler"}, "unknown rotation 'euler'"),
    ({"device": "gpu"}, "device must be one of auto, cpu, cuda"),
    ({"input_size": 4}, "input_size must be an integer in 8..4096"),
    ({"batch_size": 10, "accumulate": 3}, "multiple of accumulate"),
    ({"targets": ("position", "wobble")}, "unknown target 'wobble'; latents: category"),
    ({"targets": ("rotation_quat",)}, "train on 'pose'"),
    ({"target_weights": {"category": 1.0}}, "not a target of this run"),
    ({"target_weights": {"position": 0}}, "all 0"),
    ({"amp": "yes"}, "amp must be true or false"),
    ({"split": "cogent/test"}, "the run uses its train and val parts"),
    ({"split": {"name": "s", "fractions": {"train": 0.5}}}, "fractions must sum to 1"),
])
def test_bad_config_values_are_refused(change, msg):
    kw = {"data": "d", "targets": ("position",), **change}
    with pytest.raises(TrainError, match=msg.replace("(", r"\(")):
        TrainConfig(**kw)
    with pytest.raises(TrainError, match="unknown option"):
        TrainConfig.from_dict({"data": "d", "targets": ["position"], "stepz": 3})


# ---- refusals through the CLI: one line, non-zero, no traceback ------------------------------------
def _one_error_line(code, err, msg):
    lines = [line for line in err.strip().splitlines() if line]
    assert code != 0 and "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], err


@pytest.mark.parametrize("args, msg", [
    (["--targets", "scale"], "scale do not vary in the training images"),
    (["--targets", "image_xy,wobble"], "unknown target 'wobble'; latents:"),
    (["--targets", "image_xy", "--arch", "resnet19"], "unknown architecture 'resnet19'; did you mean resnet18"),
    (["--targets", "image_xy", "--arch", "squeezenet1_0"], "no final linear classifier"),
    (["--targets", "image_xy", "--steps", "0"], "steps must be an integer >= 1, got 0"),
    (["--targets", "image_xy", "--lr", "-1"], "lr must be a finite number > 0"),
    (["--targets", "image_xy", "--batch-size", "0"], "batch_size must be an integer >= 1"),
    (["--targets", "image_xy", "--eval-every", "0"], "eval_every must be"),
    (["--targets", "image_xy", "--weights", "image_xy"], "--weights takes TARGET=WEIGHT"),
    (["--targets", "image_xy", "--arch", "tinycnn", "--sync-bn", "--device", "cpu"], "needs CUDA"),
    (["--targets", "image_xy", "--pretrained", "missing.pth"], "resnet18-f37072fd.pth yourself"),
    (["--arch", "tinycnn"], "missing option '--targets'"),
])
def test_train_refusals_are_one_line(learn_root, tmp_path, capsys, args, msg):
    code, _, err = run_cli(["train", learn_root, "--out", tmp_path / "run", "--num-workers", "0", *args], capsys)
    _one_error_line(code, err, msg)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_run_directory_refusals(learn_root, tmp_path, capsys):
    def cli(*args):
        return run_cli(["train", learn_root, "--targets", "image_xy", "--arch", "tinycnn", "--steps", "2",
                        "--batch-size", "8", "--num-workers", "0", "--quiet", *args], capsys)
    (tmp_path / "file").write_text("x")
    _one_error_line(*cli("--out", tmp_path / "file")[::2], "is a regular file, not a directory")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    _one_error_line(*cli("--out", tmp_path / "other")[::2], "is not a latentscape run")
    code, _, err = cli("--out", tmp_path / "other", "--overwrite")  # writes the run beside the user's file
    assert code == 0 and (tmp_path / "other" / "notes.txt").read_text() == "mine", err
    _one_error_line(*cli("--out", tmp_path / "other", "--lr", "0.1")[::2], "holds a run with another config (lr")
    _one_error_line(*run_cli(["train", "--resume", tmp_path / "other", "--arch", "resnet18"], capsys)[::2],
                    "drop --arch")
    _one_error_line(*run_cli(["train", "--resume", tmp_path / "nothing"], capsys)[::2], "does not exist")
    _one_error_line(*run_cli(["train", "--resume", tmp_path], capsys)[::2], "is not a training run")
    _one_error_line(*run_cli(["evaluate", tmp_path / "nothing"], capsys)[::2], "does not exist")
    _one_error_line(*run_cli(["evaluate", tmp_path / "other", "--split", "wobble"], capsys)[::2],
                    "unknown split part 'wobble'")
    (tmp_path / "other" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    _one_error_line(*run_cli(["train", "--resume", tmp_path / "other"], capsys)[::2], "cannot be read")


def test_resume_on_another_dataset_is_refused(tmp_path, capsys):
    root = tmp_path / "ds"
    write_learnable(root, n=40)
    cfg = TrainConfig(root, targets=("image_xy",), steps=4, eval_every=2, batch_size=8, arch="tinycnn",
                      num_workers=0)
    train(cfg, tmp_path / "run", progress=False, stop_after=2)
    shutil.rmtree(root)
    write_learnable(root, n=40, seed=2)  # another dataset at the same path
    code, _, err = run_cli(["train", "--resume", tmp_path / "run"], capsys)
    _one_error_line(code, err, "but run")
    assert "spec hash" in err


def test_sigterm_stops_with_a_checkpoint_and_resume_matches(learn_root, tmp_path):
    """A real process stopped by SIGTERM mid-run: exit 130 after a checkpoint of the step it had
    finished; resuming it with a budget of k+6 steps equals a straight run of k+6 steps."""
    import os
    import signal
    import subprocess
    import sys
    import time
    run = tmp_path / "run"
    args = [sys.executable, "-m", "latentscape", "train", str(learn_root), "--targets", "image_xy,category",
            "--arch", "tinycnn", "--batch-size", "16", "--eval-every", "5", "--num-workers", "0", "--steps", "100000",
            "--quiet", "--out", str(run)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (run / "checkpoint.pt").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "stopped after step" in err and "Traceback" not in err, err
    k = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert k >= 5
    cfg = TrainConfig.from_yaml(run / "config.yaml").replace(steps=k + 6)
    straight = train(cfg, tmp_path / "straight", progress=False).run
    train(resume=run, steps=k + 6, progress=False)
    assert_same_weights(weights_of(straight), weights_of(run))
    assert (straight / "metrics.csv").read_text() == (run / "metrics.csv").read_text()


def test_split_definition_holds_out_a_category(learn_root, tmp_path):
    """A held-out split from the dataset's split machinery: cones only in test; the run's
    evaluate --split test reads exactly them. Images resized on the device (input_size)."""
    split = {"name": "nocone", "fractions": {"train": 0.8, "val": 0.2},
             "holdout": [{"part": "test", "where": {"latent": "category", "in": ["cone"]}}]}
    cfg = TrainConfig(learn_root, targets=("image_xy", "category"), steps=4, eval_every=4, split=split,
                      input_size=24, **FAST)
    run = train(cfg, tmp_path / "run", progress=False).run
    ck = torch.load(run / "checkpoint.pt", weights_only=True)
    assert ck["input_size"] == 24 and ck["config"]["split"]["seed"] == 0
    train_part = LatentDataset(learn_root, targets=["category"], split="train", splits=split)
    assert 0 not in {int(train_part.targets_of(i)["category"]) for i in range(len(train_part))}
    res = evaluate(run, split="test")
    every = LatentDataset(learn_root, targets=["category"])
    cones = sum(int(every.targets_of(i)["category"]) == 0 for i in range(len(every)))
    assert res["split"] == "test" and res["n"] == cones > 0 and res["chance"]["category.chance"] == 1.0
    assert not (learn_root / "splits").exists()  # training never writes into the dataset


def test_help(capsys):
    for cmd in (["train"], ["evaluate"]):
        code, out, _ = run_cli(cmd + ["--help"], capsys)
        assert code == 0 and "Usage" in out


def test_pretrained_weights_from_a_local_file(tmp_path):
    """ImageNet-style weights come from a file the user gives (no download): the backbone is
    loaded, the classifier replaced; a file of another architecture or no state dict is refused."""
    import torchvision
    ref = torchvision.models.resnet18(weights=None)
    torch.save(ref.state_dict(), tmp_path / "r18.pth")
    torch.save({"model": ref.state_dict()}, tmp_path / "wrapped.pth")
    for f in ("r18.pth", "wrapped.pth"):
        m = build_model("resnet18", 5, str(tmp_path / f), input_size=32)
        assert torch.equal(m.conv1.weight, ref.conv1.weight) and m.fc.out_features == 5
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(TrainError, match="do not fit resnet18"):
        build_model("resnet18", 5, str(tmp_path / "r34.pth"), input_size=32)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(TrainError, match="cannot be read"):
        build_model("resnet18", 5, str(tmp_path / "junk.pth"), input_size=32)


def test_a_run_trains_on_a_scene_latent_and_refuses_distractor_tables(tmp_path):
    """camera_height of a ground-scene dataset is a target like any other; distractor tables are not (yet)."""
    root = tmp_path / "ground"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", scene="ground", n=48, shard_size=24,
                                              resolution=16, seed=2))
    cfg = TrainConfig(root, targets=("camera_height", "category"), steps=4, eval_every=2, **FAST)
    run = train(cfg, tmp_path / "run", progress=False).run
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "camera_height.loss" in header and "camera_height.r2" in header
    with pytest.raises(TrainError, match="distractor tables are padded per image"):
        TrainConfig(root, targets=("distractor_position",))
