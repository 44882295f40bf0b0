"""Contact sheets: a grid of rendered images, each with its varying latents printed under it."""
from __future__ import annotations

import math
import tempfile
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
    return out


def render_preview(spec, out: str | Path, n: int = 16, device: str = "auto", progress: bool = True) -> Path:
    """Render `n` images of `spec` into a temporary dataset and save their contact sheet."""
    from latentscape.pipeline.local import render_dataset
    spec = spec.replace(n=n, shard_size=n)
    with tempfile.TemporaryDirectory(prefix="latentscape-preview-") as tmp:
        render_dataset(spec, Path(tmp) / "ds", device=device, progress=progress)
        return contact_sheet(Path(tmp) / "ds", out)


def asset_sheet(library, folders, licence, skip_bad, out, per_category=6, categories=None, resolution=96):
    """One row per category: its first `per_category` objects at the canonical pose, labelled."""
    from tqdm import tqdm

    from latentscape.config import DatasetSpec, RenderSettings
    from latentscape.resolve import resolve
    spec = DatasetSpec(n=1, resolution=resolution, library=library, assets=tuple(folders), license=licence,
                       skip_bad_assets=skip_bad, render=RenderSettings(samples=8),
                       canonical_pose="front")  # its own view below
    resolved = resolve(spec)
    lib = resolved.library
    cats = categories or lib.categories
    rows = [(c, lib.objects_in(lib.category_index(c))[:per_category]) for c in cats]
    ids = [i for _, r in rows for i in r]
    view = {"position": (0.0, 0.0, 2.2), "rotation_quat": (0.966, -0.259, 0.0, 0.0)}  # near, a little from above
    with tqdm(total=len(ids), desc="assets", unit="obj") as bar:
        images = render_objects(resolved, ids, view, progress=bar)
    label_w, cell = 110, resolution
    sheet = Image.new("RGB", (label_w + per_category * cell, len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, (cat, objs) in enumerate(rows):
        draw.text((4, r * cell + cell // 2 - 6), f"{cat} ({len(lib.objects_in(lib.category_index(cat)))})",
                  fill="black", font=font)
        for c, oid in enumerate(objs):
            sheet.paste(Image.fromarray(images[oid]), (label_w + c * cell, r * cell))
    out = Path(out)
    sheet.save(out)
    return out, len(ids)


def render_objects(resolved, object_ids: list[int], overrides: dict, progress=None) -> dict[int, np.ndarray]:
    """{object id: rgb image}: each object at `ImageState.canonical(object_id=id, **overrides)` in the
    dataset's scene, image size, camera and samples, rendered on the CPU in a Blender child."""
    from latentscape.renderer.showcase import render_views
    from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings
    ids = [int(oid) for oid in object_ids]
    views = [ImageState.canonical(object_id=oid, **overrides) for oid in ids]
    settings = StageSettings.for_spec(resolved.spec, device="cpu", want_mask=False, want_depth=False,
                                      device_slot=None, threads=0, scene=resolved.scene)
    images = render_views(settings, [ObjectRef.of(o) for o in resolved.library.objects],
                          [BackgroundRef.of(b) for b in resolved.backgrounds], views,
                          on_image=(lambda _: progress.update(1)) if progress else None)
    return dict(zip(ids, images))
