"""Render chosen objects at the canonical pose in a Blender child process (for asset previews)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentscape.renderer.child import run_in_blender_child
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings

TIMEOUT_PER_IMAGE_S = 120.0


def render_views(settings: StageSettings, objects: Sequence[ObjectRef], backgrounds: Sequence[BackgroundRef],
                 views: Sequence[ImageState], on_image=None) -> list[np.ndarray]:
    """The RGB image of each view, rendered by one stage in a Blender child; `on_image(rgb)` after each."""
    images: list[np.ndarray] = []

    def keep(rgb):
        images.append(rgb)
        if on_image is not None:
            on_image(rgb)

    run_in_blender_child(_render, settings, tuple(objects), tuple(backgrounds), tuple(views),
                         what="asset preview", timeout=TIMEOUT_PER_IMAGE_S, on_item=keep)
    return images


def _render(settings, objects, backgrounds, views):
    """In the child: yield each view's RGB; every object is dropped after its image."""
    from latentscape.renderer.blender.stage import Stage
    stage = Stage(settings, list(objects), list(backgrounds))
    for view in views:
        rgb, _ = stage.render(view)
        yield rgb
        stage.keep_only([])

