"""LatentDataset's fast image reader (`_chunk_decoder`): the stored bytes of each one-image
chunk decoded in Python for raw, gzip, lzf and zstd datasets must equal the array written,
without falling back to h5py; layouts it does not handle are declined (None)."""
import h5py
import numpy as np
import pytest

pytest.importorskip("torch")  # _chunk_decoder lives in latentscape/dataset/torch.py
from latentscape.dataset.torch import _chunk_decoder  # noqa: E402

N, R = 5, 12


def _images():
    """Compressible but distinct images: a gradient per image plus a little noise."""
    y, x = np.mgrid[0:R, 0:R]
    base = np.stack([(x * 20 + 7 * i) % 256 + 0 * y for i in range(N)])[..., None] + np.array([0, 50, 100])
    noise = np.random.default_rng(0).integers(0, 3, (N, R, R, 3))
    return ((base + noise) % 256).astype(np.uint8)


def _kwargs(name):
    if name == "zstd":
        import hdf5plugin
        return dict(hdf5plugin.Zstd(clevel=3))
    return {"none": {}, "gzip": {"compression": "gzip", "compression_opts": 4},
            "lzf": {"compression": "lzf"}}[name]


class NoFallback:
    """An h5py dataset whose ordinary reads are forbidden: proves the decoder read the chunk itself."""

    def __init__(self, dset):
        self._d = dset

    def __getattr__(self, name):
        return getattr(self._d, name)

    def __getitem__(self, key):
        raise AssertionError(f"fell back to h5py for {key!r}")


@pytest.mark.parametrize("name", ["none", "gzip", "lzf", "zstd"])
def test_decoded_chunks_equal_the_array(tmp_path, name):
    imgs = _images()
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f.create_dataset("images", data=imgs, chunks=(1, R, R, 3), **_kwargs(name))
    with h5py.File(tmp_path / "s.h5", "r") as f:
        d = f["images"]
        if name != "none":  # really compressed: the decoder has work to do
            assert d.id.get_storage_size() < imgs.nbytes
            assert len(d.id.read_direct_chunk((0, 0, 0, 0))[1]) != R * R * 3
        read = _chunk_decoder(NoFallback(d))
        assert read is not None
        for i in range(N):
            got = read(i)
            assert got.dtype == np.uint8 and got.shape == (R, R, 3)
            assert np.array_equal(got, imgs[i])
            assert got.flags.writeable  # torch.from_numpy needs a writable array


def test_zstd_chunks_are_decoded_by_zstandard(tmp_path, monkeypatch):
    """The zstd path decodes with the zstandard package (not h5py's filter)."""
    import zstandard
    calls = []
    real = zstandard.ZstdDecompressor

    class Counting:
        def __init__(self, *args, **kw):
            self._d = real(*args, **kw)

        def decompress(self, data, **kw):
            calls.append(len(data))
            return self._d.decompress(data, **kw)

    monkeypatch.setattr(zstandard, "ZstdDecompressor", Counting)
    imgs = _images()
    with h5py.File(tmp_path / "z.h5", "w") as f:
        f.create_dataset("images", data=imgs, chunks=(1, R, R, 3), **_kwargs("zstd"))
    with h5py.File(tmp_path / "z.h5", "r") as f:
        read = _chunk_decoder(NoFallback(f["images"]))
        assert np.array_equal(read(3), imgs[3]) and len(calls) == 1


@pytest.mark.parametrize("case", ["two-per-chunk", "shuffle", "fletcher32", "uint16", "scaleoffset", "blosc"])
def test_other_layouts_are_declined(tmp_path, case):
    data = _images()
    kw = {"chunks": (1, R, R, 3)}
    if case == "two-per-chunk":
        kw["chunks"] = (2, R, R, 3)
    elif case == "shuffle":
        kw.update(shuffle=True, compression="gzip")
    elif case == "fletcher32":
        kw.update(fletcher32=True)
    elif case == "uint16":
        data = data.astype(np.uint16)
    elif case == "scaleoffset":
        kw.update(scaleoffset=0)
    else:
        import hdf5plugin
        kw.update(dict(hdf5plugin.Blosc()))
    with h5py.File(tmp_path / "o.h5", "w") as f:
        f.create_dataset("images", data=data, **kw)
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert _chunk_decoder(f["images"]) is None
        assert np.array_equal(f["images"][2], data[2])  # h5py still reads it (the caller's fallback)
