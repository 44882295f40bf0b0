"""Deterministic per-image latent sampling: latents are a pure function of (resolved dataset, index).

Image i draws everything from `default_rng(SeedSequence([seed, i]))` in a fixed
order, so any image can be re-drawn alone, in any shard layout or process. The
sampler only draws: turning a spec into distributions and an asset table is
`latentscape.resolve`'s job, done once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentscape.assets.library import AssetLibrary
from latentscape.errors import SamplingError
from latentscape.latents import geometry as geo
from latentscape.latents.distributions import Dist
from latentscape.latents.space import LATENTS, META

MAX_REJECTIONS = 10_000


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index`: default_rng(SeedSequence([seed, index]))."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


@dataclass(frozen=True)
class DrawRules:
    """The spec settings that shape the draws (besides the distributions)."""

    seed: int
    fov_deg: float
    margin: float
    position_mode: str
    pose_mode: str
    category_sampling: str
    canonical_pose: str = "front"  # the stored rotation_quat is relative to this pose (geometry.CANONICAL_VIEWS)


class LatentSampler:
    """Draws latents per image from resolved distributions over a fixed asset table."""

    def __init__(self, rules: DrawRules, dists: dict[str, Dist], library: AssetLibrary):
        self.rules = rules
        self.library = library
        self.dists = dists
        self._allowed_objects = self._object_set()
        self._extents = np.array([o.extents for o in library.objects], dtype=np.float64)
        self._q0 = geo.canonical_quat(rules.canonical_pose)

    # ---- drawing -------------------------------------------------------------
    def sample(self, index: int) -> dict:
        """Stored latents and metadata of one image."""
        rng = image_rng(self.rules.seed, index)
        d = self.dists
        out = {"render_seed": int(rng.integers(0, 2**31 - 1))}
        cat, obj = self._draw_object(rng)
        out["category"], out["object_id"] = cat, obj
        quat = self._draw_pose(rng)
        out["rotation_quat"] = quat
        out["rotation_euler"] = geo.matrix_to_euler(geo.quat_to_matrix(quat))
        out["scale"] = float(d["scale"].sample(rng))
        for k in ("light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength"):
            out[k] = float(d[k].sample(rng))
        out["background_id"] = int(d["background_id"].sample(rng))
        out["env_rotation"] = float(d["env_rotation"].sample(rng))
        pos, rejections = self._draw_position(rng, obj, quat, out["scale"], index)
        out["position"] = pos
        out["distance"] = float(np.linalg.norm(pos))
        out["image_xy"] = geo.project(pos, self.rules.fov_deg)[0]
        out["rejections"] = rejections
        return out

    def sample_range(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Latents of images start..stop-1 as arrays (dtypes of the schema)."""
        rows = [self.sample(i) for i in range(start, stop)]
        out = {}
        for name, lt in LATENTS.items():
            out[name] = np.array([r[name] for r in rows], dtype=lt.dtype).reshape((len(rows), *lt.shape))
        for name, (dtype, _) in META.items():
            out[name] = np.array([r[name] for r in rows], dtype=dtype)
        out["index"] = np.arange(start, stop, dtype=np.int64)
        return out

    def _object_set(self):
        d = self.dists["object_id"]
        if d.kind == "choice":
            return list(d.values)
        return None

    def _draw_object(self, rng):
        dc, do = self.dists["category"], self.dists["object_id"]
        if do.kind == "fixed" and do.value != "first":
            obj = int(do.value)
            return self._category_of(obj), obj
        if self.rules.category_sampling == "objects" and dc.kind != "fixed" and do.kind == "choice":
            obj = int(do.sample(rng))
            return self._category_of(obj), obj
        cat = int(dc.sample(rng))
        members = [o for o in self.library.objects_in(cat) if self._allowed_objects is None or o in self._allowed_objects]
        if do.kind == "choice":
            return cat, int(members[int(rng.integers(len(members)))])
        return cat, int(members[0])

    def _category_of(self, obj: int) -> int:
        return self.library.category_index(self.library.objects[obj].category)

    def _draw_pose(self, rng) -> np.ndarray:
        d = self.dists
        if self.rules.pose_mode == "so3":
            return geo.quat_normalize(np.asarray(d["rotation"].sample(rng), dtype=np.float64))
        ypr = [float(d[k].sample(rng)) for k in ("yaw", "pitch", "roll")]
        return geo.matrix_to_quat(geo.euler_to_matrix(*ypr))

    def _draw_position(self, rng, obj, quat, scale, index):
        d, rules = self.dists, self.rules
        extents = self._extents[obj]
        names = ("image_x", "image_y", "distance") if rules.position_mode == "image" else (
            "position_x", "position_y", "position_z")
        varying = any(d[k].kind != "fixed" for k in names)
        # corners relative to the centre do not change between position draws
        rel = geo.object_points_camera(geo.box_corners(extents), np.zeros(3), geo.quat_mul(self._q0, quat), scale)
        limit = geo.frame_limit(rules.fov_deg, rules.margin)
        for rejections in range(MAX_REJECTIONS + 1):
            a, b, c = (float(d[k].sample(rng)) for k in names)
            if rules.position_mode == "image":
                pos = c * geo.ray_direction(a, b, rules.fov_deg)
            else:
                pos = np.array([a, b, c])
            if not varying or geo.corners_in_frame(rel + pos, limit):
                return pos, rejections
        raise SamplingError(
            f"image {index}: no in-frame position in {MAX_REJECTIONS} draws for object "
            f"{self.library.objects[obj].name!r} at scale {scale:.2f}; "
            f"increase the distance range, or reduce the scale or the margin")
