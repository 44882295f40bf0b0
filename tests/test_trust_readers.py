"""Trust under hostile or careless use, dataset side: malformed manifests give one clear
FormatError, shard entries never lead outside the root or to special files, and readers
never serve a wrong label (gaps, overlaps, swapped or foreign shard files are refused).
Real HDF5 datasets from the synthetic fixture (no Blender)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from support import no_hang

from conftest import write_synthetic_dataset
from latentscape.cli import main
from latentscape.config import DatasetSpec
from latentscape.dataset.export import export_webdataset
from latentscape.dataset.info import describe
from latentscape.dataset.manifest import check_coverage, load_manifest
from latentscape.dataset.reader import DatasetReader
from latentscape.dataset.splits import load_split
from latentscape.dataset.verify import verify
from latentscape.errors import FormatError, IncompleteDatasetError, SplitError

torch = pytest.importorskip("torch")
from latentscape import LatentDataset, LatentIterableDataset  # noqa: E402




def edit_manifest(root, fn):
    m = json.loads((root / "dataset.json").read_text())
    fn(m)
    (root / "dataset.json").write_text(json.dumps(m))


def cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def assert_one_line_error(code, err):
    assert code not in (0, None)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err


def _set(path, value):
    def fn(m):
        obj = m
        for k in path[:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return fn


def _drop(path):
    def fn(m):
        obj = m
        for k in path[:-1]:
            obj = obj[k]
        del obj[path[-1]]
    return fn


MALFORMED = [  # (edit, words the FormatError must contain)
    (_set(["n"], "64"), ["n must be an integer", "'64'"]),
    (_set(["n"], True), ["n must be an integer", "True"]),
    (_set(["shards"], None), ["shards must be a list", "None"]),
    (_set(["shards", 0], "shards/shard-000000.h5"), ["shards[0] must be a mapping", "'shards/shard-000000.h5'"]),
    (_set(["shards", 1, "count"], "10"), ["shards[1].count must be an integer", "'10'"]),
    (_set(["shards", 1, "index_start"], 10.0), ["shards[1].index_start must be an integer", "10.0"]),
    (_set(["shards", 1, "index_stop"], 21), ["shards[1]", "inconsistent", "index_stop 21"]),
    (_set(["shards", 2, "index_stop"], 99), ["shards[2].index_stop must be an integer in 1..25", "99"]),
    (_set(["shards", 0, "file"], 7), ["shards[0].file must be a relative file name", "7"]),
    (_drop(["shards", 0, "count"]), ["shards[0] lacks 'count'"]),
    (_set(["resolution"], [8, 8]), ["resolution must be an integer", "[8, 8]"]),
    (_set(["latents"], {"position": 1}), ["latents must be a list", "{'position': 1}"]),
    (_set(["latents", 0, "shape"], "3"), ["latents[0].shape must be a list", "'3'"]),
    (_set(["assets", "categories"], None), ["assets.categories must be a list", "None"]),
    (_set(["resolved", "distributions", "bogus"], {"kind": "fixed"}), ["resolved.distributions", "'bogus'"]),
    (_set(["spec_hash"], None), ["spec_hash must be a non-empty string", "None"]),
    (_drop(["resolved"]), ["manifest lacks resolved"]),
]


@pytest.mark.parametrize("edit,words", MALFORMED, ids=[", ".join(w)[:40] for _, w in MALFORMED])
def test_malformed_manifest_is_one_format_error_naming_key_and_value(dataset, edit, words, capsys):
    edit_manifest(dataset, edit)
    with pytest.raises(FormatError) as e:
        load_manifest(dataset)
    msg = str(e.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg
    for fn in (verify, describe, DatasetReader, LatentDataset, LatentIterableDataset):
        with pytest.raises(FormatError):  # never a TypeError / KeyError later on
            fn(dataset)
    for cmd in ("info", "verify"):
        code, _, err = cli([cmd, str(dataset)], capsys)
        assert_one_line_error(code, err)
        assert words[0] in err


def test_unreadable_manifest_bytes_fifo_and_nesting(dataset, capsys):
    path = dataset / "dataset.json"
    path.write_bytes(b'{"format": "latentscape-dataset", "n": "\xff\xfe"}')
    with pytest.raises(FormatError, match=r"not UTF-8 text \(byte 0xff at offset 40\)"):
        load_manifest(dataset)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="not valid JSON"):
        load_manifest(dataset)
    path.unlink()
    os.mkfifo(path)
    with no_hang():
        with pytest.raises(FormatError, match="FIFO"):
            load_manifest(dataset)
        code, _, err = cli(["info", str(dataset)], capsys)
    assert_one_line_error(code, err)
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    r = subprocess.run([sys.executable, "-m", "latentscape", "verify", str(dataset)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("error:") and "FIFO" in r.stderr


def _outside_copy(dataset, tmp_path):
    """A valid shard (of this very dataset) copied outside the root: the old readers served it."""
    out = tmp_path / "outside"
    out.mkdir()
    shutil.copy(dataset / "shards" / "shard-000001.h5", out / "shard.h5")
    os.mkfifo(out / "pipe.h5")  # opening this blocks: proves nothing outside was opened
    return out


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink-file", "symlink-dir", "fifo-target"])
def test_shard_entries_never_lead_outside_root(dataset, tmp_path, kind, capsys):
    out = _outside_copy(dataset, tmp_path)
    before = ((out / "shard.h5").read_bytes(), (out / "shard.h5").stat().st_mtime_ns)
    entry = {"absolute": str(out / "shard.h5"), "dotdot": "../outside/shard.h5",
             "symlink-file": "shards/shard-000001.h5", "symlink-dir": "elsewhere/shard.h5",
             "fifo-target": "shards/shard-000001.h5"}[kind]
    if kind == "symlink-file":
        (dataset / "shards" / "shard-000001.h5").unlink()
        (dataset / "shards" / "shard-000001.h5").symlink_to(out / "shard.h5")
    elif kind == "fifo-target":
        (dataset / "shards" / "shard-000001.h5").unlink()
        (dataset / "shards" / "shard-000001.h5").symlink_to(out / "pipe.h5")
    elif kind == "symlink-dir":
        (dataset / "elsewhere").symlink_to(out)
    edit_manifest(dataset, _set(["shards", 1, "file"], entry))
    why = {"absolute": "absolute path", "dotdot": "contains '..'"}.get(kind, "leads outside the dataset root")
    with no_hang():
        problems, summary = verify(dataset)  # hashes every shard it accepts
        mine = [str(p) for p in problems if p.where == entry]
        assert len(mine) == 1 and why in mine[0], problems
        assert summary["images"] == 15
        for make in (lambda: DatasetReader(dataset).latents(), lambda: DatasetReader(dataset).image(12),
                     lambda: LatentDataset(dataset), lambda: export_webdataset(dataset, tmp_path / "wds"),
                     lambda: describe(dataset)):
            with pytest.raises(FormatError) as e:
                make()
            assert entry in str(e.value) and why in str(e.value)
        code, outp, err = cli(["verify", str(dataset)], capsys)
        assert code == 1 and f"PROBLEM {entry}: " in outp
    assert ((out / "shard.h5").read_bytes(), (out / "shard.h5").stat().st_mtime_ns) == before
    assert stat.S_ISFIFO(os.stat(out / "pipe.h5").st_mode)


def test_fifo_and_device_shards_are_refused_without_opening(dataset, tmp_path, capsys):
    shard = dataset / "shards" / "shard-000001.h5"
    shard.unlink()
    os.mkfifo(shard)
    with no_hang():
        problems, _ = verify(dataset)
        assert any(p.where == "shards/shard-000001.h5" and "is a FIFO (named pipe), not a regular file" in p.what
                   for p in problems)
        with pytest.raises(FormatError, match="FIFO"):
            describe(dataset)
        # refused at construction or, where construction reads no shard (a cached split), at the
        # first item served from the FIFO's shard (indices 10..19): never opened either way
        for use in (lambda r: LatentDataset(r)[12], lambda r: list(LatentIterableDataset(r, shuffle=False)),
                    lambda r: DatasetReader(r).image(12)):
            with pytest.raises(FormatError, match="FIFO"):
                use(dataset)
        code, _, err = cli(["info", str(dataset)], capsys)
        assert_one_line_error(code, err)
        assert "FIFO" in err
    assert stat.S_ISFIFO(os.lstat(shard).st_mode)
    shard.unlink()
    os.mknod(shard, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    with no_hang():
        problems, _ = verify(dataset)
        assert any("is a character device, not a regular file" in p.what for p in problems)
        with pytest.raises(FormatError, match="character device"):
            DatasetReader(dataset).latents()
    st = os.lstat(shard)
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


def test_gap_is_refused_by_readers_and_summarised_by_info(dataset, tmp_path, capsys):
    """A shard removed from disk and manifest: before, LatentDataset had len 25 and served
    wrong targets; now every training reader refuses, info still summarises."""
    (dataset / "shards" / "shard-000001.h5").unlink()
    edit_manifest(dataset, lambda m: m["shards"].pop(1))
    want = "incomplete: 15 of 25 images in 2 shard(s), indices 10..19 missing; rerun the render to finish it"
    for make in (lambda: DatasetReader(dataset), lambda: LatentDataset(dataset, targets=["position"]),
                 lambda: LatentIterableDataset(dataset), lambda: export_webdataset(dataset, tmp_path / "w")):
        with pytest.raises(IncompleteDatasetError) as e:
            make()
        assert want in str(e.value)
    assert not (tmp_path / "w").exists()
    assert "images    15 of 25 in 2 shard(s)" in describe(dataset)
    code, out, _ = cli(["info", str(dataset)], capsys)
    assert code == 0 and "15 of 25" in out


def test_interrupted_render_is_refused_with_how_much_is_there(tmp_path):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=30, shard_size=10, resolution=8))
    edit_manifest(root, lambda m: m["shards"].__delitem__(slice(1, None)))  # as if stopped after shard 0
    with pytest.raises(IncompleteDatasetError, match="10 of 30 images in 1 shard.*indices 10..29 missing"):
        LatentDataset(root)
    assert "10 of 30" in describe(root)


def test_overlapping_entries_are_refused(dataset):
    edit_manifest(dataset, lambda m: m["shards"].__setitem__(1, dict(m["shards"][0])))
    with pytest.raises(FormatError, match="overlap at index 0"):
        DatasetReader(dataset)
    with pytest.raises(FormatError, match="overlap"):
        describe(dataset)  # a summary accepts gaps, never double-counted images


def _swap(a, b):
    tmp = a.with_name("swap.tmp")
    os.rename(a, tmp)
    os.rename(b, a)
    os.rename(tmp, b)


def test_swapped_shard_files_never_give_wrong_labels(dataset):
    """Two shard files renamed into each other's place (same counts, valid hashes of each):
    before, LatentDataset returned the wrong targets for 20 items silently."""
    stream = LatentIterableDataset(dataset, targets=["position"], shuffle=False)  # records the split
    first = next(iter(stream))
    a, b = dataset / "shards" / "shard-000000.h5", dataset / "shards" / "shard-000001.h5"
    _swap(a, b)
    with pytest.raises(FormatError, match=r"shard-000000.h5' does not match its manifest entry: attribute "
                                          r"index_start is 10, the manifest says 0"):
        LatentDataset(dataset, targets=["position"])
    with pytest.raises(FormatError, match="does not match its manifest entry"):
        DatasetReader(dataset).image(3)
    lazy = LatentIterableDataset(dataset, targets=["position"], shuffle=False)
    assert lazy._files == {}  # start-up opened no shard: the check is lazy
    with pytest.raises(FormatError, match="does not match its manifest entry"):
        next(iter(lazy))
    _swap(a, b)
    again = next(iter(LatentIterableDataset(dataset, targets=["position"], shuffle=False)))
    assert torch.equal(again[0], first[0]) and torch.equal(again[1]["position"], first[1]["position"])


def test_shard_with_rewritten_index_or_foreign_spec_is_refused(dataset):
    p = dataset / "shards" / "shard-000002.h5"
    with h5py.File(p, "r+") as f:
        f["index"][...] = f["index"][()][::-1]
    with pytest.raises(FormatError, match=r"holds indices 20..24 \(not in order 20..24"):
        DatasetReader(dataset).image(21)
    with h5py.File(p, "r+") as f:
        f["index"][...] = np.arange(20, 25)
        f.attrs["spec_hash"] = "0" * 16
    with pytest.raises(FormatError, match="spec hash '0000000000000000' is not the dataset's"):
        DatasetReader(dataset).image(21)


def test_coverage_check_scales_to_100000_shards():
    n = 100_000 * 7
    m = {"n": n, "shards": [{"file": f"shards/shard-{k:06d}.h5", "index_start": 7 * k, "index_stop": 7 * k + 7,
                             "count": 7} for k in range(100_000)][::-1]}
    t = time.perf_counter()
    check_coverage(m, "/nowhere")
    assert time.perf_counter() - t < 2.0
    m["shards"].pop(500)
    with pytest.raises(IncompleteDatasetError, match=f"{n - 7} of {n} images"):
        check_coverage(m, "/nowhere")


def test_split_file_with_out_of_range_indices_is_refused(dataset):
    path = dataset / "splits" / "default.json"
    assert LatentDataset(dataset, split="train").save_split() == [path]
    rec = json.loads(path.read_text())
    rec["indices"]["train"][0] = -1  # would have wrapped to the last shard
    path.write_text(json.dumps(rec))
    with pytest.raises(SplitError, match=r"indices of part 'train' must be distinct and in 0..24"):
        load_split(dataset, "default")
    with pytest.raises(SplitError, match=r"indices of part 'train' must be distinct and in 0..24"):
        LatentDataset(dataset, split="train")  # a recorded split is used, and checked
    path.write_text('{"format": "latentscape-split", "dataset": 3}')
    with pytest.raises(SplitError, match="made for another dataset"):
        load_split(dataset, "default")


def test_huge_n_in_manifest_allocates_nothing(dataset):
    edit_manifest(dataset, _set(["n"], 10**12))
    with no_hang():
        problems, summary = verify(dataset, fast=True)
    assert [str(p) for p in problems if p.where == "dataset"] == [
        f"dataset: {10**12 - 25} index(es) missing (expected 0..{10**12 - 1}), first 25"]
    with pytest.raises(IncompleteDatasetError, match=f"25 of {10**12} images"):
        LatentDataset(dataset)
    edit_manifest(dataset, _set(["n"], 10**13))
    with pytest.raises(FormatError, match=r"n must be an integer in 1..1000000000000, got 10000000000000"):
        load_manifest(dataset)
