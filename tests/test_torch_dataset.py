"""LatentDataset / LatentIterableDataset, splits, encodings and WebDataset export, on real
HDF5 datasets written by the synthetic fixture (noise pixels; image i is unique, so an image
identifies its index)."""
from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile

import h5py
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from conftest import write_synthetic_dataset  # noqa: E402
from latentscape import LatentDataset, LatentIterableDataset  # noqa: E402
from latentscape.config import DatasetSpec  # noqa: E402
from latentscape.dataset.export import export_webdataset  # noqa: E402
from latentscape.dataset.manifest import load_manifest, save_manifest  # noqa: E402
from latentscape.dataset.splits import (HoldOut, SplitSpec, create_split, heldout_object_ids,  # noqa: E402
                                        load_split, split_path)
from latentscape.errors import DatasetNotFoundError, SplitError, TargetError  # noqa: E402

N = 60


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("tds") / "ds"
    write_synthetic_dataset(r, DatasetSpec(n=N, shard_size=16, resolution=16, seed=5))
    return r


def h5_all(root):
    """Every latent and image read with plain h5py, in index order."""
    m = json.loads((root / "dataset.json").read_text())
    lat, imgs = {}, []
    for s in m["shards"]:
        with h5py.File(root / s["file"], "r") as f:
            for k in f["latents"]:
                lat.setdefault(k, []).append(f["latents"][k][()])
            imgs.append(f["images"][()])
    return {k: np.concatenate(v) for k, v in lat.items()}, np.concatenate(imgs)


def key(img) -> str:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[0] == 3:
        a = a.transpose(1, 2, 0)
    return hashlib.sha1(np.ascontiguousarray(a, dtype=np.uint8).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def truth(root):
    lat, imgs = h5_all(root)
    return lat, imgs, {key(im): i for i, im in enumerate(imgs)}


def indices_from_loader(loader, lookup):
    out = []
    for img, _ in loader:
        out += [lookup[key(x)] for x in img.numpy()]
    return out


# ---- map-style ----------------------------------------------------------------------------
def test_dataloader_two_workers_every_index_once_per_epoch(root, truth):
    _, _, lookup = truth
    ds = LatentDataset(root, targets=["category"], image="uint8")
    ds[0]  # opens a shard in the parent: workers must not use that handle
    loader = DataLoader(ds, batch_size=7, shuffle=True, num_workers=2, persistent_workers=True)
    for _ in range(2):
        got = indices_from_loader(loader, lookup)
        assert sorted(got) == list(range(N))


def test_pickles_without_open_handles(root):
    ds = LatentDataset(root, targets=["position"], split="train")
    img, _ = ds[3]
    assert ds._files  # a file is open in this process
    state = pickle.loads(pickle.dumps(ds))
    assert state._files == {} and state._dsets == {} and state._pid is None
    assert torch.equal(state[3][0], img)


def test_image_and_targets_equal_h5py(root, truth):
    lat, imgs, _ = truth
    ds = LatentDataset(root, targets=["position", "pose", "category", "identity", "background", "scale"],
                       split="val")
    assert len(ds) == 6
    for i, g in enumerate(ds.indices):
        img, y = ds[i]
        assert img.dtype == torch.float32 and img.shape == (3, 16, 16)
        np.testing.assert_allclose(img.numpy(), imgs[g].transpose(2, 0, 1) / 255.0, atol=1e-6)
        np.testing.assert_allclose(y["position"].numpy(), lat["position"][g], rtol=1e-6)
        e = lat["rotation_euler"][g]
        np.testing.assert_allclose(y["pose"].numpy(), np.stack([np.sin(e), np.cos(e)], -1).ravel(), atol=1e-6)
        assert y["category"].dtype == torch.int64 and int(y["category"]) == lat["category"][g]
        assert int(y["object_id"]) == lat["object_id"][g] and int(y["background_id"]) == lat["background_id"][g]
        r = lat["env_rotation"][g]
        np.testing.assert_allclose(y["env_rotation"].numpy(), [np.sin(r), np.cos(r)], atol=1e-6)
        np.testing.assert_allclose(float(y["scale"]), lat["scale"][g], rtol=1e-6)
    assert ds.categories == load_manifest(root)["assets"]["categories"] and ds.classes == ds.categories
    assert "LatentDataset" in repr(ds) and "val" in repr(ds) and "pose (sincos" in repr(ds)


@pytest.mark.parametrize("rotation", ["quat", "6d", "matrix"])
def test_rotation_encodings(root, truth, rotation):
    lat, _, _ = truth
    ds = LatentDataset(root, targets=["pose"], rotation=rotation, flat_targets=True)
    y = np.stack([ds.targets_of(i).numpy() for i in range(N)]).astype(np.float64)
    q = lat["rotation_quat"]
    w, x, yy, z = q.T
    R = np.stack([1 - 2 * (yy**2 + z**2), 2 * (x * yy - w * z), 2 * (x * z + w * yy),
                  2 * (x * yy + w * z), 1 - 2 * (x**2 + z**2), 2 * (yy * z - w * x),
                  2 * (x * z - w * yy), 2 * (yy * z + w * x), 1 - 2 * (x**2 + yy**2)], -1).reshape(-1, 3, 3)
    if rotation == "quat":
        assert (y[:, 0] >= 0).all()
        np.testing.assert_allclose(y, q, atol=1e-6)
    elif rotation == "6d":
        np.testing.assert_allclose(y, R[:, :, :2].transpose(0, 2, 1).reshape(-1, 6), atol=1e-6)
    else:
        np.testing.assert_allclose(y.reshape(-1, 3, 3), R, atol=1e-6)
        np.testing.assert_allclose(np.linalg.det(y.reshape(-1, 3, 3)), 1, atol=1e-5)
    assert ds.target_layout["pose"] == slice(0, {"quat": 4, "6d": 6, "matrix": 9}[rotation])


def test_zscore_statistics_from_train_split_only(root, truth):
    lat, _, _ = truth
    ds = LatentDataset(root, targets=["position", "scale"], split="test", continuous="zscore")
    train = load_split(root, "default")["train"]
    mean, std = lat["position"][train].mean(0), lat["position"][train].std(0)
    stats = ds.stats
    assert stats["count"] == len(train) == 48 and "train part of split default (48 images)" in repr(ds)
    np.testing.assert_allclose(stats["latents"]["position"]["mean"], mean)
    np.testing.assert_allclose(stats["latents"]["scale"]["std"], lat["scale"][train].std())
    assert not np.allclose(mean, lat["position"].mean(0))  # not the statistics of all images
    for i, g in enumerate(ds.indices):
        _, y = ds[i]
        np.testing.assert_allclose(y["position"].numpy(), (lat["position"][g] - mean) / std, rtol=1e-5, atol=1e-6)


# ---- splits ---------------------------------------------------------------------------------
def test_default_split_disjoint_covering_reproducible(root):
    parts = {p: LatentDataset(root, split=p).indices for p in ("train", "val", "test")}
    assert [len(v) for v in parts.values()] == [48, 6, 6]
    allix = np.concatenate(list(parts.values()))
    assert sorted(allix) == list(range(N))
    assert LatentDataset(root, split="train").split_def.to_dict() == {
        "name": "default", "seed": 0, "fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "holdout": []}
    again = load_split(root, "default", recompute=True)
    for p in parts:
        assert np.array_equal(again[p], parts[p])


def test_heldout_region_from_yaml_absent_from_train(root, truth, tmp_path):
    lat, _, _ = truth
    y = tmp_path / "yaw.yaml"
    y.write_text("name: yaw30\nseed: 1\nholdout:\n  - part: test\n    where: {latent: yaw, gt: 30, unit: deg}\n"
                 "fractions: {train: 0.9, val: 0.1}\n")
    train_ds = LatentDataset(root, split="train", splits=y)
    train = train_ds.indices
    test = LatentDataset(root, split="test", splits=y).indices
    with pytest.raises(SplitError, match="unknown split 'yaw30'"):  # not recorded: nothing was written
        LatentDataset(root, split="yaw30/test")
    assert train_ds.save_split() == [split_path(root, "yaw30")]  # recorded explicitly, then found by name
    assert LatentDataset(root, split="yaw30/test").indices.tolist() == test.tolist()
    yaw = lat["rotation_euler"][:, 0]
    assert set(test) == set(np.flatnonzero(yaw > np.radians(30)))
    assert (yaw[train] <= np.radians(30)).all()
    assert len(np.intersect1d(train, test)) == 0
    # the same definition from Python gives the same file content; another one under the name is refused
    spec = SplitSpec.from_yaml(y)
    assert create_split(root, spec)["test"].tolist() == test.tolist()
    with pytest.raises(SplitError, match="different definition"):
        create_split(root, SplitSpec("yaw30", seed=2))


def test_category_pose_combination_heldout(root, truth):
    lat, _, _ = truth
    cats = load_manifest(root)["assets"]["categories"]
    cond = {"any": [{"all": [{"latent": "category", "in": cats[:3]}, {"latent": "yaw", "gt": 0}]},
                    {"all": [{"latent": "category", "not_in": cats[:3]}, {"latent": "yaw", "le": 0}]}]}
    parts = create_split(root, {"name": "cogent", "holdout": [{"part": "test", "where": cond}],
                                "fractions": {"train": 1.0}})
    c, yaw = lat["category"], lat["rotation_euler"][:, 0]
    tr = parts["train"]
    assert ((c[tr] < 3) == (yaw[tr] <= 0)).all()
    assert sorted(np.concatenate([tr, parts["test"]])) == list(range(N))


@pytest.fixture(scope="module")
def multi_object_root(tmp_path_factory):
    """A dataset whose library has 2 objects per category (manifest and object_id rewritten)."""
    r = tmp_path_factory.mktemp("mo") / "ds"
    m = write_synthetic_dataset(r, DatasetSpec(n=48, shard_size=20, resolution=8, seed=2))
    cats = m["assets"]["categories"]
    m["assets"]["objects"] = [{"id": 2 * c + j, "name": f"{cat}_{j}", "category": cat}
                              for c, cat in enumerate(cats) for j in range(2)]
    for s in m["shards"]:
        with h5py.File(r / s["file"], "r+") as f:
            f["latents/object_id"][...] = 2 * f["latents/category"][()] + f["index"][()] % 2
    save_manifest(r, m)
    return r


def test_heldout_objects_absent_from_train(multi_object_root):
    r = multi_object_root
    m = load_manifest(r)
    spec = SplitSpec("objs", seed=4, fractions={"train": 0.75, "val": 0.25},
                     holdout=[HoldOut(part="test", objects_per_category=1)])
    parts = create_split(r, spec)
    held = heldout_object_ids(spec, spec.holdout[0], m, 0)
    n_cat = len(m["assets"]["categories"])
    assert len(held) == n_cat and sorted(np.asarray(held) // 2) == list(range(n_cat))  # one per category
    lat, _ = h5_all(r)
    oid = lat["object_id"]
    assert set(parts["test"]) == set(np.flatnonzero(np.isin(oid, held)))
    for p in ("train", "val"):
        assert not np.isin(oid[parts[p]], held).any()
    assert sorted(np.concatenate(list(parts.values()))) == list(range(48))
    ds = LatentDataset(r, targets=["identity"], split="objs/train")
    assert ds.objects[1] == m["assets"]["categories"][0] + "_1"
    assert not np.isin([int(ds.targets_of(i)["object_id"]) for i in range(len(ds))], held).any()
    assert np.array_equal(load_split(r, "objs", recompute=True)["test"], parts["test"])
    with pytest.raises(SplitError, match="leaves none"):
        create_split(r, {"name": "bad", "holdout": [{"objects_per_category": 2}]})


# ---- iterable -------------------------------------------------------------------------------
def test_iterable_two_workers_each_image_once_and_reshuffles(root, truth):
    _, _, lookup = truth
    ds = LatentIterableDataset(root, targets=["pose"], split="train", image="uint8", buffer_size=8,
                               block_size=4)
    loader = DataLoader(ds, batch_size=5, num_workers=2, persistent_workers=True)
    train = sorted(LatentDataset(root, split="train").indices)
    orders = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        got = indices_from_loader(loader, lookup)
        assert sorted(got) == train
        orders.append(got)
    assert orders[0] != orders[1]


def test_iterable_ranks_partition(root, truth):
    lat, _, lookup = truth
    parts = []
    for rank in range(2):
        ds = LatentIterableDataset(root, targets=["position"], image="uint8", rank=rank, world_size=2, seed=3)
        ds.set_epoch(1)
        items = list(ds)
        assert len(items) == len(ds) == N // 2
        idx = [lookup[key(img)] for img, _ in items]
        for (_, y), g in zip(items, idx):
            np.testing.assert_allclose(y["position"].numpy(), lat["position"][g], rtol=1e-6)
        parts.append(idx)
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == list(range(N))


# ---- export ---------------------------------------------------------------------------------
def test_webdataset_export_reads_back(root, truth, tmp_path):
    from PIL import Image
    lat, imgs, _ = truth
    calls = []
    paths = export_webdataset(root, tmp_path / "wds", shard_size=25, progress=lambda d, t: calls.append((d, t)))
    assert [p.name for p in paths] == ["latentscape-000000.tar", "latentscape-000001.tar", "latentscape-000002.tar"]
    assert calls[-1] == (N, N)
    seen = 0
    for p in paths:
        with tarfile.open(p) as t:
            names = t.getnames()
            for name in names[::2]:
                stem = name.split(".")[0]
                assert names.index(f"{stem}.json") == names.index(name) + 1
                g = int(stem)
                img = np.asarray(Image.open(io.BytesIO(t.extractfile(name).read())))
                assert np.array_equal(img, imgs[g])
                meta = json.loads(t.extractfile(f"{stem}.json").read())
                assert meta["index"] == g
                for k, v in lat.items():
                    np.testing.assert_allclose(meta["latents"][k], v[g])
                assert meta["names"]["category"] == load_manifest(root)["assets"]["categories"][lat["category"][g]]
                seen += 1
    assert seen == N and len(stem) == 9
    from latentscape.errors import ExportError
    with pytest.raises(ExportError, match="already holds"):
        export_webdataset(root, tmp_path / "wds")


# ---- errors ---------------------------------------------------------------------------------
def test_clear_errors(root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="dataset not found"):
        LatentDataset(tmp_path / "nope")
    with pytest.raises(TargetError, match=r"unknown target 'colour'.*latents: category.*groups:.*pose"):
        LatentDataset(root, targets=["colour"])
    with pytest.raises(TargetError, match="unknown rotation encoding 'axis'; allowed: sincos"):
        LatentDataset(root, targets=["pose"], rotation="axis")
    with pytest.raises(SplitError, match="unknown split part 'training'.*parts: train, val, test"):
        LatentDataset(root, split="training")
    with pytest.raises(SplitError, match="unknown split 'nosuch'.*defined splits: .*default"):
        LatentDataset(root, split="nosuch/train")
    with pytest.raises(SplitError, match="unknown latent 'colour'"):
        SplitSpec.from_dict({"name": "x", "holdout": [{"where": {"latent": "colour", "gt": 1}}]})


# ---- reading never writes into the root -------------------------------------------------------
def tree(root):
    """Every file and directory under root with its size and mtime."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def fresh_root(tmp_path):
    r = tmp_path / "ro"
    write_synthetic_dataset(r, DatasetSpec(library="placeholder", n=40, shard_size=16, resolution=8, seed=9))
    return r


def _cache_files():
    from latentscape.dataset.encodings import cache_dir
    d = cache_dir()
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def test_building_datasets_writes_nothing_into_the_root(fresh_root, tmp_path):
    before = tree(fresh_root)
    y = tmp_path / "cogent.yaml"
    y.write_text("name: cogent\nseed: 2\nholdout:\n  - part: test\n    where: {latent: yaw, gt: 0}\n"
                 "fractions: {train: 0.8, val: 0.2}\n")
    made = [LatentDataset(fresh_root), LatentDataset(fresh_root, split="train"),
            LatentDataset(fresh_root, targets=["position", "scale"], split="val", continuous="zscore"),
            LatentDataset(fresh_root, targets=["pose"], split="test", splits=y, continuous="zscore"),
            LatentIterableDataset(fresh_root, targets=["position"], split="train", continuous="zscore"),
            LatentIterableDataset(fresh_root, split="val", splits=y)]
    for ds in made:  # reading items writes nothing either
        img, _ = ds[0] if isinstance(ds, LatentDataset) else next(iter(ds))
        assert img.shape == (3, 8, 8)
    assert tree(fresh_root) == before  # names, sizes and mtimes unchanged: no splits/, no stats-*.json
    assert not (fresh_root / "splits").exists() and not list(fresh_root.glob("stats-*"))
    spec_hash = load_manifest(fresh_root)["spec_hash"]
    assert any(n.startswith(f"split-{spec_hash}-") for n in _cache_files())  # cached outside the root instead


def test_split_is_the_same_in_memory_cached_and_saved(fresh_root):
    from latentscape.dataset.encodings import cache_dir
    for f in cache_dir().glob(f"*-{load_manifest(fresh_root)['spec_hash']}-*"):
        f.unlink()  # cold cache: computed
    a = LatentDataset(fresh_root, targets=["position"], split="train", continuous="zscore")
    b = LatentDataset(fresh_root, targets=["position"], split="train", continuous="zscore")  # warm cache
    assert np.array_equal(a.indices, b.indices) and a.stats["latents"] == b.stats["latents"]
    for f in cache_dir().glob(f"split-{load_manifest(fresh_root)['spec_hash']}-*"):
        rec = json.loads(f.read_text())
        rec["indices"]["val"] = rec["indices"]["train"][:1]  # a damaged cache entry (sha256 mismatch)
        f.write_text(json.dumps(rec))
    c = LatentDataset(fresh_root, targets=["position"], split="train", continuous="zscore")
    assert np.array_equal(a.indices, c.indices)  # recomputed, never trusted
    written = a.save_split()
    assert written == [split_path(fresh_root, "default"), fresh_root / "stats-default.json"]
    saved = load_split(fresh_root, "default", recompute=True)
    assert np.array_equal(saved["train"], a.indices)
    assert json.loads(written[1].read_text())["latents"] == a.stats["latents"]
    before = tree(fresh_root)
    d = LatentDataset(fresh_root, targets=["position"], split="train", continuous="zscore")  # reads the files
    assert np.array_equal(d.indices, a.indices) and tree(fresh_root) == before
    assert a.save_split() == written and tree(fresh_root) == before  # the same definition: kept, not rewritten
    assert pickle.loads(pickle.dumps(a)).save_split() == written and tree(fresh_root) == before  # in a worker too
    with pytest.raises(SplitError, match="different definition"):
        LatentDataset(fresh_root, split="train", splits={"name": "default", "seed": 1})


def test_webdataset_export_carries_scene_latents_and_distractors_up_to_the_count(tmp_path):
    from conftest import write_synthetic_dataset
    from latentscape.config import DatasetSpec
    from latentscape.dataset.reader import DatasetReader
    root = tmp_path / "g"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", scene="ground", n=6, shard_size=6, resolution=8,
                                              seed=3, distractors=(0, 1, 2)))
    (path,) = export_webdataset(root, tmp_path / "wds")
    with DatasetReader(root) as r:
        lat = r.latents()
    with tarfile.open(path) as t:
        metas = [json.loads(t.extractfile(n).read()) for n in t.getnames() if n.endswith(".json")]
    for i, m in enumerate(metas):
        c = int(lat["distractor_count"][i])
        assert m["latents"]["camera_height"] == lat["camera_height"][i]
        assert m["latents"]["distractor_count"] == c and len(m["latents"]["distractor_position"]) == c
        np.testing.assert_allclose(np.reshape(m["latents"]["distractor_position"], (c, 3)),
                                   lat["distractor_position"][i, :c])
    assert {int(x) for x in lat["distractor_count"]} != {0}
