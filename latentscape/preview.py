"""Previews: render a few images of a spec (or the objects of a library) into a contact sheet.
The sheet itself is dataset/sheet.py."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from latentscape.dataset.sheet import contact_sheet

__all__ = ["asset_sheet", "contact_sheet", "render_objects", "render_preview"]


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
                                      device_slot=None, threads=0, **resolved.stage_scene())
    images = render_views(settings, [ObjectRef.of(o) for o in resolved.library.objects],
                          [BackgroundRef.of(b) for b in resolved.backgrounds], views,
                          on_image=(lambda _: progress.update(1)) if progress else None)
    return dict(zip(ids, images))
