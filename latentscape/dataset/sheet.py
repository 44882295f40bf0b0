"""Contact sheets of a dataset: a grid of images, each with its varying latents printed under it."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from latentscape.dataset.reader import DatasetReader
from latentscape.latents.space import varying_groups

_SHOW = {  # what to print for each group, as (latent, format)
    "category": [("category", "name")], "identity": [("object_id", "objname")],
    "position": [("image_xy", "{:+.2f}"), ("distance", "{:.2f}")],
    "pose": [("rotation_euler", "deg")], "scale": [("scale", "{:.2f}")],
    "lighting": [("light_azimuth", "deg"), ("light_elevation", "deg"), ("light_temperature", "{:.0f}")],
    "background": [("background_id", "bgname"), ("env_rotation", "deg")],
}


def contact_sheet(root: str | Path, out: str | Path, cols: int | None = None, cell: int = 160,
                  indices: list[int] | None = None) -> Path:
    """Write a PNG grid of the images of `root` (all, or `indices`) with the varying latents as captions."""
    with DatasetReader(root) as r:
        m = r.manifest
        keep = list(range(len(r))) if indices is None else [int(i) for i in indices]
        lat = {k: v[keep] for k, v in r.latents().items()}
        images = [r.image(i) for i in keep]
    dists = m["resolved"]["distributions"]
    groups = [g for g in _SHOW if g in varying_groups(dists)]
    names = {"name": m["assets"]["categories"],
             "objname": [o["name"].split("#")[-1].split("/")[-1][:24] for o in m["assets"]["objects"]],
             "bgname": [b["name"] for b in m["backgrounds"]]}
    lines = [_caption(lat, i, groups, names) for i in range(len(images))]
    n = len(images)
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    font = ImageFont.load_default()
    text_h = 12 * max(1, max(len(c) for c in lines))
    sheet = Image.new("RGB", (cols * cell, rows * (cell + text_h + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, img in enumerate(images):
        x, y = (i % cols) * cell, (i // cols) * (cell + text_h + 4)
        sheet.paste(Image.fromarray(img).resize((cell, cell), Image.BILINEAR), (x, y))
        for j, line in enumerate(lines[i]):
            draw.text((x + 3, y + cell + 1 + 12 * j), line, fill="black", font=font)
    out = Path(out)
    sheet.save(out)
    return out


def _caption(lat, i, groups, names) -> list[str]:
    out = [f"#{int(lat['index'][i])}"]
    for g in groups:
        parts = []
        for name, fmt in _SHOW[g]:
            v = lat[name][i]
            if fmt in names:
                parts.append(names[fmt][int(v)])
            elif fmt == "deg":
                parts.append(",".join(f"{x:+.0f}" for x in np.degrees(np.atleast_1d(v))) + "°")
            else:
                parts.append(",".join(fmt.format(x) for x in np.atleast_1d(v)))
        out.append(" ".join(parts))
    if "distractor_count" in lat:  # clutter: how many, and how much of the target they hide
        occ = lat.get("meta/occluded_fraction", lat.get("meta/predicted_occlusion"))[i]
        out.append(f"{int(lat['distractor_count'][i])} distractors, occluded {occ:.2f}")
    return out
