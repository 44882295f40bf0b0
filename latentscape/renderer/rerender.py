"""Re-render single images of a dataset in a Blender child process (`verify --rerender`).

A worker renders a shard in `render_order`, object by object, after one empty render
(`worker._start_shard`). Within one object's run, Cycles builds the object's
acceleration structure for the run's first image and only refits it for the next ones,
so an image depends on the run's first image too (measured, bpy 5.0.1, 32^2, 1 sample:
rendered alone after an empty render, 37 of 48 images differed from the stored ones by
more than the determinism tolerance, up to 29% of pixels; rendered after the run's first
image, 48 of 48 were bit-identical). So each image is re-rendered as its shard rendered
it: free the other objects, the empty render, the run's first image, then the image.

The caller never imports bpy: `rerender_images` runs through `child.run_in_blender_child`.
"""
from __future__ import annotations

import numpy as np

from latentscape.renderer.types import ImageState
from latentscape.renderer.worker import KEEP_ALL_OBJECTS_UP_TO, WorkerConfig, _build, _start_shard, render_order


def lead_rows(shard_latents: dict[str, np.ndarray], row: int) -> list[int]:
    """Rows of a shard to render for its row `row`, in order: the first row of `row`'s object
    run in `render_order`, the row rendered just before `row` in that run, then `row` (each only
    where it is another row). The first row builds the object's state; the one before leaves
    what Cycles updates only on a change (the world, the lights): it matters where consecutive
    images share a background and lighting, as the two images of a pair or a sweep do."""
    order = render_order(shard_latents)
    objects = shard_latents["object_id"]
    p = int(np.flatnonzero(order == row)[0])
    start = p
    while start > 0 and objects[order[start - 1]] == objects[row]:
        start -= 1
    rows = [int(order[start]), int(order[p - 1]) if p > start else row, row]
    return [r for k, r in enumerate(rows) if r not in rows[:k]]


def rerender_images(cfg: WorkerConfig, jobs: list[tuple[int, dict[str, np.ndarray]]]):
    """In the child: yield ("ready", device) once the stage is built, then ("image", index,
    rgb uint8 [H,W,3]) for each job `(index, latents)`: the rows of `latents` (see
    `lead_rows`) are rendered in order after an empty render and the last one is the image.
    Returns the device used."""
    stage = _build(cfg)
    yield "ready", stage.device_used
    evict = len(cfg.objects) > KEEP_ALL_OBJECTS_UP_TO
    for index, lat in jobs:
        _start_shard(stage, lat, evict)
        rgb = None
        for row in range(len(lat["object_id"])):
            rgb, _ = stage.render(ImageState.from_row(lat, row))
        yield "image", index, rgb
    return stage.device_used
