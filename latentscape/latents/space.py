"""The latent space: groups, the parameters drawn per image, and the stored latents.

Parameters are what a spec gives distributions to (`--fix NAME=VALUE` names
them); stored latents are what every shard holds (derived from parameters).
`PARAMS` is the one table of each parameter's name, unit, canonical value and
valid range; `check_value` and `check_dist` refuse what lies outside it.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from latentscape.errors import SpecError
from latentscape.latents.distributions import Dist, is_finite, show_value as _show

GROUPS = ("category", "identity", "position", "pose", "scale", "lighting", "background")
SCENE_GROUP = "scene"  # a template's own latents (camera height and pitch, surfaces): not in GROUPS, whose
VARY_GROUPS = GROUPS + (SCENE_GROUP,)  # order numbers design_changed bits; --vary takes these
# Scene templates (blender_scenes/ builds them; docs/scenes.md). A spec's `scene` is one of these
# or a path to the user's own .blend file (template "userblend").
SCENE_TEMPLATES = ("studio", "hdri", "ground", "room")
USERBLEND = "userblend"
CAMERA = ("camera_height", "camera_pitch")  # scene latents drawn with the position (the ground moves with them)
GROUNDED = ("hdri", "ground", "room")  # templates whose objects stand on a level ground below the camera
POSITION_MODES = ("image", "box")
POSE_MODES = ("so3", "euler", "upright", "facing")
EULER_MODES = ("euler", "upright", "facing")  # pose modes that draw yaw, pitch, roll


@dataclass(frozen=True)
class Range:
    """An interval of valid values; an open end excludes its bound (infinite ends are always open)."""

    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    text: str = ""  # how to write the bounds, e.g. "-pi/2, pi/2"

    def __contains__(self, x) -> bool:
        above = x > self.lo if self.lo_open or self.lo == -math.inf else x >= self.lo
        below = x < self.hi if self.hi_open or self.hi == math.inf else x <= self.hi
        return bool(above and below)

    def closed_at(self, side: str) -> bool:
        """True if the bound on `side` ('lo' or 'hi') is finite."""
        return math.isfinite(self.lo if side == "lo" else self.hi)

    def __str__(self) -> str:
        lo_open = self.lo_open or self.lo == -math.inf
        hi_open = self.hi_open or self.hi == math.inf
        inner = self.text or f"{_fmt(self.lo)}, {_fmt(self.hi)}"
        return f"{'(' if lo_open else '['}{inner}{')' if hi_open else ']'}"


@dataclass(frozen=True)
class Param:
    """One parameter drawn per image. `valid` is not part of the resolved spec (it never changes a hash)."""

    name: str
    group: str
    canonical: object
    default: Dist
    unit: str
    doc: str
    mode: str | tuple[str, ...] | None = None  # only used in this position/pose mode (or these)
    valid: Range | None = None  # numeric values allowed (an index range for categorical ones)
    kind: str = "continuous"  # continuous | categorical | rotation
    scenes: tuple[str, ...] | None = None  # only used in these scene templates (None: in every one)

    def active_in(self, position_mode: str, pose_mode: str, template: str = "studio") -> bool:
        if self.scenes is not None:
            return template in self.scenes
        if self.mode is None:
            return True
        modes = self.mode if isinstance(self.mode, tuple) else (self.mode,)
        return position_mode in modes or pose_mode in modes

    def modes_text(self) -> str:
        return ", ".join(self.mode) if isinstance(self.mode, tuple) else str(self.mode)


def _u(lo, hi):
    return Dist(kind="uniform", low=lo, high=hi)


PI = math.pi
INF = math.inf
MAX_PITCH = 1.4  # rad (~80 deg): |camera_pitch| beyond it sees the ground edge-on
CLIP_END = 1000.0  # m; the camera's far clip plane (blender_scenes/studio.py): nothing beyond it is seen
ANGLE = Range(-2 * PI, 2 * PI, text="-2pi, 2pi")  # a full turn either way: -pi..pi and 0..2pi both fit
HALF_TURN = Range(-PI / 2, PI / 2, text="-pi/2, pi/2")
INDEX = Range(0, INF)  # categorical: an index >= 0, or a name
IN_FRONT = Range(0.0, CLIP_END, lo_open=True)  # in front of the camera, before its far clip plane
_CAT = {"kind": "categorical", "valid": INDEX}

PARAMS: dict[str, Param] = {p.name: p for p in [
    Param("category", "category", 0, Dist(kind="choice"), "index", "object category (balanced by default)", **_CAT),
    Param("object_id", "identity", 0, Dist(kind="choice"), "index",
          "object within its category; canonical: the category's first object", **_CAT),
    Param("image_x", "position", 0.0, _u(-1.0, 1.0), "[-1,1]", "horizontal image coordinate of the centre", "image",
          valid=Range(-1.0, 1.0)),
    Param("image_y", "position", 0.0, _u(-1.0, 1.0), "[-1,1]", "vertical image coordinate of the centre", "image",
          valid=Range(-1.0, 1.0)),
    Param("distance", "position", 4.0, _u(2.5, 4.5), "m", "camera-to-centre distance", "image", valid=IN_FRONT),
    Param("position_x", "position", 0.0, _u(-1.0, 1.0), "m", "camera-frame x of the centre", "box",
          valid=Range(-CLIP_END, CLIP_END)),
    Param("position_y", "position", 0.0, _u(-1.0, 1.0), "m", "camera-frame y of the centre", "box",
          valid=Range(-CLIP_END, CLIP_END)),
    Param("position_z", "position", 4.0, _u(2.5, 4.5), "m", "camera-frame z (depth) of the centre", "box",
          valid=IN_FRONT),
    Param("rotation", "pose", (1.0, 0.0, 0.0, 0.0), Dist(kind="so3"), "quat",
          "rotation (w,x,y,z) of the asset frame", "so3", kind="rotation"),
    Param("yaw", "pose", 0.0, _u(-PI, PI), "rad", "turn about the object's up axis", EULER_MODES, valid=ANGLE),
    Param("pitch", "pose", 0.0, _u(-PI / 2, PI / 2), "rad", "tilt about the object's right axis", EULER_MODES,
          valid=HALF_TURN),
    Param("roll", "pose", 0.0, _u(-PI, PI), "rad", "roll about the object's front-back axis", EULER_MODES,
          valid=ANGLE),
    Param("scale", "scale", 1.0, _u(0.7, 1.3), "x", "uniform scale (1 = longest side 1 m)",
          valid=Range(0.0, INF, lo_open=True)),
    Param("light_azimuth", "lighting", -0.6, _u(-PI / 2, PI / 2), "rad", "key light azimuth (0 = from the camera, + = from the right)",
          valid=ANGLE),
    Param("light_elevation", "lighting", 0.6, _u(0.0, 1.3), "rad", "key light elevation (+ = from above)",
          valid=HALF_TURN),
    Param("light_intensity", "lighting", 3.0, _u(1.0, 5.0), "W/m2", "key light (sun) strength", valid=Range(0.0, INF)),
    Param("light_temperature", "lighting", 6500.0, _u(3000.0, 9000.0), "K", "key light colour temperature",
          valid=Range(1000.0, 40000.0)),
    Param("env_strength", "lighting", 1.0, _u(0.3, 1.5), "x", "environment (background light) strength",
          valid=Range(0.0, INF)),
    Param("background_id", "background", 0, Dist(kind="choice"), "index", "background (0 = grey studio)", **_CAT),
    Param("env_rotation", "background", 0.0, _u(-PI, PI), "rad", "environment rotation about the camera's up axis",
          valid=ANGLE),
    # the scene group (docs/scenes.md): only in the templates that take them
    Param("camera_height", SCENE_GROUP, 1.0, _u(0.5, 1.5), "m", "camera height above the ground",
          valid=Range(0.0, 100.0, lo_open=True), scenes=GROUNDED),
    Param("camera_pitch", SCENE_GROUP, 0.0, _u(-0.3, 0.1), "rad", "camera turned up (+) or down about its x axis",
          valid=Range(-MAX_PITCH, MAX_PITCH, lo_open=True, hi_open=True), scenes=GROUNDED),
    Param("shadow_catcher", SCENE_GROUP, 1, Dist(kind="fixed", value=1), "index",
          "hdri: 1 = an invisible ground catches the object's shadow, 0 = none", kind="categorical",
          valid=Range(0, 1), scenes=("hdri",)),
    Param("ground_material", SCENE_GROUP, 0, Dist(kind="choice"), "index", "ground: the ground's texture",
          **_CAT, scenes=("ground",)),
    Param("room_material", SCENE_GROUP, 0, Dist(kind="choice"), "index", "room: floor and wall materials",
          **_CAT, scenes=("room",)),
]}


@dataclass(frozen=True)
class Latent:
    """A stored latent: one HDF5 dataset per name."""

    name: str
    group: str
    dtype: str
    shape: tuple[int, ...]
    unit: str
    kind: str  # categorical | continuous | rotation | circular


LATENTS: dict[str, Latent] = {lt.name: lt for lt in [
    Latent("category", "category", "int32", (), "index", "categorical"),
    Latent("object_id", "identity", "int32", (), "index", "categorical"),
    Latent("position", "position", "float64", (3,), "m", "continuous"),
    Latent("image_xy", "position", "float64", (2,), "[-1,1]", "continuous"),
    Latent("distance", "position", "float64", (), "m", "continuous"),
    Latent("rotation_quat", "pose", "float64", (4,), "quat wxyz", "rotation"),
    Latent("rotation_euler", "pose", "float64", (3,), "rad yaw,pitch,roll", "rotation"),
    Latent("scale", "scale", "float64", (), "x", "continuous"),
    Latent("light_azimuth", "lighting", "float64", (), "rad", "continuous"),
    Latent("light_elevation", "lighting", "float64", (), "rad", "continuous"),
    Latent("light_intensity", "lighting", "float64", (), "W/m2", "continuous"),
    Latent("light_temperature", "lighting", "float64", (), "K", "continuous"),
    Latent("env_strength", "lighting", "float64", (), "x", "continuous"),
    Latent("background_id", "background", "int32", (), "index", "categorical"),
    Latent("env_rotation", "background", "float64", (), "rad", "circular"),
]}

# Stored only by datasets whose scene template takes them (a studio shard has none of them).
SCENE_LATENTS: dict[str, Latent] = {lt.name: lt for lt in [
    Latent("camera_height", SCENE_GROUP, "float64", (), "m", "continuous"),
    Latent("camera_pitch", SCENE_GROUP, "float64", (), "rad", "continuous"),
    Latent("shadow_catcher", SCENE_GROUP, "int32", (), "index", "categorical"),
    Latent("ground_material", SCENE_GROUP, "int32", (), "index", "categorical"),
    Latent("room_material", SCENE_GROUP, "int32", (), "index", "categorical"),
]}


# Stored only by datasets with distractors (--distractors; latents/clutter.py, docs/scenes.md): per image
# the count and, per distractor, what it is and where. `shape` is per distractor: a shard stores
# (n, K, *shape), K the spec's largest count, rows past an image's count padded with -1 / NaN.
CLUTTER = "clutter"  # not a --vary group: --distractors decides the count
DISTRACTOR_LATENTS: dict[str, Latent] = {lt.name: lt for lt in [
    Latent("distractor_count", CLUTTER, "int32", (), "count", "categorical"),
    Latent("distractor_object_id", CLUTTER, "int32", (), "index", "categorical"),
    Latent("distractor_category", CLUTTER, "int32", (), "index", "categorical"),
    Latent("distractor_position", CLUTTER, "float64", (3,), "m", "continuous"),
    Latent("distractor_rotation_quat", CLUTTER, "float64", (4,), "quat wxyz", "rotation"),
    Latent("distractor_scale", CLUTTER, "float64", (), "x", "continuous"),
    Latent("distractor_size_m", CLUTTER, "float64", (), "m", "continuous"),
]}


def stored_latents(names=()) -> dict[str, Latent]:
    """LATENTS plus the scene latents and distractor tables among `names` (e.g. a dataset's
    parameters or a shard's latents)."""
    extra = {**SCENE_LATENTS, **DISTRACTOR_LATENTS}
    return {**LATENTS, **{k: lt for k, lt in extra.items() if k in names}}


def distractor_shape(name: str, max_count: int) -> tuple[int, ...]:
    """The per-image shape of a stored distractor table (the count: a scalar)."""
    lt = DISTRACTOR_LATENTS[name]
    return () if name == "distractor_count" else (max_count, *lt.shape)


def scene_template(scene: str) -> str:
    """The template a spec's `scene` names: itself, or "userblend" for a .blend file."""
    return USERBLEND if is_blend_path(scene) else scene


def is_blend_path(scene) -> bool:
    return isinstance(scene, str) and scene.lower().endswith(".blend")


# A failed guarantee (--min-visible, --min-contrast) re-draws only these groups, those of them that
# vary (then the position, which depends on them); where none varies the guarantee is off by default.
REDRAW = {"visible": ("pose", "scale", "position"), "contrast": ("background", "lighting")}

# Per-image metadata that is not a generative factor.
META = {
    "rejections": ("int32", "position draws rejected by the in-frame rule"),
    "rejections_visible": ("int32", "draws re-done because the object's hull covered under min_visible of the image"),
    "rejections_contrast": ("int32", "draws re-done because the predicted contrast was under min_contrast"),
    "predicted_visible": ("float32", "share of the image the object's convex hull covers (NaN: no hull measured)"),
    "predicted_contrast": ("float32", "predicted object-to-surround luminance difference, /255, distractors in the "
                                     "surround counted (NaN: an HDRI background, a user's .blend)"),
    "size_m": ("float64", "the object's longest side before `scale`, metres (1 with --size unit)"),
    "render_seed": ("int64", "Cycles seed of the image"),
}


# Per-image metadata of datasets with distractors, beside META (the measured `occluded_fraction` is
# written by the renderer).
CLUTTER_META = {
    "predicted_occlusion": ("float32", "share of the target's hull pixels covered by nearer distractors' hulls "
                                       "(64 px raster), decided before rendering"),
    "rejections_occlusion": ("int32", "distractor sets re-drawn because their predicted occlusion exceeded "
                                      "max_occlusion, left the target's unoccluded part under min_visible or "
                                      "its contrast under min_contrast"),
    "rejections_clutter": ("int32", "distractor draws re-done because their bounding sphere met the target's, "
                                    "another's or the near plane"),
}
OCCLUDED_DOC = ("measured: 1 - target pixels with distractors / target pixels with them hidden (0: no "
                "distractor; NaN: no target pixel)")


# Per-image fields of designed datasets (latents/designs.py), stored in meta/ beside META when present.
DESIGN_META = {
    "design_levels": ("int32", "grid: the image's level index of each latent in the grid (first name slowest)"),
    "design_point": ("int64", "sweep: the base draw; pairs: the pair"),
    "design_member": ("int32", "sweep: the level index of the swept latent; pairs: 0 or 1"),
    "design_changed": ("int32", "pairs: bitmask over the groups (bit i: GROUPS[i]) the pair's images differ in"),
    "design_block": ("int32", "blocks: the block (e.g. HvM variation level) the image belongs to"),
}


# Default distributions that depend on the pose mode (others: Param.default).
# upright: any turn about the up axis, a small tilt and roll (furniture stays on its feet);
# facing: the seed paper's: around the canonical camera-facing pose, each angle U(-45deg, 45deg).
TILT, FACING = math.radians(20.0), math.radians(45.0)
MODE_DEFAULTS: dict[str, dict[str, Dist]] = {
    "upright": {"pitch": _u(-TILT, TILT), "roll": _u(-TILT, TILT)},
    "facing": {"yaw": _u(-FACING, FACING), "pitch": _u(-FACING, FACING), "roll": _u(-FACING, FACING)},
}


def default_dist(name: str, pose_mode: str) -> Dist:
    """The default distribution of parameter `name` in `pose_mode`."""
    return MODE_DEFAULTS.get(pose_mode, {}).get(name, PARAMS[name].default)


def params_for(position_mode: str, pose_mode: str, template: str = "studio") -> list[str]:
    """Names of the parameters active in these modes and scene template, in draw order."""
    return [p.name for p in PARAMS.values() if p.active_in(position_mode, pose_mode, template)]


def group_of(name: str) -> str:
    if name in PARAMS:
        return PARAMS[name].group
    return LATENTS[name].group


# ---- validation against the table -------------------------------------------------
_KINDS_FOR = {"continuous": ("uniform", "normal", "choice", "fixed"),
              "categorical": ("choice", "fixed"), "rotation": ("so3", "fixed")}


def check_value(name: str, value) -> None:
    """Refuse a value of parameter `name` outside its valid range, naming the value and the range."""
    p = PARAMS[name]
    if p.kind == "rotation":
        _check_quaternion(value)
    elif p.kind == "categorical":
        _check_index_or_name(p, value)
    elif not is_finite(value):
        raise SpecError(f"{name} must be a finite number in {p.valid}{_unit(p)}, got {_show(value)}")
    elif value not in p.valid:
        raise SpecError(f"{name} = {_show(value)} is outside its valid range {p.valid}{_unit(p)}")


def check_dist(name: str, dist: Dist) -> None:
    """Refuse a distribution of `name` of the wrong kind or whose values can leave the valid range.

    An untruncated normal is refused on a latent bounded on that side: give low/high inside the range.
    """
    p = PARAMS[name]
    allowed = _KINDS_FOR[p.kind]
    if dist.kind not in allowed:
        raise SpecError(f"{name} cannot have a {dist.kind} distribution; allowed: {', '.join(allowed)}")
    if dist.kind == "fixed":
        check_value(name, dist.value)
    elif dist.kind == "choice":
        if dist.values is None and p.kind != "categorical":
            raise SpecError(f"a choice distribution of {name} needs values")
        for v in dist.values or ():
            check_value(name, v)
    elif dist.kind in ("uniform", "normal"):
        _check_bounds(p, dist)


def _check_bounds(p: Param, dist: Dist) -> None:
    for side, bound in (("lo", dist.low), ("hi", dist.high)):
        key = "low" if side == "lo" else "high"
        if bound is None:  # only a normal may lack a bound
            if p.valid.closed_at(side):
                raise SpecError(f"an untruncated normal can leave the valid range of {p.name}, {p.valid}{_unit(p)}; "
                                f"give truncation bounds inside it (normal:MEAN:STD:LOW:HIGH, or low/high in YAML)")
        elif bound not in p.valid:
            raise SpecError(f"{dist.kind} {key}={_show(bound)} is outside the valid range of {p.name}, "
                            f"{p.valid}{_unit(p)}")


def _check_quaternion(value) -> None:
    """4 finite numbers whose norm is far from 0 and from overflow, so normalising gives a unit quaternion."""
    ok = (isinstance(value, (tuple, list)) and len(value) == 4 and all(is_finite(x) for x in value)
          and 1e-6 <= math.hypot(*map(float, value)) <= 1e6)
    if not ok:
        raise SpecError(f"rotation must be 4 finite numbers w,x,y,z with a norm in [1e-6, 1e6] "
                        f"(normalised to a unit quaternion; e.g. 1,0,0,0), got {_show(value)}")


def _check_index_or_name(p: Param, value) -> None:
    if isinstance(value, str) and value.strip():
        return
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in p.valid:
        return
    raise SpecError(f"{p.name} must be a name or an index (an integer >= 0), got {_show(value)}")


def _unit(p: Param) -> str:
    """' m', ' rad', ' K'...: the unit after a range, left out where it only repeats the range or is a factor."""
    return "" if p.unit in ("x", "[-1,1]", "index", "quat") else f" {p.unit}"


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:g}"


def varying_groups(dists: dict, scene: str = "studio") -> list[str]:
    """Groups (in GROUPS order) with at least one parameter not held fixed.

    `dists` maps parameter names to `Dist`s or to their stored dicts ({"kind": ...}).
    A category that varies makes identity vary too (a fixed identity is each category's
    first object). On a grounded `scene` a moving camera (height or pitch) moves the stored
    position and pose too: the object stands on the ground, upright in the world."""
    kinds = {k: (d.kind if hasattr(d, "kind") else d.get("kind")) for k, d in dists.items()}
    groups = {PARAMS[k].group for k, kind in kinds.items() if k in PARAMS and kind != "fixed"}
    if "category" in groups:
        groups.add("identity")
    if scene in GROUNDED and any(kinds.get(k, "fixed") != "fixed" for k in CAMERA):
        groups |= {"position", "pose"}
    return [g for g in VARY_GROUPS if g in groups]
