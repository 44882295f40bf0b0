"""Distractors: other library objects placed around the target (numpy only; docs/scenes.md).

Image i's distractors come from their own generator, `default_rng(SeedSequence([seed, i,
CLUTTER_STREAM]))`, drawn after the target's latents, so the target's draws (and every label of a
dataset without distractors) are untouched. Per image: the count (drawn once from the spec's
choice), then per distractor an object (uniform over the pool), a scale, a pose (Haar-uniform;
on a ground a turn about the vertical, standing on it) and a position (image coordinates over
the frame, a distance around the target's). A distractor whose bounding sphere meets the
target's, another distractor's, the camera's near plane or the scene's own surfaces (the studio
backdrop, the room's walls) is re-drawn (counted in
`rejections_clutter`); a whole set whose predicted occlusion of the target exceeds `max_occlusion`,
or leaves the target's unoccluded share of the image (predicted hull coverage x (1 - predicted
occlusion)) under `min_visible`, is re-drawn (counted in `rejections_occlusion`).
"""
from __future__ import annotations

import math

import numpy as np

from latentscape.errors import SamplingError
from latentscape.latents import geometry as geo
from latentscape.latents.ground import resting_y
from latentscape.latents.occlusion import predicted_occlusion
from latentscape.latents.placement import stand_quat
from latentscape.latents.space import CLUTTER_META, DISTRACTOR_LATENTS
from latentscape.latents.surfaces import ROOM_HALF_WIDTH

CLUTTER_STREAM = 0x636C7574  # "clut": the third word of a distractor generator's seed sequence
DEPTH = (0.6, 1.6)  # a distractor's distance from the camera, times the target's
SCALE = (0.5, 1.0)  # a distractor's scale (times its real size with --size real)
MAX_REJECTIONS = 10_000
# Surfaces a distractor must stay clear of (metres; the templates' own constants, checked by the tests):
# the studio backdrop's floor below the optical axis and its wall minus the sweep's curve
# (blender_scenes/studio.py: FLOOR_BELOW, WALL_DISTANCE - SWEEP_RADIUS; they scale with the target's
# size_m as the backdrop does), and the room's walls (latents/surfaces.py: ROOM_HALF_WIDTH from the camera).
BACKDROP_FLOOR, BACKDROP_WALL = 3.0, 7.0
PAD = {"int32": -1, "float64": np.nan}  # what fills the rows past an image's count


def clutter_rng(seed: int, index: int) -> np.random.Generator:
    """The distractor generator of image `index` (separate from the target's `image_rng`)."""
    return np.random.default_rng(np.random.SeedSequence([seed, index, CLUTTER_STREAM]))


class ClutterSampler:
    """Draws one image's distractors given its target's latents.

    `shapes` is the `LatentSampler` (it knows each object's hull, size and the canonical pose);
    `counts`: the distractor counts drawn uniformly; `pool`: object ids distractors are drawn from."""

    def __init__(self, shapes, counts: tuple[int, ...], max_occlusion: float | None, pool: tuple[int, ...]):
        self.shapes, self.counts, self.max_occlusion, self.pool = shapes, tuple(counts), max_occlusion, tuple(pool)
        self.max_count = max(self.counts)
        if self.max_count and not self.pool:
            raise SamplingError("no object to draw distractors from (the category selection leaves none)")

    def draw(self, index: int, lat: dict) -> dict:
        """{"distractors": [per-distractor dicts], "predicted_occlusion", "rejections_occlusion",
        "rejections_clutter"} for image `index` whose target's latents are `lat`."""
        return self.draw_shared(index, [lat])[0]

    def draw_shared(self, index: int, lats: list[dict]) -> list[dict]:
        """One distractor set shared by several images (a sweep's levels, a pair's two images), drawn from
        image `index`'s generator around the first target: clear of every target and acceptable for each.
        One result per target, as `draw` returns it (the same set; each its own predicted occlusion)."""
        rng = clutter_rng(self.shapes.rules.seed, index)
        count = int(self.counts[int(rng.integers(len(self.counts)))])
        targets = [self._target(lat) for lat in lats]
        fits = 0
        for rejected in range(MAX_REJECTIONS + 1):
            placed, redraws = self._place_all(rng, count, targets, lats, index)
            fits += redraws
            checks = [self._check(t, lat, placed) for t, lat in zip(targets, lats)]
            if all(ok for _, _, ok in checks):
                return [{"distractors": placed, "predicted_occlusion": occ, "rejections_occlusion": rejected,
                         "rejections_clutter": fits, **({"predicted_contrast": c} if c is not None else {})}
                        for occ, c, _ in checks]
        r = self.shapes.rules
        raise SamplingError(f"image {index}: no placement of {count} distractor(s) in {MAX_REJECTIONS} draws "
                            f"kept the target's predicted occlusion under --max-occlusion "
                            f"{self.max_occlusion if self.max_occlusion is not None else 1:g}, its unoccluded "
                            f"share of the image over --min-visible {r.min_visible:g} and its contrast over "
                            f"--min-contrast {r.min_contrast:g}; raise the limit or draw fewer distractors")

    def _check(self, target: dict, lat: dict, placed: list[dict]) -> tuple[float, float | None, bool]:
        """(predicted occlusion, predicted contrast with the distractors or None where unchanged, acceptable):
        under --max-occlusion, the visibility guarantee still met by the target's unoccluded part (its
        predicted hull coverage times 1 - the predicted occlusion), and the contrast guarantee still met
        once distractors stand in the ring around it."""
        occ = self._predict(target, placed)
        if self.max_occlusion is not None and occ > self.max_occlusion:
            return occ, None, False
        need = self.shapes.rules.min_visible
        if need > 0 and np.isfinite(lat["predicted_visible"]) and lat["predicted_visible"] * (1 - occ) < need:
            return occ, None, False
        if not placed or target["ring"] is None:
            return occ, None, True
        c = self.shapes.contrast_with(lat, placed, target["ring"])  # the image's prediction, guarantee on or off
        return occ, c, not c < self.shapes.rules.min_contrast

    def _target(self, lat: dict) -> dict:
        s = self.shapes
        obj, scale, pos = lat["object_id"], lat["scale"], np.asarray(lat["position"], dtype=np.float64)
        # the contrast's side of the target (its prediction and ring), once for every set tried around it
        ring = s.surround_ring(lat) if np.isfinite(lat.get("predicted_contrast", np.nan)) else None
        return {"position": pos, "radius": s.radius(obj, scale),
                "points": s.posed_hull(obj, lat["rotation_quat"], scale, pos), "ring": ring}

    def _place_all(self, rng, count: int, targets: list[dict], lats: list[dict], index: int) -> tuple[list[dict], int]:
        placed, redraws = [], 0
        bodies = list(targets)
        for _ in range(count):
            for tries in range(MAX_REJECTIONS + 1):
                d = self._one(rng, targets[0], lats[0])
                if _clear(d, bodies) and all(self._inside(d, lat) for lat in lats):
                    break
            else:
                raise SamplingError(f"image {index}: no free place for distractor {len(placed) + 1} of {count} in "
                                    f"{MAX_REJECTIONS} draws; draw fewer distractors")
            redraws += tries
            placed.append(d)
            bodies.append(d)
        return placed, redraws

    def _one(self, rng, target: dict, lat: dict) -> dict:
        """One distractor: object, scale, pose and position (not yet checked for room)."""
        s = self.shapes
        obj = int(self.pool[int(rng.integers(len(self.pool)))])
        scale = float(rng.uniform(*SCALE))
        depth = float(np.linalg.norm(target["position"])) * float(rng.uniform(*DEPTH))
        fov = s.rules.fov_deg
        if s.grounded:
            yaw = float(rng.uniform(-math.pi, math.pi))
            quat = stand_quat(geo.matrix_to_quat(geo.euler_to_matrix(yaw, 0.0, 0.0)), s.q0, lat["camera_pitch"])
            x, _, z = depth * geo.ray_direction(float(rng.uniform(-1.0, 1.0)), 0.0, fov)
            rel = s.posed_hull(obj, quat, scale, np.zeros(3))
            pos = np.array([x, resting_y(rel, z, lat["camera_height"], lat["camera_pitch"]), z])
        else:
            quat = geo.random_quaternion(rng)
            u, v = rng.uniform(-1.0, 1.0, 2)
            pos = depth * geo.ray_direction(float(u), float(v), fov)
        quat = np.where(quat[0] < 0, -quat, quat)  # sign-canonical, as every stored rotation
        return {"object_id": obj, "category": s.category_of(obj), "position": pos, "rotation_quat": quat,
                "scale": scale, "size_m": s.size_of(obj), "radius": s.radius(obj, scale),
                "points": s.posed_hull(obj, quat, scale, pos)}

    def _inside(self, d: dict, lat: dict) -> bool:
        """The distractor's sphere stays clear of the scene's own surfaces: the studio backdrop's floor and
        wall (when the image shows it), the room's walls (a circle inside them, whatever env_rotation)."""
        s, (x, y, z), r = self.shapes, d["position"], d["radius"]
        if s.rules.scene == "room":
            up = np.array([0.0, math.cos(lat["camera_pitch"]), math.sin(lat["camera_pitch"])])
            level = d["position"] - (d["position"] @ up) * up
            return float(np.linalg.norm(level)) + r < ROOM_HALF_WIDTH
        if s.rules.scene == "studio" and s.background_kind(lat["background_id"]) == "backdrop":
            size = lat["size_m"]
            return y - r > -BACKDROP_FLOOR * size and z + r < BACKDROP_WALL * size
        return True

    def _predict(self, target: dict, placed: list[dict]) -> float:
        if not placed:
            return 0.0
        return predicted_occlusion(target["points"], target["position"],
                                   [(d["points"], d["position"]) for d in placed], self.shapes.rules.fov_deg)


def _clear(d: dict, bodies: list[dict]) -> bool:
    """The distractor's bounding sphere lies beyond the near plane and meets none of `bodies`'."""
    if d["position"][2] - d["radius"] <= geo.NEAR:
        return False
    return all(np.linalg.norm(d["position"] - b["position"]) > d["radius"] + b["radius"] for b in bodies)


def pack(rows: list[dict], max_count: int) -> dict[str, np.ndarray]:
    """The per-image distractor tables of `rows` (each with a "distractors" list), padded to
    `max_count` (-1 / NaN), with the count and the clutter metadata."""
    n = len(rows)
    out = {}
    for name, lt in DISTRACTOR_LATENTS.items():
        if name == "distractor_count":
            out[name] = np.array([len(r["distractors"]) for r in rows], dtype=lt.dtype)
            continue
        key = name.removeprefix("distractor_")
        a = np.full((n, max_count, *lt.shape), PAD[lt.dtype], dtype=lt.dtype)
        for i, r in enumerate(rows):
            for k, d in enumerate(r["distractors"]):
                a[i, k] = d[key]
        out[name] = a
    for name, (dtype, _) in CLUTTER_META.items():
        out[name] = np.array([r[name] for r in rows], dtype=dtype)
    return out
