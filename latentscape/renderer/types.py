"""The typed boundary between the main process and the Blender renderer (no bpy, no torch).

What a stage renders is described by frozen dataclasses, every field given, checked on
construction: `StageSettings` (how to render), `ObjectRef` (an object to load, with its
content hash), `BackgroundRef` (a background to show) and `ImageState` (everything that
changes per image, with `SceneState`: what a non-studio scene template takes per image).
"""
from __future__ import annotations

import dataclasses

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np

from latentscape.blender_scenes import SCENE_PARAMS, SCENES  # the template names; imports no bpy
from latentscape.errors import SpecError
from latentscape.latents.geometry import canonical_quat
from latentscape.latents.space import MAX_PITCH, PARAMS, check_value

BUILDER_KINDS = ("primitive", "procedural", "sh3d", "file")  # how renderer/blender/objects.py makes an object
BACKGROUND_KINDS = ("color", "backdrop", "hdri")
DEVICES = ("auto", "cpu", "cuda", "optix", "hip", "oneapi", "metal")
BACKDROP_WORLD_RGB = (0.35, 0.35, 0.35)  # linear ambient colour of the studio backdrop's world


# ---------------------------------------------------------------- checks
def _real(value, what: str) -> float:
    """A finite number as a plain float (numpy scalars included; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _index(value, what: str) -> int:
    """An integer >= 0 as a plain int (numpy integers included; bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {value!r}")
    return int(value)


def _reals(value, n: int, what: str) -> tuple[float, ...]:
    """`n` finite numbers as a tuple of plain floats."""
    try:
        items = list(value)
    except TypeError:
        raise ValueError(f"{what} must be {n} finite numbers, got {value!r}") from None
    if len(items) != n:
        raise ValueError(f"{what} must be {n} finite numbers, got {len(items)}: {value!r}")
    return tuple(_real(v, f"{what}[{i}]") for i, v in enumerate(items))


def _text(value, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _flag(value, what: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{what} must be True or False, got {value!r}")
    return bool(value)


def _set(obj, name: str, value):
    object.__setattr__(obj, name, value)


# ---------------------------------------------------------------- stage
@dataclass(frozen=True)
class StageSettings:
    """How a stage renders: image size, camera, Cycles, device and scene template."""

    resolution: int        # square image side, pixels
    fov_deg: float         # horizontal = vertical field of view
    samples: int           # Cycles samples per pixel
    denoise: bool          # OpenImageDenoise (fast prefilter)
    want_mask: bool        # object coverage mask per image
    want_depth: bool       # depth per image (one extra EXR save)
    device: str            # auto|cpu|cuda|optix|hip|oneapi|metal
    device_slot: int | None  # which GPU of the chosen type (None: all of them)
    threads: int           # CPU render threads, 0 = Blender's choice
    scene: str = "studio"  # scene template (latentscape.blender_scenes.SCENES)
    view_transform: str = "standard"  # colour management: standard | agx
    canonical_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # q0: poses are relative to it
    denoise_prefilter: str = "fast"  # OIDN guides: fast | accurate
    adaptive_threshold: float = 0.0  # 0: off
    max_bounces: int = 12
    clamp_indirect: float = 10.0  # 0: off
    filter_width: float = 1.5  # pixels
    scene_file: str | None = None  # userblend: the user's .blend (None for every other scene)
    scene_file_sha256: str = ""  # userblend: the .blend's content hash the dataset was resolved with ("" = none)

    def __post_init__(self):
        _set(self, "resolution", _index(self.resolution, "resolution"))
        if self.resolution < 1:
            raise ValueError(f"resolution must be >= 1 pixel, got {self.resolution}")
        _set(self, "fov_deg", _real(self.fov_deg, "fov_deg"))
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg must lie in (0, 180) degrees, got {self.fov_deg}")
        _set(self, "samples", _index(self.samples, "samples"))
        if self.samples < 1:
            raise ValueError(f"samples must be >= 1, got {self.samples}")
        for name in ("denoise", "want_mask", "want_depth"):
            _set(self, name, _flag(getattr(self, name), name))
        if not isinstance(self.device, str) or self.device.lower() not in DEVICES:
            raise ValueError(f"unknown render device {self.device!r}; allowed: {', '.join(DEVICES)}")
        if self.device_slot is not None:
            _set(self, "device_slot", _index(self.device_slot, "device_slot"))
        _set(self, "threads", _index(self.threads, "threads"))
        if self.scene not in SCENES:
            raise ValueError(f"unknown scene {self.scene!r}; allowed: {', '.join(SCENES)}")
        _check_scene_file(self.scene, self.scene_file, self.scene_file_sha256)
        if self.view_transform not in ("standard", "agx"):
            raise ValueError(f"unknown view transform {self.view_transform!r}; allowed: standard, agx")
        q0 = _reals(self.canonical_quat, 4, "canonical_quat")
        if abs(math.fsum(x * x for x in q0) - 1.0) > 1e-6:
            raise ValueError(f"canonical_quat must be a unit quaternion, got {q0}")
        _set(self, "canonical_quat", q0)
        if self.denoise_prefilter not in ("fast", "accurate"):
            raise ValueError(f"unknown denoise prefilter {self.denoise_prefilter!r}; allowed: fast, accurate")
        for name in ("adaptive_threshold", "clamp_indirect", "filter_width"):
            _set(self, name, _real(getattr(self, name), name))
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        _set(self, "max_bounces", _index(self.max_bounces, "max_bounces"))

    def replace(self, **changes) -> "StageSettings":
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def for_spec(cls, spec, *, device: str, want_mask: bool, want_depth: bool, device_slot: int | None,
                 threads: int, scene: str, scene_file: str | None = None,
                 scene_file_sha256: str = "") -> "StageSettings":
        """A DatasetSpec's image size, camera and Cycles settings, with the rest given (the scene as resolved:
        `ResolvedDataset.stage_scene()`)."""
        return cls(resolution=spec.resolution, fov_deg=spec.fov_deg, samples=spec.render.samples,
                   denoise=spec.render.denoise, want_mask=want_mask, want_depth=want_depth, device=device,
                   device_slot=device_slot, threads=threads, scene=scene, view_transform=spec.render.view_transform,
                   canonical_quat=tuple(float(x) for x in canonical_quat(spec.canonical_pose)),
                   denoise_prefilter=spec.render.denoise_prefilter, adaptive_threshold=spec.render.adaptive_threshold,
                   max_bounces=spec.render.max_bounces, clamp_indirect=spec.render.clamp_indirect,
                   filter_width=spec.render.filter_width, scene_file=scene_file, scene_file_sha256=scene_file_sha256)


def _check_scene_file(scene: str, path, sha256: str):
    """The userblend scene names its .blend file (with an optional content hash); no other scene takes one."""
    if scene == "userblend":
        _text(path, "scene_file of the userblend scene")
    elif path is not None:
        raise ValueError(f"scene {scene!r} takes no scene_file, got {path!r} (only userblend does)")
    if not isinstance(sha256, str) or (sha256 and not _is_sha256(sha256)):
        raise ValueError(f"scene_file_sha256 must be '' or 64 hex digits, got {sha256!r}")


# ---------------------------------------------------------------- assets
@dataclass(frozen=True)
class ObjectRef:
    """An object the stage can load: how to build it, its canonical box, its content hash."""

    name: str
    builder: str                              # KIND:ARG, KIND one of BUILDER_KINDS
    extents: tuple[float, float, float]       # canonical bounding-box sides (longest = 1)
    rotation: tuple[float, ...] | None        # row-major 3x3 pre-rotation (Z-up) or None
    sha256: str                               # content hash the dataset was resolved with ("" = none)

    def __post_init__(self):
        _text(self.name, "object name")
        kind, sep, arg = _text(self.builder, f"builder of object {self.name!r}").partition(":")
        if kind not in BUILDER_KINDS or not sep or not arg:
            raise ValueError(f"object {self.name!r} has builder {self.builder!r}; expected KIND:ARG with KIND one of "
                             f"{', '.join(BUILDER_KINDS)}")
        ext = _reals(self.extents, 3, f"extents of object {self.name!r}")
        if min(ext) < 0 or max(ext) <= 0:  # a flat model has one zero side
            raise ValueError(f"extents of object {self.name!r} must be >= 0 with a longest side > 0, got {ext}")
        _set(self, "extents", ext)
        if self.rotation is not None:
            _set(self, "rotation", _reals(self.rotation, 9, f"rotation of object {self.name!r}"))
        if not isinstance(self.sha256, str) or (self.sha256 and not _is_sha256(self.sha256)):
            raise ValueError(f"sha256 of object {self.name!r} must be '' or 64 hex digits, got {self.sha256!r}")

    @classmethod
    def of(cls, info) -> "ObjectRef":
        """From an `ObjectInfo` (or anything with name, builder, extents, rotation, sha256)."""
        return cls(name=info.name, builder=info.builder, extents=tuple(info.extents),
                   rotation=tuple(info.rotation) if info.rotation else None, sha256=info.sha256)


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class BackgroundRef:
    """A background the stage can show.

    color: a uniform world of linear colour `rgb`. backdrop: the studio sweep (paper colour
    `rgb`) under a uniform world `world_rgb`. hdri: the equirectangular image at `path`.
    Fields a kind does not use are None.
    """

    name: str
    kind: str
    rgb: tuple[float, float, float] | None
    world_rgb: tuple[float, float, float] | None
    path: str | None

    def __post_init__(self):
        _text(self.name, "background name")
        if self.kind not in BACKGROUND_KINDS:
            raise ValueError(f"background {self.name!r} has kind {self.kind!r}; allowed: {', '.join(BACKGROUND_KINDS)}")
        uses = {"color": ("rgb",), "backdrop": ("rgb", "world_rgb"), "hdri": ("path",)}[self.kind]
        for f in ("rgb", "world_rgb", "path"):
            value = getattr(self, f)
            if f not in uses and value is not None:
                raise ValueError(f"{self.kind} background {self.name!r} takes no {f}, got {value!r}")
            if f in uses and value is None:
                raise ValueError(f"{self.kind} background {self.name!r} needs {f}")
        for f in ("rgb", "world_rgb"):
            if f in uses:
                colour = _reals(getattr(self, f), 3, f"{f} of background {self.name!r}")
                if min(colour) < 0:
                    raise ValueError(f"{f} of background {self.name!r} must be >= 0, got {colour}")
                _set(self, f, colour)
        if self.kind == "hdri":
            _text(self.path, f"path of HDRI background {self.name!r}")

    @property
    def world_colour(self) -> tuple[float, float, float] | None:
        """The uniform world colour (color and backdrop kinds), None for an HDRI."""
        return {"color": self.rgb, "backdrop": self.world_rgb, "hdri": None}[self.kind]

    @classmethod
    def of(cls, bg) -> "BackgroundRef":
        """From a `latentscape.assets.backgrounds.Background` (name, kind, rgb, path)."""
        if bg.kind == "hdri" and not bg.path:
            raise ValueError(f"HDRI background {bg.name!r} has no file on this machine")
        return cls(name=bg.name, kind=bg.kind, rgb=tuple(bg.rgb) if bg.kind != "hdri" else None,
                   world_rgb=BACKDROP_WORLD_RGB if bg.kind == "backdrop" else None,
                   path=bg.path if bg.kind == "hdri" else None)


# ---------------------------------------------------------------- per image


@dataclass(frozen=True)
class SceneState:
    """What a scene template takes per image besides the studio's latents (docs/scenes.md).

    Each template needs exactly the fields `blender_scenes.SCENE_PARAMS[scene]` names; the
    others stay None. Camera frame as everywhere: the ground is level in the world, the
    camera `camera_height` metres above it, pitched up by `camera_pitch` radians.
    """

    camera_height: float | None = None   # m above the ground (hdri: the shadow catcher; ground; room floor)
    camera_pitch: float | None = None    # rad, positive looks up; |pitch| < MAX_PITCH
    shadow_catcher: bool | None = None   # hdri: an invisible ground that catches the object's shadow
    ground_material: int | None = None   # ground: index into blender_scenes.GROUND_MATERIALS
    room_material: int | None = None     # room: index into blender_scenes.ROOM_STYLES

    def __post_init__(self):
        if self.camera_height is not None:
            _set(self, "camera_height", _real(self.camera_height, "camera_height"))
            if self.camera_height <= 0:
                raise ValueError(f"camera_height must be > 0 m, got {self.camera_height}")
        if self.camera_pitch is not None:
            _set(self, "camera_pitch", _real(self.camera_pitch, "camera_pitch"))
            if abs(self.camera_pitch) >= MAX_PITCH:
                raise ValueError(f"camera_pitch must lie in (-{MAX_PITCH}, {MAX_PITCH}) rad, got {self.camera_pitch}")
        if self.shadow_catcher is not None:
            sc = self.shadow_catcher
            _set(self, "shadow_catcher", bool(sc) if isinstance(sc, numbers.Integral) and int(sc) in (0, 1)
                 else _flag(sc, "shadow_catcher"))
        for name in ("ground_material", "room_material"):
            if getattr(self, name) is not None:
                _set(self, name, _index(getattr(self, name), name))

    def given(self) -> tuple[str, ...]:
        """The names of the fields that hold a value."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def check_for(self, scene: str):
        """Refuse a state that does not give exactly what template `scene` takes per image."""
        want = SCENE_PARAMS[scene]
        missing = [n for n in want if getattr(self, n) is None]
        extra = [n for n in self.given() if n not in want]
        if missing or extra:
            raise ValueError(f"scene {scene!r} takes {', '.join(want) or 'no scene state'} per image; "
                             + "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                                     f"not used: {', '.join(extra)}" if extra else "") if p))

    @classmethod
    def canonical(cls, scene: str, **overrides) -> "SceneState | None":
        """Template `scene`'s canonical per-image values (None for studio and userblend), with `overrides`."""
        if scene not in SCENE_PARAMS:
            raise ValueError(f"unknown scene {scene!r}; allowed: {', '.join(SCENES)}")
        base = {"camera_height": 1.0, "camera_pitch": 0.0, "shadow_catcher": True, "ground_material": 0,
                "room_material": 0}
        values = {n: base[n] for n in SCENE_PARAMS[scene]}
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise TypeError(f"scene {scene!r} takes no {unknown}; it takes {', '.join(values) or 'nothing'}")
        return cls(**{**values, **overrides}) if values else None

    @classmethod
    def from_row(cls, lat: dict[str, np.ndarray], row: int) -> "SceneState | None":
        """Image `row`'s scene state from shard latents named as the fields; None if the shard has none."""
        got = {f.name: lat[f.name][row] for f in fields(cls) if f.name in lat}
        return cls(**got) if got else None


@dataclass(frozen=True)
class DistractorState:
    """One distractor of an image: a library object posed as the target is (camera-frame position,
    rotation relative to the canonical pose q0, scale times its real size `size_m`)."""

    object_id: int
    position: tuple[float, float, float]
    rotation_quat: tuple[float, float, float, float]
    scale: float
    size_m: float = 1.0

    def __post_init__(self):
        _set(self, "object_id", _index(self.object_id, "distractor object_id"))
        _set(self, "position", _reals(self.position, 3, "distractor position"))
        _set(self, "rotation_quat", _quaternion(self.rotation_quat, "distractor rotation_quat"))
        for name in ("scale", "size_m"):
            _set(self, name, _real(getattr(self, name), f"distractor {name}"))
            if getattr(self, name) <= 0:
                raise ValueError(f"distractor {name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def rows(cls, lat: dict[str, np.ndarray], row: int) -> tuple["DistractorState", ...]:
        """Image `row`'s distractors from shard latents (`distractor_*` tables); () if the shard has none."""
        if "distractor_count" not in lat:
            return ()
        size = lat.get("distractor_size_m")
        return tuple(cls(lat["distractor_object_id"][row][k], lat["distractor_position"][row][k],
                         lat["distractor_rotation_quat"][row][k], lat["distractor_scale"][row][k],
                         1.0 if size is None else size[row][k]) for k in range(int(lat["distractor_count"][row])))


def _quaternion(value, what: str) -> tuple[float, ...]:
    """4 finite numbers whose norm normalises safely (the latent table's rule)."""
    q = _reals(value, 4, what)
    try:
        check_value("rotation", q)
    except SpecError as e:
        raise ValueError(f"{what}: {e}") from None
    return q


@dataclass(frozen=True)
class ImageState:
    """Everything that changes per image (camera-frame metres, radians, kelvin; see docs/latents.md)."""

    object_id: int
    position: tuple[float, float, float]
    rotation_quat: tuple[float, float, float, float]  # w, x, y, z; normalised by the stage
    scale: float
    light_azimuth: float
    light_elevation: float
    light_intensity: float
    light_temperature: float
    env_strength: float
    background_id: int
    env_rotation: float
    seed: int  # Cycles seed
    size_m: float = 1.0  # the object's real size (--size real): it, its position and the backdrop scale by it
    scene: SceneState | None = None  # what a non-studio template takes per image (None: studio, userblend)
    distractors: tuple[DistractorState, ...] = ()  # other objects around the target (never in its mask)

    def __post_init__(self):
        _set(self, "object_id", _index(self.object_id, "object_id"))
        _set(self, "background_id", _index(self.background_id, "background_id"))
        _set(self, "seed", _index(self.seed, "seed"))
        _set(self, "position", _reals(self.position, 3, "position"))
        q = _reals(self.rotation_quat, 4, "rotation_quat")
        try:
            check_value("rotation", q)  # the latent table's rule: a norm normalising safely
        except SpecError as e:
            raise ValueError(f"rotation_quat: {e}") from None
        _set(self, "rotation_quat", q)
        for name in _SCALARS:
            _set(self, name, _real(getattr(self, name), name))
        if self.scene is not None and not isinstance(self.scene, SceneState):
            raise ValueError(f"scene must be a SceneState or None, got {type(self.scene).__name__}")
        if not isinstance(self.distractors, tuple) or not all(isinstance(d, DistractorState) for d in self.distractors):
            raise ValueError(f"distractors must be a tuple of DistractorStates, got {self.distractors!r}")

    @classmethod
    def from_row(cls, lat: dict[str, np.ndarray], row: int) -> "ImageState":
        """Image `row` of a shard's latents (HDF5 latent names; `render_seed` is the seed)."""
        missing = [k for k in _ROW_KEYS.values() if k not in lat and k != "size_m"]
        if missing:
            raise KeyError(f"latents lack {', '.join(missing)} (an image state needs {', '.join(_ROW_KEYS.values())})")
        # size_m is stored from latentscape 0.4 on; before, every object was 1 m
        return cls(**{field: lat[key][row] for field, key in _ROW_KEYS.items() if key in lat},
                   scene=SceneState.from_row(lat, row), distractors=DistractorState.rows(lat, row))

    @classmethod
    def canonical(cls, object_id: int = 0, background_id: int = 0, **overrides) -> "ImageState":
        """The canonical image (PARAMS' canonical values, the object on the optical axis), with `overrides`."""
        values = {
            "object_id": object_id, "background_id": background_id, "seed": 0,
            "position": (0.0, 0.0, float(PARAMS["distance"].canonical)),
            "rotation_quat": tuple(PARAMS["rotation"].canonical), "scale": PARAMS["scale"].canonical, "size_m": 1.0,
            "scene": None, "distractors": (),
            **{name: PARAMS[name].canonical for name in _SCALARS if name not in ("scale", "size_m")},
        }
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise TypeError(f"unknown image state field(s) {unknown}; allowed: {', '.join(values)}")
        return cls(**{**values, **overrides})


_SCALARS = ("scale", "light_azimuth", "light_elevation", "light_intensity", "light_temperature", "env_strength",
            "env_rotation", "size_m")
_ROW_KEYS = {f.name: ("render_seed" if f.name == "seed" else f.name) for f in fields(ImageState)
             if f.name not in ("scene", "distractors")}
