"""Human summaries of a dataset (`latentscape info`) and histograms of its varying latents."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from latentscape.dataset.design_access import design_of
from latentscape.dataset.reader import DatasetReader
from latentscape.errors import FormatError
from latentscape.outpaths import IMAGE_SUFFIXES, check_output_file
from latentscape.latents.designs import describe_design
from latentscape.latents.space import GROUPS, PARAMS, SCENE_GROUP, varying_groups


def describe(root: str | Path) -> str:
    """Multi-line summary: size, shards, groups varied / fixed, latent ranges, bytes.

    Works on an incomplete dataset (it says how many of n images are there)."""
    with DatasetReader(root, complete=False) as r:
        m = r.manifest
        lat = r.latents() if r.shards else {}
    dists = m["resolved"]["distributions"]
    varying = varying_groups(dists, m["resolved"].get("scene", "studio"))
    fixed = [g for g in GROUPS if g not in varying]
    nbytes = sum(s.get("bytes") or 0 for s in m["shards"])
    done = sum(s["count"] for s in m["shards"])
    lines = [
        f"dataset   {Path(root)}  (spec {m['spec_hash']}, latentscape {m.get('latentscape_version')})",
        f"images    {done} of {m['n']} in {len(m['shards'])} shard(s), {m['resolution']}x{m['resolution']} RGB",
        f"on disk   {nbytes / 1e6:.1f} MB ({nbytes / max(done, 1) / 1e3:.1f} kB/image)",
        *([f"design    {describe_design(design, m['n'])}"] if (design := design_of(m)) else []),
        *([f"scene     {_scene_desc(m, dists)}"] if m["resolved"].get("scene", "studio") != "studio" else []),
        *([f"clutter   {_clutter_desc(lat, m)}"] if "distractor_count" in lat else []),
        f"varying   {', '.join(varying) or '(none)'}",
        f"fixed     {', '.join(_fixed_desc(g, dists, m) for g in fixed) or '(none)'}",
        "latents",
    ]
    for s in m["latents"]:
        v = lat.get(s["name"])
        rng = "" if v is None or not len(v) else f"{v.min():.4g} .. {v.max():.4g}"
        lines.append(f"  {s['name']:<18} {s['group']:<10} {s['dtype']:<8} {str(tuple(s['shape'])):<6} {s['unit']:<18} {rng}")
    return "\n".join(lines)


def _clutter_desc(lat: dict, m: dict) -> str:
    """Distractors per image and how much of the target they cover (measured, and the limit)."""
    c = lat["distractor_count"]
    text = f"{c.min()}-{c.max()} distractors per image (mean {c.mean():.2f})"
    occ = lat.get("meta/occluded_fraction")
    if occ is not None and len(occ):
        text += f"; target occluded: mean {float(np.mean(occ)):.3f}, max {float(np.max(occ)):.3f}"
    limit = m["resolved"]["spec"].get("max_occlusion")
    return text + (f" (--max-occlusion {limit:g}, on the prediction)" if limit is not None else "")


def _scene_desc(m, dists) -> str:
    """The scene template and its own latents: which vary, which are held (and at what)."""
    own = {k: d for k, d in dists.items() if k in PARAMS and PARAMS[k].group == SCENE_GROUP}
    vary = [k for k, d in own.items() if d.get("kind") != "fixed"]
    held = [f"{k}={_short(d.get('value'))}" for k, d in own.items() if d.get("kind") == "fixed"]
    parts = ([f"varying {', '.join(vary)}"] if vary else []) + ([f"fixed {', '.join(held)}"] if held else [])
    return f"{m['resolved']['scene']}" + (f" ({'; '.join(parts)})" if parts else "")


def _fixed_desc(group, dists, m) -> str:
    vals = {k: d.get("value") for k, d in dists.items() if PARAMS[k].group == group}
    if group == "category":
        vals = {k: _name_of(m["assets"]["categories"], v) for k, v in vals.items()}
    if group == "background":
        names = [b["name"] for b in m.get("backgrounds", [])]
        vals = {k: (_name_of(names, v) if k == "background_id" else v) for k, v in vals.items()}
    return f"{group}({', '.join(f'{k}={_short(v)}' for k, v in vals.items())})"


def _name_of(names: list, v):
    """names[v] for a valid integer id, else the raw value (a summary never fails on it)."""
    ok = isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(names)
    return names[v] if ok else v


def _short(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ",".join(_short(x) for x in v) + "]"
    return str(v)


def plot_histograms(root: str | Path, out: str | Path) -> int:
    """Save histograms of every varying latent (one panel per component); returns panel count."""
    out = check_output_file(out, overwrite=True, suffixes=IMAGE_SUFFIXES, what="plot file")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with DatasetReader(root, complete=False) as r:
        m = r.manifest
        if not r.shards:
            raise FormatError(f"dataset {root} has no rendered images yet; nothing to plot")
        lat = r.latents()
    panels = []
    for s in m["latents"]:
        if s["name"] not in lat:
            continue
        v = lat[s["name"]].reshape(len(lat["index"]), -1)
        for j in range(v.shape[1]):
            if np.ptp(v[:, j]) > 0:
                panels.append((s["name"] + (f"[{j}]" if v.shape[1] > 1 else ""), v[:, j], s["unit"]))
    cols = 4
    rows = max(1, -(-len(panels) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, (name, v, unit) in zip(axes.flat, panels):
        ax.hist(v, bins=40, color="#4a7ab5")
        ax.set_title(f"{name} ({unit})", fontsize=9)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    # a PNG without the matplotlib version in it: the same data gives the same bytes (releases)
    fig.savefig(out, dpi=80, **({"metadata": {"Software": None}} if str(out).lower().endswith(".png") else {}))
    plt.close(fig)
    return len(panels)
