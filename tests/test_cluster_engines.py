"""Rendering through real engines: a single-node Slurm (scripts/slurm_local.sh, started by
.ci/run) driven through submitit, and Ray (a local Ray, and a `ray start --head` cluster).
Same spec, same dataset whatever the executor; a job killed mid-shard leaves a dataset that
completes identical to a clean run."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from support import assert_one_line_error, free_port, assert_same_dataset, popen_cli, run_cli

from latentscape.dataset.verify import verify
from latentscape.pipeline.jobs import submissions
from latentscape.pipeline.status import root_status

pytestmark = pytest.mark.blender

N, SHARD, RES = 12, 3, 16
ARGS = ["--n", str(N), "--shard-size", str(SHARD), "--resolution", str(RES), "--quality", "draft", "--samples", "1",
        "--library", "placeholder", "--vary", "pose,position,category", "--device", "cpu", "--quiet"]
LEASE = {"LATENTSCAPE_LEASE_S": "3"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "ref"
    r = run_cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, r.stderr
    return root


def _wait_for_claim(root, proc=None, timeout=180):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        claims = sorted((root / "claims").glob("*.claim")) if (root / "claims").is_dir() else []
        for c in claims:
            try:
                return json.loads(c.read_text())
            except ValueError:  # being written
                pass
        assert proc is None or proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError(f"no shard was claimed in {root} within {timeout} s")


# ---- Slurm --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def slurm():
    """The running single-node Slurm (scripts/slurm_local.sh start)."""
    try:
        state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        state = ""
    if "idle" not in state and "mixed" not in state and "alloc" not in state:
        pytest.skip("no Slurm running here: start one with scripts/slurm_local.sh start")
    return "debug"


def _squeue(job_ids):
    arrays = sorted({str(j).split("_")[0] for j in job_ids})
    return subprocess.run(["squeue", "-h", "-r", "-j", ",".join(arrays), "-o", "%i %T"], capture_output=True,
                          text=True).stdout.split()


def test_slurm_jobs_render_the_same_dataset_as_a_local_run(slurm, reference, tmp_path):
    root = tmp_path / "slurm"
    r = run_cli("render", *ARGS, "--out", str(root), "--executor", "slurm", "--jobs", "2",
                "--slurm-partition", slurm, "--time", "10", timeout=600)
    assert r.returncode == 0, r.stderr
    assert "2 slurm job(s)" in r.stdout and f"all {N} images present" in r.stdout, r.stdout
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)
    sub = submissions(root)
    assert len(sub) == 1 and sub[0]["executor"] == "slurm" and len(sub[0]["jobs"]) == 2
    st = root_status(root)
    assert (st.done_shards, st.running, st.failed, st.missing_shards) == (N // SHARD, [], [], 0)


def test_a_killed_slurm_job_is_finished_by_a_resubmission(slurm, tmp_path):
    big = [*ARGS[:1], "48", *ARGS[2:]]  # 16 shards: the job is still busy when it is killed
    ref = tmp_path / "ref48"
    assert run_cli("render", *big, "--out", str(ref)).returncode == 0
    root = tmp_path / "scancel"
    r = run_cli("render", *big, "--out", str(root), "--executor", "slurm", "--jobs", "1", "--detach",
                "--no-probe", "--time", "10", env=LEASE, timeout=120)
    assert r.returncode == 0 and "submitted 1 slurm job(s)" in r.stdout, r.stderr
    job = submissions(root)[0]["jobs"][0]
    holder = _wait_for_claim(root)  # the job is inside a shard
    # killed outright (a node failure, the OOM killer): no grace, no clean stop. (A plain scancel
    # sends SIGTERM, which a submitit job leaves to submitit, and SIGKILL only KillWait later.)
    os.kill(holder["pid"], signal.SIGKILL)
    subprocess.run(["scancel", str(job).split("_")[0]], check=True)
    t0 = time.monotonic()
    while _squeue([job]):
        assert time.monotonic() - t0 < 60, _squeue([job])
        time.sleep(0.5)
    assert len(json.loads((root / "dataset.json").read_text())["shards"]) < 16
    r = run_cli("render", *big, "--out", str(root), "--executor", "slurm", "--jobs", "2", "--time", "10",
                env=LEASE, timeout=600)
    assert r.returncode == 0, r.stderr
    assert verify(root)[0] == []
    assert not [x for x in os.listdir(root / "shards") if x.startswith(".")]
    assert_same_dataset(root, ref)


def test_a_requeued_slurm_job_continues_by_itself(slurm, reference, tmp_path):
    """What preemption with requeue does: Slurm stops the job mid-shard and starts it again;
    the restarted job finishes the dataset with no resubmission."""
    root = tmp_path / "requeue"
    r = run_cli("render", *ARGS, "--out", str(root), "--executor", "slurm", "--jobs", "1", "--detach",
                "--no-probe", "--time", "10", env=LEASE, timeout=120)
    assert r.returncode == 0, r.stderr
    job = str(submissions(root)[0]["jobs"][0]).split("_")[0]
    _wait_for_claim(root)
    subprocess.run(["scontrol", "requeue", job], check=True)
    t0 = time.monotonic()
    while "PENDING" not in _squeue([job]):
        assert time.monotonic() - t0 < 60, _squeue([job])
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=True)  # skip requeue's delay
    while len(json.loads((root / "dataset.json").read_text())["shards"]) < N // SHARD:
        assert time.monotonic() - t0 < 300, _squeue([job])
        time.sleep(0.5)
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)


def test_slurm_bad_partition_is_one_line_before_anything_is_written(slurm, tmp_path):
    out = tmp_path / "never"
    r = run_cli("render", *ARGS, "--out", str(out), "--executor", "slurm", "--slurm-partition", "gpu-nope")
    assert_one_line_error(r, "Slurm partition 'gpu-nope' does not exist", "partitions: debug")
    assert not out.exists()


def test_slurm_refusing_the_resources_is_one_line(slurm, tmp_path):
    """This node has no GPU: sbatch refuses a job asking for one, before any job runs."""
    out = tmp_path / "gpu"
    r = run_cli("render", *ARGS, "--out", str(out), "--executor", "slurm", "--slurm-gpus-per-task", "1",
                timeout=120)
    assert_one_line_error(r, "sbatch refused the job")


def test_no_slurm_on_path_is_one_line(tmp_path):
    out = tmp_path / "never"
    env = {"PATH": os.path.dirname(sys.executable)}  # python, but no sbatch/sinfo
    r = run_cli("render", *ARGS, "--out", str(out), "--executor", "slurm", env=env)
    assert_one_line_error(r, "Slurm's sbatch/sinfo are not on PATH")
    assert not out.exists()


# ---- Ray ----------------------------------------------------------------------------------------

def _ray_env(tmp_path):
    return {"HOME": str(tmp_path), "RAY_USAGE_STATS_ENABLED": "0"}


def test_local_ray_renders_the_same_dataset_as_a_local_run(reference, tmp_path):
    root = tmp_path / "ray"
    r = run_cli("render", *ARGS, "--out", str(root), "--executor", "ray", "--jobs", "2", env=_ray_env(tmp_path),
                timeout=600)
    assert r.returncode == 0, r.stderr
    assert "2 ray job(s)" in r.stdout, r.stdout
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)


@pytest.fixture
def ray_cluster(tmp_path):
    """`ray start --head` on loopback with 2 CPUs; stopped (by its own CLI) afterwards."""
    ray = shutil.which("ray", path=os.path.dirname(sys.executable))
    assert ray, "the ray CLI is installed with the cluster extra"
    port = free_port()
    temp = f"/tmp/lsray{os.getpid()}"  # Ray's socket paths must stay short
    env = {**os.environ, **_ray_env(tmp_path), **LEASE}
    subprocess.run([ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                    "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
                   check=True, capture_output=True, env=env, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


def test_a_killed_ray_task_is_retried_and_the_dataset_ends_whole(ray_cluster, reference, tmp_path):
    root = tmp_path / "raykill"
    p = popen_cli("render", *ARGS, "--out", str(root), "--executor", "ray", "--ray-address", ray_cluster,
                  "--jobs", "1", env={**_ray_env(tmp_path), **LEASE})
    holder = _wait_for_claim(root, p)
    os.kill(holder["pid"], signal.SIGKILL)  # the Ray worker running the task, mid-shard
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert verify(root)[0] == []
    assert not [x for x in os.listdir(root / "shards") if x.startswith(".")]
    assert_same_dataset(root, reference)


def test_ray_resources_no_node_has_are_one_line(tmp_path):
    out = tmp_path / "gpu"
    r = run_cli("render", *ARGS, "--out", str(out), "--executor", "ray", "--ray-gpus-per-task", "1",
                env=_ray_env(tmp_path), timeout=300)
    assert_one_line_error(r, "--ray-gpus-per-task 1: the Ray cluster has 0 GPU(s)")
    assert not out.exists()


def test_unreachable_ray_is_one_line(tmp_path):
    out = tmp_path / "never"
    r = run_cli("render", *ARGS, "--out", str(out), "--executor", "ray", "--ray-address", f"127.0.0.1:{free_port()}",
                env=_ray_env(tmp_path), timeout=300)
    assert_one_line_error(r, "could not start or reach Ray at")
    assert not out.exists()
