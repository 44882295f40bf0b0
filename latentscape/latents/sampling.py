"""Deterministic per-image latent sampling: latents are a pure function of (spec, image index).

Image i draws everything from `default_rng(SeedSequence([seed, i]))` in a fixed
order, so any image can be re-drawn alone, in any shard layout or process.
"""
from __future__ import annotations

import numpy as np

from latentscape.assets.backgrounds import Background
from latentscape.assets.library import AssetLibrary
from latentscape.config import DatasetSpec, spec_hash
from latentscape.errors import SamplingError, SpecError
from latentscape.latents import geometry as geo
from latentscape.latents.distributions import Dist, fixed
from latentscape.latents.space import LATENTS, META, PARAMS

MAX_REJECTIONS = 10_000
SCHEMA_VERSION = 1


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index`: default_rng(SeedSequence([seed, index]))."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


class LatentSampler:
    """Resolves a spec against a library and backgrounds, then draws latents per image."""

    def __init__(self, spec: DatasetSpec, library: AssetLibrary, backgrounds: list[Background]):
        self.spec = spec
        self.library = library
        self.backgrounds = backgrounds
        self.dists = _resolve(spec, library, len(backgrounds))
        self._allowed_objects = self._object_set()
        self._extents = np.array([o.extents for o in library.objects], dtype=np.float64)

    @classmethod
    def for_spec(cls, spec: DatasetSpec) -> "LatentSampler":
        """Resolve the spec's asset library and backgrounds, then build the sampler."""
        from latentscape.assets import library_for
        from latentscape.assets.backgrounds import backgrounds_for
        return cls(spec, library_for(spec), backgrounds_for(spec))

    # ---- description -------------------------------------------------------
    def resolved(self) -> dict:
        """The spec with every distribution and name table resolved (stored and hashed)."""
        return {
            "spec": self.spec.to_dict(),
            "schema_version": SCHEMA_VERSION,
            "distributions": {k: d.to_dict() for k, d in self.dists.items()},
            "categories": self.library.categories,
            "objects": [o.name for o in self.library.objects],
            "backgrounds": [b.name for b in self.backgrounds],
        }

    def spec_hash(self) -> str:
        return spec_hash(self.resolved())

    def varying_groups(self) -> list[str]:
        return sorted({PARAMS[k].group for k, d in self.dists.items() if d.kind != "fixed"})

    # ---- drawing -------------------------------------------------------------
    def sample(self, index: int) -> dict:
        """Stored latents and metadata of one image."""
        rng = image_rng(self.spec.seed, index)
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
        out["image_xy"] = geo.project(pos, self.spec.fov_deg)[0]
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
        if self.spec.category_sampling == "objects" and dc.kind != "fixed" and do.kind == "choice":
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
        if self.spec.pose_mode == "so3":
            return geo.quat_normalize(np.asarray(d["rotation"].sample(rng), dtype=np.float64))
        ypr = [float(d[k].sample(rng)) for k in ("yaw", "pitch", "roll")]
        return geo.matrix_to_quat(geo.euler_to_matrix(*ypr))

    def _draw_position(self, rng, obj, quat, scale, index):
        d, spec = self.dists, self.spec
        extents = self._extents[obj]
        names = ("image_x", "image_y", "distance") if spec.position_mode == "image" else (
            "position_x", "position_y", "position_z")
        varying = any(d[k].kind != "fixed" for k in names)
        # corners relative to the centre do not change between position draws
        rel = geo.object_points_camera(geo.box_corners(extents), np.zeros(3), quat, scale)
        limit = (1.0 - 2.0 * spec.margin) * np.tan(np.radians(spec.fov_deg) / 2.0)
        for rejections in range(MAX_REJECTIONS + 1):
            a, b, c = (float(d[k].sample(rng)) for k in names)
            if spec.position_mode == "image":
                pos = c * geo.ray_direction(a, b, spec.fov_deg)
            else:
                pos = np.array([a, b, c])
            if not varying or _corners_in_frame(rel + pos, limit):
                return pos, rejections
        raise SamplingError(
            f"image {index}: no in-frame position in {MAX_REJECTIONS} draws for object "
            f"{self.library.objects[obj].name!r} at scale {scale:.2f}; "
            f"increase the distance range, or reduce the scale or the margin")


def _corners_in_frame(pts: np.ndarray, limit: float) -> bool:
    """Same rule as geometry.in_frame, on precomputed camera-frame corners."""
    z = pts[:, 2]
    return bool(z.min() > geo.NEAR and (np.abs(pts[:, :2]) <= limit * z[:, None]).all())


def _resolve(spec: DatasetSpec, lib: AssetLibrary, n_backgrounds: int) -> dict[str, Dist]:
    fixes = dict(spec.fix)
    overrides = spec.dist_overrides()
    out = {}
    for name in spec.active_params():
        p = PARAMS[name]
        if name in fixes:
            out[name] = fixed(fixes[name])
        elif p.group in spec.vary:
            out[name] = overrides.get(name, p.default)
        else:
            out[name] = fixed(p.canonical)
    _resolve_indices(out, spec, lib, n_backgrounds, fixes)
    return out


def _resolve_indices(out, spec, lib, n_backgrounds, fixes):
    allowed_cats = [lib.category_index(c) for c in spec.categories] or list(range(len(lib.categories)))
    out["category"] = _index_dist(out["category"], lib.category_index, allowed_cats, "category")
    if out["category"].kind == "fixed" and "category" not in fixes:
        out["category"] = fixed(allowed_cats[0])
    d = out["object_id"]
    if d.kind == "fixed" and "object_id" in fixes:
        obj = lib.object_index(d.value)
        cat = lib.category_index(lib.objects[obj].category)
        if "category" in fixes and out["category"].value != cat:
            raise SpecError(f"fix object_id={d.value!r} is in category {lib.categories[cat]!r}, "
                            f"but category is fixed to {lib.categories[out['category'].value]!r}")
        out["object_id"], out["category"] = fixed(obj), fixed(cat)
    elif d.kind == "fixed":
        out["object_id"] = fixed("first")
    else:
        members = [o.id for o in lib.objects if lib.category_index(o.category) in allowed_cats]
        out["object_id"] = _index_dist(d, lib.object_index, members, "object_id")
    bg = out["background_id"]
    out["background_id"] = _index_dist(bg, lambda v: _bg_index(v, n_backgrounds), list(range(n_backgrounds)),
                                       "background_id")


def _index_dist(d: Dist, to_index, allowed: list[int], what: str) -> Dist:
    if d.kind == "fixed":
        return fixed(to_index(d.value))
    values = allowed if d.values is None else [to_index(v) for v in d.values]
    bad = [v for v in values if v not in allowed]
    if bad:
        raise SpecError(f"{what} value(s) {bad} are excluded by the category selection")
    return Dist(kind="choice", values=tuple(values), weights=d.weights)


def _bg_index(v, n):
    if isinstance(v, int) and 0 <= v < n:
        return v
    raise SpecError(f"background_id {v!r} out of range 0..{n - 1}")
