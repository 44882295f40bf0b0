"""Loader throughput: images/s through a torch DataLoader, per storage option, vs ImageFolder-PNG.

    # a realistic source (rendered, stored raw), then the benchmark:
    latentscape render --n 1000 --resolution 224 --samples 4 --compression none --shard-size 250 --out /tmp/bench_src
    python benchmarks/loader_throughput.py --src /tmp/bench_src --work /tmp/bench_loader --json benchmarks/results/loader_throughput.json

The images of --src are rewritten (h5py, same chunking: one image per chunk) into one
dataset per compression: none, lzf, gzip-4, zstd (if hdf5plugin is installed), and saved as
PNG files in a torchvision ImageFolder (class folders = categories, PIL compress level 6).
Every variant is read through DataLoader(batch_size=32, shuffle=True) - random access -
as 3xHxW float32 in [0, 1] (LatentDataset(targets=["category"]) vs
ImageFolder(transform=ToTensor())), with 0 workers and with 2 persistent workers. The
page cache is warm (every file is read once first, and a warm-up epoch runs before the
timed epochs). LatentIterableDataset (streaming) is measured too. Figures: images/s
(best of --repeats epochs), bytes on disk per image.
Without --src, the synthetic fixture writes noise images (compresses unrealistically).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import h5py

from latentscape.dataset.format import compression_kwargs, sha256_file
from latentscape.dataset.manifest import load_manifest, save_manifest

COMPRESSIONS = ["none", "lzf", "gzip-4", "zstd"]


def have_zstd() -> bool:
    try:
        import hdf5plugin  # noqa: F401
        return True
    except ImportError:
        return False


def rewrite(src: Path, dst: Path, compression: str):
    """Copy the dataset at src to dst with images stored in `compression`."""
    if (dst / "dataset.json").is_file():
        return
    shutil.rmtree(dst, ignore_errors=True)
    (dst / "shards").mkdir(parents=True)
    m = load_manifest(src)
    kw = compression_kwargs(compression)
    for s in m["shards"]:
        with h5py.File(src / s["file"], "r") as fi, h5py.File(dst / s["file"], "w") as fo:
            for k, v in fi.attrs.items():
                fo.attrs[k] = v
            fo.attrs["compression"] = compression
            for name in fi:
                if name != "images":
                    fi.copy(fi[name], fo, name=name)
            imgs = fi["images"]
            out = fo.create_dataset("images", imgs.shape, dtype="uint8", chunks=(1,) + imgs.shape[1:], **kw)
            for a in range(0, imgs.shape[0], 64):
                out[a:a + 64] = imgs[a:a + 64]
        s["bytes"] = (dst / s["file"]).stat().st_size
        s["sha256"] = sha256_file(dst / s["file"])
    m["spec"] = {**m["spec"], "storage": {"compression": compression}}
    save_manifest(dst, m)


def write_imagefolder(src: Path, dst: Path):
    from PIL import Image
    if (dst / ".done").is_file():
        return
    shutil.rmtree(dst, ignore_errors=True)
    m = load_manifest(src)
    cats = m["assets"]["categories"]
    for s in m["shards"]:
        with h5py.File(src / s["file"], "r") as f:
            c, idx = f["latents/category"][()], f["index"][()]
            for row in range(len(idx)):
                d = dst / cats[c[row]]
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(f["images"][row]).save(d / f"{idx[row]:09d}.png", compress_level=6)
    (dst / ".done").write_text("")


def files_of(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]


def warm(path: Path):
    for p in files_of(path):
        with open(p, "rb") as fh:
            while fh.read(1 << 22):
                pass


def bytes_per_image(path: Path, n: int, pattern: str) -> float:
    return sum(p.stat().st_size for p in path.rglob(pattern)) / n


def time_loader(make_ds, workers: int, repeats: int, shuffle: bool = True) -> float:
    import torch
    from torch.utils.data import DataLoader
    ds = make_ds()
    kw = {"persistent_workers": True} if workers else {}
    loader = DataLoader(ds, batch_size=32, shuffle=shuffle, num_workers=workers, **kw)
    best = 0.0
    for epoch in range(repeats + 1):  # epoch 0 warms up (worker start, file opening)
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
        t0, n = time.perf_counter(), 0
        for img, _ in loader:
            assert img.dtype == torch.float32
            n += img.shape[0]
        dt = time.perf_counter() - t0
        if epoch:
            best = max(best, n / dt)
    del loader
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, help="a dataset root (ideally rendered, any compression)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/latentscape_loader_bench"))
    ap.add_argument("--n", type=int, default=1000, help="images of the synthetic source (without --src)")
    ap.add_argument("--repeats", type=int, default=2, help="timed epochs per measurement (best is kept)")
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import torch
    import torchvision
    from torchvision import datasets, transforms

    from latentscape import LatentDataset, LatentIterableDataset

    args.work.mkdir(parents=True, exist_ok=True)
    src, source = args.src, "rendered"
    if src is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from conftest import write_synthetic_dataset

        from latentscape.config import DatasetSpec
        src, source = args.work / "synthetic", "synthetic noise (compresses unrealistically)"
        if not (src / "dataset.json").is_file():
            write_synthetic_dataset(src, DatasetSpec(n=args.n, shard_size=250, resolution=224, seed=0))
    m = load_manifest(src)
    n, res = m["n"], m["resolution"]
    workers = [int(w) for w in args.workers.split(",")]
    comps = [c for c in COMPRESSIONS if c != "zstd" or have_zstd()]
    torch.set_num_threads(1)

    rows = []
    for c in comps:
        root = args.work / f"h5-{c}"
        rewrite(src, root, c)
        warm(root)
        row = {"storage": f"hdf5 {c}", "bytes_per_image": bytes_per_image(root, n, "*.h5")}
        for w in workers:
            row[f"map_w{w}"] = time_loader(lambda: LatentDataset(root, targets=["category"]), w, args.repeats)
            row[f"iter_w{w}"] = time_loader(
                lambda: LatentIterableDataset(root, targets=["category"], buffer_size=256), w, args.repeats,
                shuffle=False)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if c == "lzf":  # the same files read through HDF5's own lzf filter (python-lzf not installed)
            saved = sys.modules.get("lzf")
            sys.modules["lzf"] = None  # makes `import lzf` fail, here and in forked workers
            try:
                row = {"storage": "hdf5 lzf (without python-lzf)", "bytes_per_image": row["bytes_per_image"]}
                for w in workers:
                    row[f"map_w{w}"] = time_loader(lambda: LatentDataset(root, targets=["category"]), w,
                                                   args.repeats)
            finally:
                if saved is None:
                    del sys.modules["lzf"]
                else:
                    sys.modules["lzf"] = saved
            rows.append(row)
            print(json.dumps(row), flush=True)
    folder = args.work / "imagefolder-png"
    write_imagefolder(src, folder)
    warm(folder)
    ref = {"storage": "ImageFolder PNG", "bytes_per_image": bytes_per_image(folder, n, "*.png")}
    for w in workers:
        ref[f"map_w{w}"] = time_loader(lambda: datasets.ImageFolder(str(folder), transform=transforms.ToTensor()),
                                       w, args.repeats)
    rows.append(ref)
    print(json.dumps(ref), flush=True)
    for r in rows:
        for w in workers:
            r[f"map_w{w}_vs_png"] = r[f"map_w{w}"] / ref[f"map_w{w}"]
    result = {
        "benchmark": "loader_throughput",
        "command": "python " + " ".join([Path(__file__).name] + (argv if argv is not None else sys.argv[1:])),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "cpu": _cpu_name(), "torch": torch.__version__,
                    "torchvision": torchvision.__version__, "h5py": h5py.__version__},
        "source": source, "n": n, "resolution": res, "batch_size": 32, "repeats": args.repeats,
        "workers": workers, "rows": rows,
    }
    print(table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(result: dict) -> str:
    ws = result["workers"]
    head = ["storage", "KiB/image"] + [f"map {w}w img/s" for w in ws] + [f"x PNG ({w}w)" for w in ws] \
        + [f"stream {w}w img/s" for w in ws]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [r["storage"], f"{r['bytes_per_image'] / 1024:.1f}"]
        cells += [f"{r[f'map_w{w}']:.0f}" for w in ws]
        cells += [f"{r[f'map_w{w}_vs_png']:.1f}" for w in ws]
        cells += [f"{r[f'iter_w{w}']:.0f}" if f"iter_w{w}" in r else "-" for w in ws]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
