"""Blender/Cycles stage: one scene built once, re-rendered per `ImageState`.

The scene template (camera, key light, world, surfaces) comes from
`latentscape.blender_scenes`; render settings and the mask compositor from
`render_setup`; objects from `objects.ObjectStore`. Per image the stage pushes only
what changed to Blender.

Conventions (docs/latents.md; the camera frame is the studio's, see blender_scenes/studio.py):

* Camera-frame (x, y, z) is Blender world (x, y, -z) at env_rotation 0.
* Canonical asset frame: up +Z, front -Y, bbox centre at the origin, longest
  bbox side 1.  World rotation = C @ R(q) with C = Rx(-90 deg) (asset -Y
  toward the camera, asset +Z image-up, asset +X image-right).
* Key light: a SUN; light comes *from* camera-frame direction
  d = (sin az cos el, sin el, -cos az cos el); it shines along -d.
* ``env_rotation`` rotates the environment about world +Y (= camera-frame y): the
  HDRI is looked up in direction Rx(90deg) @ Ry(env_rotation) @ d_world.
* Scenes with a ground (hdri, ground, room; docs/scenes.md): the ground is level in the
  world at y = -camera_height; ``camera_pitch`` turns the camera up about its x axis, and
  the object with it (its position stays camera-frame). The key light's direction is
  given in the level camera frame (the camera frame without the pitch), so its
  elevation is measured from the ground's horizon. The studio has no pitch.
* userblend: the camera frame hangs from the user camera's pose (``rig_base``).
"""
from __future__ import annotations

import math
import time

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector

import latentscape.blender_scenes as blender_scenes
from latentscape.blender_scenes import SCENE_BACKGROUNDS, SCENE_PARAMS
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, SceneState, StageSettings

from .clutter import Instances
from .devices import apply_device, select_device
from .objects import ObjectStore
from .pixels import RenderReader
from .quiet import quiet
from .render_setup import add_mask_compositor, configure_render, decode_mask, disable_compositor

__all__ = ["Stage"]

# C = Rx(-90 deg): canonical asset frame -> Blender world at identity pose.
_C = Quaternion((1.0, 0.0, 0.0), -math.pi / 2)


class Stage:
    """A Cycles scene built once and re-rendered per image state.

    ``render(state)`` returns ``(rgb uint8 [H,W,3] row 0 = top, mask uint8 [H,W] or None)``; the mask
    is the target's unoccluded pixels (distractors never count), and with distractors
    ``last_occluded_fraction`` is the share of the target they hide (a 1-sample mask pass).
    Only one Stage per process (it resets Blender to factory settings).
    """

    def __init__(self, settings: StageSettings, objects: list[ObjectRef], backgrounds: list[BackgroundRef]):
        _check_inputs(settings, objects, backgrounds)
        self.settings = settings
        self._q0 = Quaternion(settings.canonical_quat)
        self.objects, self.backgrounds = tuple(objects), tuple(backgrounds)
        self.timings: dict[str, float] = {"update": 0.0, "render": 0.0, "readback": 0.0, "n": 0}
        t0 = time.perf_counter()
        with quiet((1,)):
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = sc = bpy.context.scene
        sc.render.engine = "CYCLES"
        self.device_choice = self._choose_device()
        self.device_used = apply_device(sc, self.device_choice)
        configure_render(sc, settings)
        self.handles = blender_scenes.build(settings.scene, sc, settings, self.backgrounds)
        self.store = ObjectStore(sc, self.objects)
        self.instances = Instances(sc, self.store)  # distractors: linked duplicates of loaded objects
        self.last_occluded_fraction = 0.0
        if settings.want_mask:
            add_mask_compositor(sc)
        else:
            disable_compositor(sc)
        bpy.context.view_layer.use_pass_z = settings.want_depth
        self.reader = RenderReader()
        self.reader.configure(sc, rgba=settings.want_mask)
        self._state: dict = {}
        self.blender_version = bpy.app.version_string
        self.build_seconds = time.perf_counter() - t0

    @property
    def want_mask(self) -> bool:
        return self.settings.want_mask

    @property
    def want_depth(self) -> bool:
        return self.settings.want_depth

    def _choose_device(self):
        choice = select_device(self.settings.device)
        slot = self.settings.device_slot
        if slot is not None and choice[0] != "CPU":
            names = choice[1]
            choice = (choice[0], [names[slot % len(names)]])
        return choice

    # ---------------------------------------------------------- objects
    def keep_only(self, object_ids):
        """Free loaded objects not in `object_ids` (call between shards to bound memory)."""
        self.reset()
        self.instances.clear()
        return self.store.keep_only(object_ids)

    @staticmethod
    def _set_visible(obj, vis: bool):
        # hide_render, not ray-visibility flags: with the flags, an image depended on
        # which object the previous image showed (~75 edge pixels of 4096 differed at
        # 64^2, up to 100/255), because the BVH was refit instead of rebuilt. With
        # hide_render it depends only on the previous image when both show the same
        # object; the worker's per-shard warm-up render pins that down. Measured
        # cost: no difference at 64^2 (22.4 ms/img either way).
        for ob in obj.parts:
            ob.hide_render = not vis

    # ---------------------------------------------------------- per image
    def _apply(self, s: ImageState):
        # env_rotation turns the camera and everything in the scene about world +Y
        # instead of the world itself: a changed world costs a re-sync per image,
        # a moved camera does not. The world is looked up at M @ d for a camera ray d,
        # exactly as with the world's Mapping node rotated by er.
        turn = Matrix.Rotation(s.env_rotation, 3, "Y")
        self._check_scene_state(s.scene)
        pitch = s.scene.camera_pitch if s.scene is not None and s.scene.camera_pitch is not None else 0.0
        view, level, origin = self._rig(turn, pitch)
        self._show_object(s.object_id)
        self._turn_camera((s.env_rotation, pitch), view, origin)
        self._place_object(s, pitch, view, origin)
        if s.distractors or self.instances.shown:
            self.instances.place(s.distractors, lambda root, d: self._pose_distractor(root, d, view, origin),
                                 (s.env_rotation, pitch))
        self._aim_sun(s.light_azimuth, s.light_elevation, s.env_rotation, level)
        self._set_light_energy(s.light_intensity, s.env_strength)
        self._set_light_temperature(s.light_temperature)
        self._show_background(s.background_id)
        self._apply_scene(s.scene)
        self._set_seed(s.seed)

    def _rig(self, turn: Matrix, pitch: float):
        """(view rotation, level rotation, origin or None) of the camera frame in the world.

        Studio: both rotations are `turn` itself and there is no origin (the camera at the
        world origin), exactly as before scenes had a pitch.
        """
        level, origin = turn, None
        base = self.handles.rig_base
        if base is not None:
            level, origin = base.to_3x3() @ turn, base.to_translation()
        view = level @ Matrix.Rotation(pitch, 3, "X") if pitch else level
        return view, level, origin

    def _show_object(self, oid: int):
        st = self._state
        if st.get("object_id") != oid:
            loaded = self.store.get(oid)
            if st.get("object_id") is not None:
                self._set_visible(self.store.get(st["object_id"]), False)
            self._set_visible(loaded, True)
            st["object_id"] = oid

    def _turn_camera(self, rig: tuple, view: Matrix, origin):
        if self._state.get("rig") != rig:
            m = view.to_4x4()
            if origin is not None:
                m.translation = origin
            self.handles.camera.matrix_world = m
            self._state["rig"] = rig

    def _place_object(self, s: ImageState, pitch: float, view: Matrix, origin):
        x, y, z = s.position
        q = Quaternion(s.rotation_quat)
        q.normalize()
        key = (s.object_id, x, y, z, tuple(q), s.scale, s.env_rotation, s.size_m, pitch)
        if self._state.get("xform") != key:
            ob = self.store.get(s.object_id).root
            ob.location = view @ Vector((x, y, -z)) if origin is None else origin + view @ Vector((x, y, -z))
            ob.rotation_quaternion = view.to_quaternion() @ _C @ self._q0 @ q  # poses are relative to q0
            size = s.scale * s.size_m
            ob.scale = (size, size, size)
            self._state["xform"] = key
        backdrop = self.handles.backdrop
        if backdrop is not None and tuple(backdrop.scale) != (s.size_m,) * 3:
            # with real sizes the scene scales with the object: the sweep stays behind it
            backdrop.scale = (s.size_m,) * 3

    def _pose_distractor(self, ob, d, view: Matrix, origin):
        """Place a distractor's root as `_place_object` places the target."""
        x, y, z = d.position
        q = Quaternion(d.rotation_quat)
        q.normalize()
        ob.location = view @ Vector((x, y, -z)) if origin is None else origin + view @ Vector((x, y, -z))
        ob.rotation_quaternion = view.to_quaternion() @ _C @ self._q0 @ q
        size = d.scale * d.size_m
        ob.scale = (size, size, size)

    def _aim_sun(self, az: float, el: float, er: float, turn: Matrix):
        if self._state.get("light_dir") != (az, el, er):
            d_cam = (math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el))
            d_w = Vector((d_cam[0], d_cam[1], -d_cam[2]))
            # sun shines along its local -Z: local +Z must point toward the light
            self.handles.sun.rotation_quaternion = turn.to_quaternion() @ d_w.to_track_quat("Z", "Y")
            self._state["light_dir"] = (az, el, er)

    def _set_light_energy(self, e: float, es: float):
        # env_strength scales the world; instead of changing the world, scale the image
        # by it (colour-management exposure, applied to scene-linear values before the
        # view transform) and divide the sun by it: s*E + I*S = s*(E + (I/s)*S).
        # (scene.cycles.film_exposure has no effect on the saved result in bpy 5.0.1.)
        st = self._state
        exposure, world_strength = (es, 1.0) if es > 1e-3 else (1.0, es)
        if st.get("light_energy") != (e, es):
            self.handles.sun.data.energy = e / exposure
            self.scene.view_settings.exposure = math.log2(exposure)
            st["light_energy"] = (e, es)
        if st.get("world_strength") != world_strength and self.handles.world is not None:
            self.handles.world.background.inputs["Strength"].default_value = world_strength
            st["world_strength"] = world_strength

    def _set_light_temperature(self, tk: float):
        if self._state.get("light_temp") != tk:
            self.handles.sun.data.temperature = tk
            self._state["light_temp"] = tk

    def _show_background(self, bid: int):
        if not bid < len(self.backgrounds):
            raise IndexError("background_id %d out of range 0..%d" % (bid, len(self.backgrounds) - 1))
        if self._state.get("background_id") == bid:
            return
        h, bg = self.handles, self.backgrounds[bid]
        scene = self.settings.scene
        if bg.kind not in SCENE_BACKGROUNDS[scene]:
            raise ValueError(f"scene {scene!r} cannot show {bg.kind} background {bg.name!r} (id {bid}); "
                             f"it shows {', '.join(SCENE_BACKGROUNDS[scene])} backgrounds")
        if h.world is None:  # the user's own world (userblend): backgrounds do not apply
            self._state["background_id"] = bid
            return
        img = h.hdri_images[bid]
        backdrop = bg.kind == "backdrop"
        if h.backdrop is not None and h.backdrop.hide_render == backdrop:
            h.backdrop.hide_render = not backdrop
        if img is None:
            h.world.colour.outputs[0].default_value = (*bg.world_colour, 1.0)
            h.world.mix.inputs[0].default_value = 1.0
        else:
            if h.world.environment.image != img:
                h.world.environment.image = img
            h.world.mix.inputs[0].default_value = 0.0
        self._state["background_id"] = bid

    def _check_scene_state(self, sst):
        """The image gives exactly what the scene template takes per image (SCENE_PARAMS)."""
        name = self.settings.scene
        if self._state.get("scene") is sst and sst is not None:
            return
        if not SCENE_PARAMS[name]:
            if sst is not None:
                raise ValueError(f"scene {name!r} takes no scene state per image, got {sst}")
        elif not isinstance(sst, SceneState):
            raise ValueError(f"scene {name!r} needs a SceneState with {', '.join(SCENE_PARAMS[name])} per image, "
                             f"got {sst!r}")
        else:
            sst.check_for(name)

    def _apply_scene(self, sst):
        """Ground height, shadow catcher and surface materials of the image's scene state."""
        if sst is None or self._state.get("scene") == sst:
            return
        h = self.handles
        if h.ground is not None and sst.camera_height is not None:
            h.ground.location = (0.0, -sst.camera_height, 0.0)
        if h.shadow_catcher is not None and h.shadow_catcher.hide_render == sst.shadow_catcher:
            h.shadow_catcher.hide_render = not sst.shadow_catcher
        for field, choices in h.materials:
            index = getattr(sst, field)
            if not index < len(choices[0][1]):
                raise IndexError(f"{field} {index} out of range 0..{len(choices[0][1]) - 1}")
            for ob, mats in choices:
                if ob.data.materials[0] != mats[index]:
                    ob.data.materials[0] = mats[index]
        self._state["scene"] = sst

    def _set_seed(self, seed: int):
        if self._state.get("seed") != seed:
            self.scene.cycles.seed = seed
            self._state["seed"] = seed

    def reset(self):
        """Hide the current object and forget the cached state.

        After a reset the next image's object is added to the scene afresh, so its
        pixels do not depend on what was rendered before (see ``_set_visible``).
        """
        oid = self._state.get("object_id")
        if oid is not None and oid in self.store.loaded:
            self._set_visible(self.store.loaded[oid], False)
        self.instances.hide_all()
        self._state = {}

    def clear_render(self):
        """Render once with no object, so that Cycles drops the object's acceleration data."""
        self.reset()
        bpy.ops.render.render(write_still=False)

    # ---------------------------------------------------------- render
    def render(self, state: ImageState) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one image.

        Returns ``(rgb uint8 [H,W,3], row 0 = image top; mask uint8 [H,W] 0..255
        object coverage, or None if want_mask=False)``.
        """
        if not isinstance(state, ImageState):
            raise TypeError(f"Stage.render takes an ImageState, got {type(state).__name__}")
        t0 = time.perf_counter()
        self._apply(state)
        alone = self._target_alone(state)
        t1 = time.perf_counter()
        bpy.ops.render.render(write_still=False)
        t2 = time.perf_counter()
        px = self.reader.read()
        t3 = time.perf_counter()
        tm = self.timings
        tm["update"] += t1 - t0
        tm["render"] += t2 - t1
        tm["readback"] += t3 - t2
        tm["n"] += 1
        rgb = np.ascontiguousarray(px[:, :, :3])
        mask = decode_mask(px[:, :, 3]) if self.want_mask and px.shape[2] == 4 else None
        self.last_occluded_fraction = _occluded(state, mask, alone)
        return rgb, mask

    def _target_alone(self, state: ImageState) -> float | None:
        """With distractors: the target's mask pixel sum with them hidden, from a 1-sample render without
        denoising (the object index comes from a pixel's first sample, so this is the mask the full render
        would give); then the distractors are shown for the image itself. None without distractors."""
        if not state.distractors:
            return None
        alone = None
        if self.want_mask:
            self.instances.set_shown(False)
            c = self.scene.cycles
            samples, denoise = c.samples, c.use_denoising
            c.samples, c.use_denoising = 1, False
            try:
                bpy.ops.render.render(write_still=False)
                alone = float(decode_mask(self.reader.read()[:, :, 3]).sum(dtype=np.int64))
            finally:
                c.samples, c.use_denoising = samples, denoise
        self.instances.set_shown(True)
        return alone

    def depth(self) -> np.ndarray:
        """Depth (metres along the camera axis, inf = background) of the last render.

        Needs ``want_depth=True``; costs one extra EXR save (~4 ms at 64^2).
        """
        if not self.want_depth:
            raise RuntimeError("Stage was built without want_depth=True")
        return self.reader.read_depth()


def _occluded(state: ImageState, mask, alone) -> float:
    """1 - target pixels with distractors / without: 0 without distractors, NaN without a mask or a target pixel."""
    if not state.distractors:
        return 0.0
    if mask is None or not alone:
        return float("nan")
    return 1.0 - float(mask.sum(dtype=np.int64)) / alone


def _check_inputs(settings, objects, backgrounds):
    if not isinstance(settings, StageSettings):
        raise TypeError(f"Stage needs StageSettings, got {type(settings).__name__}")
    for what, items, kind in (("objects", objects, ObjectRef), ("backgrounds", backgrounds, BackgroundRef)):
        if not items:
            raise ValueError(f"{what} must not be empty")
        bad = [type(x).__name__ for x in items if not isinstance(x, kind)]
        if bad:
            raise TypeError(f"{what} must be {kind.__name__}s, got {', '.join(sorted(set(bad)))}")
