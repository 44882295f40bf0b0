"""DatasetSpec: everything that determines a dataset, as frozen dataclasses with YAML I/O.

Every spec is validated when it is built (an invalid one cannot exist): each field's
type, every number finite, every latent's value inside the valid range of the latent
table (`latents/space.py`). `DatasetSpec.from_dict` / `from_yaml` add the file and key
of every problem; `spec_hash` is a stable hash of the resolved spec (what decides the
pixels and labels).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from latentscape.errors import SpecError
from latentscape.latents.designs import Design
from latentscape.latents.distributions import Dist, is_finite, show_value as _show
from latentscape.latents.geometry import CANONICAL_VIEWS
from latentscape.latents.space import (GROUNDED, GROUPS, PARAMS, POSE_MODES, POSITION_MODES, SCENE_GROUP,
                                      SCENE_TEMPLATES, USERBLEND, VARY_GROUPS, check_dist, check_value, is_blend_path,
                                      params_for, scene_template, REDRAW)

PASSES = ("mask", "depth")
CATEGORY_SAMPLING = ("balanced", "objects")
_GZIP = tuple(f"gzip-{i}" for i in range(10))
COMPRESSIONS = ("none", "lzf", *_GZIP, "zstd")
MAX_DEPTH = 4  # levels a spec nests: top -> distributions -> NAME -> values [...]
DESIGN_DEPTH = 6  # design -> blocks -> [block] -> distributions -> NAME -> values


RENDER_KEYS = ("samples", "denoise", "passes", "view_transform", "denoise_prefilter", "adaptive_threshold",
               "max_bounces", "clamp_indirect", "filter_width", "quality")
VIEW_TRANSFORMS = ("agx", "standard")
# New spec fields and the value that reproduces what latentscape did before they existed. An
# identity document leaves such a field out when it holds that value, so every dataset made
# before the field existed keeps its identity (and can be resumed and repaired), and a stored
# document without the field is read back with that value.
LEGACY_RENDER = {"view_transform": "standard", "denoise_prefilter": "fast", "adaptive_threshold": 0.0,
                 "max_bounces": 12, "clamp_indirect": 10.0, "filter_width": 1.5, "quality": None}
PREFILTERS = ("fast", "accurate")
DEFAULT_QUALITY = "standard"
# --quality presets: measured points of the object-pixel PSNR vs time curve (docs/quality.md,
# benchmarks/quality_cost.py). A preset resolves to these concrete settings, which the spec and
# the manifest store, so a dataset says how it was rendered whatever a later version's presets are.
# Measured at 128 px on 24 default-library scenes (object-pixel PSNR vs 1,024 spp, mean / worst image):
# draft 25.5 / 12.9 dB at 31 ms, standard 32.6 / 21.8 dB at 79 ms (4.4x faster than 64 spp raw),
# high 39.4 / 26.7 dB at 368 ms per image on 2 cores.
QUALITY_PRESETS: dict[str, dict] = {
    "draft": {"samples": 4, "denoise": False, "denoise_prefilter": "fast"},
    "standard": {"samples": 8, "denoise": True, "denoise_prefilter": "fast"},
    "high": {"samples": 64, "denoise": True, "denoise_prefilter": "fast"},
}
LEGACY_SPEC = {"canonical_pose": "front", "min_visible": 0.0, "min_contrast": 0.0, "size": "unit",
               "frame": "box", "design": None, "scene": "studio", "distractors": 0, "max_occlusion": None}
MAX_DISTRACTORS = 16  # the most distractors an image may have
SIZES = ("unit", "real")
FRAMES = ("box", "centre")  # the in-frame rule: the projected bounding box, or only the centre, inside the frame
MIN_VISIBLE, MIN_CONTRAST = 0.005, 10.0  # the guarantees' defaults (docs/fidelity.md)


def _check_scene(scene) -> None:
    """A template name or a path ending in .blend (whether the file is usable is checked when resolving)."""
    if not (isinstance(scene, str) and (scene in SCENE_TEMPLATES or (is_blend_path(scene) and len(scene) > 6))):
        raise SpecError(f"unknown scene {_show(scene)}; allowed: {', '.join(SCENE_TEMPLATES)} or a FILE.blend")


def _any_in(vary, groups) -> bool:
    """True if `vary` (group names; anything else is refused by validation) names one of `groups`."""
    return isinstance(vary, (list, tuple)) and any(g in vary for g in groups)


@dataclass(frozen=True)
class RenderSettings:
    """Cycles settings that change the pixels (and so the spec hash). Validated when built.

    view_transform: "agx" (default; Blender's AgX: highlights roll off instead of clipping, so
    a white object under a strong sun keeps its shading) or "standard" (plain sRGB of the
    scene-linear radiance, clipped at 1: what datasets made before 0.3 used)."""

    samples: int = 16
    denoise: bool = False
    passes: tuple[str, ...] = ()
    view_transform: str = "agx"
    denoise_prefilter: str = "fast"  # OIDN with albedo and normal guides: fast | accurate (guides denoised too)
    adaptive_threshold: float = 0.0  # Cycles adaptive sampling noise threshold (0: off, every pixel gets `samples`)
    max_bounces: int = 12  # light path bounces (Cycles' default)
    clamp_indirect: float = 10.0  # clamp indirect light (fireflies; Cycles' default; 0: off)
    filter_width: float = 1.5  # pixel filter width, pixels (Cycles' default)
    quality: str | None = None  # the preset these settings came from (QUALITY_PRESETS), None: set by hand

    def __post_init__(self):
        if isinstance(self.passes, list):
            object.__setattr__(self, "passes", tuple(self.passes))
        self.validate()

    def validate(self, where: str = ""):
        _int_in(self.samples, 1, 65536, f"{where}render.samples")
        _strict_bool(self.denoise, f"{where}render.denoise")
        if not isinstance(self.passes, tuple) or not all(isinstance(p, str) for p in self.passes):
            raise SpecError(f"{where}render.passes must be a list of names ({', '.join(PASSES)}), "
                            f"got {_show(self.passes)}")
        bad = [p for p in self.passes if p not in PASSES]
        if bad:
            raise SpecError(f"{where}unknown pass(es) {bad}; allowed: {', '.join(PASSES)}")
        if not isinstance(self.view_transform, str) or self.view_transform not in VIEW_TRANSFORMS:
            raise SpecError(f"{where}unknown render.view_transform {_show(self.view_transform)}; "
                            f"allowed: {', '.join(VIEW_TRANSFORMS)}")
        _one_of(self.denoise_prefilter, PREFILTERS, f"{where}render.denoise_prefilter")
        _number_in(self.adaptive_threshold, 0.0, 1.0, f"{where}render.adaptive_threshold", "[0, 1] (0: off)")
        _int_in(self.max_bounces, 0, 1024, f"{where}render.max_bounces")
        _number_in(self.clamp_indirect, 0.0, 1e6, f"{where}render.clamp_indirect", "[0, 1e6] (0: off)")
        _number_in(self.filter_width, 0.01, 10.0, f"{where}render.filter_width", "0.01..10 pixels")
        if self.quality is not None:
            _one_of(self.quality, tuple(QUALITY_PRESETS), f"{where}render.quality")
        return self

    @staticmethod
    def preset(quality: str) -> "RenderSettings":
        """The concrete settings of a `--quality` preset (QUALITY_PRESETS), named."""
        _one_of(quality, tuple(QUALITY_PRESETS), "quality")
        return RenderSettings(**QUALITY_PRESETS[quality], quality=quality)

    def to_dict(self) -> dict:
        return {"samples": self.samples, "denoise": self.denoise, "passes": list(self.passes),
                "view_transform": self.view_transform, "denoise_prefilter": self.denoise_prefilter,
                "adaptive_threshold": float(self.adaptive_threshold), "max_bounces": self.max_bounces,
                "clamp_indirect": float(self.clamp_indirect), "filter_width": float(self.filter_width),
                "quality": self.quality}


@dataclass(frozen=True)
class StorageSettings:
    """How shards are stored (compression does not change the data, but is part of the spec)."""

    compression: str = "lzf"

    def __post_init__(self):
        self.validate()

    def validate(self, where: str = ""):
        if not isinstance(self.compression, str) or self.compression not in COMPRESSIONS:
            raise SpecError(f"{where}unknown compression {_show(self.compression)}; "
                            f"allowed: none, lzf, gzip-0..gzip-9, zstd")
        return self


@dataclass(frozen=True)
class DatasetSpec:
    """The full description of a dataset. Defaults give a usable dataset."""

    n: int = 1000
    seed: int = 0
    shard_size: int = 1000
    resolution: int = 224
    fov_deg: float = 40.0
    vary: tuple[str, ...] = GROUPS  # all: the scene group too where the template has scene latents
    fix: tuple[tuple[str, Any], ...] = ()
    distributions: tuple[tuple[str, Dist], ...] = ()
    position_mode: str | None = None  # None: box in a user's .blend (fractions of its region), else image
    pose_mode: str | None = None  # None: upright where the scene stands objects on a ground, else so3
    margin: float = 0.02
    category_sampling: str = "balanced"
    categories: tuple[str, ...] = ()
    library: str = "default"
    assets: tuple[str, ...] = ()
    license: str = "any"
    skip_bad_assets: bool = False
    backgrounds: tuple[str, ...] = ()
    render: RenderSettings = field(default_factory=lambda: RenderSettings.preset(DEFAULT_QUALITY))
    storage: StorageSettings = field(default_factory=StorageSettings)
    canonical_pose: str | None = None  # front | three_quarter; None: front in facing mode, else three_quarter
    # Guarantees decided before rendering (None: the default where a re-draw can meet it, else off).
    min_visible: float | None = None  # share of the image's pixels the object's hull must cover (0: off)
    min_contrast: float | None = None  # on solid-colour backgrounds: predicted object-to-surround difference, /255 (0: off)
    size: str = "unit"  # unit: longest side 1 m; real: the catalogue's real-world size (positions scale with it)
    frame: str = "box"  # the in-frame rule: box (the whole projected bounding box) | centre (only the centre)
    design: Design | None = None  # grid, sweep, pairs or blocks (latents/designs.py); None: i.i.d. draws
    scene: str = "studio"  # scene template (studio, hdri, ground, room) or the user's FILE.blend (docs/scenes.md)
    distractors: tuple[int, ...] = (0,)  # counts of other objects around the target, drawn uniformly per image
    max_occlusion: float | None = None  # re-draw distractors predicted to occlude more of the target (0..1)

    def __post_init__(self):
        _check_scene(self.scene)
        object.__setattr__(self, "distractors", parse_distractors(self.distractors))
        if self.pose_mode is None:
            object.__setattr__(self, "pose_mode", "upright" if self.grounded else "so3")
        if self.position_mode is None:
            object.__setattr__(self, "position_mode", "box" if self.template == USERBLEND else "image")
        self._apply_design()
        if self.canonical_pose is None:
            front = self.pose_mode == "facing" or self.grounded  # standing objects face the camera upright
            object.__setattr__(self, "canonical_pose", "front" if front else "three_quarter")
        self._scene_vary()
        if self.min_visible is None:  # on where pose, position or scale may be re-drawn
            object.__setattr__(self, "min_visible", MIN_VISIBLE if _any_in(self.vary, REDRAW["visible"]) else 0.0)
        if self.min_contrast is None:  # on where the background or the lighting may be re-drawn
            object.__setattr__(self, "min_contrast", MIN_CONTRAST if _any_in(self.vary, REDRAW["contrast"]) else 0.0)
        self._validate()
        # canonical order, so equal specs compare and hash equal
        object.__setattr__(self, "vary", tuple(sorted(self.vary, key=VARY_GROUPS.index)))
        for key in ("fix", "distributions", "categories", "assets", "backgrounds"):
            object.__setattr__(self, key, tuple(getattr(self, key)))
        object.__setattr__(self, "fix", tuple(sorted(self.fix, key=lambda kv: kv[0])))
        object.__setattr__(self, "distributions", tuple(sorted(self.distributions, key=lambda kv: kv[0])))

    def _apply_design(self):
        """What a design decides of the other fields: n (grid, sweep, blocks), the pose mode (a level
        naming an Euler angle needs per-angle values) and, for a grid with fixed others, vary."""
        d = self.design
        if d is None:
            return
        if not isinstance(d, Design):
            raise SpecError(f"design must be a Design, got {_show(d)}")
        if d.derives_n():
            object.__setattr__(self, "n", d.images())
        if d.kind in ("grid", "sweep") and d.names_euler() and self.pose_mode == "so3":
            object.__setattr__(self, "pose_mode", "euler")
        if d.kind == "grid" and d.others == "fixed":
            named = {PARAMS[k].group for k in d.level_names}
            object.__setattr__(self, "vary", tuple(g for g in GROUPS if g in named))
        if d.kind == "pairs" and isinstance(self.n, int) and self.n % 2:
            raise SpecError(f"a pairs design needs an even n (n/2 pairs), got {self.n}")

    def _scene_vary(self):
        """vary naming every group of GROUPS ("all") takes the scene group too where the template has
        scene latents; where it has none the scene group is dropped (a studio spec never names it)."""
        vary = self.vary
        if not isinstance(vary, (list, tuple)):
            return
        if not self.scene_params():
            object.__setattr__(self, "vary", tuple(g for g in vary if g != SCENE_GROUP))
        elif all(g in vary for g in GROUPS) and SCENE_GROUP not in vary:
            object.__setattr__(self, "vary", (*vary, SCENE_GROUP))

    # ---- validation -------------------------------------------------------
    def validate(self, where: str = "") -> "DatasetSpec":
        """Check every field; errors name `where`, the key, the bad value and what is allowed."""
        try:
            self._validate()
        except SpecError as e:
            raise SpecError(f"{where}: {e}" if where else str(e)) from None
        return self

    def _validate(self):
        _int_in(self.n, 1, 10**12, "n")
        _int_in(self.seed, 0, 2**63 - 1, "seed")
        _int_in(self.shard_size, 1, 10**7, "shard_size")
        _int_in(self.resolution, 8, 4096, "resolution")
        _number_in(self.fov_deg, 1.0, 170.0, "fov_deg", "1..170 degrees")
        _number_in(self.margin, 0.0, 0.5, "margin", "[0, 0.5)", hi_open=True)
        _one_of(self.position_mode, POSITION_MODES, "position_mode")
        _one_of(self.pose_mode, POSE_MODES, "pose_mode")
        if self.template == USERBLEND and self.position_mode != "box":
            raise SpecError(f"scene {self.scene!r} draws positions inside its region: position_mode must be box "
                            f"(position_x, _y, _z: fractions 0..1 along the region's edges), got {self.position_mode!r}")
        if self.grounded and self.pose_mode == "so3":
            raise SpecError(f"scene {self.scene!r} stands objects on the ground, so pose_mode so3 (any rotation) "
                            f"cannot be honoured; allowed: upright (default), euler, facing")
        _one_of(self.canonical_pose, tuple(CANONICAL_VIEWS), "canonical_pose")
        _number_in(self.min_visible, 0.0, 0.5, "min_visible", "[0, 0.5] (a share of the image's pixels)")
        _number_in(self.min_contrast, 0.0, 255.0, "min_contrast", "[0, 255] (8-bit luminance steps)")
        self._check_clutter()
        _one_of(self.size, SIZES, "size")
        _one_of(self.frame, FRAMES, "frame")
        _one_of(self.category_sampling, CATEGORY_SAMPLING, "category_sampling")
        _one_of(self.license, ("any", "cc0"), "license")
        _strict_bool(self.skip_bad_assets, "skip_bad_assets")
        if not isinstance(self.library, str) or not self.library.strip():
            raise SpecError(f"library must be a name such as default, placeholder or procedural+furniture, "
                            f"got {_show(self.library)}")
        for g in _names(self.vary, "vary", empty_ok=True):
            _one_of(g, VARY_GROUPS, "vary group", extra="(or all/none)")
        for key in ("categories", "assets", "backgrounds"):
            _names(getattr(self, key), key, empty_ok=True)
        active = self.active_params()
        for name, value in _pairs(self.fix, "fix"):
            _param_name(name, active, "fix", self.scene)
            try:
                check_value(name, value)
            except SpecError as e:
                raise SpecError(f"fix: {e}") from None
        for name, dist in _pairs(self.distributions, "distributions"):
            _param_name(name, active, "distributions", self.scene)
            if not isinstance(dist, Dist):
                raise SpecError(f"distributions.{name} must be a distribution, got {_show(dist)}")
            try:
                check_dist(name, dist)
            except SpecError as e:
                raise SpecError(f"distributions.{name}: {e}") from None
        if not isinstance(self.render, RenderSettings):
            raise SpecError(f"render must be RenderSettings, got {_show(self.render)}")
        if not isinstance(self.storage, StorageSettings):
            raise SpecError(f"storage must be StorageSettings, got {_show(self.storage)}")

    def _check_clutter(self):
        """--max-occlusion only with distractors; distractors not in a .blend."""
        if self.max_occlusion is not None:
            _number_in(self.max_occlusion, 0.0, 1.0, "max_occlusion", "[0, 1] (a share of the target's pixels)")
        if max(self.distractors) == 0:
            if self.max_occlusion is not None:
                raise SpecError(f"max_occlusion {self.max_occlusion:g} needs distractors (--distractors N): "
                                f"without them nothing occludes the target")
            return
        if self.template == USERBLEND:
            raise SpecError(f"distractors are not available with scene {self.scene!r} yet; allowed: "
                            f"{', '.join(SCENE_TEMPLATES)}")

    def active_params(self) -> list[str]:
        return params_for(self.position_mode, self.pose_mode, self.template)

    @property
    def template(self) -> str:
        """The scene template: the scene's name, or "userblend" for a .blend file."""
        return scene_template(self.scene)

    @property
    def grounded(self) -> bool:
        """True where the template stands the object on a level ground (hdri, ground, room)."""
        return self.template in GROUNDED

    def scene_params(self) -> list[str]:
        """The scene group's parameters the template takes (none in the studio and a user's .blend)."""
        return [k for k in self.active_params() if PARAMS[k].group == SCENE_GROUP]

    # ---- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "n": self.n, "seed": self.seed, "shard_size": self.shard_size,
            "resolution": self.resolution, "fov_deg": float(self.fov_deg),
            "vary": list(self.vary), "fix": {k: _plain(v) for k, v in self.fix},
            "distributions": {k: d.to_dict() for k, d in self.distributions},
            "position_mode": self.position_mode, "pose_mode": self.pose_mode,
            "margin": float(self.margin), "category_sampling": self.category_sampling,
            "categories": list(self.categories), "library": self.library,
            "assets": list(self.assets), "license": self.license, "skip_bad_assets": self.skip_bad_assets,
            "backgrounds": list(self.backgrounds),
            "render": self.render.to_dict(),
            "storage": {"compression": self.storage.compression},
            "canonical_pose": self.canonical_pose,
            "min_visible": float(self.min_visible), "min_contrast": float(self.min_contrast), "size": self.size,
            "frame": self.frame, "design": self.design.to_dict() if self.design else None,
            "scene": self.scene,
            "distractors": self.distractors[0] if len(self.distractors) == 1 else list(self.distractors),
            "max_occlusion": None if self.max_occlusion is None else float(self.max_occlusion),
        }

    def identity_dict(self) -> dict:
        """`to_dict()` as the identity document holds it: fields that hold their legacy value
        (LEGACY_SPEC, LEGACY_RENDER) are left out, so older datasets keep their identity."""
        d = {k: v for k, v in self.to_dict().items() if LEGACY_SPEC.get(k, object()) != v}
        d["render"] = {k: v for k, v in d["render"].items() if LEGACY_RENDER.get(k, object()) != v}
        return d

    @staticmethod
    def from_identity_dict(d: dict, where: str = "spec") -> "DatasetSpec":
        """Inverse of `identity_dict()`: a missing new field takes its legacy value."""
        if isinstance(d, dict):
            d = {**LEGACY_SPEC, **d}
        if isinstance(d, dict) and isinstance(d.get("render"), dict):
            d = {**d, "render": {**LEGACY_RENDER, **d["render"]}}
        elif isinstance(d, dict) and "render" not in d:
            d = {**d, "render": dict(LEGACY_RENDER)}
        return DatasetSpec.from_dict(d, where)

    @staticmethod
    def from_dict(d: dict, where: str = "spec") -> "DatasetSpec":
        """Build and validate; every error names `where`, the key, the bad value and the allowed ones."""
        if not isinstance(d, dict):
            raise SpecError(f"{where}: expected a mapping at the top level, got {type(d).__name__}")
        check_depth({k: v for k, v in d.items() if k != "design"}, where)
        if isinstance(d.get("design"), (dict, list)):
            check_depth(d["design"], f"{where}: design", DESIGN_DEPTH,
                        "design -> blocks -> [block] -> distributions -> NAME -> values")
        known = {f.name for f in dataclasses.fields(DatasetSpec)}
        _no_unknown(d, known, where)
        kw = dict(d)
        try:
            _convert(kw, where)
            _check_design_n(kw)
            return DatasetSpec(**kw)
        except SpecError as e:
            msg = str(e)
            raise SpecError(msg if msg.startswith(f"{where}: ") else f"{where}: {msg}") from None

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @staticmethod
    def from_yaml(path: str | Path) -> "DatasetSpec":
        """Read a YAML (or JSON) spec file; an unreadable, non-UTF-8 or malformed file is one clear error."""
        return DatasetSpec.from_dict(load_yaml(path), where=str(path))

    def replace(self, **changes) -> "DatasetSpec":
        """A copy with some fields changed, validated."""
        d = self.to_dict()
        d.update(changes)
        return DatasetSpec.from_dict(d)

    def notes(self) -> list[str]:
        """What the design decided of the other fields, and what a guarantee cannot do here, in words
        (printed by `config` and `render`)."""
        out = []
        if self.template == "userblend" and self.min_contrast:
            out.append(f"min_contrast {self.min_contrast:g} is not enforced in a user's .blend (its surfaces are "
                       f"unknown); the measured contrast is stored per image (meta/contrast)")
        d = self.design
        if d is None:
            return out
        out.append(d.describe(self.n))
        if d.kind in ("grid", "sweep") and d.names_euler() and self.pose_mode == "euler":
            out.append(f"pose_mode {self.pose_mode}: the levels name {', '.join(k for k in d.level_names if k in ('yaw', 'pitch', 'roll'))}, "
                       f"which needs per-angle values (the default pose mode so3 has none)")
        if d.kind == "grid" and d.others == "fixed":
            out.append("others fixed: every latent without levels is held at its canonical value (or its --fix)")
        return out

    def dist_overrides(self) -> dict[str, Dist]:
        return dict(self.distributions)


def spec_hash(resolved: dict) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of a resolved spec."""
    blob = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=_plain)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_yaml(path: str | Path):
    """The data of a YAML file (an empty file is {}), or a SpecError naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        raise SpecError(f"config file {str(path)!r} is a directory; give a YAML file")
    if not path.is_file():
        raise SpecError(f"config file not found: {path}")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SpecError(f"config file {path} cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset {e.start})") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise SpecError(f"{path}: nested too deeply to parse; allowed: at most {MAX_DEPTH} levels") from None
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except (ValueError, TypeError, OverflowError) as e:  # constructors, e.g. an integer of 5000 digits
        raise SpecError(f"{path}: not valid YAML ({str(e).splitlines()[0][:120]})") from None
    return {} if data is None else data


def check_depth(data, where: str = "spec", limit: int = MAX_DEPTH,
                shape: str = "top -> distributions -> NAME -> values") -> None:
    """Refuse data nested deeper than `limit` levels or cyclic (YAML anchors allow both); recursion stays
    within `limit`, and objects shared through anchors are measured once."""
    too_deep = SpecError(f"{where}: nested more than {limit} levels deep or self-referencing; "
                         f"allowed: at most {limit} levels ({shape})")
    heights: dict[int, int] = {}

    def height(obj, depth: int, stack: set) -> int:
        if not isinstance(obj, (dict, list, tuple)):
            return 0
        if depth > limit or id(obj) in stack:
            raise too_deep
        if id(obj) not in heights:
            stack.add(id(obj))
            items = obj.values() if isinstance(obj, dict) else obj
            heights[id(obj)] = 1 + max((height(x, depth + 1, stack) for x in items), default=0)
            stack.discard(id(obj))
        if depth + heights[id(obj)] - 1 > limit:
            raise too_deep
        return heights[id(obj)]

    height(data, 1, set())


def parse_vary(v, where: str = "vary") -> tuple[str, ...]:
    """'pose,position' | ['pose'] | 'all' | 'none' | [] -> tuple of group names."""
    allowed = f"all, none or groups from {', '.join(VARY_GROUPS)}"
    if isinstance(v, str):
        items = [x.strip() for x in v.split(",")]
        if not any(items):
            raise SpecError(f"{where}: empty; allowed: {allowed}")
    elif v is None or isinstance(v, (list, tuple)):
        items = list(v or [])
    else:
        raise SpecError(f"{where}: expected a list of groups or a comma-separated string, got {_show(v)}")
    for g in items:
        if not isinstance(g, str) or not g.strip():
            raise SpecError(f"{where}: bad group {_show(g)}; allowed: {allowed}")
    items = [g.strip() for g in items]
    if items == ["all"]:
        return GROUPS  # and the scene group where the template has one (DatasetSpec._scene_vary)
    if items in (["none"], []):
        return ()
    bad = [g for g in items if g not in VARY_GROUPS]
    if bad:
        raise SpecError(f"{where}: unknown group {_show(bad[0])}; allowed: {allowed} (all/none alone)")
    return tuple(g for g in VARY_GROUPS if g in items)


def parse_distractors(v, where: str = "distractors") -> tuple[int, ...]:
    """N | 'N' | 'A:B' (every count A..B) | 'A,B,C' | [A, B, C] -> the counts, one drawn uniformly per image."""
    allowed = f"a count 0..{MAX_DISTRACTORS}, A:B (each count from A to B) or A,B,C (one of them)"
    items = v
    if isinstance(v, str):
        try:
            if ":" in v:
                lo, hi = (int(x) for x in v.split(":"))
                items = list(range(lo, hi + 1)) if 0 <= lo <= hi <= MAX_DISTRACTORS else [lo, hi]
            else:
                items = [int(x) for x in v.split(",")]
        except ValueError:
            raise SpecError(f"{where} must be {allowed}, got {_show(v)}") from None
    elif not isinstance(v, (list, tuple)):
        items = [v]
    bad = [x for x in items if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= MAX_DISTRACTORS]
    if not items or bad or (isinstance(v, str) and ":" in v and items[0] > items[-1]):
        raise SpecError(f"{where} must be {allowed}, got {_show(v)}")
    return tuple(int(x) for x in items)


def parse_fix(items: list[str]) -> dict[str, Any]:
    """['category=cube', 'scale=1.2', 'rotation=1,0,0,0'] -> {name: value}.

    Values of categorical latents stay names unless they are integers; others become numbers
    where they parse as one (checking them against the latent table is the spec's job).
    """
    out = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise SpecError(f"--fix expects NAME=VALUE, got {_show(item)}")
        k = k.strip()
        if k in out:
            raise SpecError(f"--fix {k} given twice ({_show(out[k])} and {_show(v.strip())}); give it once")
        p = PARAMS.get(k)
        out[k] = _parse_index_or_name(v.strip()) if p is not None and p.kind == "categorical" else _parse_scalar(v.strip())
    return out


_DIST_USAGE = "uniform:LOW:HIGH, normal:MEAN:STD[:LOW:HIGH], choice:V1,V2,..., fixed:V or so3"
_DIST_ARITY = {"uniform": (2,), "normal": (2, 4), "choice": (1,), "fixed": (1,), "so3": (0,)}


def parse_dist(item: str) -> tuple[str, dict]:
    """'distance=uniform:3:6' | 'scale=normal:1:0.1:0.5:1.5' | 'background_id=choice:0,1,2' -> (name, dict).

    The number of values must match the kind exactly (a normal takes 2 or 4: a lone bound is refused).
    """
    name, sep, rest = item.partition("=")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise SpecError(f"--dist expects NAME=KIND:ARGS (e.g. distance=uniform:3:6), got {_show(item)}")
    kind, *args = [a.strip() for a in rest.split(":")]
    if kind not in _DIST_ARITY:
        raise SpecError(f"--dist {_show(item)}: unknown kind {_show(kind)}; expected {_DIST_USAGE}")
    if len(args) not in _DIST_ARITY[kind]:
        raise SpecError(f"--dist {_show(item)}: {kind} takes {' or '.join(map(str, _DIST_ARITY[kind]))} "
                        f"value(s), got {len(args)}; expected {_DIST_USAGE}")
    if kind == "uniform":
        lo, hi = (_dist_number(a, item) for a in args)
        return name, {"kind": kind, "low": lo, "high": hi}
    if kind == "normal":
        nums = [_dist_number(a, item) for a in args]
        d = {"kind": kind, "mean": nums[0], "std": nums[1]}
        if len(nums) == 4:
            d.update(low=nums[2], high=nums[3])
        return name, d
    parse = _parse_index_or_name if name in PARAMS and PARAMS[name].kind == "categorical" else _parse_scalar
    if kind == "choice":
        return name, {"kind": kind, "values": [parse(x.strip()) for x in args[0].split(",")]}
    if kind == "fixed":
        return name, {"kind": kind, "value": parse(args[0])}
    return name, {"kind": kind}


def _dist_number(s: str, item: str) -> float:
    try:
        return float(s)
    except ValueError:
        raise SpecError(f"--dist {_show(item)}: {_show(s)} is not a number; expected {_DIST_USAGE}") from None


def _parse_index_or_name(s: str):
    """A categorical value: an integer index, else a name (so 'nan' or '1e3' stay names)."""
    try:
        return int(s)
    except ValueError:
        return s


def _parse_scalar(s: str):
    if "," in s:
        return tuple(_parse_scalar(x.strip()) for x in s.split(","))
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    return s


def _convert(kw: dict, where: str) -> None:
    """Turn the plain YAML values of `kw` into the field types of DatasetSpec, in place."""
    if "vary" in kw:
        kw["vary"] = parse_vary(kw["vary"], "vary")
    if "fix" in kw:
        fix = _mapping(kw["fix"], "fix", "NAME: VALUE")
        kw["fix"] = tuple((str(k), _freeze(v)) for k, v in fix.items())
    if "distributions" in kw:
        dists = _mapping(kw["distributions"], "distributions", "NAME: {kind: ...}")
        kw["distributions"] = tuple(
            (str(k), Dist.from_dict(v, f"{where}: distributions.{k}")) for k, v in dists.items())
    if "categories" in kw:
        kw["categories"] = _name_list(kw["categories"], "categories", split=True)
    for key in ("assets", "backgrounds"):
        if key in kw:
            kw[key] = _name_list(kw[key], key, split=False)
    if "render" in kw:
        r = _mapping(kw["render"], "render", ", ".join(RENDER_KEYS))
        _no_unknown(r, set(RENDER_KEYS), f"{where}: render")
        if "passes" in r:
            r = {**r, "passes": _name_list(r["passes"], "render.passes", split=True)}
        if r.get("quality") is not None:  # a preset: its settings where the document gives none
            _one_of(r["quality"], tuple(QUALITY_PRESETS), "render.quality")
            r = {**QUALITY_PRESETS[r["quality"]], **r}
        kw["render"] = RenderSettings(**r)
    if kw.get("design") is not None:
        kw["design"] = Design.from_dict(kw["design"], "design")
    if "storage" in kw:
        st = _mapping(kw["storage"], "storage", "compression")
        _no_unknown(st, {"compression"}, f"{where}: storage")
        kw["storage"] = StorageSettings(**st)


def _check_design_n(kw: dict) -> None:
    """A grid's, sweep's or blocks design's n follows from it: a different n written beside it is refused."""
    d = kw.get("design")
    if isinstance(d, Design) and d.derives_n() and "n" in kw and kw["n"] != d.images():
        raise SpecError(f"n = {_show(kw['n'])}, but the {d.kind} design has {d.images():,} images; leave n out "
                        f"(a {d.kind}'s n follows from it)")


def _mapping(v, key: str, shape: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise SpecError(f"{key} must be a mapping ({shape}), got {_show(v)}")
    return v


def _name_list(v, key: str, split: bool) -> tuple[str, ...]:
    """A list of non-empty names; a string is one name (or, with split, comma-separated names)."""
    if v is None:
        return ()
    if isinstance(v, str):
        v = v.split(",") if split else [v]
    if not isinstance(v, (list, tuple)):
        raise SpecError(f"{key} must be a list of names, got {_show(v)}")
    bad = [x for x in v if not isinstance(x, str) or not x.strip()]
    if bad:
        raise SpecError(f"{key} must be a list of non-empty names, got {_show(bad[0])} in {_show(v)}")
    return tuple(x.strip() for x in v)


def _names(v, key: str, empty_ok: bool) -> tuple:
    """Check a field holds a tuple/list of strings (as built by from_dict)."""
    if not isinstance(v, (tuple, list)) or not all(isinstance(x, str) and x for x in v):
        raise SpecError(f"{key} must be a list of names, got {_show(v)}")
    if not v and not empty_ok:
        raise SpecError(f"{key} must not be empty")
    return tuple(v)


def _pairs(v, key: str) -> list[tuple[str, Any]]:
    """Check a field holds (name, value) pairs with unique names."""
    if not isinstance(v, (tuple, list)) or not all(isinstance(kv, tuple) and len(kv) == 2 for kv in v):
        raise SpecError(f"{key} must be (name, value) pairs, got {_show(v)}")
    names = [k for k, _ in v]
    dup = [k for k in names if names.count(k) > 1]
    if dup:
        raise SpecError(f"{key}: {_show(dup[0])} given twice")
    return list(v)


def _param_name(name, active, where, scene="studio"):
    if name in active:
        return
    if name in PARAMS and PARAMS[name].scenes is not None:
        p = PARAMS[name]
        raise SpecError(f"{where}: scene {scene!r} cannot honour {name!r} (only {', '.join(p.scenes)} take it); "
                        f"active parameters: {', '.join(active)}")
    if name in PARAMS:
        p = PARAMS[name]
        mode = "position_mode" if p.group == "position" else "pose_mode"
        raise SpecError(f"{where}: {name!r} is only used with {mode}: {p.modes_text()}; "
                        f"active parameters: {', '.join(active)}")
    raise SpecError(f"{where}: unknown latent {_show(name)}; valid: {', '.join(active)}")


def _one_of(v, allowed, what, extra=""):
    if not isinstance(v, str) or v not in allowed:
        more = f" {extra}" if extra else ""
        raise SpecError(f"unknown {what} {_show(v)}; allowed: {', '.join(allowed)}{more}")


def _int_in(v, lo, hi, what):
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpecError(f"{what} must be an integer in {lo}..{hi}, got {_show(v)}")


def _number_in(v, lo, hi, what, allowed, hi_open=False):
    """A finite real number (not a bool, not a string) in [lo, hi] (or [lo, hi))."""
    ok = is_finite(v) and lo <= v and (v < hi if hi_open else v <= hi)
    if not ok:
        raise SpecError(f"{what} must be a number in {allowed}, got {_show(v)}")


def _strict_bool(v, what):
    """Only a real boolean: YAML 'no' in quotes is a string, and must not switch anything on."""
    if not isinstance(v, bool):
        raise SpecError(f"{what} must be true or false, got {_show(v)}")


def _no_unknown(d: dict, known: set, where: str):
    """Refuse a key not in `known`: name it, the nearest known keys, and the known keys (or, where
    they are too many for one line, where to see them)."""
    extra = sorted(set(d) - known, key=str)
    if extra:
        near = difflib.get_close_matches(str(extra[0]), sorted(known), n=3)
        hint = f" (did you mean {', '.join(map(repr, near))}?)" if near else ""
        listing = ", ".join(sorted(known))
        allowed = listing if len(listing) <= 200 else "the keys `latentscape config --dump` prints"
        raise SpecError(f"{where}: unknown key {_show(extra[0])}{hint}; allowed: {allowed}")


def _freeze(v):
    return tuple(_freeze(x) for x in v) if isinstance(v, list) else v


def _plain(v):
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):
        return v.tolist()
    return v
