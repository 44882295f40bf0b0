"""Trust in the render pipeline: reruns repair, concurrent writers cooperate, kills and
signals leave a whole dataset, a full disk is one line. Real Blender, tiny images."""
import json
import os
import signal
import subprocess
import time

import pytest
from support import assert_one_line_error, assert_same_dataset, popen_cli, run_cli
from support import wait_for_shards as _wait_for_shards

from latentscape.dataset.verify import verify

pytestmark = pytest.mark.blender

N, SHARD, RES = 16, 2, 16
ARGS = ["--n", str(N), "--shard-size", str(SHARD), "--resolution", str(RES), "--samples", "1",
        "--library", "placeholder", "--vary", "pose,position,category", "--device", "cpu", "--quiet"]


_cli, _popen, _one_line_error = run_cli, popen_cli, assert_one_line_error


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref") / "ref"
    r = _cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, r.stderr
    assert verify(root)[0] == []
    return root


def _copy(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage", ["delete", "truncate", "swap-in-other"])
def test_rerun_rerenders_missing_or_damaged_shards(reference, tmp_path, damage):
    root = _copy(reference, tmp_path / "d")
    s1, s3 = root / "shards" / "shard-000001.h5", root / "shards" / "shard-000003.h5"
    if damage == "delete":
        s1.unlink()
    elif damage == "truncate":
        s1.write_bytes(s1.read_bytes()[: s1.stat().st_size // 2])
    else:
        s1.write_bytes(s3.read_bytes())  # another shard: wrong size, wrong index range in its header
    assert verify(root)[0] != []
    r = _cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, r.stderr
    assert "re-rendered 1 damaged shard(s): shards/shard-000001.h5" in r.stdout
    assert f"all {N} images present" in r.stdout
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)


def test_flipped_byte_is_not_called_complete_and_repair_fixes_it(reference, tmp_path):
    root = _copy(reference, tmp_path / "f")
    p = root / "shards" / "shard-000002.h5"
    b = bytearray(p.read_bytes())
    b[-200] ^= 0xFF  # inside image data: size and header stay valid
    p.write_bytes(bytes(b))
    problems = verify(root)[0]
    assert [x.where for x in problems] == ["shards/shard-000002.h5"]
    r = _cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0 and "complete" not in r.stdout  # the cheap check says what it checked
    assert "`latentscape verify` checks every byte" in r.stdout
    bad = _cli("render", "--repair", str(root), "--n", "4")
    _one_line_error(bad, "--repair ROOT takes the spec from ROOT's manifest; drop --n")
    r = _cli("render", "--repair", str(root), "--device", "cpu", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "re-rendered 1 damaged shard(s): shards/shard-000002.h5 (sha256 mismatch)" in r.stdout
    assert verify(root)[0] == []
    assert_same_dataset(root, reference)


def test_repair_renders_from_the_stored_description_and_refuses_missing_assets(reference, tmp_path):
    from latentscape.resolve import ResolvedDataset
    root = _copy(reference, tmp_path / "moved")
    m = json.loads((root / "dataset.json").read_text())
    m["resolved"]["objects"][0].update(name="elsewhere/gone", builder="file:/nonexistent/gone.obj")
    m["spec_hash"] = ResolvedDataset.from_dict(m["resolved"]).identity()  # a consistent, other description
    (root / "dataset.json").write_text(json.dumps(m))
    r = _cli("render", "--repair", str(root), "--device", "cpu", "--quiet")
    _one_line_error(r, "cannot repair", "object 'elsewhere/gone': /nonexistent/gone.obj missing")


def test_a_root_made_by_latentscape_0_1_is_named_in_one_line(reference, tmp_path):
    from latentscape.resolve import resolve
    from latentscape.specopts import spec_from_flags
    root = _copy(reference, tmp_path / "old")
    m = json.loads((root / "dataset.json").read_text())
    spec = spec_from_flags(n=N, shard_size=SHARD, resolution=RES, samples=1, library="placeholder",
                           vary="pose,position,category")
    m["resolved"].pop("identity_version")  # the 0.1 manifest layout: names only
    m["spec_hash"], m["latentscape_version"] = resolve(spec).legacy_identity(), "0.1.0"
    (root / "dataset.json").write_text(json.dumps(m))
    (root / "shards" / "shard-000001.h5").unlink()
    before = sorted(os.listdir(root / "shards"))
    r = _cli("render", *ARGS, "--out", str(root))
    _one_line_error(r, "made by latentscape 0.1.0", "it is the same spec", "pip install latentscape==0.1.0")
    assert sorted(os.listdir(root / "shards")) == before  # nothing re-rendered or mixed in


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_renders_share_the_work_and_end_whole(reference, tmp_path, writers):
    root = tmp_path / "c"
    procs = []
    for k in range(writers):
        procs.append(_popen("render", *ARGS, "--out", str(root)))
        time.sleep(0.3 * k)  # 0 s, 0.3 s, 0.6 s ... apart: creation and claiming race
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert f"all {N} images present" in out, out
    rendered = [int(out.split("rendered ")[1].split(" ")[0]) if "nothing to render" not in out else 0
                for out, _ in outs]
    assert sum(rendered) == N  # no shard rendered twice
    assert verify(root)[0] == []
    assert sorted(os.listdir(root)) == ["dataset.json", "shards"]  # no claims, locks or temp files left
    assert sorted(os.listdir(root / "shards")) == [f"shard-{k:06d}.h5" for k in range(N // SHARD)]
    assert_same_dataset(root, reference)


def test_a_sigkilled_writer_is_taken_over_after_its_lease(reference, tmp_path):
    root = tmp_path / "k"
    env = {"LATENTSCAPE_LEASE_S": "2"}
    p = _popen("render", *ARGS, "--out", str(root), env=env)
    t0 = time.time()
    while not list((root / "claims").glob("*.claim")) if (root / "claims").exists() else True:
        assert time.time() - t0 < 120 and p.poll() is None
        time.sleep(0.05)
    os.killpg(p.pid, signal.SIGKILL)  # parent and workers: claims, maybe temp files, stay behind
    p.wait()
    left = list((root / "claims").glob("*.claim"))
    assert left
    r = _cli("render", *ARGS, "--out", str(root), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert verify(root)[0] == []
    assert sorted(os.listdir(root)) == ["dataset.json", "shards"]
    assert not [x for x in os.listdir(root / "shards") if x.startswith(".")]
    assert_same_dataset(root, reference)


def test_ctrl_c_stops_a_million_image_run_within_seconds(tmp_path):
    root = tmp_path / "big"
    p = _popen("render", "--n", "1000000", "--vary", "pose,position", "--resolution", "8", "--samples", "1",
               "--shard-size", "200", "--library", "placeholder", "--device", "cpu", "--out", str(root))
    _wait_for_shards(root, 1, p)
    t0 = time.time()
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert time.time() - t0 < 20
    assert p.returncode == 130 and "Traceback" not in err
    assert "rerun the same command to resume" in err.strip().splitlines()[-1]
    problems = verify(root)[0]
    assert problems and all("missing" in str(x) for x in problems)


def test_ctrl_c_while_workers_start_is_one_line(tmp_path):
    root = tmp_path / "early"
    p = _popen("render", *ARGS, "--workers", "2", "--out", str(root))
    t0 = time.time()
    while not (root / "dataset.json").exists():  # the parent is past planning: workers are being spawned
        assert time.time() - t0 < 60 and p.poll() is None
        time.sleep(0.01)
    time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1].startswith("interrupted: stopped by SIGINT")


def test_disk_full_is_one_line_keeps_whole_shards_and_resumes(reference, tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)], check=True)
    try:
        root = mnt / "d"
        r = _cli("render", *ARGS, "--compression", "none", "--passes", "mask,depth", "--out", str(root))
        _one_line_error(r, "disk full", "whole shard(s)", "rerun the same command")
        problems = verify(root)[0]
        assert problems and all("missing" in str(x) for x in problems)  # what was kept is whole
        assert not [x for x in os.listdir(root / "shards") if x.startswith(".")]
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        r = _cli("render", *ARGS, "--compression", "none", "--passes", "mask,depth", "--out", str(root))
        assert r.returncode == 0, r.stderr
        assert verify(root)[0] == []
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_worker_whose_parent_is_already_gone_exits_instead_of_waiting():
    """A Slurm job killed while its new render worker was still importing left that worker waiting for
    tasks for ever (it read its parent's pid after the parent died: 1). The parent's pid now comes from
    the parent, and a worker that starts orphaned returns at once, before building anything."""
    import multiprocessing as mp
    from latentscape.renderer.worker import worker_main
    ctx = mp.get_context("spawn")
    tasks, results, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    gone = 2**31 - 2  # no process has this pid: not the worker's parent
    p = ctx.Process(target=worker_main, args=(0, None, tasks, results, stop, gone), daemon=True)
    p.start()
    p.join(120)
    assert p.exitcode == 0
    assert results.empty()  # no stage was built, nothing reported
