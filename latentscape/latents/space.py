"""The latent space: groups, the parameters drawn per image, and the stored latents.

Parameters are what a spec gives distributions to (`--fix NAME=VALUE` names
them); stored latents are what every shard holds (derived from parameters).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from latentscape.latents.distributions import Dist

GROUPS = ("category", "identity", "position", "pose", "scale", "lighting", "background")
POSITION_MODES = ("image", "box")
POSE_MODES = ("so3", "euler")


@dataclass(frozen=True)
class Param:
    name: str
    group: str
    canonical: object
    default: Dist
    unit: str
    doc: str
    mode: str | None = None  # only used in this position/pose mode


def _u(lo, hi):
    return Dist(kind="uniform", low=lo, high=hi)


PI = math.pi
PARAMS: dict[str, Param] = {p.name: p for p in [
    Param("category", "category", 0, Dist(kind="choice"), "index", "object category (balanced by default)"),
    Param("object_id", "identity", 0, Dist(kind="choice"), "index",
          "object within its category; canonical: the category's first object"),
    Param("image_x", "position", 0.0, _u(-1.0, 1.0), "[-1,1]", "horizontal image coordinate of the centre", "image"),
    Param("image_y", "position", 0.0, _u(-1.0, 1.0), "[-1,1]", "vertical image coordinate of the centre", "image"),
    Param("distance", "position", 4.0, _u(3.0, 6.0), "m", "camera-to-centre distance", "image"),
    Param("position_x", "position", 0.0, _u(-1.0, 1.0), "m", "camera-frame x of the centre", "box"),
    Param("position_y", "position", 0.0, _u(-1.0, 1.0), "m", "camera-frame y of the centre", "box"),
    Param("position_z", "position", 4.0, _u(3.0, 6.0), "m", "camera-frame z (depth) of the centre", "box"),
    Param("rotation", "pose", (1.0, 0.0, 0.0, 0.0), Dist(kind="so3"), "quat",
          "rotation (w,x,y,z) of the asset frame", "so3"),
    Param("yaw", "pose", 0.0, _u(-PI, PI), "rad", "turn about the object's up axis", "euler"),
    Param("pitch", "pose", 0.0, _u(-PI / 2, PI / 2), "rad", "tilt about the object's right axis", "euler"),
    Param("roll", "pose", 0.0, _u(-PI, PI), "rad", "roll about the object's front-back axis", "euler"),
    Param("scale", "scale", 1.0, _u(0.7, 1.3), "x", "uniform scale (1 = longest side 1 m)"),
    Param("light_azimuth", "lighting", -0.6, _u(-PI / 2, PI / 2), "rad", "key light azimuth (0 = from the camera, + = from the right)"),
    Param("light_elevation", "lighting", 0.6, _u(0.0, 1.3), "rad", "key light elevation (+ = from above)"),
    Param("light_intensity", "lighting", 3.0, _u(1.0, 5.0), "W/m2", "key light (sun) strength"),
    Param("light_temperature", "lighting", 6500.0, _u(3000.0, 9000.0), "K", "key light colour temperature"),
    Param("env_strength", "lighting", 1.0, _u(0.3, 1.5), "x", "environment (background light) strength"),
    Param("background_id", "background", 0, Dist(kind="choice"), "index", "background (0 = grey studio)"),
    Param("env_rotation", "background", 0.0, _u(-PI, PI), "rad", "environment rotation about the camera's up axis"),
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

# Per-image metadata that is not a generative factor.
META = {
    "rejections": ("int32", "position draws rejected by the in-frame rule"),
    "render_seed": ("int64", "Cycles seed of the image"),
}


def params_for(position_mode: str, pose_mode: str) -> list[str]:
    """Names of the parameters active in these modes, in draw order."""
    return [p.name for p in PARAMS.values() if p.mode in (None, position_mode, pose_mode)]


def group_of(name: str) -> str:
    if name in PARAMS:
        return PARAMS[name].group
    return LATENTS[name].group
