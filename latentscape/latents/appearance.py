"""What an image will look like, predicted before it is rendered (numpy only): the display
luminance of the object and of what surrounds it on a solid background in the studio, for
`--min-contrast` (the other templates' surround: latents/surround.py).

The model (docs/fidelity.md): a diffuse object of mean albedo a under a uniform world of
linear luminance W (scaled by env_strength) and a sun of strength I reflects, averaged over
its visible surface,
    a * (K_AMBIENT * env * W + I / pi * lit),
with lit the projected-area-weighted mean of max(0, n.l) over the faces of its convex hull the
camera sees (posed as in the image; a Lambert sphere's 2/3 Phi(phi) where the hull is flat); the
display value of a linear luminance comes from the view transform's curve on greys
(DISPLAY_CURVE, measured from Blender renders of a uniform world).
"""
from __future__ import annotations

import math

import numpy as np

LUMA = (0.2126, 0.7152, 0.0722)  # Rec. 709 luminance of linear RGB
K_AMBIENT = 0.8  # share of the world's light a typical object receives (its own parts occlude some)
BACKDROP_WORLD_Y = 0.35  # the backdrop background's uniform world (renderer.types.BACKDROP_WORLD_RGB)

# 8-bit sRGB luminance of a uniform world of linear grey x, per view transform (measured with
# Blender 5.0.1, scripts in benchmarks/fidelity.py --curve; linear interpolation in log x).
CURVE_X = np.array([0.002, 0.002518, 0.003171, 0.003993, 0.005027, 0.00633, 0.007971, 0.010037, 0.012638, 0.015913, 0.020037, 0.025229, 0.031767, 0.04, 0.050366, 0.063419, 0.079854, 0.100549, 0.126607, 0.159417, 0.200731, 0.252752, 0.318253, 0.40073, 0.504582, 0.635347, 0.8, 1.00732, 1.26838, 1.59708, 2.01098, 2.53213, 3.18834, 4.01462, 5.05503, 6.36507, 8.01461, 10.0916, 12.7069, 16])
DISPLAY_CURVE = {
    "agx": np.array([3, 4, 5, 7, 9, 12, 15, 19, 23, 27, 32, 37, 44, 51, 58, 67, 76, 87, 99, 111, 124, 136, 148, 160, 170, 180, 189, 197, 204, 211, 217, 223, 228, 233, 237, 242, 245, 249, 252, 255]),
    "standard": np.array([7, 8, 10, 13, 16, 19, 22, 26, 30, 34, 39, 44, 50, 56, 63, 71, 80, 89, 100, 111, 124, 138, 153, 170, 188, 209, 231, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]),
}


_LOG_X = np.log(CURVE_X)


def luminance(rgb) -> float:
    """Linear luminance of a linear RGB triple."""
    return float(np.dot(np.asarray(rgb, dtype=np.float64), LUMA))


def display_luminance(linear_y: float, view_transform: str) -> float:
    """0..255 sRGB luminance shown for a grey of linear luminance `linear_y`."""
    return float(np.interp(math.log(max(linear_y, 1e-9)), _LOG_X, DISPLAY_CURVE[view_transform]))


def lambert_phase(cos_phi: float) -> float:
    """Mean lit share of a Lambertian sphere seen at phase angle phi (1 at 0, 0 at pi)."""
    phi = math.acos(max(-1.0, min(1.0, cos_phi)))
    return (math.sin(phi) + (math.pi - phi) * math.cos(phi)) / math.pi


def sun_view_cos(light_azimuth: float, light_elevation: float) -> float:
    """Cosine between the direction toward the sun and toward the camera (docs/latents.md)."""
    return math.cos(light_azimuth) * math.cos(light_elevation)


def sun_direction(light_azimuth: float, light_elevation: float) -> np.ndarray:
    """Camera-frame unit vector toward the sun (docs/latents.md: azimuth 0 = from the camera)."""
    ca = math.cos(light_elevation)
    return np.array([math.sin(light_azimuth) * ca, math.sin(light_elevation), -math.cos(light_azimuth) * ca])


def hull_faces(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outward unit normals (k, 3) and areas (k,) of the convex hull's faces (none if it is flat)."""
    from scipy.spatial import ConvexHull, QhullError
    try:
        h = ConvexHull(np.asarray(points, dtype=np.float64))
    except (QhullError, ValueError):
        return np.zeros((0, 3)), np.zeros(0)
    tri = h.points[h.simplices]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    areas = np.linalg.norm(cross, axis=1) / 2
    normals = h.equations[:, :3]  # outward, unit
    return normals, areas


def lit_share(normals_cam: np.ndarray, areas: np.ndarray, to_camera: np.ndarray, to_sun: np.ndarray) -> float:
    """Mean of max(0, n.l) over the hull's faces the camera sees, weighted by their projected area;
    the Lambert sphere's value when the hull is flat (no faces)."""
    seen = areas * np.clip(normals_cam @ to_camera, 0.0, None)
    if seen.sum() <= 0:
        return (2.0 / 3.0) * lambert_phase(float(np.dot(to_camera, to_sun)))
    return float(seen @ np.clip(normals_cam @ to_sun, 0.0, None) / seen.sum())


def display_rgb_luminance(linear_rgb, view_transform: str) -> float:
    """0..255 luminance of the displayed 8-bit values of a linear colour (the curve applied per
    channel, then Rec. 709 weights: how dataset.fidelity measures contrast on the pixels)."""
    return float(np.dot([display_luminance(float(c), view_transform) for c in linear_rgb], LUMA))


def display_rgb_luminances(linear_rgb, view_transform: str) -> np.ndarray:
    """`display_rgb_luminance` of many linear colours (..., 3) at once."""
    x = np.log(np.maximum(np.asarray(linear_rgb, dtype=np.float64), 1e-9))
    return np.interp(x, _LOG_X, DISPLAY_CURVE[view_transform]) @ np.array(LUMA)


def object_display(albedo, world_rgb, lat: dict, view_transform: str, lit: float | None = None) -> float:
    """Predicted mean display luminance of an object of mean linear colour `albedo`; `lit` =
    lit_share of its visible surface (default: a sphere's, from the sun's angle to the view)."""
    if lit is None:
        lit = (2.0 / 3.0) * lambert_phase(sun_view_cos(lat["light_azimuth"], lat["light_elevation"]))
    sun = lat["light_intensity"] / math.pi * lit
    light = K_AMBIENT * lat["env_strength"] * np.asarray(world_rgb, dtype=np.float64) + sun
    return display_rgb_luminance(np.asarray(albedo, dtype=np.float64) * light, view_transform)


def surround_display(kind: str, rgb, lat: dict, view_transform: str) -> float | None:
    """Predicted display luminance around the object: the world colour itself ("color"), the
    backdrop's paper wall facing the camera ("backdrop"), None for an HDRI (not uniform)."""
    if kind == "color":
        return display_rgb_luminance(lat["env_strength"] * np.asarray(rgb, dtype=np.float64), view_transform)
    if kind == "backdrop":
        lit = max(0.0, sun_view_cos(lat["light_azimuth"], lat["light_elevation"]))
        light = lat["env_strength"] * BACKDROP_WORLD_Y + lat["light_intensity"] / math.pi * lit
        return display_rgb_luminance(np.asarray(rgb, dtype=np.float64) * light, view_transform)
    return None


def predicted_contrast(colour, kind: str, bg_rgb, lat: dict, view_transform: str, lit: float | None = None) -> float:
    """|object - surround| predicted display luminance (0..255); inf on an HDRI (no guarantee there)."""
    around = surround_display(kind, bg_rgb, lat, view_transform)
    if around is None:
        return math.inf
    world = bg_rgb if kind == "color" else (BACKDROP_WORLD_Y,) * 3
    return abs(object_display(colour, world, lat, view_transform, lit) - around)
