"""benchmarks/gpu_check.sh, the one-command GPU render check (docs/gpu.md), run here on the CPU.

* The real path: `--device cpu --n 8 --resolution 32 --qualities draft --workers-per-device 1`,
  real Blender renders, `latentscape verify`, the JSON checked value by value.
* The GPU path without a GPU: a stand-in `nvidia-smi` on PATH and a PYTHON wrapper that makes
  `--device optix` fail the way latentscape does on a machine without OptiX and renders
  `--device cuda` on the CPU, so the default device choice (OptiX, then CUDA), the nvidia-smi
  sampling and the utilisation / memory figures are exercised.
* Bad options: exit 2 and one line on stderr, before anything starts.
"""
from __future__ import annotations

import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"

# CI installs bpy, and there a skip fails the run
needs_bpy = pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="bpy not installed")


def run_check(args, tmp_path, env_extra=None, timeout=240):
    env = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path), **(env_extra or {})}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.glob("gpu_check.*"))


@pytest.mark.blender
@needs_bpy
def test_cpu_run_renders_verifies_and_writes_json(tmp_path):
    p = run_check(["--device", "cpu", "--n", "8", "--resolution", "32", "--qualities", "draft",
                   "--workers-per-device", "1", "--json", "tmp.json"], tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "tmp.json").read_text())
    assert doc["device"] == "cpu" and doc["n"] == 8 and doc["resolution"] == 32 and doc["all_ok"] is True
    assert len(doc["rows"]) == 1
    row = doc["rows"][0]
    assert row["quality"] == "draft" and row["workers"] == 1 and row["workers_flag"] == "--workers"
    assert row["images"] == 8 and row["verified_images"] == 8
    assert row["img_s"] > 0 and row["seconds"] > 0 and row["img_s"] == pytest.approx(8 / row["seconds"], rel=0.01)
    assert row["render_exit"] == 0 and row["verify_exit"] == 0 and row["verify_ok"] is True
    assert row["verify_line"].startswith("ok: 8 images")
    assert row["devices_used"] == "CPU"  # what the render command itself reported
    assert row["gpu_util_mean_pct"] is None and row["gpu_mem_peak_mib"] is None  # n/a on cpu
    m = doc["machine"]
    assert m["bpy"] and m["bpy"][0].isdigit() and m["cores"] >= 1 and m["cpu"] and m["date"]
    # the table
    line = next(ln for ln in p.stdout.splitlines() if ln.startswith("draft"))
    assert line.split()[:3] == ["draft", "1", "8"] and line.split()[-3:] == ["n/a", "n/a", "ok"]
    assert leftovers(tmp_path) == []  # the temporary --out folder is removed


FAKE_SMI = r"""#!/usr/bin/env bash
case "$*" in
  *-L*) echo "GPU 0: NVIDIA Stand-in (UUID: GPU-00000000)" ;;
  *driver_version*) echo "999.99" ;;
  *-lms*) while true; do echo "40, 1000"; echo "80, 3000"; sleep 0.1; done ;;
  *) exit 1 ;;
esac
"""

# `-m latentscape render|preview ... --device optix` fails as latentscape does without OptiX;
# `--device cuda` renders on the CPU
FAKE_PYTHON = r"""#!/usr/bin/env bash
args=()
for a in "$@"; do
  if [[ "$a" == optix ]]; then
    echo "error: requested render device 'optix' but Cycles found no OPTIX device; found: {'CPU': ['x']}" >&2
    exit 1
  fi
  [[ "$a" == cuda ]] && a=cpu
  args+=("$a")
done
exec @PYTHON@ "${args[@]}"
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.blender
@needs_bpy
def test_gpu_path_with_a_stand_in_nvidia_smi(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "nvidia-smi", FAKE_SMI)
    py = _executable(tmp_path / "python-wrapper", FAKE_PYTHON.replace("@PYTHON@", sys.executable))
    p = run_check(["--n", "4", "--resolution", "16", "--qualities", "draft", "--workers-per-device", "1",
                   "--json", "gpu.json"], tmp_path,
                  env_extra={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHON": str(py)})
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads((tmp_path / "gpu.json").read_text())
    assert doc["device"] == "cuda"  # no OptiX: the default fell back to CUDA, saying why
    assert "gpu_check: no optix: error: requested render device 'optix'" in p.stderr
    row, = doc["rows"]
    assert row["workers_flag"] == "--workers-per-device" and row["images"] == 4 and row["verify_ok"]
    assert 40 <= row["gpu_util_mean_pct"] <= 80 and row["gpu_mem_peak_mib"] == 3000
    assert doc["machine"]["gpus"] == ["GPU 0: NVIDIA Stand-in (UUID: GPU-00000000)"]
    assert doc["machine"]["gpu_driver"] == "999.99"
    assert "NVIDIA Stand-in" in p.stdout
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("args, words", [
    (["--device", "foo"], ["--device", "optix, cuda or cpu", "'foo'"]),
    (["--n", "ten"], ["--n", "'ten'"]),
    (["--qualities", "ultra"], ["quality", "'ultra'"]),
    (["--bogus"], ["unknown option", "'--bogus'"]),
])
def test_bad_options_exit_nonzero_with_one_clear_line(tmp_path, args, words):
    p = run_check(args, tmp_path, timeout=30)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpu_check: error:"), p.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert p.stdout == "" and leftovers(tmp_path) == []
