import json

import h5py
import numpy as np
import pytest

from latentscape.config import DatasetSpec
from latentscape.dataset.format import open_shard
from latentscape.dataset.manifest import load_manifest
from latentscape.dataset.reader import DatasetReader
from latentscape.dataset.verify import verify
from latentscape.dataset.writer import ShardWriter
from latentscape.errors import DatasetMismatchError, DatasetNotFoundError, FormatError

from conftest import make_resolved, make_sampler, write_synthetic_dataset


def test_writer_reader_round_trip(dataset, small_spec):
    s = make_sampler(small_spec)
    want = s.sample_range(0, 25)
    with DatasetReader(dataset) as r:
        assert len(r) == 25 and [sh["count"] for sh in r.shards] == [10, 10, 5]
        got = r.latents()
        for name in ("position", "rotation_quat", "category", "image_xy"):
            assert np.array_equal(got[name], want[name])
        assert np.array_equal(got["index"], np.arange(25))
        img = r.image(13)
        assert np.array_equal(img, np.random.default_rng(13).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    # readable with plain h5py as docs/format.md says
    with h5py.File(dataset / "shards" / "shard-000001.h5", "r") as f:
        assert f["images"].chunks == (1, 8, 8, 3)
        assert f["latents/position"].shape == (10, 3)
        assert f["index"][()].tolist() == list(range(10, 20))
        assert np.array_equal(f["latents/position"][()], want["position"][10:20])
        assert f.attrs["format"] == "latentscape-shard" and f.attrs["index_start"] == 10 and f.attrs["count"] == 10
        resolved = json.loads(f.attrs["resolved_spec"])  # every shard carries the resolved description
        assert resolved == load_manifest(dataset)["resolved"] and resolved["spec"]["n"] == 25
        assert f.attrs["spec_hash"] == load_manifest(dataset)["spec_hash"]


@pytest.mark.parametrize("compression", ["none", "lzf", "gzip-4"])
def test_compressions(tmp_path, compression):
    spec = DatasetSpec(library="placeholder", n=4, shard_size=4, resolution=16, storage=DatasetSpec(library="placeholder").storage.__class__(compression))
    root = tmp_path / compression
    write_synthetic_dataset(root, spec)
    problems, _ = verify(root)
    assert problems == []


def test_writer_leaves_nothing_on_error(tmp_path):
    path = tmp_path / "shard-000000.h5"
    with pytest.raises(RuntimeError):
        with ShardWriter(path, 0, 3, 8) as w:
            w.write_image(0, np.zeros((8, 8, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="incomplete"):
        with ShardWriter(path, 0, 3, 8):
            pass
    assert list(tmp_path.iterdir()) == []


def test_verify_accepts_whole_dataset(dataset):
    problems, summary = verify(dataset)
    assert problems == [] and summary["images"] == 25


def _problems(root, fast=False):
    return [str(p) for p in verify(root, fast=fast)[0]]


def test_verify_catches_flipped_byte(dataset):
    p = dataset / "shards" / "shard-000001.h5"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    assert any("sha256 mismatch" in s for s in _problems(dataset))


def test_verify_catches_truncated_shard(dataset):
    p = dataset / "shards" / "shard-000002.h5"
    p.write_bytes(p.read_bytes()[:2000])
    probs = _problems(dataset, fast=True)
    assert any("shard-000002" in s and "cannot be read" in s for s in probs)
    assert any("missing" in s for s in probs)  # its indices are now absent


def test_verify_catches_missing_shard(dataset):
    (dataset / "shards" / "shard-000000.h5").unlink()
    probs = _problems(dataset)
    assert any("missing" in s and "shard-000000" in s for s in probs)
    assert any("10 index(es) missing" in s for s in probs)


def test_verify_catches_duplicated_index_range(dataset):
    m = json.loads((dataset / "dataset.json").read_text())
    m["shards"][1] = dict(m["shards"][0])
    (dataset / "dataset.json").write_text(json.dumps(m))
    probs = _problems(dataset)
    assert any("more than one shard" in s for s in probs)
    assert any("missing" in s for s in probs)


def test_verify_catches_foreign_hdf5(dataset):
    p = dataset / "shards" / "shard-000001.h5"
    p.unlink()
    with h5py.File(p, "w") as f:
        f["images"] = np.zeros((10, 8, 8, 3), np.uint8)
    assert any("not a latentscape shard" in s for s in _problems(dataset, fast=True))


def test_verify_catches_out_of_range_and_non_constant_fixed(tmp_path):
    spec = DatasetSpec(library="placeholder", n=6, shard_size=6, resolution=8, vary=("pose",))
    root = tmp_path / "d"
    write_synthetic_dataset(root, spec)
    p = root / "shards" / "shard-000000.h5"
    assert _problems(root, fast=True) == []
    m = load_manifest(root)
    ranges = {s["name"]: s["range"] for s in m["latents"]}
    assert ranges["scale"] == [1.0, 1.0] and ranges["rotation_euler"] == [-np.pi, np.pi]
    with h5py.File(p, "a") as f:
        f["latents/scale"][2] = 9.0  # scale is held fixed at 1: both out of range and not constant
        f["latents/rotation_euler"][4] = [4.0, 0.0, 0.0]  # pose varies: only out of range (yaw > pi)
    probs = _problems(root, fast=True)
    assert any("latent scale" in s and "held fixed" in s for s in probs), probs
    assert any("latent scale" in s and "values 1..9 outside declared range 1.0..1.0" in s for s in probs), probs
    assert any("latent rotation_euler" in s and "outside declared range" in s and "..4 " in s for s in probs), probs
    assert not any("rotation_euler" in s and "held fixed" in s for s in probs), probs
    assert len(probs) == 3, probs


def test_verify_catches_constant_image(tmp_path):
    spec = DatasetSpec(library="placeholder", n=3, shard_size=3, resolution=8)
    root = tmp_path / "d"
    write_synthetic_dataset(root, spec)
    with h5py.File(root / "shards" / "shard-000000.h5", "a") as f:
        f["images"][1] = 0
    assert any("constant" in s for s in _problems(root, fast=True))


def test_reader_refuses_unknown_schema_and_foreign_roots(dataset, tmp_path):
    with pytest.raises(DatasetNotFoundError):
        load_manifest(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no dataset.json"):
        load_manifest(tmp_path / "empty")
    m = json.loads((dataset / "dataset.json").read_text())
    m["schema_version"] = 99
    (dataset / "dataset.json").write_text(json.dumps(m))
    with pytest.raises(FormatError, match="unknown schema version 99"):
        load_manifest(dataset)
    p = dataset / "shards" / "shard-000000.h5"
    with h5py.File(p, "a") as f:
        f.attrs["schema_version"] = 42
    with pytest.raises(FormatError, match="unknown schema version 42"):
        open_shard(p)


def test_resume_and_refuse_different_dataset(tmp_path, small_spec):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, small_spec)
    before = (root / "shards" / "shard-000000.h5").stat().st_mtime_ns
    write_synthetic_dataset(root, small_spec)  # same spec: nothing to do
    assert (root / "shards" / "shard-000000.h5").stat().st_mtime_ns == before
    other = DatasetSpec(library="placeholder", n=25, shard_size=10, resolution=8, seed=4)
    with pytest.raises(DatasetMismatchError, match="different dataset"):
        write_synthetic_dataset(root, other)
    write_synthetic_dataset(root, other, overwrite=True)
    assert load_manifest(root)["spec"]["seed"] == 4


def test_orphan_whole_shard_is_adopted_and_foreign_tmp_kept(tmp_path, small_spec):
    root = tmp_path / "ds"
    write_synthetic_dataset(root, small_spec)
    m = json.loads((root / "dataset.json").read_text())
    m["shards"] = m["shards"][:1]  # as if a crash hit between rename and manifest update
    (root / "dataset.json").write_text(json.dumps(m))
    foreign = root / "shards" / ".shard-000002.h5.otherhost.999.tmp"  # maybe a live writer elsewhere
    foreign.write_bytes(b"partial")
    from latentscape.pipeline.root import prepare_root
    m2 = prepare_root(root, make_resolved(small_spec))
    assert len(m2["shards"]) == 3
    assert foreign.exists()  # a writer deletes only its own temporary files (or those of a lease it took over)
    assert verify(root)[0] == []


def test_a_shard_rewritten_after_the_check_is_not_dropped(dataset):
    """drop_shards takes out only the entry that was checked: if another writer listed a new
    version of the shard meanwhile (other sha256), that one stays, and so does its file."""
    from latentscape.pipeline.root import Dropped, drop_shards
    from latentscape.dataset.manifest import load_manifest
    rec = load_manifest(dataset)["shards"][1]
    m = drop_shards(dataset, [Dropped(rec["file"], "missing", "0" * 64)])
    assert rec in m["shards"] and (dataset / rec["file"]).is_file()
    m = drop_shards(dataset, [Dropped(rec["file"], "missing", rec["sha256"])])
    assert rec not in m["shards"] and not (dataset / rec["file"]).exists()
    assert load_manifest(dataset)["shards"] == m["shards"]


def test_parallel_verify_finds_exactly_what_one_process_finds(dataset):
    """verify(workers=2): the same problems in the same order, and the same summary."""
    assert verify(dataset, workers=2) == verify(dataset)
    p = dataset / "shards" / "shard-000001.h5"
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    (dataset / "shards" / "shard-000002.h5").write_bytes(b"not hdf5")
    one, two = verify(dataset), verify(dataset, workers=2)
    assert [str(x) for x in one[0]] == [str(x) for x in two[0]] and one[1] == two[1]
    assert any("sha256 mismatch" in str(x) for x in two[0]) and any("cannot be read" in str(x) for x in two[0])
