"""benchmarks/train_gpu.py, the script prepared for a lent GPU machine, run here with --device cpu
--steps 3 on a tiny dataset, the way it runs there: `PYTHONPATH=.` from the repository root, in
a Python where only torch, numpy and h5py can be imported (click, yaml, tqdm, matplotlib,
Pillow, torchvision, tensorboard, bpy and the optional codecs are blocked), so the package's
import path on the GPU machine needs nothing else."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "train_gpu.py"
BLOCKED = ("click", "yaml", "tqdm", "matplotlib", "PIL", "torchvision", "tensorboard", "bpy", "scipy", "hdf5plugin",
           "lzf", "zstandard")
# the blocked packages look absent (None in sys.modules: `import` raises ImportError, importlib's
# find_spec answers None), then the script runs as __main__
BARE = """
import runpy, sys
for name in {blocked!r}:
    sys.modules[name] = None
sys.argv = [{script!r}] + sys.argv[1:]
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from test_train import write_learnable  # written through the storage layer, no Blender
    root = tmp_path_factory.mktemp("gpu_script") / "ds"
    write_learnable(root, n=80, vary=("position", "pose", "category"))
    return root


def test_gpu_script_runs_on_the_cpu_with_only_torch_numpy_h5py(tiny_root, tmp_path):
    out_json = tmp_path / "r.json"
    code = BARE.format(blocked=BLOCKED, script=str(SCRIPT))
    env = {**os.environ, "PYTHONPATH": ".", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code, "--device", "cpu", "--steps", "3", "--batch-size", "16",
                        "--data", str(tiny_root), "--num-workers", "0", "--threads", "1", "--out",
                        str(tmp_path / "run"), "--json", str(out_json)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(out_json.read_text())
    assert r["steps"] == 3 and r["device"] == "cpu" and r["amp"] is False
    assert r["arch"] == "tinycnn"  # torchvision blocked: the script falls back
    assert r["yaml"].startswith("stand-in")  # PyYAML blocked: the JSON stand-in wrote and read config.yaml
    assert r["img_s"] > 0 and r["timed_steps"] == 1
    assert {"position.x.r2", "image_xy.u.r2", "pose.geodesic_deg", "category.acc"} <= set(r["test"])
    assert r["test_n"] == 8 and "category.chance" in r["chance"] and r["val"]["step"] == 3
    assert "img/s" in p.stdout and "Traceback" not in p.stderr
    # the run it wrote reads back with the real packages too (config.yaml is JSON, which is YAML)
    from latentscape.train import TrainConfig
    assert TrainConfig.from_yaml(tmp_path / "run" / "config.yaml").steps == 3


def test_gpu_script_refuses_a_missing_dataset(tmp_path):
    p = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--data", str(tmp_path / "none")],
                       cwd=REPO, env={**os.environ, "PYTHONPATH": "."}, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "make_train_gpu_data.py" in p.stderr
