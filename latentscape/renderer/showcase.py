"""Render chosen objects at the canonical pose in a Blender child process (for asset previews)."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np

from latentscape.errors import RenderError


def _run(spec_dict, object_ids, latents, q):
    from latentscape.renderer.worker import clean_sys_path
    clean_sys_path()
    try:
        from latentscape.config import DatasetSpec
        from latentscape.latents.sampling import LatentSampler
        from latentscape.renderer.worker import make_stage
        stage = make_stage(LatentSampler.for_spec(DatasetSpec.from_dict(spec_dict)), want_mask=False)
        for oid in object_ids:
            rgb, _ = stage.render({**latents, "object_id": int(oid)})
            q.put(("image", int(oid), rgb))
            stage.keep_only([])
        q.put(("done", None, None))
    except Exception as e:  # noqa: BLE001
        q.put(("error", None, f"{type(e).__name__}: {e}"))


def render_objects(spec, object_ids: list[int], latents: dict, progress=None) -> dict[int, np.ndarray]:
    """{object id: rgb image} for each id, all other latents as given."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run, args=(spec.to_dict(), list(object_ids), latents, q), daemon=True)
    p.start()
    out = {}
    while True:
        try:
            kind, oid, value = q.get(timeout=120)
        except Exception:
            p.kill()
            raise RenderError("asset preview: the Blender process stopped answering") from None
        if kind == "image":
            out[oid] = value
            if progress:
                progress.update(1)
        elif kind == "error":
            p.join(5)
            raise RenderError(f"asset preview failed: {value}")
        else:
            break
    p.join(10)
    return out
