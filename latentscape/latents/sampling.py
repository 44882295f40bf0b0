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
from latentscape.latents import appearance as app
from latentscape.latents import placement, surround
from latentscape.latents.clutter import ClutterSampler, pack
from latentscape.latents.ground import resting_y
from latentscape.latents.space import (CAMERA, GROUNDED, LATENTS, META, REDRAW, SCENE_GROUP, SCENE_LATENTS,
                                      varying_groups)

MAX_REJECTIONS = 10_000
ORDER = ("category", "identity", "pose", "scale", "lighting", "background", "position")  # the draw order


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
    min_visible: float = 0.0  # share of the image the object's hull must cover (0: no guarantee)
    min_contrast: float = 0.0  # least predicted object-to-surround contrast on solid-colour backgrounds, /255
    size: str = "unit"  # unit | real: positions scale with the object's real size
    view_transform: str = "standard"  # the display curve the contrast is predicted through
    frame: str = "box"  # the in-frame rule: box (the projected bounding box) | centre (only the centre)
    scene: str = "studio"  # the scene template (latents/space.py SCENE_TEMPLATES, or userblend)
    region: tuple | None = None  # userblend: the region's 8 corners, camera frame (positions are inside it)
    distractors: tuple[int, ...] = (0,)  # distractor counts, one drawn uniformly per image (latents/clutter.py)
    max_occlusion: float | None = None  # distractor sets predicted to occlude more of the target are re-drawn
    distractor_pool: tuple[int, ...] = ()  # object ids distractors are drawn from


_LIGHTS = ("light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength")


class LatentSampler:
    """Draws latents per image from resolved distributions over a fixed asset table.

    `backgrounds` gives (kind, linear rgb) per background id, for the contrast guarantee."""

    def __init__(self, rules: DrawRules, dists: dict[str, Dist], library: AssetLibrary,
                 backgrounds: tuple[tuple[str, tuple | None], ...] = ()):
        self.rules = rules
        self.library = library
        self.dists = dists
        self.backgrounds = backgrounds
        self._allowed_objects = self._object_set()
        self._extents = np.array([o.extents for o in library.objects], dtype=np.float64)
        self._unit = np.array([(o.size_m or 1.0) if rules.size == "real" else 1.0 for o in library.objects])
        self._q0 = geo.canonical_quat(rules.canonical_pose)
        self._varying = set(varying_groups(dists))
        self._hulls: dict[int, np.ndarray] = {}
        self._faces: dict[int, tuple] = {}
        # predictions use only what the identity records: hulls and colours are in it when a guarantee is on
        self._measured = rules.min_visible > 0 or rules.min_contrast > 0
        self._grounded = rules.scene in GROUNDED
        self._region = placement.region_axes(rules.region) if rules.region is not None else None
        self.scene_names = [k for k in SCENE_LATENTS if k in dists]  # stored only where the template takes them
        self._order = ORDER[:-1] + (SCENE_GROUP, "position") if self.scene_names else ORDER
        # on a ground the camera's height and pitch, and the materials, change both what the object covers and
        # what surrounds it: the scene group is a lever of both guarantees there
        self._redraw = {c: g + (SCENE_GROUP,) for c, g in REDRAW.items()} if self._grounded else REDRAW
        self._check_fixed_guarantees()
        self.clutter = (ClutterSampler(self, rules.distractors, rules.max_occlusion, rules.distractor_pool)
                        if max(rules.distractors) > 0 else None)

    # ---- drawing -------------------------------------------------------------
    def sample(self, index: int) -> dict:
        """Stored latents and metadata of one image."""
        rng = image_rng(self.rules.seed, index)
        out = {"render_seed": int(rng.integers(0, 2**31 - 1)), "rejections": 0}
        self._draw(rng, out, index, self._order)
        counts = dict.fromkeys(REDRAW, 0)
        for _ in range(MAX_REJECTIONS):
            cause = self._failed_guarantee(out)
            if cause is None:
                break
            counts[cause] += 1
            groups = [g for g in self._redraw[cause] if g in self._varying]
            if not groups:  # the fixed draw passed the check, this image's varying latents do not
                levers = ", ".join(self._redraw[cause])
                raise SamplingError(f"image {index}: {self._failure_text(cause, out)}, and nothing that could fix "
                                    f"it varies ({levers}); let one vary, leave the object out (--categories), "
                                    f"or lower the limit")
            self._draw(rng, out, index, groups)
        else:
            raise SamplingError(f"image {index}: no draw in {MAX_REJECTIONS} met the guarantees "
                                f"({self._failure_text(cause, out)})")
        out["rejections_visible"], out["rejections_contrast"] = counts["visible"], counts["contrast"]
        out.pop("level_quat", None)
        out.update(self.distractors_for(index, out))
        return out

    def distractors_for(self, index: int, lat: dict) -> dict:
        """Image `index`'s distractors around a target whose latents are `lat` ({} without distractors):
        drawn from their own generator (latents/clutter.py), so the target's draws are untouched.
        Designed datasets call this with each image's target latents."""
        return {} if self.clutter is None else self.clutter.draw(index, lat)

    def sample_range(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Latents of images start..stop-1 as arrays (dtypes of the schema)."""
        return self.stack([self.sample(i) for i in range(start, stop)], start)

    def stack(self, rows: list[dict], start: int, extra_meta: dict | None = None) -> dict[str, np.ndarray]:
        """Rows of images start, start+1, ... (as `sample` returns them) as arrays in the schema's dtypes;
        `extra_meta`: further per-image fields {name: (dtype, doc)}, stacked where the rows have them."""
        out = {}
        for name, lt in LATENTS.items():
            out[name] = np.array([r[name] for r in rows], dtype=lt.dtype).reshape((len(rows), *lt.shape))
        for name in self.scene_names:
            out[name] = np.array([r[name] for r in rows], dtype=SCENE_LATENTS[name].dtype)
        for name, (dtype, _) in {**META, **(extra_meta or {})}.items():
            if name in rows[0]:
                out[name] = np.array([r[name] for r in rows], dtype=dtype)
        if self.clutter is not None:
            out.update(pack(rows, self.clutter.max_count))
        out["index"] = np.arange(start, start + len(rows), dtype=np.int64)
        return out

    def _draw(self, rng, out: dict, index: int, groups) -> None:
        """(Re-)draw the latents of `groups` into `out`, always in the same order; the position
        is drawn again whenever anything it depends on was."""
        d = self.dists
        if "category" in groups or "identity" in groups:
            out["category"], out["object_id"] = self._draw_object(rng)
        if "pose" in groups and self._grounded:  # a level pose; the stored one follows with the camera pitch
            out["level_quat"] = self._draw_pose(rng)
        elif "pose" in groups:
            out["rotation_quat"] = self._draw_pose(rng)
            out["rotation_euler"] = geo.matrix_to_euler(geo.quat_to_matrix(out["rotation_quat"]))
        if "scale" in groups:
            out["scale"] = float(d["scale"].sample(rng))
        if "lighting" in groups:
            for k in _LIGHTS:
                out[k] = float(d[k].sample(rng))
        if "background" in groups:
            out["background_id"] = int(d["background_id"].sample(rng))
            out["env_rotation"] = float(d["env_rotation"].sample(rng))
        if SCENE_GROUP in groups:
            for k in self.scene_names:
                if k not in CAMERA:
                    out[k] = int(d[k].sample(rng))
        moved = {"category", "identity", "pose", "scale", "position"} | ({SCENE_GROUP} if self._grounded else set())
        if moved & set(groups):  # all the position depends on
            obj = out["object_id"]
            if self._grounded:
                pos, rejections = self._draw_standing(rng, out, obj, out["scale"], index)
            else:
                pos, rejections = self._draw_position(rng, obj, out["rotation_quat"], out["scale"], index)
            self.set_position(out, pos)
            out["rejections"] += rejections
        out["predicted_contrast"] = self.contrast(out)

    def set_position(self, out: dict, pos) -> None:
        """Store position `pos` in `out` (object, pose and scale already there) with what follows from it:
        distance, image_xy, size_m and the predicted visible share. Designed datasets call this too."""
        obj = out["object_id"]
        out["position"] = pos
        out["distance"] = float(np.linalg.norm(pos))
        out["image_xy"] = geo.project(pos, self.rules.fov_deg)[0]
        out["size_m"] = float(self._unit[obj])
        out["predicted_visible"] = self.visible_fraction(obj, out["rotation_quat"], out["scale"], pos)

    def position_at(self, obj: int, a: float, b: float, c: float) -> np.ndarray:
        """The camera-frame centre of object `obj` at position parameters (a, b, c): image_x, image_y and
        distance (image mode) or position_x/_y/_z (box mode, or fractions of a .blend's region); positions
        scale with the object's real size under --size real."""
        if self._region is not None:  # a user's .blend: fractions along the region's edges
            return self.region_position((a, b, c))
        unit = self._unit[obj]
        if self.rules.position_mode == "image":
            return unit * c * geo.ray_direction(a, b, self.rules.fov_deg)
        return unit * np.array([a, b, c])

    def check(self, progress=None) -> None:
        """Surface sampling errors before anything is rendered (a designed dataset checks every point)."""
        self.sample(0)

    # ---- guarantees ----------------------------------------------------------
    def in_frame(self, lat: dict) -> bool:
        """The in-frame rule for stored latents `lat` (object, pose, scale, position)."""
        obj = lat["object_id"]
        pts = self._frame_points(obj, lat["rotation_quat"], lat["scale"]) + np.asarray(lat["position"])
        return geo.corners_in_frame(pts, geo.frame_limit(self.rules.fov_deg, self.rules.margin))

    def _frame_points(self, obj: int, quat, scale: float) -> np.ndarray:
        """Camera-frame points (about the object's centre) the in-frame rule keeps inside the frame."""
        if self.rules.frame == "centre":
            return np.zeros((1, 3))
        return geo.object_points_camera(geo.box_corners(self._extents[obj]), np.zeros(3),
                                        geo.quat_mul(self._q0, quat), scale * self._unit[obj])

    def visible_fraction(self, obj: int, quat, scale: float, position) -> float:
        """Share of the image covered by the object's convex hull at this pose (NaN without a hull)."""
        if not self._measured:
            return float("nan")
        pts = geo.object_points_camera(self._hull(obj), position, geo.quat_mul(self._q0, quat),
                                       scale * self._unit[obj])
        return geo.visible_fraction(pts, self.rules.fov_deg) if pts[:, 2].min() > geo.NEAR else 0.0

    def contrast(self, lat: dict) -> float:
        """Predicted |object - surround| display luminance (0..255); NaN where it is not predicted: an
        HDRI background, a user's .blend, an object without a measured colour."""
        p = self.prediction(lat)
        return float("nan") if p is None or not np.isfinite(p.contrast) else p.contrast

    def predicted_display(self, lat: dict) -> tuple[float, float]:
        """(object, surround) predicted mean display luminance (0..255) in the image of latents `lat`;
        NaNs where not predicted (docs/fidelity.md, docs/scenes.md)."""
        p = self.prediction(lat)
        return (float("nan"), float("nan")) if p is None else (p.inside, p.surround)

    def prediction(self, lat: dict) -> surround.Prediction | None:
        """What the image of latents `lat` will show around its object; None where it is not predicted."""
        colour = self.library.objects[lat["object_id"]].colour
        if not self._measured or colour is None or not self.backgrounds:
            return None
        kind, rgb = self.backgrounds[lat["background_id"]]
        scene, vt = self.rules.scene, self.rules.view_transform
        if scene == "studio" and kind in ("color", "backdrop"):
            world = np.asarray(rgb if kind == "color" else (app.BACKDROP_WORLD_Y,) * 3, dtype=np.float64)
            return surround.Prediction(app.object_display(colour, world, lat, vt, self._lit(lat)),
                                       app.surround_display(kind, rgb, lat, vt), world,
                                       app.sun_direction(lat["light_azimuth"], lat["light_elevation"]))
        if scene not in surround.SCENES or kind != "color":
            return None
        obj = lat["object_id"]
        return surround.predict(colour, self.posed_hull(obj, lat["rotation_quat"], lat["scale"], lat["position"]),
                                lat, scene, rgb, vt, self.rules.fov_deg, lambda to_sun: self._lit(lat, to_sun))

    def surround_ring(self, lat: dict) -> tuple[surround.Prediction, surround.Ring] | None:
        """The prediction for the image of latents `lat` and its ring (built for a one-colour surround too):
        what `contrast_with` needs of the target, the same for every distractor set tried around it. None
        where the contrast is not predicted."""
        p = self.prediction(lat)
        if p is None or not np.isfinite(p.surround):
            return None
        ring = p.ring
        if ring is None:  # a one-colour surround: its ring only matters where a distractor stands in it
            hull = self.posed_hull(lat["object_id"], lat["rotation_quat"], lat["scale"], lat["position"])
            rays = surround.ring_rays(hull, self.rules.fov_deg)
            ring = surround.Ring(rays, np.full(len(rays), np.inf), np.full(len(rays), p.surround))
        return p, ring

    def contrast_with(self, lat: dict, distractors: list[dict], target=None) -> float:
        """The predicted contrast of the image of latents `lat` once `distractors` (dicts with object_id,
        rotation_quat, position, points: as latents/clutter.py draws them) stand around its object: ring
        pixels they cover show them. `target`: `surround_ring(lat)` where the caller kept it. NaN where
        the contrast is not predicted."""
        target = self.surround_ring(lat) if target is None else target
        if target is None:
            return float("nan")
        p, ring = target
        shown = []
        for d in distractors:
            colour = self.library.objects[d["object_id"]].colour
            if colour is not None:
                lit = self._lit_of(d["object_id"], d["rotation_quat"], d["position"], p.to_sun)
                shown.append((d["points"], app.object_display(colour, p.world, lat, self.rules.view_transform, lit)))
        return surround.with_distractors(p, ring, shown)

    def _lit(self, lat: dict, to_sun=None) -> float:
        """The sunlit share of the object's visible hull surface in this image (`to_sun`: the camera-frame
        direction toward the sun; default the studio's, from the light latents)."""
        if to_sun is None:
            to_sun = app.sun_direction(lat["light_azimuth"], lat["light_elevation"])
        return self._lit_of(lat["object_id"], lat["rotation_quat"], lat["position"], to_sun)

    def _lit_of(self, obj: int, quat, position, to_sun) -> float:
        """The lit share of object `obj`'s visible hull surface posed `quat` at `position`, for a light
        from camera-frame direction `to_sun`."""
        if obj not in self._faces:
            self._faces[obj] = app.hull_faces(self._hull(obj))
        normals, areas = self._faces[obj]
        rot = geo.ASSET_TO_CAMERA @ geo.quat_to_matrix(geo.quat_mul(self._q0, quat))
        pos = np.asarray(position, dtype=np.float64)
        return app.lit_share(normals @ rot.T, areas, -pos / np.linalg.norm(pos), to_sun)

    def _failed_guarantee(self, out: dict) -> str | None:
        r = self.rules
        if r.min_visible > 0 and not out["predicted_visible"] >= r.min_visible:
            return "visible"
        if r.min_contrast > 0 and out["predicted_contrast"] < r.min_contrast:  # NaN (not predicted) passes
            return "contrast"
        return None

    def _hull(self, obj: int) -> np.ndarray:
        if obj not in self._hulls:
            o = self.library.objects[obj]
            if not o.hull:
                raise SamplingError(f"object {o.name!r} has no measured hull (its model file has no vertex to "
                                    f"draw), so --min-visible cannot be decided; leave it out, or turn the "
                                    f"guarantees off with --min-visible 0 --min-contrast 0")
            self._hulls[obj] = o.hull_points()
        return self._hulls[obj]

    def _failure_text(self, cause: str, out: dict) -> str:
        name = self.library.objects[out["object_id"]].name
        if cause == "visible":
            return (f"object {name!r} covers {out['predicted_visible']:.4f} of the image, under --min-visible "
                    f"{self.rules.min_visible:g}")
        return (f"object {name!r} stands {out['predicted_contrast']:.1f}/255 from background "
                f"{out['background_id']}, under --min-contrast {self.rules.min_contrast:g}")

    def _check_fixed_guarantees(self) -> None:
        """Where a guarantee fails for an object and none of the groups it would re-draw varies,
        stop now (before anything is rendered) with one line naming every such object."""
        g = self._grounded
        for cause, flag, lever in (("visible", self.rules.min_visible,
                                    "pose, position, scale or the scene" if g else "pose, position or scale"),
                                   ("contrast", self.rules.min_contrast,
                                    "background, lighting or the scene" if g else "background or lighting")):
            if flag <= 0 or any(g in self._varying for g in self._redraw[cause]):
                continue
            bad = []
            for obj in self._candidate_objects():
                out = self._fixed_draw(obj)
                if self._failed_guarantee(out) == cause:
                    value = out["predicted_visible" if cause == "visible" else "predicted_contrast"]
                    bad.append(f"{self.library.objects[obj].name} ({value:.3g})")
            if bad:
                limit = f"--min-visible {flag:g}" if cause == "visible" else f"--min-contrast {flag:g}"
                raise SamplingError(f"{len(bad)} object(s) fail {limit} at the fixed {lever} and nothing that "
                                    f"could fix it varies: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}; "
                                    f"let {lever} vary, leave these objects out (--categories), or lower the limit")

    def _fixed_draw(self, obj: int) -> dict:
        """The latents of object `obj` with every other group at its fixed value (no randomness:
        only called for the groups that do not vary)."""
        rng = np.random.default_rng(0)
        out = {"rejections": 0, "category": self._category_of(obj), "object_id": obj}
        self._draw(rng, out, -1, self._order[2:])
        return out

    def _candidate_objects(self) -> list[int]:
        do, dc = self.dists["object_id"], self.dists["category"]
        if do.kind == "fixed" and do.value != "first":
            return [int(do.value)]
        cats = [int(dc.value)] if dc.kind == "fixed" else [int(c) for c in dc.values]
        members = [o for c in cats for o in self.library.objects_in(c)
                   if self._allowed_objects is None or o in self._allowed_objects]
        if do.kind == "fixed":  # "first": each category's first allowed object
            return [next(o for o in members if self._category_of(o) == c) for c in cats]
        return members

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
        names = self._position_names()
        varying = any(d[k].kind != "fixed" for k in names)
        # corners relative to the centre do not change between position draws
        rel = self._frame_points(obj, quat, scale)
        limit = geo.frame_limit(rules.fov_deg, rules.margin)
        for rejections in range(MAX_REJECTIONS + 1):
            a, b, c = (float(d[k].sample(rng)) for k in names)
            pos = self.position_at(obj, a, b, c)
            if not varying or geo.corners_in_frame(rel + pos, limit):
                return pos, rejections
        raise SamplingError(
            f"image {index}: no in-frame position in {MAX_REJECTIONS} draws for object "
            f"{self.library.objects[obj].name!r} at scale {scale:.2f}; "
            f"increase the distance range, or reduce the scale or the margin")

    # ---- shapes, for distractors (latents/clutter.py) -----------------------------------
    @property
    def q0(self) -> np.ndarray:
        """The canonical pose stored rotations are relative to."""
        return self._q0

    @property
    def grounded(self) -> bool:
        """True where objects stand on a level ground (hdri, ground, room)."""
        return self._grounded

    def posed_hull(self, obj: int, quat, scale: float, position) -> np.ndarray:
        """Camera-frame hull points of object `obj` at (stored rotation `quat`, `scale`, `position`)."""
        return geo.object_points_camera(self._hull(obj), position, geo.quat_mul(self._q0, quat),
                                        scale * self._unit[obj])

    def radius(self, obj: int, scale: float) -> float:
        """Radius of the sphere around object `obj`'s bounding box at `scale` (metres)."""
        return 0.5 * float(np.linalg.norm(self._extents[obj])) * scale * float(self._unit[obj])

    def category_of(self, obj: int) -> int:
        return self._category_of(obj)

    def background_kind(self, background_id: int) -> str | None:
        """The kind (color, backdrop, hdri) of a background id; None where the table is not known."""
        return self.backgrounds[background_id][0] if background_id < len(self.backgrounds) else None

    def size_of(self, obj: int) -> float:
        """The object's longest side before scale (its real size with --size real, else 1)."""
        return float(self._unit[obj])

    # ---- standing on the ground (hdri, ground, room) -------------------------------------
    def _draw_standing(self, rng, out: dict, obj: int, scale: float, index: int):
        """Draw the camera (height, pitch) and the position together until the standing object is in
        frame; sets the camera latents and the stored pose in `out`. (position, rejections)."""
        d = self.dists
        names = self._position_names()
        varying = any(d[k].kind != "fixed" for k in (*names, *CAMERA))
        limit = geo.frame_limit(self.rules.fov_deg, self.rules.margin)
        for rejections in range(MAX_REJECTIONS + 1):
            height, pitch = (float(d[k].sample(rng)) for k in CAMERA)
            a, _, c = (float(d[k].sample(rng)) for k in names)  # the height (image_y, position_y) is fixed
            pos, quat = self.standing(obj, out["level_quat"], scale, a, c, height, pitch)
            if not varying or geo.corners_in_frame(self._frame_points(obj, quat, scale) + pos, limit):
                out.update(camera_height=height, camera_pitch=pitch, rotation_quat=quat,
                           rotation_euler=geo.matrix_to_euler(geo.quat_to_matrix(quat)))
                return pos, rejections
        raise SamplingError(
            f"image {index}: no in-frame position on the ground in {MAX_REJECTIONS} draws for object "
            f"{self.library.objects[obj].name!r} at scale {scale:.2f}; widen the distance range, lower "
            f"camera_height or pitch the camera down (camera_pitch < 0)")

    def standing(self, obj: int, level_quat, scale: float, a: float, c: float, camera_height: float,
                 camera_pitch: float) -> tuple[np.ndarray, np.ndarray]:
        """(position, stored rotation_quat) of object `obj` posed `level_quat` standing on the ground:
        `a`, `c` are image_x and distance (image mode: the level ray's) or position_x and position_z (box);
        the position's y puts the lowest hull point on the ground. Designed datasets call this too."""
        unit = self._unit[obj]
        quat = placement.stand_quat(level_quat, self._q0, camera_pitch)
        rel = self.posed_hull(obj, quat, scale, np.zeros(3))
        if self.rules.position_mode == "image":
            x, _, z = unit * c * geo.ray_direction(a, 0.0, self.rules.fov_deg)
        else:
            x, z = unit * a, unit * c
        return np.array([x, resting_y(rel, z, camera_height, camera_pitch), z]), quat

    def region_position(self, fractions) -> np.ndarray:
        """A user's .blend: the camera-frame point at `fractions` (position_x, _y, _z in 0..1) of its region."""
        return placement.region_point(self._region, fractions)

    def _position_names(self) -> tuple[str, str, str]:
        if self.rules.position_mode == "image":
            return ("image_x", "image_y", "distance")
        return ("position_x", "position_y", "position_z")
