"""What surrounds the object in the hdri, ground and room templates (numpy only), for `--min-contrast`.

The measured contrast (dataset/fidelity.py) compares the object's pixels with a 3-px ring around
them. Here that ring is predicted from what is known before rendering: the object's convex hull
(posed and placed as in the image) is projected, points just outside its silhouette are cast
into the scene as camera rays, and each ray is followed to what it meets first (docs/scenes.md):

* the sky: the world colour (a colour background), x env_strength;
* the ground (ground, and the hdri template's shadow catcher) or the room's floor, walls and
  ceiling: a diffuse surface of the measured albedo palette (`SURFACE_ALBEDO`) lit by the world,
  the sun (unless the object's hull shadows that point) and, in the room, the window light.
  The shadow catcher shows the world colour, darkened in the object's shadow by the share of
  the light the sun brought.

Each ring point's display luminance is the mean over its surface's palette of the view
transform's curve (appearance.DISPLAY_CURVE) per channel, then Rec. 709 weights, as the measure
reads pixels; the surround is the mean over the ring. The object itself is predicted as in the
studio (appearance.object_display) with the sun turned into the pitched camera's frame and the
lower half of its ambient light coming from the ground instead of the sky.

Frames: camera frame as everywhere (x right, y up, z forward). The "level" frame is the camera
frame without `camera_pitch` (the key light is given there: stage.py); the room is fixed in the
Blender world, the camera turned in it by `env_rotation`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latentscape.latents.surfaces import (CEILING_RGB, GROUND_HALF_SIZE, GROUND_MATERIALS, ROOM_HALF_WIDTH,
                                         ROOM_HEIGHT, ROOM_STYLES, ROOM_WINDOW, SURFACE_ALBEDO, WINDOW_COLOUR,
                                         WINDOW_WATTS)
from latentscape.latents import appearance as app

RING_OFFSET = 0.03  # image units ([-1, 1] across): the 3-px ring's middle at 100 px, its outer edge at 200
# (independent of the resolution, so that latents do not depend on it)
RING_POINTS = 48
WINDOW_GAIN = 0.93  # Cycles' window light over the point-source model: 0.79-0.97 on the floor, 0.93 median
# (benchmarks/surface_albedo.py; the model over-states it within 2 m of the window, where its extent shows)
SCENES = ("hdri", "ground", "room")  # the templates whose surround is predicted (userblend: the user's own, unknown)
SKY, GROUND, WALL, CEILING, WINDOW = range(5)
_UP = np.array([0.0, 1.0, 0.0])


@dataclass(frozen=True)
class Surround:
    """What the ring's rays meet: per ray the surface kind, the hit point and normal (level frame)."""

    kind: np.ndarray    # (m,) SKY .. WINDOW
    point: np.ndarray   # (m, 3) level camera frame (NaN for the sky)
    normal: np.ndarray  # (m, 3) level camera frame


def pitch_matrix(camera_pitch: float) -> np.ndarray:
    """Level-frame vectors to the camera frame of a camera pitched up by `camera_pitch` (up -> (0, c, s))."""
    c, s = math.cos(camera_pitch), math.sin(camera_pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def ring_rays(points_cam: np.ndarray, fov_deg: float, n: int = RING_POINTS,
              offset: float = RING_OFFSET) -> np.ndarray:
    """Unit camera-frame rays through `n` points just outside the silhouette of `points_cam`'s convex
    hull (evenly along its outline, `offset` out), those inside the image only: (m, 3), m <= n."""
    from scipy.spatial import ConvexHull, QhullError
    t = math.tan(math.radians(fov_deg) / 2)
    uv = points_cam[:, :2] / (points_cam[:, 2:3] * t)
    try:
        outline = uv[ConvexHull(uv).vertices]  # counter-clockwise
    except (QhullError, ValueError):
        return np.zeros((0, 3))
    edges = np.roll(outline, -1, axis=0) - outline
    lengths = np.linalg.norm(edges, axis=1)
    along = (np.arange(n) + 0.5) * lengths.sum() / n
    which = np.minimum(np.searchsorted(np.cumsum(lengths), along), len(lengths) - 1)
    start = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])[which]
    e = edges[which] / lengths[which, None]
    pts = outline[which] + e * (along - start)[:, None] + offset * np.stack([e[:, 1], -e[:, 0]], 1)
    pts = pts[(np.abs(pts) <= 1.0).all(1)]
    rays = np.column_stack([pts * t, np.ones(len(pts))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def trace(rays_level: np.ndarray, scene: str, camera_height: float, env_rotation: float,
          catcher: bool = True) -> Surround:
    """What level-frame rays from the camera meet first in template `scene`."""
    m = len(rays_level)
    kind, point, normal = np.full(m, SKY), np.full((m, 3), np.nan), np.tile(_UP, (m, 1))
    down = rays_level[:, 1] < -1e-9
    t_ground = np.where(down, camera_height / np.where(down, -rays_level[:, 1], 1.0), np.inf)
    if scene in ("ground", "hdri"):
        horiz = np.linalg.norm(rays_level[:, [0, 2]], axis=1) * np.where(down, t_ground, 0.0)
        hit = down & (horiz < GROUND_HALF_SIZE) & (scene == "ground" or catcher)
        kind[hit], point[hit] = GROUND, rays_level[hit] * t_ground[hit, None]
        return Surround(kind, point, normal)
    if scene != "room":
        raise ValueError(f"no surround model for scene {scene!r}; it has: hdri, ground, room")
    return _trace_room(rays_level, camera_height, env_rotation)


def _exposure(env_strength: float) -> float:
    """What the image is scaled by (the stage applies env_strength as exposure, down to 1e-3): the
    window light, a light of its own, is scaled by it too."""
    return env_strength if env_strength > 1e-3 else 1.0


def _to_world(v: np.ndarray, env_rotation: float) -> np.ndarray:
    """Level camera-frame vectors (m, 3) in the Blender world of the room (turned by env_rotation)."""
    c, s = math.cos(env_rotation), math.sin(env_rotation)
    b = v * np.array([1.0, 1.0, -1.0])  # camera frame -> Blender camera-local (looking along -Z)
    return np.column_stack([c * b[:, 0] + s * b[:, 2], b[:, 1], -s * b[:, 0] + c * b[:, 2]])


def _from_world(w: np.ndarray, env_rotation: float) -> np.ndarray:
    c, s = math.cos(env_rotation), math.sin(env_rotation)
    b = np.column_stack([c * w[:, 0] - s * w[:, 2], w[:, 1], s * w[:, 0] + c * w[:, 2]])
    return b * np.array([1.0, 1.0, -1.0])


def _trace_room(rays_level: np.ndarray, camera_height: float, env_rotation: float) -> Surround:
    """The room's box (floor at -camera_height, walls at +-ROOM_HALF_WIDTH): first hit per ray."""
    d = _to_world(rays_level, env_rotation)
    w, h = ROOM_HALF_WIDTH, camera_height
    planes = (  # (axis, coordinate, inward normal, kind)
        (1, -h, (0, 1, 0), GROUND), (1, ROOM_HEIGHT - h, (0, -1, 0), CEILING),
        (0, -w, (1, 0, 0), WALL), (0, w, (-1, 0, 0), WALL), (2, -w, (0, 0, 1), WALL), (2, w, (0, 0, -1), WALL))
    best = np.full(len(d), np.inf)
    kind, normal = np.full(len(d), SKY), np.tile(_UP, (len(d), 1))
    for axis, coord, n, k in planes:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = coord / d[:, axis]
        hit = (t > 0) & (t < best)
        best[hit], kind[hit], normal[hit] = t[hit], k, n
    point = d * best[:, None]
    x0, x1, y0, y1 = ROOM_WINDOW
    front = (kind == WALL) & (normal[:, 2] > 0.5)
    window = front & (point[:, 0] > x0) & (point[:, 0] < x1) & (point[:, 1] + h > y0) & (point[:, 1] + h < y1)
    kind[window] = WINDOW
    return Surround(kind, _from_world(point, env_rotation), _from_world(normal.astype(np.float64), env_rotation))


def window_irradiance(points_room: np.ndarray, normals_room: np.ndarray) -> np.ndarray:
    """Irradiance (W/m2, WINDOW_GAIN = 1) from the window light at room points (world frame, floor at
    y = 0) on surfaces of the given normals: the window as a Lambertian point source at its centre."""
    x0, x1, y0, y1 = ROOM_WINDOW
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2, -ROOM_HALF_WIDTH])
    r = points_room - centre
    dist = np.linalg.norm(r, axis=1)
    u = r / dist[:, None]
    cos_e = np.clip(u[:, 2], 0.0, None)  # the light shines along world +Z, into the room
    cos_r = np.clip(-(u * normals_room).sum(1), 0.0, None)
    return WINDOW_WATTS * cos_e * cos_r / (math.pi * dist ** 2)


def ray_entry(origins: np.ndarray, dirs: np.ndarray, hull: np.ndarray) -> np.ndarray:
    """Distance along each ray (origins (m, 3), unit directions (m, 3) or one (3,)) to where it enters the
    convex hull of points `hull` (0 where it starts inside), inf where it misses; all in one frame."""
    from scipy.spatial import ConvexHull, QhullError
    try:
        eq = ConvexHull(hull).equations  # n . x + b <= 0 inside
    except (QhullError, ValueError):
        return np.full(len(origins), np.inf)
    a = origins @ eq[:, :3].T + eq[:, 3]  # (m, J)
    c = np.asarray(dirs) @ eq[:, :3].T  # (m, J) or (J,)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -a / c
    lo = np.max(np.where(c < 0, t, 0.0), axis=1, initial=0.0)
    hi = np.min(np.where(c > 0, t, np.inf), axis=1, initial=np.inf)
    parallel_out = ((np.abs(c) < 1e-12) & (a > 0)).any(1)
    return np.where((lo <= hi) & ~parallel_out, lo, np.inf)


def shadowed(points: np.ndarray, to_sun: np.ndarray, hull_cam: np.ndarray) -> np.ndarray:
    """True where the ray from a point toward the sun passes through the convex hull `hull_cam`
    (all in one frame)."""
    return np.isfinite(ray_entry(points, to_sun, hull_cam))


def palettes(scene: str, material: int | None) -> dict[int, np.ndarray]:
    """Per surface kind, its albedo palette (k, 3) in template `scene` with material index `material`."""
    if scene == "ground":
        return {GROUND: np.array(SURFACE_ALBEDO[GROUND_MATERIALS[material]])}
    style = ROOM_STYLES[material]
    return {GROUND: np.array(SURFACE_ALBEDO[f"{style}/floor"]), WALL: np.array(SURFACE_ALBEDO[f"{style}/wall"]),
            CEILING: np.array([CEILING_RGB])}


def ring_values(surround: Surround, scene: str, material: int | None, world_rgb, lat: dict,
                to_sun_level: np.ndarray, in_shadow: np.ndarray, view_transform: str) -> np.ndarray:
    """Predicted display luminance (0..255) of each ring ray's pixel."""
    env, sun = lat["env_strength"], lat["light_intensity"] / math.pi
    world = env * np.asarray(world_rgb, dtype=np.float64)
    sun_on_floor = sun * max(0.0, float(to_sun_level[1]))
    k = surround.kind
    cos_sun = np.clip(surround.normal @ to_sun_level, 0.0, None) * ~in_shadow
    out = np.empty(len(k))
    sky = (k == SKY) | (k == WINDOW)
    out[sky] = app.display_rgb_luminances(world, view_transform)
    ground = k == GROUND
    if scene == "hdri":  # the catcher: the world colour, times the light left in the object's shadow
        lit = world.mean() + sun * np.clip(surround.normal @ to_sun_level, 0.0, None)
        share = (world.mean() + sun * cos_sun) / np.maximum(lit, 1e-12)
        out[ground] = app.display_rgb_luminances(world[None, :] * share[ground, None], view_transform)
        return out
    pals = palettes(scene, material)
    floor_light = pals[GROUND].mean(0) * (world + sun_on_floor)  # walls and ceiling see the lit floor below them
    window = np.zeros(len(k))
    if scene == "room":
        h = lat["camera_height"]
        rot = lat["env_rotation"]
        pts = _to_world(np.nan_to_num(surround.point), rot) + np.array([0.0, h, 0.0])
        window = _exposure(env) * WINDOW_GAIN * window_irradiance(pts, _to_world(surround.normal, rot)) / math.pi
    for kind_, pal in pals.items():
        sel = k == kind_
        if not sel.any():
            continue
        ambient = world if kind_ == GROUND else floor_light if kind_ == CEILING else (world + floor_light) / 2
        light = ambient[None, :] + sun * cos_sun[sel][:, None] + window[sel][:, None] * np.array(WINDOW_COLOUR)
        out[sel] = app.display_rgb_luminances(pal[None, :, :] * light[:, None, :], view_transform).mean(1)
    return out


def object_world(scene: str, material: int | None, world_rgb, lat: dict, to_sun_level: np.ndarray,
                 position_level: np.ndarray, window_lit) -> np.ndarray:
    """The uniform world (linear RGB, before env_strength) that lights the object as the template does:
    the sky above, the lit ground below (ground, room) and, in the room, the window light on the
    object's visible surface (`window_lit(to_window_level)`: the lit share of its visible faces)."""
    world = np.asarray(world_rgb, dtype=np.float64)
    if scene == "hdri":
        return world
    env = max(lat["env_strength"], 1e-9)
    floor = palettes(scene, material)[GROUND].mean(0)
    sun_on_ground = lat["light_intensity"] / math.pi * max(0.0, float(to_sun_level[1]))
    out = (world + floor * (world + sun_on_ground / env)) / 2
    if scene == "room":
        p = _to_world(position_level[None, :], lat["env_rotation"]) + np.array([0.0, lat["camera_height"], 0.0])
        x0, x1, y0, y1 = ROOM_WINDOW
        toward = np.array([(x0 + x1) / 2, (y0 + y1) / 2, -ROOM_HALF_WIDTH]) - p[0]
        toward /= np.linalg.norm(toward)
        e = window_irradiance(p, toward[None, :])[0]  # on a surface facing the window
        lit = window_lit(_from_world(toward[None, :], lat["env_rotation"])[0])
        out = out + _exposure(env) / env * WINDOW_GAIN * e * lit / math.pi / app.K_AMBIENT * np.array(WINDOW_COLOUR)
    return out


@dataclass(frozen=True)
class Ring:
    """The predicted ring around the object: per ray (camera frame, from the camera) how far away what it
    meets is (inf: the sky, a colour world, the studio's backdrop behind everything) and its display value."""

    rays: np.ndarray    # (m, 3) unit, camera frame
    depth: np.ndarray   # (m,)
    values: np.ndarray  # (m,) 0..255


@dataclass(frozen=True)
class Prediction:
    """What an image will show around its object, predicted before rendering (0..255 display luminance)."""

    inside: float             # the object's mean
    surround: float           # the ring's mean (NaN: no ring point inside the image)
    world: np.ndarray         # the uniform world (linear RGB, before env_strength) lighting objects here
    to_sun: np.ndarray        # camera-frame direction toward the sun
    ring: Ring | None = None  # None where the surround is one colour (the studio): built when needed

    @property
    def contrast(self) -> float:
        return abs(self.inside - self.surround)


def predict(colour, hull_cam: np.ndarray, lat: dict, scene: str, world_rgb, view_transform: str,
            fov_deg: float, lit_share) -> Prediction:
    """The prediction for an object of mean albedo `colour` whose hull points, posed and placed, are
    `hull_cam` (camera frame), on a colour background `world_rgb`; `lit_share(to_sun_cam)` gives the lit
    share of its visible surface for a light from that direction."""
    rot = pitch_matrix(lat.get("camera_pitch", 0.0))
    to_sun = app.sun_direction(lat["light_azimuth"], lat["light_elevation"])  # level frame (stage.py)
    material = lat.get("ground_material", lat.get("room_material"))
    world = object_world(scene, material, world_rgb, lat, to_sun, np.asarray(lat["position"]) @ rot,
                         lambda toward: lit_share(rot @ toward))
    inside = app.object_display(colour, world, lat, view_transform, lit_share(rot @ to_sun))
    rays = ring_rays(hull_cam, fov_deg)
    if not len(rays):
        return Prediction(inside, float("nan"), world, rot @ to_sun)
    hull = hull_cam @ rot  # level frame (rows: v_level = rot.T v_cam)
    sur = trace(rays @ rot, scene, lat["camera_height"], lat["env_rotation"], lat.get("shadow_catcher", 1) == 1)
    solid = (sur.kind != SKY) & (sur.kind != WINDOW)
    dark = np.zeros(len(rays), dtype=bool)
    dark[solid] = shadowed(sur.point[solid], to_sun, hull)
    values = ring_values(sur, scene, material, world_rgb, lat, to_sun, dark, view_transform)
    depth = np.where(solid, np.linalg.norm(np.nan_to_num(sur.point), axis=1), np.inf)
    return Prediction(inside, float(values.mean()), world, rot @ to_sun, Ring(rays, depth, values))


def with_distractors(p: Prediction, ring: Ring, distractors: list[tuple[np.ndarray, float]]) -> float:
    """The contrast once distractors stand in the ring: `distractors` as (hull points in the camera frame,
    predicted display value); a ray takes the value of the nearest distractor it meets before its own
    surface. The prediction's own contrast where none is met."""
    values, depth = ring.values.copy(), ring.depth.copy()
    hit = False
    for hull, value in distractors:
        t = ray_entry(np.zeros((len(ring.rays), 3)), ring.rays, hull)
        near = t < depth
        values[near], depth[near] = value, t[near]
        hit = hit or bool(near.any())
    return abs(p.inside - float(values.mean())) if hit else p.contrast
