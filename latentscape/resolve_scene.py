"""Resolving a spec's scene: the template, the user's .blend (checked once), and what the template
can honour (docs/scenes.md).

`resolve_scene(spec)` turns `spec.scene` into a `ResolvedScene`: the template's name and, for a
user's .blend, its content hash and the region's 8 corners in the camera frame (found in a
Blender child process, once, in the parent: workers never look again). `check_and_fix(...)`
refuses what a template cannot honour (one line, before anything renders) and pins the
parameters the template decides itself (a grounded object's height, a file's camera).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from latentscape.blender_scenes import GROUND_MATERIALS, ROOM_STYLES, SCENE_BACKGROUNDS, SCENE_PARAMS
from latentscape.blender_scenes.blendfile import sha256_of
from latentscape.errors import SpecError
from latentscape.latents.distributions import Dist, fixed
from latentscape.latents.space import GROUNDED, PARAMS, SCENE_GROUP, USERBLEND

# Names of the scene group's categorical values, by index (a spec may use either).
SCENE_CHOICES = {"shadow_catcher": ("off", "on"), "ground_material": GROUND_MATERIALS, "room_material": ROOM_STYLES}
# Parameters a template decides itself: a grounded object's height follows from the ground; in a
# user's .blend the position is drawn inside the region and the file's camera is not turned.
DECIDED = {**{t: ("image_y", "position_y") for t in GROUNDED}, USERBLEND: ("env_rotation",)}
REGION_PARAMS = ("position_x", "position_y", "position_z")  # userblend: fractions 0..1 along the region's edges
_WHY = {"image_y": "the object stands on the ground: its height follows from camera_height, camera_pitch and "
                   "its depth",
        "position_y": "the object stands on the ground: its height follows from camera_height, camera_pitch "
                      "and its depth",
        "env_rotation": "env_rotation would pan the file's camera; it stays 0"}


@dataclass(frozen=True)
class ResolvedScene:
    """The scene of a resolved dataset: the template and, for a user's .blend, what was checked."""

    template: str = "studio"
    file: str | None = None                  # userblend: the .blend path as the spec gives it
    sha256: str = ""                         # userblend: its content hash
    region: tuple | None = None              # userblend: the region's 8 corners, camera frame, metres

    def record(self) -> dict:
        """Identity-document fields (none for a template without a file, so studio identities stay)."""
        if self.file is None:
            return {}
        return {"scene_file": {"file": Path(self.file).name, "sha256": self.sha256,
                               "region": [list(c) for c in self.region]}}

    @staticmethod
    def from_record(template: str, spec_scene: str, d: dict) -> "ResolvedScene":
        """Inverse of `record()`: nothing is looked up again (the stage checks the hash when it loads)."""
        r = d.get("scene_file")
        if r is None:
            return ResolvedScene(template)
        return ResolvedScene(template, scene_path(spec_scene), r["sha256"],
                             tuple(tuple(float(x) for x in c) for c in r["region"]))


def scene_path(scene: str) -> str:
    """The absolute path of a spec's .blend (workers and cluster jobs may start elsewhere)."""
    return str(Path(scene).expanduser().resolve())


def resolve_scene(spec) -> ResolvedScene:
    """The spec's scene; a .blend is checked in a Blender child, every problem named in one line."""
    template = spec.template
    if template != USERBLEND:
        return ResolvedScene(template)
    from latentscape.renderer.blend_probe import describe_blend
    path = scene_path(spec.scene)
    found = describe_blend(path, spec.fov_deg)
    if found["problems"]:
        raise SpecError(f"--scene {spec.scene}: " + "; ".join(found["problems"]))
    region = tuple(tuple(float(x) for x in c) for c in found["region"])
    return ResolvedScene(template, path, sha256_of(path), region)


def check_and_fix(spec, dists: dict[str, Dist], template: str) -> None:
    """Refuse user-given values of parameters the template decides, and pin those to their canonical value."""
    given = {k for k, _ in spec.fix} | {k for k, _ in spec.distributions}
    if spec.design is not None and spec.design.kind in ("grid", "sweep"):
        given |= set(spec.design.level_names)  # levels are values the spec gives, too
    if template == USERBLEND:
        _region_dists(spec, dists, given)
    if template in GROUNDED and spec.pose_mode == "upright":  # standing upright: tilt only where asked for
        for name in ("pitch", "roll"):
            if name not in given:
                dists[name] = fixed(0.0)
    for name in DECIDED.get(template, ()):
        if name not in dists:
            continue
        if name in given and not _canonical_fix(spec, name):
            raise SpecError(f"scene {spec.scene!r} cannot honour a value of {name} ({_WHY[name]}); "
                            f"leave {name} out")
        dists[name] = fixed(PARAMS[name].canonical)


def _region_dists(spec, dists: dict[str, Dist], given: set) -> None:
    """A user's .blend: position_x/y/z are fractions along the region's edges, uniform in 0..1 where the
    position varies, else its centre (0.5); a value the spec gives must lie in 0..1."""
    varies = "position" in spec.vary
    for name in REGION_PARAMS:
        if name in given:
            span = dists[name].support()
            if span is None or not 0.0 <= span[0] <= span[1] <= 1.0:
                raise SpecError(f"scene {spec.scene!r}: {name} is a fraction of the region's edge, 0..1; got "
                                f"{dists[name].to_dict()} (give bounds inside 0..1)")
        else:
            dists[name] = Dist(kind="uniform", low=0.0, high=1.0) if varies else fixed(0.5)


def _canonical_fix(spec, name: str) -> bool:
    """True if the spec only fixes `name` at the value the template uses anyway."""
    return dict(spec.fix).get(name, object()) == PARAMS[name].canonical and name not in dict(spec.distributions)


def scene_indices(dists: dict[str, Dist]) -> None:
    """The scene group's categorical values as indices, and every choice over all of them spelled out."""
    for name, names in SCENE_CHOICES.items():
        d = dists.get(name)
        if d is None:
            continue
        if d.kind == "fixed":
            dists[name] = fixed(_choice_index(name, d.value, names))
        else:
            values = range(len(names)) if d.values is None else d.values
            dists[name] = Dist(kind="choice", values=tuple(_choice_index(name, v, names) for v in values),
                               weights=d.weights)


def scene_choice_index(name: str, value) -> int:
    """The index of a scene group categorical value given by name or index (e.g. ground_material=grass)."""
    return _choice_index(name, value, SCENE_CHOICES[name])


def _choice_index(name: str, value, names: tuple) -> int:
    if isinstance(value, str) and value in names:
        return names.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    raise SpecError(f"{name} {value!r} is not one of {', '.join(names)} (or an index 0..{len(names) - 1})")


def allowed_backgrounds(template: str, backgrounds) -> list[int]:
    """Ids of the backgrounds template `template` can show (SCENE_BACKGROUNDS)."""
    kinds = SCENE_BACKGROUNDS[template]
    return [i for i, b in enumerate(backgrounds) if b.kind in kinds]


def check_backgrounds(template: str, scene: str, dist: Dist, backgrounds, explicit: bool) -> Dist:
    """The background distribution, limited to what the template shows; naming one it cannot
    (`explicit`: the spec gave the values) is an error."""
    allowed = allowed_backgrounds(template, backgrounds)
    values = (dist.value,) if dist.kind == "fixed" else dist.values
    bad = [v for v in values if v not in allowed]
    if bad and (dist.kind == "fixed" or explicit):
        b = backgrounds[bad[0]]
        raise SpecError(f"scene {scene!r} cannot show {b.kind} background {b.name!r} (id {bad[0]}); it shows "
                        f"{', '.join(SCENE_BACKGROUNDS[template])} backgrounds")
    if not bad:
        return dist
    keep = [i for i, v in enumerate(values) if v in allowed]
    weights = None if dist.weights is None else tuple(dist.weights[i] for i in keep)
    return Dist(kind="choice", values=tuple(values[i] for i in keep), weights=weights)


def check_tables() -> None:
    """The latent table's scene parameters agree with what each template declares it takes."""
    for template, names in SCENE_PARAMS.items():
        table = tuple(k for k, p in PARAMS.items() if p.group == SCENE_GROUP and p.active_in("image", "so3", template))
        if table != names:
            raise AssertionError(f"scene {template!r}: latents/space.py gives {table}, blender_scenes {names}")
