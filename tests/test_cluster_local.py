"""What every executor relies on, exercised with the local one and real Blender: a failed shard
is retried by a fresh worker and recorded in the root, workers are recycled without changing
a pixel, `status` reads the root, bad executor flags are one line."""
import json
import os
import time

import pytest
from support import assert_one_line_error, assert_same_dataset, run_cli

from latentscape.dataset.verify import verify
from latentscape.pipeline import failures
from latentscape.pipeline.cluster import ClusterOptions, _probe
from latentscape.pipeline.engine import EngineError
from latentscape.pipeline.jobs import probe_root
from latentscape.pipeline.slurm import parse_time
from latentscape.pipeline.status import root_status

N, SHARD, RES = 12, 3, 16
ARGS = ["--n", str(N), "--shard-size", str(SHARD), "--resolution", str(RES), "--quality", "draft", "--samples", "1",
        "--library", "placeholder", "--vary", "pose,position,category", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "ref"
    r = run_cli("render", *ARGS, "--out", str(root), "--recycle-shards", "0")
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.blender
def test_recycled_workers_give_the_same_dataset(reference, tmp_path):
    root = tmp_path / "rec"
    r = run_cli("render", *ARGS, "--out", str(root), "--recycle-shards", "1")
    assert r.returncode == 0, r.stderr
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)


@pytest.mark.blender
def test_a_shard_that_fails_once_is_retried_and_leaves_no_record(reference, tmp_path):
    root = tmp_path / "once"
    marker = tmp_path / "failed-once"
    r = run_cli("render", *ARGS, "--out", str(root), env={"LATENTSCAPE_TEST_FAIL_IMAGE": f"7:{marker}"})
    assert r.returncode == 0, r.stderr
    assert marker.exists()  # the failure did happen
    assert sorted(os.listdir(root)) == ["dataset.json", "shards"]  # its record went with the retry's success
    assert_same_dataset(root, reference)


@pytest.mark.blender
def test_a_shard_that_keeps_failing_is_reported_and_the_rest_rendered(reference, tmp_path):
    root = tmp_path / "always"
    r = run_cli("render", *ARGS, "--out", str(root), "--max-attempts", "2",
                env={"LATENTSCAPE_TEST_FAIL_IMAGE": "7"})
    line = assert_one_line_error(r, "1 shard(s) failed 2 time(s)", "shard 2, image 7", "injected", "status")
    st = root_status(root)
    assert (st.done_shards, st.done_images) == (N // SHARD - 1, N - SHARD)
    assert [f.shard_id for f in st.failed] == [2] and len(st.failed[0].attempts) == 2
    assert "image 7" in st.failed[0].last_cause
    out = run_cli("status", str(root)).stdout
    assert "3 done, 0 running, 1 failed, 0 missing" in out and "failed: shard 2 (2 attempt(s))" in out, out
    # a new run tries again (the failure is gone now) and completes the dataset
    r = run_cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, (line, r.stderr)
    assert not (root / failures.FAILURES).exists()
    assert_same_dataset(root, reference)


@pytest.mark.blender
def test_status_counts_running_stale_and_missing_and_measures_the_rate(reference, tmp_path):
    import shutil
    root = tmp_path / "st"
    shutil.copytree(reference, root)
    m = json.loads((root / "dataset.json").read_text())
    m["shards"] = m["shards"][:2]  # shards 2 and 3 become missing
    (root / "dataset.json").write_text(json.dumps(m))
    (root / "shards" / "shard-000002.h5").unlink()
    (root / "shards" / "shard-000003.h5").unlink()
    now = time.time()
    for i, rec in enumerate(m["shards"]):  # finished 60 s apart
        os.utime(root / rec["file"], (now - 60 * (1 - i), now - 60 * (1 - i)))
    (root / "claims").mkdir()
    (root / "claims" / "shard-000002.claim").write_text(json.dumps({"host": "node7", "pid": 42, "expires": now + 30}))
    st = root_status(root)
    assert (st.done_shards, [r[:3] for r in st.running], st.missing_shards) == (2, [(2, "node7", 42)], 1)
    # 3 images (the second shard) in 60 s since the first finished
    assert st.rate_img_s == pytest.approx(SHARD / 60, rel=0.05)
    assert st.eta_s == pytest.approx((N - 2 * SHARD) / st.rate_img_s, rel=1e-6)
    (root / "claims" / "shard-000002.claim").write_text(json.dumps({"host": "node7", "pid": 42, "expires": now - 1}))
    st = root_status(root)
    assert (st.running, st.stale, st.missing_shards) == ([], [2], 2)
    j = json.loads(run_cli("status", str(root), "--json").stdout)
    assert (j["shards_done"], j["shards_missing"], j["images_done"]) == (2, 2, 2 * SHARD)


def test_status_of_a_non_dataset_is_one_line(tmp_path):
    assert_one_line_error(run_cli("status", str(tmp_path)), "not a latentscape dataset")


@pytest.mark.parametrize("flags, needle", [
    (["--jobs", "2"], "--jobs do(es) not apply to --executor local"),
    (["--executor", "ray", "--slurm-partition", "gpu"], "--slurm-partition do(es) not apply to --executor ray"),
    (["--executor", "slurm", "--ray-address", "auto"], "--ray-address do(es) not apply to --executor slurm"),
    (["--executor", "slurm", "--time", "soon"], "--time 'soon'"),
    (["--executor", "ray", "--detach"], "--detach with --executor ray needs a running Ray cluster"),
])
def test_bad_executor_flags_are_one_line_and_write_nothing(tmp_path, flags, needle):
    out = tmp_path / "never"
    assert_one_line_error(run_cli("render", *ARGS, "--out", str(out), *flags), needle)
    assert not out.exists()


@pytest.mark.parametrize("text, minutes", [("30", 30), ("4:00:00", 240), ("1:30", 2), ("1-0", 1440),
                                           ("1-2:30", 1590), ("0:0:59", 1)])
def test_slurm_time_formats(text, minutes):
    assert parse_time(text) == minutes


def test_cluster_options_are_checked():
    with pytest.raises(EngineError, match="unknown executor 'pbs'"):
        ClusterOptions("pbs")
    with pytest.raises(EngineError, match="jobs must be an integer"):
        ClusterOptions("slurm", jobs=0)


class _Handle:
    """A probe 'job' run in this process against another directory: a node that mounts a
    different file system at the same path sees no probe file there."""

    def __init__(self, seen_root, token):
        self.seen_root, self.token, self.id = seen_root, token, "probe-1"

    def done(self):
        return True

    def result(self):
        return probe_root(str(self.seen_root), self.token, wait_s=1.0)

    def cancel(self):
        pass


class _Engine:
    def __init__(self, seen_root):
        self.seen_root = seen_root

    def probe(self, token):
        return _Handle(self.seen_root, token)


def test_probe_passes_on_a_shared_root_and_names_a_root_the_nodes_cannot_see(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "node-view"
    root.mkdir()
    elsewhere.mkdir()
    _probe(_Engine(root), root, timeout_s=5)
    assert list((root / "jobs").iterdir()) == []  # probe files removed
    with pytest.raises(EngineError, match="cannot see .*share.*--no-probe"):
        _probe(_Engine(elsewhere), root, timeout_s=5)


@pytest.mark.blender
def test_a_worker_that_crashes_mid_shard_is_replaced_and_the_shard_retried(reference, tmp_path):
    root = tmp_path / "crash"
    marker = tmp_path / "crashed-once"
    r = run_cli("render", *ARGS, "--out", str(root), env={"LATENTSCAPE_TEST_CRASH_IMAGE": f"4:{marker}"})
    assert r.returncode == 0, r.stderr
    assert marker.exists()
    assert sorted(os.listdir(root)) == ["dataset.json", "shards"]
    assert_same_dataset(root, reference)


@pytest.mark.blender
def test_a_shard_that_crashes_its_worker_every_time_is_reported(tmp_path):
    root = tmp_path / "crashes"
    r = run_cli("render", *ARGS, "--out", str(root), "--max-attempts", "2",
                env={"LATENTSCAPE_TEST_CRASH_IMAGE": "4"})
    assert_one_line_error(r, "1 shard(s) failed 2 time(s)", "shard 1: the worker process died")
    assert root_status(root).done_shards == N // SHARD - 1
