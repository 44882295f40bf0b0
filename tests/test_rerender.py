"""`verify --rerender K`: K random images re-rendered from the stored description must have
identical latents and pixels within the determinism tolerance. Real Blender, tiny images."""
import json
import shutil

import h5py
import numpy as np
import pytest
from support import assert_one_line_error, run_cli

from latentscape.api import rerender_check
from latentscape.dataset.format import sha256_file
from latentscape.dataset.reader import DatasetReader
from latentscape.pipeline.rerender import pick_indices
from latentscape.renderer.rerender import lead_rows

N, K = 12, 4
ARGS = ["--n", str(N), "--shard-size", "3", "--resolution", "16", "--quality", "draft", "--samples", "1",
        "--library", "placeholder", "--vary", "pose,position,category", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("rerender") / "ref"
    r = run_cli("render", *ARGS, "--out", str(root))
    assert r.returncode == 0, r.stderr
    return root


def _damaged(reference, tmp_path, change):
    """A copy of the dataset where `change(h5py file, row)` altered image index i (one the
    default seed re-renders), with the manifest's sha256 and size updated so that only the
    re-render can notice. Returns (root, i)."""
    root = tmp_path / "d"
    shutil.copytree(reference, root)
    i = int(pick_indices(N, K, np.random.default_rng(0), root)[1])
    with DatasetReader(root) as r:
        k, row = r.locate(i)
    m = json.loads((root / "dataset.json").read_text())
    rec = m["shards"][k]
    path = root / rec["file"]
    with h5py.File(path, "r+") as f:
        change(f, row)
    rec["sha256"], rec["bytes"] = sha256_file(path), path.stat().st_size
    (root / "dataset.json").write_text(json.dumps(m))
    return root, i


@pytest.mark.blender
def test_a_clean_dataset_passes(reference):
    r = run_cli("verify", str(reference), "--rerender", str(K))
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith(f"rerender: {K} images re-rendered on CPU, latents identical, pixels within tolerance"), last
    assert "Traceback" not in r.stderr


@pytest.mark.blender
def test_altered_pixels_fail_naming_the_image(reference, tmp_path):
    def brighten(f, row):
        img = f["images"][row]
        f["images"][row] = np.clip(img.astype(np.int16) + 40, 0, 255).astype(np.uint8)

    root, i = _damaged(reference, tmp_path, brighten)
    r = run_cli("verify", str(root), "--rerender", str(K))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    problems = [x for x in r.stdout.splitlines() if x.startswith("PROBLEM")]
    assert len(problems) == 1 and problems[0].startswith(f"PROBLEM image {i} (shards/"), r.stdout
    assert "pixels differ from a re-render" in problems[0]
    assert "latents identical, pixels beyond tolerance in 1" in r.stderr, r.stderr
    report = rerender_check(root, K)  # the API: the same comparison, numbers per image
    assert not report.ok and report.worst.index == i and not report.worst.within_tolerance
    assert [c.index for c in report.checks] == report.indices


@pytest.mark.blender
def test_altered_latents_fail_naming_the_latent(reference, tmp_path):
    def nudge(f, row):
        f["latents/position"][row] = f["latents/position"][row] + np.float64(1e-6)

    root, i = _damaged(reference, tmp_path, nudge)
    r = run_cli("verify", str(root), "--rerender", str(K))
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stdout + r.stderr
    problems = [x for x in r.stdout.splitlines() if x.startswith("PROBLEM")]
    assert len(problems) == 1, r.stdout
    assert problems[0].startswith(f"PROBLEM image {i} (shards/") and "stored latent 'position'" in problems[0]
    assert "latents differ in 1, pixels within tolerance" in r.stderr, r.stderr  # rendered from the description


@pytest.mark.parametrize("k", [N + 1, 0, -2])
def test_a_bad_count_is_one_line(reference, k):
    r = run_cli("verify", str(reference), "--rerender", str(k))
    assert_one_line_error(r, "--rerender K must be an integer in 1..12", f"got {k}")


def test_rerender_flags_need_rerender_and_a_broken_dataset_is_not_rerendered(reference, tmp_path):
    assert_one_line_error(run_cli("verify", str(reference), "--seed", "3"), "add --rerender K")
    root = tmp_path / "gap"
    shutil.copytree(reference, root)
    (root / "shards" / "shard-000001.h5").unlink()
    r = run_cli("verify", str(root), "--rerender", "2")
    assert r.returncode == 1 and "--rerender skipped" in r.stderr and "rerender:" not in r.stdout, r.stdout + r.stderr


def test_each_image_is_rendered_after_the_first_of_its_object_run_and_the_one_before_it():
    # render order: object-major, then background (stable): rows 3, 1, 4 | 0, 2
    lat = {"object_id": np.array([1, 0, 1, 0, 0]), "background_id": np.array([0, 1, 0, 0, 2])}
    assert lead_rows(lat, 3) == [3]
    assert lead_rows(lat, 1) == [3, 1]
    assert lead_rows(lat, 4) == [3, 1, 4]
    assert lead_rows(lat, 0) == [0]
    assert lead_rows(lat, 2) == [0, 2]


def test_the_seed_picks_the_images():
    a = pick_indices(100, 5, np.random.default_rng(0), "r")
    assert np.array_equal(a, pick_indices(100, 5, np.random.default_rng(0), "r"))
    assert not np.array_equal(a, pick_indices(100, 5, np.random.default_rng(1), "r"))
    assert len(set(a.tolist())) == 5 and a.min() >= 0 and a.max() < 100
