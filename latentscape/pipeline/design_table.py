"""`ROOT/design.csv`: a designed dataset's table of design coordinates, beside its shards.

* grid   -- index, then per latent its level index and value (first latent slowest);
* sweep  -- index, base draw, level index, value of the swept latent;
* pairs  -- pair, image_a, image_b, the groups the two images differ in;
* blocks -- a Brain-Score-style stimulus table: stimulus_id, object_name, category_name,
            variation (the block), ty, tz (camera-frame x, y), s (scale), rxy, rxz, ryz
            (yaw, pitch, roll in degrees), background_id.

Written once when the root is created (atomically); a function of the resolved dataset.
"""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np

from latentscape.resolve import ResolvedDataset

DESIGN_TABLE = "design.csv"


def ensure_design_table(root: Path, resolved: ResolvedDataset) -> Path | None:
    """Write ROOT/design.csv if the dataset has a design and the file is missing; its path (or None)."""
    if resolved.spec.design is None:
        return None
    path = Path(root) / DESIGN_TABLE
    if not path.exists():
        header, rows = design_rows(resolved)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        tmp = path.with_name(f".{DESIGN_TABLE}.{os.getpid()}.tmp")
        tmp.write_text(buf.getvalue())
        os.replace(tmp, path)
    return path


def check_points(resolved: ResolvedDataset, progress: bool = False) -> None:
    """Draw what must be drawn before rendering (`sampler.check()`: every point of a grid), with a
    progress bar for grids of more than 10,000 points (~0.6 ms a point on a 2-core CPU)."""
    design = resolved.spec.design
    big = design is not None and design.kind == "grid" and resolved.spec.n > 10_000
    if not (big and progress):
        resolved.sampler.check()
        return
    from tqdm import tqdm
    with tqdm(total=resolved.spec.n, desc="checking grid points", unit="point", dynamic_ncols=True) as bar:
        resolved.sampler.check(progress=bar.update)


def design_rows(resolved: ResolvedDataset) -> tuple[list[str], list[list]]:
    """The header and rows of the design table."""
    d = resolved.spec.design
    return {"grid": _grid, "sweep": _sweep, "pairs": _pairs, "blocks": _blocks}[d.kind](resolved)


def _value(resolved: ResolvedDataset, name: str, v):
    lib = resolved.library
    if name == "category":
        return lib.categories[v]
    if name == "object_id":
        return lib.objects[v].name
    if name == "background_id":
        return resolved.backgrounds[v].name
    return v


def _grid(resolved):
    d, levels = resolved.spec.design, resolved.design_levels()
    header = ["index"] + [x for k, _ in levels for x in (f"{k}_level", k)]
    rows = []
    for i, idx in enumerate(np.ndindex(*d.counts())):
        rows.append([i] + [x for (k, vals), j in zip(levels, idx) for x in (j, _value(resolved, k, vals[j]))])
    return header, rows


def _sweep(resolved):
    d = resolved.spec.design
    name, vals = resolved.design_levels()[0]
    count = len(vals)
    rows = [[i, i // count, i % count, _value(resolved, name, vals[i % count])] for i in range(d.images())]
    return ["index", "base", "level", name], rows


def _pairs(resolved):
    sampler = resolved.sampler
    rows = [[j, 2 * j, 2 * j + 1, ";".join(sampler.changed_groups(j))] for j in range(resolved.spec.n // 2)]
    return ["pair", "image_a", "image_b", "changed"], rows


def _blocks(resolved):
    d, lib = resolved.spec.design, resolved.library
    lat = resolved.sampler.sample_range(0, resolved.spec.n)
    names = [b.name for b in d.blocks]
    header = ["stimulus_id", "object_name", "category_name", "variation", "ty", "tz", "s", "rxy", "rxz", "ryz",
              "background_id"]
    rows = []
    for i in range(resolved.spec.n):
        x, y, _ = lat["position"][i]
        yaw, pitch, roll = (math.degrees(a) for a in lat["rotation_euler"][i])
        rows.append([i, lib.objects[lat["object_id"][i]].name, lib.categories[lat["category"][i]],
                     names[lat["design_block"][i]], _num(x), _num(y), _num(lat["scale"][i]), _num(yaw),
                     _num(pitch), _num(roll), resolved.backgrounds[lat["background_id"][i]].name])
    return header, rows


def _num(v) -> str:
    return f"{float(v):.6g}"
