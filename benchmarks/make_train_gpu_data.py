"""Make the dataset of benchmarks/train_gpu.py: rendered here (Blender), carried to the GPU machine.

    python benchmarks/make_train_gpu_data.py            # -> benchmarks/data/train_gpu, ~10 MB, ~1.5 min

8,000 images of 64x64 px rendered with Cycles on the CPU (procedural library, 17 categories;
position, pose and category varying; 4 samples per pixel; seed 1, so it is not the replication
benchmark's dataset), stored with gzip-1 compression: the loader's fast path decodes gzip with
the standard library's zlib, so it stays fast on a machine without python-lzf. The folder is
git-ignored (`/benchmarks/data/`); it must be made before a GPU run and named in the device
tool's `carry` (`benchmarks/data/train_gpu`). The script refuses to finish with a dataset of 40 MiB
or more (what may travel with the working tree is limited).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 40 * 2**20


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "data" / "train_gpu"))
    p.add_argument("--n", type=int, default=8000)
    p.add_argument("--resolution", type=int, default=64)
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)

    from latentscape import DatasetSpec, render, verify
    from latentscape.config import RenderSettings, StorageSettings
    spec = DatasetSpec(n=args.n, resolution=args.resolution, shard_size=1000, seed=1, library="procedural",
                       vary=("position", "pose", "category"), render=RenderSettings(samples=args.samples),
                       storage=StorageSettings(compression="gzip-1"))
    summary = render(spec, args.out, device="cpu", workers=args.workers, overwrite=True)
    print(summary.line())
    report = verify(args.out)
    if not report.ok:
        print("error: the dataset does not verify:\n" + "\n".join(map(str, report.problems)), file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"{args.out}: {size / 2**20:.1f} MiB")
    if size >= LIMIT:
        print(f"error: {size / 2**20:.1f} MiB is over the 40 MiB the GPU run may carry; use a smaller --n",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
