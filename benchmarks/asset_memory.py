"""Peak worker memory and per-shard asset loading time with a large asset library.

Renders `--shards` shards of `--shard-size` images drawing from the whole library
(default: the Sweet Home 3D furniture, ~600 models) at a small size, so that asset
loading, not rendering, dominates. Every shard records its worker's peak RSS, the
number of objects loaded and the seconds spent loading them (shard attributes
`worker_peak_rss_mb`, `asset_loads`, `asset_load_seconds`, `render_seconds`).

    python benchmarks/asset_memory.py --json benchmarks/results/asset_memory.json
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import h5py

from latentscape.config import DatasetSpec, RenderSettings
from latentscape.pipeline.local import render_dataset


def run(library: str, shards: int, shard_size: int, resolution: int) -> list[dict]:
    spec = DatasetSpec(n=shards * shard_size, shard_size=shard_size, resolution=resolution, library=library,
                       vary=("category", "identity", "pose", "position"), render=RenderSettings(samples=1))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        render_dataset(spec, Path(tmp) / "ds", device="cpu", progress=True)
        wall = time.time() - t0
        rows = []
        for p in sorted((Path(tmp) / "ds" / "shards").glob("shard-*.h5")):
            with h5py.File(p) as f:
                a = f.attrs
                rows.append({"shard": p.name, "images": int(a["count"]), "objects_loaded": int(a["asset_loads"]),
                             "asset_load_s": round(float(a["asset_load_seconds"]), 2),
                             "render_s": round(float(a["render_seconds"]), 2),
                             "peak_rss_mb": round(float(a["worker_peak_rss_mb"]), 1)})
    print(f"{'shard':<18}{'images':>7}{'loaded':>8}{'load s':>9}{'shard s':>9}{'peak RSS MB':>13}")
    for r in rows:
        print(f"{r['shard']:<18}{r['images']:>7}{r['objects_loaded']:>8}{r['asset_load_s']:>9}"
              f"{r['render_s']:>9}{r['peak_rss_mb']:>13}")
    print(f"wall {wall:.1f} s")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", default="furniture")
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = run(a.library, a.shards, a.shard_size, a.resolution)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                            "date": time.strftime("%Y-%m-%d"), "args": vars(a), "shards": rows},
                                           indent=1))


if __name__ == "__main__":
    main()
