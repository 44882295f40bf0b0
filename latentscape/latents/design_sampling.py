"""Latents of designed datasets (grids, sweeps, pairs, blocks): still a pure function of (spec, i).

A design groups images into points whose members share draws: a grid point is one image
with some parameters pinned to levels; a sweep point is one base draw seen at every level
of the swept latent; a pair point is two images that share everything but the `differ`
groups. A point draws its base from its own generator, builds every member's latents, and
checks every member against the in-frame rule and the guarantees. A failure re-draws only
parameters the design does not pin (and that vary); where none could help, the point is
refused with one line naming it, before anything is rendered (`check()`).
"""
from __future__ import annotations

import math

import numpy as np

from latentscape.errors import SamplingError, SpecError
from latentscape.latents import geometry as geo
from latentscape.latents.designs import ANGLES, Design
from latentscape.latents.sampling import MAX_REJECTIONS, LatentSampler, image_rng
from latentscape.latents.space import CAMERA, GROUPS, DESIGN_META, REDRAW, SCENE_GROUP, SCENE_LATENTS

_STREAM = {"grid": 1, "sweep": 2, "pairs": 3, "k_random": 4}  # generators: SeedSequence([seed, stream, point])
_LIGHTS = ("light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength")
_LEVERS = {"frame": ("position",), "visible": REDRAW["visible"], "contrast": REDRAW["contrast"]}
_FRAME_PATIENCE = 100  # position re-draws before an out-of-frame point also re-draws its pose and scale
_CHECK_POINTS = 1_000_000  # check() samples at most this many grid points before rendering


class DesignSampler:
    """Draws the latents of a designed dataset; the same interface as `LatentSampler`.

    `samplers`: one per block for a blocks design, else one (whose distributions give the
    level parameters a choice over their levels); `levels`: the design's levels with
    categorical values as indices."""

    def __init__(self, design: Design, samplers: list[LatentSampler], levels: tuple[tuple[str, tuple], ...]):
        self.design = design
        self.samplers = samplers
        self.base = samplers[0]
        self.levels = levels
        self.rules = self.base.rules
        self._cache: tuple | None = None
        s = self.base
        self._pos_names = s._position_names()
        self._pose_names = ("rotation",) if s.rules.pose_mode == "so3" else ("yaw", "pitch", "roll")
        self._params = {"category": ("category", "object_id"), "identity": ("object_id",),
                        "position": self._pos_names, "pose": self._pose_names, "scale": ("scale",),
                        "lighting": _LIGHTS, "background": ("background_id", "env_rotation"),
                        SCENE_GROUP: tuple(s.scene_names)}
        self._all = GROUPS + ((SCENE_GROUP,) if s.scene_names else ())  # a template's own latents are drawn too
        # on a ground the camera's height and pitch decide whether the object fits and what surrounds it, the
        # materials what surrounds it: the scene group is a lever of every rule there
        self._levers_of = {c: g + ((SCENE_GROUP,) if s._grounded else ()) for c, g in _LEVERS.items()}
        if design.kind == "pairs":
            self._check_differ()
        if s.clutter is not None and s._grounded and design.kind == "sweep" and design.level_names[0] in CAMERA:
            raise SpecError(f"distractors stand on the ground in the camera's frame: a sweep of "
                            f"{design.level_names[0]} would move them between its levels; sweep another latent, "
                            f"or leave the distractors out")

    # ---- the sampler interface -------------------------------------------------
    def sample(self, index: int) -> dict:
        """Stored latents, metadata and design fields of image `index`."""
        d = self.design
        if d.kind == "blocks":
            block = d.block_of(index)
            out = self.samplers[block].sample(index)
            out["design_block"] = block
            return out
        point, member = self._locate(index)
        members = self._point(point)
        out = dict(members[member])
        out["render_seed"] = int(image_rng(self.rules.seed, index).integers(0, 2**31 - 1))
        if d.kind == "grid":
            out["design_levels"] = np.array(d.grid_levels(index), dtype=np.int32)
            out.update(self.base.distractors_for(index, out))  # a grid point is one image: its own clutter
        else:
            out["design_point"], out["design_member"] = point, member
        return out

    def sample_range(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """Latents of images start..stop-1 as arrays, with the design's per-image fields."""
        return self.base.stack([self.sample(i) for i in range(start, stop)], start, DESIGN_META)

    def check(self, progress=None) -> None:
        """Refuse, before rendering, a design point that cannot meet the in-frame rule and the guarantees:
        every grid point (up to a million), the first sweep base at every level, the first pair, the
        first image of every block."""
        d = self.design
        if d.kind == "blocks":
            start = 0
            for b in d.blocks:
                self.sample(start)
                start += b.n
            return
        if d.kind != "grid":
            self.sample(0)
            return
        n = min(d.images(), _CHECK_POINTS)
        for i in range(n):
            self._point(i)
            if progress is not None and (i + 1) % 1000 == 0:
                progress(1000)

    # ---- points ----------------------------------------------------------------
    def _locate(self, index: int) -> tuple[int, int]:
        d = self.design
        if d.kind == "grid":
            return index, 0
        if d.kind == "sweep":
            return divmod(index, d.counts()[0])
        return divmod(index, 2)

    def _point(self, point: int) -> list[dict]:
        if self._cache is None or self._cache[0] != point:
            members = self._draw_point(point)
            if self.base.clutter is not None and self.design.kind != "grid":  # one set for all the point's images
                first = point * len(members)
                for m, c in zip(members, self.base.clutter.draw_shared(first, members)):
                    m.update(c)
            self._cache = (point, members)
        return self._cache[1]

    def _draw_point(self, point: int) -> list[dict]:
        d = self.design
        rng = np.random.default_rng(np.random.SeedSequence([self.rules.seed, _STREAM[d.kind], point]))
        pins, member_pins = self._pins(point)
        pinned = set(pins) | {k for mp in member_pins for k in mp}
        base: dict = {}
        self._draw(rng, base, self._all, pins)
        own, changed = {}, ()
        if d.kind == "pairs":
            changed = self.changed_groups(point)
            self._draw_own(rng, base, own, changed)
        counts = {"frame": 0, "visible": 0, "contrast": 0}
        for _ in range(MAX_REJECTIONS):
            members = [self._latents({**base, **mp, **(own if j else {})}) for j, mp in enumerate(member_pins)]
            failed = next(((j, c) for j, m in enumerate(members) if (c := self._failed(m))), None)
            if failed is None:
                break
            j, cause = failed
            counts[cause] += 1
            # where 100 positions in a row failed at this pose and scale (e.g. a pinned image_x near the edge
            # and a large object), re-draw those too: counted, like every re-draw
            stuck = cause == "frame" and counts["frame"] % _FRAME_PATIENCE == 0
            groups = self._levers("visible" if stuck else cause, pinned)
            if not groups:
                raise SamplingError(self._refusal(point, member_pins[j], members[j], cause))
            self._draw(rng, base, groups, pins)
            redo = [g for g in changed if g in groups]
            if redo:
                self._draw_own(rng, base, own, redo)
        else:
            raise SamplingError(self._refusal(point, member_pins[j], members[j], cause, groups))
        mask = sum(1 << GROUPS.index(g) for g in changed)
        for m in members:
            m.update(rejections=counts["frame"], rejections_visible=counts["visible"],
                     rejections_contrast=counts["contrast"])
            if d.kind == "pairs":
                m["design_changed"] = mask
        return members

    def _pins(self, point: int) -> tuple[dict, list[dict]]:
        """Parameters pinned for the whole point, and per member."""
        d = self.design
        if d.kind == "grid":
            idx = d.grid_levels(point)
            return {k: v[i] for (k, v), i in zip(self.levels, idx)}, [{}]
        if d.kind == "sweep":
            name, values = self.levels[0]
            return {}, [{name: v} for v in values]
        return {}, [{}, {}]

    # ---- drawing parameters ------------------------------------------------------
    def _draw(self, rng, params: dict, groups, pins: dict) -> None:
        """(Re-)draw the parameters of `groups` into `params`, in GROUPS order; pinned ones keep their pin."""
        dists = self.base.dists
        groups = set(groups)
        if groups & {"category", "identity"}:
            self._draw_object(rng, params, pins, keep_category="category" not in groups)
        for g in ("pose", "scale", "lighting", "background", SCENE_GROUP, "position"):
            if g in groups:
                for k in self._params[g]:
                    params[k] = pins[k] if k in pins else dists[k].sample(rng)

    def _draw_object(self, rng, params: dict, pins: dict, keep_category: bool) -> None:
        s = self.base
        if "object_id" in pins:
            params["object_id"] = int(pins["object_id"])
            params["category"] = s._category_of(params["object_id"])
            return
        if "category" in pins or (keep_category and "category" in params):
            cat = int(pins.get("category", params.get("category")))
            members = [o for o in s.library.objects_in(cat)
                       if s._allowed_objects is None or o in s._allowed_objects]
            pick = members[int(rng.integers(len(members)))] if s.dists["object_id"].kind == "choice" else members[0]
            params["category"], params["object_id"] = cat, int(pick)
            return
        params["category"], params["object_id"] = s._draw_object(rng)

    def changed_groups(self, pair: int) -> tuple[str, ...]:
        """The groups the images of `pair` differ in (--differ, or --k-random groups from the pair's own stream)."""
        d = self.design
        if d.differ:
            return d.differ
        rng = np.random.default_rng(np.random.SeedSequence([self.rules.seed, _STREAM["k_random"], pair]))
        pick = sorted(rng.choice(len(self._can_differ), d.k_random, replace=False))
        return tuple(self._can_differ[i] for i in pick)

    def _draw_own(self, rng, base: dict, own: dict, groups) -> None:
        """Member 1's values of the changed groups: drawn until each group differs from the base."""
        for g in groups:
            for _ in range(MAX_REJECTIONS):
                trial = dict(base)
                self._draw(rng, trial, (g,), {})
                keys = self._params[g]
                if self._differs(g, base, trial):
                    own.update({k: trial[k] for k in keys})
                    break
            else:
                raise SamplingError(f"--differ {g}: no draw in {MAX_REJECTIONS} differed from the first image's")

    def _differs(self, group: str, a: dict, b: dict) -> bool:
        """True if parameters `a` and `b` differ in `group` (a new category: in the category itself)."""
        keys = ("category",) if group == "category" else self._params[group]
        return any(not np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in keys)

    # ---- latents and checks ----------------------------------------------------------
    def _latents(self, p: dict) -> dict:
        """The stored latents of one member from its parameters."""
        s, rules = self.base, self.base.rules
        obj = int(p["object_id"])
        if rules.pose_mode == "so3":
            quat = geo.quat_normalize(np.asarray(p["rotation"], dtype=np.float64))
        else:
            quat = geo.matrix_to_quat(geo.euler_to_matrix(*(float(p[k]) for k in ("yaw", "pitch", "roll"))))
        a, b, c = (float(p[k]) for k in self._pos_names)
        if s._grounded:  # the drawn pose is level; standing on the ground fixes the height and the stored pose
            pos, quat = s.standing(obj, quat, float(p["scale"]), a, c, float(p["camera_height"]),
                                   float(p["camera_pitch"]))
        else:
            pos = s.position_at(obj, a, b, c)
        out = {"category": int(p["category"]), "object_id": obj, "rotation_quat": quat,
               "rotation_euler": geo.matrix_to_euler(geo.quat_to_matrix(quat)), "scale": float(p["scale"]),
               "background_id": int(p["background_id"]), "env_rotation": float(p["env_rotation"])}
        out.update({k: float(p[k]) for k in _LIGHTS})
        out.update({k: (int(p[k]) if SCENE_LATENTS[k].dtype.startswith("int") else float(p[k])) for k in s.scene_names})
        s.set_position(out, pos)
        out["predicted_contrast"] = s.contrast(out)
        return out

    def _failed(self, m: dict) -> str | None:
        s = self.base
        if any(s.dists[k].kind != "fixed" for k in self._pos_names) and not s.in_frame(m):
            return "frame"
        return s._failed_guarantee(m)

    def _levers(self, cause: str, pinned: set) -> list[str]:
        """Groups a failure may re-draw: those of its levers with a parameter that varies and is not pinned
        (a point out of frame whose position cannot move may still turn or shrink the object)."""
        def free(g):
            return any(self.base.dists[k].kind != "fixed" and k not in pinned for k in self._params[g])
        groups = [g for g in self._levers_of[cause] if free(g)]
        if cause == "frame" and not groups:
            groups = [g for g in ("pose", "scale") if free(g)]
        return groups

    def _refusal(self, point: int, member_pins: dict, m: dict, cause: str, tried=()) -> str:
        """One line naming the point, its pinned values and what failed; `tried`: the groups re-drawn in vain."""
        s = self.base
        where = f"design point {point}"
        pins = {**self._pins(point)[0], **member_pins}
        if pins:
            where += " (" + ", ".join(f"{k}={self._show_pin(k, v)}" for k, v in pins.items()) + ")"
        how = (f"no draw of {', '.join(tried)} in {MAX_REJECTIONS} helped" if tried else
               "nothing the design leaves free can help")
        if cause == "frame":
            return (f"{where}: object {s.library.objects[m['object_id']].name!r} leaves the frame and {how}; "
                    f"change the levels, the distance or the scale")
        return f"{where}: {s._failure_text(cause, m)}, and {how}"

    def _show_pin(self, name: str, value) -> str:
        """A pinned value as the command line gives it: degrees for angles, names for categories."""
        lib = self.base.library
        if name == "category":
            return lib.categories[int(value)]
        if name == "object_id":
            return lib.objects[int(value)].name
        if name in ANGLES:
            return f"{math.degrees(value):g}"
        return _show(value)

    def _check_differ(self) -> None:
        """Every group named in --differ must vary (else a pair could not differ in it)."""
        def varies(g):
            keys = self._params[g]
            return any(self.base.dists[k].kind != "fixed" and
                       (self.base.dists[k].kind != "choice" or len(self.base.dists[k].values) > 1) for k in keys)
        self._can_differ = [g for g in GROUPS if varies(g)]
        bad = [g for g in self.design.differ if not varies(g)]
        if bad:
            raise SpecError(f"--differ {','.join(bad)}: held fixed in this spec, so a pair cannot differ in it; "
                            f"let it vary (--vary), or name groups that vary: {', '.join(self._can_differ)}")
        if self.design.k_random > len(self._can_differ):
            raise SpecError(f"--k-random {self.design.k_random}: only {len(self._can_differ)} groups vary "
                            f"({', '.join(self._can_differ)})")


def _show(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
