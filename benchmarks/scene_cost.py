"""Per-image render cost of each scene template at the quality presets (docs/scenes.md).

Renders N images per (template, preset) through `latentscape.api.render` on the CPU (one worker)
and reports the shard's render seconds per image (Blender start-up excluded).
Run: python benchmarks/scene_cost.py [--n 8] [--resolution 128] [--blend FILE.blend]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import h5py

from latentscape import api
from latentscape.config import DatasetSpec, RenderSettings


def cost(scene: str, quality: str, n: int, resolution: int, library: str) -> float:
    """Seconds per image of `n` images rendered in `scene` at preset `quality`."""
    spec = DatasetSpec(n=n, shard_size=n, resolution=resolution, library=library, scene=scene,
                       render=RenderSettings.preset(quality))
    with tempfile.TemporaryDirectory() as tmp:
        api.render(spec, Path(tmp) / "ds", device="cpu", workers=1, progress=False)
        with h5py.File(next((Path(tmp) / "ds" / "shards").glob("*.h5")), "r") as f:
            return float(f.attrs["render_seconds"]) / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--library", default="placeholder")
    ap.add_argument("--blend", help="a user .blend to time as well (benchmarks/scene_demo_blend.py makes one)")
    ap.add_argument("--quality", default="draft,standard")
    a = ap.parse_args()
    scenes = ["studio", "hdri", "ground", "room"] + ([a.blend] if a.blend else [])
    qualities = a.quality.split(",")
    print(f"| template | {' | '.join(qualities)} |\n|---|{'---|' * len(qualities)}")
    for scene in scenes:
        ms = [f"{1000 * cost(scene, q, a.n, a.resolution, a.library):.0f} ms" for q in qualities]
        print(f"| {Path(scene).name} | {' | '.join(ms)} |", flush=True)


if __name__ == "__main__":
    main()
