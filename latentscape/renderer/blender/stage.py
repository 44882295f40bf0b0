"""Blender/Cycles stage: one scene built once, re-rendered per latent vector.

Conventions (see the package docs):

* Camera frame: x right, y up (in the image), z away from the camera, metres.
  The Blender camera sits at the world origin with identity rotation (looks
  along world -Z, up +Y, right +X), so camera-frame (x, y, z) is Blender world
  (x, y, -z).  Perspective, square image, ``fov_deg`` horizontal = vertical.
  A point projects to u = x / (z tan(fov/2)), v = y / (z tan(fov/2)), u, v in
  [-1, 1], u left->right, v bottom->top; pixel column = (u + 1) / 2 * W and
  row = (1 - v) / 2 * H (continuous coords, pixel centres at i + 0.5).
* Canonical asset frame: up +Z, front -Y, bbox centre at the origin, longest
  bbox side 1.  World rotation = C @ R(q) with C = Rx(-90 deg) (asset -Y
  toward the camera, asset +Z image-up, asset +X image-right).
* Key light: a SUN; light comes *from* camera-frame direction
  d = (sin az cos el, sin el, -cos az cos el); it shines along -d.  Colour from
  Blender's own blackbody (``Light.temperature``, ``use_temperature``).
* Environment: equirectangular HDRI oriented so its zenith is world +Y
  (image up, horizon horizontal in the image); ``env_rotation`` rotates it
  about world +Y (= camera-frame y): the HDRI is looked up in direction
  Rx(90deg) @ Ry(env_rotation) @ d_world.  At env_rotation=0 the camera
  (world -Z) looks at the HDRI direction Blender calls +Y in a Z-up world.
* Output colour: view transform 'Standard', look None, exposure 0, gamma 1,
  display sRGB -> the 8-bit RGB is plain sRGB-encoded scene-linear radiance
  (clipped).  Mask = anti-aliased ID mask of the visible object (0..255).
"""
from __future__ import annotations

import math
import os
import time

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector

from .devices import apply_device, select_device
from .pixels import RenderReader
from .quiet import quiet

__all__ = ["Stage", "PLACEHOLDER_CATEGORIES", "PLACEHOLDER_EXTENTS", "DEFAULT_LATENTS",
           "default_backgrounds", "project_point"]

from .objects import (PLACEHOLDER_CATEGORIES, PLACEHOLDER_EXTENTS, ObjectStore,  # noqa: E402
                      descriptor_for_placeholder)

# C = Rx(-90 deg): canonical asset frame -> Blender world at identity pose.
_C = Quaternion((1.0, 0.0, 0.0), -math.pi / 2)

# Alpha floor used to carry the mask through Blender's un-premultiply on save.
_MASK_EPS = 1.0 / 255.0

DEFAULT_LATENTS = {
    "object_id": 0,
    "position": (0.0, 0.0, 3.0),
    "rotation_quat": (1.0, 0.0, 0.0, 0.0),
    "scale": 1.0,
    "light_azimuth": 0.5,
    "light_elevation": 0.6,
    "light_intensity": 3.0,
    "light_temperature": 6500.0,
    "env_strength": 1.0,
    "background_id": 0,
    "env_rotation": 0.0,
    "seed": 0,
}


def default_backgrounds() -> list[dict]:
    """latentscape's default background table (solid colours, then the bundled HDRIs)."""
    from latentscape.assets.backgrounds import default_backgrounds as table
    return [b.render_dict() for b in table()]


def project_point(position, fov_deg: float) -> tuple[float, float]:
    """Pinhole projection of a camera-frame point to (u, v) in [-1, 1]."""
    x, y, z = position
    t = math.tan(math.radians(fov_deg) / 2)
    return x / (z * t), y / (z * t)


# ---------------------------------------------------------------- stdout
def _sweep_mesh(floor_below, wall_distance, radius, half_width, n_arc=16):
    """Vertices (Blender camera-local: x right, y up, -z forward) and quads of a studio sweep."""
    # profile in the (depth d, height h) plane: floor from d=0.5 to the arc, arc, wall up to +20 m
    prof = [(0.5, -floor_below), (wall_distance - radius, -floor_below)]
    for k in range(1, n_arc + 1):
        a = (math.pi / 2) * k / n_arc
        prof.append((wall_distance - radius + radius * math.sin(a), -floor_below + radius * (1 - math.cos(a))))
    prof.append((wall_distance, 20.0))
    verts = [(x, h, -d) for x in (-half_width, half_width) for d, h in prof]
    n = len(prof)
    faces = [(i, i + 1, n + i + 1, n + i) for i in range(n - 1)]
    return verts, faces


# ---------------------------------------------------------------- stage
class Stage:
    """A Cycles scene built once and re-rendered per latent dict.

    ``render(latents)`` returns ``(rgb uint8 [H,W,3] row 0 = top,
    mask uint8 [H,W] or None)``.  Only what changed is pushed to Blender.
    Only one Stage per process (it resets Blender to factory settings).
    """

    def __init__(self, resolution: int, fov_deg: float, samples: int, denoise: bool,
                 device: str = "cpu", backgrounds: list[dict] | None = None,
                 want_mask: bool = True, threads: int = 0, device_slot: int | None = None,
                 objects: list[dict] | None = None, want_depth: bool = False):
        self.resolution = int(resolution)
        self.fov_deg = float(fov_deg)
        self.samples = int(samples)
        self.denoise = bool(denoise)
        self.want_mask = bool(want_mask)
        self.want_depth = bool(want_depth)
        self.backgrounds = list(backgrounds) if backgrounds is not None else default_backgrounds()
        if not self.backgrounds:
            raise ValueError("backgrounds must not be empty")
        self.descriptors = list(objects) if objects is not None else [
            descriptor_for_placeholder(n) for n in PLACEHOLDER_CATEGORIES]
        self.timings: dict[str, float] = {"update": 0.0, "render": 0.0, "readback": 0.0, "n": 0}

        t0 = time.perf_counter()
        with quiet((1,)):
            bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = sc = bpy.context.scene
        sc.render.engine = "CYCLES"
        self.device_choice = select_device(device)
        if device_slot is not None and self.device_choice[0] != "CPU":
            names = self.device_choice[1]
            self.device_choice = (self.device_choice[0], [names[device_slot % len(names)]])
        self.device_used = apply_device(sc, self.device_choice)
        self._setup_render(threads)
        self._setup_camera()
        self._setup_objects()
        self._setup_light()
        self._backdrop = None  # the studio sweep, built when a background needs it
        self._setup_world()
        self._setup_compositor()
        bpy.context.view_layer.use_pass_z = self.want_depth
        self.reader = RenderReader()
        self.reader.configure(sc, rgba=self.want_mask)
        self._state: dict = {}
        self.blender_version = bpy.app.version_string
        self.build_seconds = time.perf_counter() - t0

    # ---------------------------------------------------------- setup
    def _setup_render(self, threads):
        sc = self.scene
        r = sc.render
        r.resolution_x = r.resolution_y = self.resolution
        r.resolution_percentage = 100
        r.pixel_aspect_x = r.pixel_aspect_y = 1.0
        r.use_persistent_data = True
        r.film_transparent = False
        r.use_border = False
        r.dither_intensity = 0.0  # default 1.0 adds noise when quantising to 8 bit
        if threads and threads > 0:
            r.threads_mode = "FIXED"
            r.threads = int(threads)
        else:
            r.threads_mode = "AUTO"
        c = sc.cycles
        c.samples = self.samples
        c.use_adaptive_sampling = False
        c.sampling_pattern = "TABULATED_SOBOL"
        c.use_animated_seed = False
        c.seed = 0
        c.use_auto_tile = True
        c.tile_size = max(self.resolution, 64)
        c.use_denoising = self.denoise
        if self.denoise:
            c.denoiser = "OPENIMAGEDENOISE"
            c.denoising_prefilter = "FAST"
            if "denoising_quality" in c.bl_rna.properties:
                c.denoising_quality = "FAST"
            c.denoising_input_passes = "RGB_ALBEDO_NORMAL"
        # Colour management: plain sRGB 8-bit output.
        sc.display_settings.display_device = "sRGB"
        vs = sc.view_settings
        vs.view_transform = "Standard"
        vs.look = "None"
        vs.exposure = 0.0
        vs.gamma = 1.0
        vs.use_curve_mapping = False
        c.film_exposure = 1.0

    def _setup_camera(self):
        sc = self.scene
        cam = bpy.data.cameras.new("camera")
        cam.type = "PERSP"
        cam.sensor_fit = "AUTO"
        cam.angle = math.radians(self.fov_deg)
        cam.shift_x = cam.shift_y = 0.0
        cam.clip_start = 0.01
        cam.clip_end = 1000.0
        ob = bpy.data.objects.new("camera", cam)
        sc.collection.objects.link(ob)
        ob.location = (0, 0, 0)
        ob.rotation_mode = "XYZ"
        ob.rotation_euler = (0, 0, 0)
        sc.camera = ob
        self.camera = ob

    def _setup_objects(self):
        self.store = ObjectStore(self.scene, self.descriptors)

    def keep_only(self, object_ids):
        """Free loaded objects not in `object_ids` (call between shards to bound memory)."""
        self.reset()
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

    def _setup_light(self):
        sc = self.scene
        li = bpy.data.lights.new("sun", "SUN")
        li.angle = math.radians(2.0)
        li.use_temperature = True
        li.temperature = 6500.0
        li.color = (1.0, 1.0, 1.0)
        li.energy = 3.0
        ob = bpy.data.objects.new("sun", li)
        sc.collection.objects.link(ob)
        ob.rotation_mode = "QUATERNION"
        self.sun = ob

    def _setup_world(self):
        """One world node tree that can show every background.

        Mapping -> Environment Texture (its ``.image`` swapped among preloaded
        HDRIs) and an RGB node (the 'color' kind), blended by a Mix node whose
        factor is 0 (HDRI) or 1 (colour).  Measured alternative: one Environment
        node per HDRI chained through Mix nodes was slower (~16 ms vs ~13 ms
        per switch at 64 px), so we swap the image.
        """
        sc = self.scene
        w = bpy.data.worlds.new("world")
        sc.world = w
        if w.node_tree is None:  # use_nodes is deprecated in 5.0
            w.use_nodes = True
        w.cycles.sampling_method = "MANUAL"
        w.cycles.sample_map_resolution = 256
        nt = w.node_tree
        nt.nodes.clear()
        tc = nt.nodes.new("ShaderNodeTexCoord")
        mp = nt.nodes.new("ShaderNodeMapping")
        mp.vector_type = "POINT"
        mp.inputs["Rotation"].default_value = (math.pi / 2, 0.0, 0.0)
        env = nt.nodes.new("ShaderNodeTexEnvironment")
        env.projection = "EQUIRECTANGULAR"
        env.interpolation = "Linear"
        rgb = nt.nodes.new("ShaderNodeRGB")
        rgb.outputs[0].default_value = (0.5, 0.5, 0.5, 1.0)
        mix = nt.nodes.new("ShaderNodeMix")
        mix.data_type = "RGBA"
        mix.blend_type = "MIX"
        mix.clamp_factor = True
        bg = nt.nodes.new("ShaderNodeBackground")
        out = nt.nodes.new("ShaderNodeOutputWorld")
        nt.links.new(tc.outputs["Generated"], mp.inputs["Vector"])
        nt.links.new(mp.outputs["Vector"], env.inputs["Vector"])
        nt.links.new(env.outputs["Color"], mix.inputs[6])  # A (RGBA)
        nt.links.new(rgb.outputs["Color"], mix.inputs[7])  # B (RGBA)
        nt.links.new(mix.outputs[2], bg.inputs["Color"])  # Result (RGBA)
        nt.links.new(bg.outputs["Background"], out.inputs["Surface"])
        self._w_map, self._w_env, self._w_rgb, self._w_mix, self._w_bg = mp, env, rgb, mix, bg
        self._bg_images: list = []
        cache: dict[str, object] = {}
        for desc in self.backgrounds:
            kind = desc.get("kind")
            if kind == "backdrop":
                self._ensure_backdrop(desc)
                self._bg_images.append(None)
            elif kind == "color":
                rgbv = desc.get("rgb")
                if rgbv is None or len(rgbv) != 3:
                    raise ValueError("colour background needs 'rgb': [r, g, b], got %r" % (desc,))
                self._bg_images.append(None)
            elif kind == "hdri":
                p = os.path.abspath(desc["path"])
                if p not in cache:
                    if not os.path.exists(p):
                        raise FileNotFoundError("HDRI background not found: %s" % p)
                    img = bpy.data.images.load(p, check_existing=True)
                    img.colorspace_settings.name = "Linear Rec.709"
                    cache[p] = img
                self._bg_images.append(cache[p])
            else:
                raise ValueError("unknown background kind %r in %r" % (kind, desc))
        first_img = next((i for i in self._bg_images if i is not None), None)
        env.image = first_img
        mix.inputs[0].default_value = 1.0 if first_img is None else 0.0

    def _ensure_backdrop(self, desc):
        """A seamless studio sweep (floor curving up into a back wall), fixed to the camera.

        In the camera frame the floor lies at y = -floor_below and the wall at
        z = wall_distance, beyond every object the default position ranges allow;
        the object casts shadows on it. Ambient light comes from a uniform world
        colour (`world_rgb`). Hidden for every other background.
        """
        if self._backdrop is not None:
            return
        verts, faces = _sweep_mesh(desc.get("floor_below", 3.0), desc.get("wall_distance", 9.0),
                                   desc.get("radius", 2.0), desc.get("half_width", 12.0))
        me = bpy.data.meshes.new("backdrop")
        me.from_pydata(verts, [], faces)
        me.shade_smooth()
        mat = bpy.data.materials.new("backdrop")
        if mat.node_tree is None:
            mat.use_nodes = True
        bsdf = next(n for n in mat.node_tree.nodes if n.type == "BSDF_PRINCIPLED")
        bsdf.inputs["Base Color"].default_value = (*desc.get("rgb", (0.6, 0.6, 0.6)), 1.0)
        bsdf.inputs["Roughness"].default_value = 0.9
        me.materials.append(mat)
        ob = bpy.data.objects.new("backdrop", me)
        self.scene.collection.objects.link(ob)
        ob.parent = self.camera  # turns with the camera (env_rotation), so it stays put in the image
        ob.pass_index = 0  # never part of the object mask
        ob.hide_render = True
        self._backdrop = ob

    def _setup_compositor(self):
        sc = self.scene
        vl = sc.view_layers[0]
        if not self.want_mask:
            sc.render.use_compositing = False
            sc.compositing_node_group = None
            return
        vl.use_pass_object_index = True
        ng = bpy.data.node_groups.new("latentscape_mask", "CompositorNodeTree")
        ng.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        rl = ng.nodes.new("CompositorNodeRLayers")
        rl.scene = sc
        idm = ng.nodes.new("CompositorNodeIDMask")
        idm.inputs["Index"].default_value = 1
        idm.inputs["Anti-Alias"].default_value = True
        # Saving RGBA to an 8-bit file makes Blender un-premultiply (RGB / A).
        # With a plain 'Replace Alpha' that corrupts every partially covered
        # pixel (measured: up to 195/255 off at the silhouette).  So we store
        # A = eps + (1 - eps) * mask (eps = 1/255, never 0) and premultiply
        # RGB by A ('Apply Mask'); Blender's division then restores the RGB
        # exactly, and the mask is decoded as (A8 - 1) * 255 / 254.
        ma = ng.nodes.new("ShaderNodeMath")
        ma.operation = "MULTIPLY_ADD"
        ma.use_clamp = True
        ma.inputs[1].default_value = 1.0 - _MASK_EPS
        ma.inputs[2].default_value = _MASK_EPS
        sa = ng.nodes.new("CompositorNodeSetAlpha")
        sa.inputs["Type"].default_value = "Apply Mask"
        go = ng.nodes.new("NodeGroupOutput")
        ng.links.new(rl.outputs["Object Index"], idm.inputs["ID value"])
        ng.links.new(rl.outputs["Image"], sa.inputs["Image"])
        ng.links.new(idm.outputs[0], ma.inputs[0])
        ng.links.new(ma.outputs[0], sa.inputs["Alpha"])
        ng.links.new(sa.outputs[0], go.inputs[0])
        sc.compositing_node_group = ng
        sc.render.use_compositing = True
        self._comp = ng

    # ---------------------------------------------------------- per image
    def _apply(self, lat: dict):
        st = self._state
        sc = self.scene

        oid = int(lat["object_id"])
        if st.get("object_id") != oid:
            loaded = self.store.get(oid)
            if st.get("object_id") is not None:
                self._set_visible(self.store.get(st["object_id"]), False)
            self._set_visible(loaded, True)
            st["object_id"] = oid
        ob = self.store.get(oid).root
        # env_rotation turns the camera and everything in the scene about world +Y
        # instead of the world itself: a changed world costs a re-sync per image,
        # a moved camera does not. The world is looked up at M @ d for a camera ray d,
        # exactly as with the world's Mapping node rotated by er.
        er = float(lat["env_rotation"])
        m = Matrix.Rotation(er, 3, "Y")
        mq = m.to_quaternion()
        if st.get("env_rotation") != er:
            self.camera.matrix_world = m.to_4x4()
            st["env_rotation"] = er
        x, y, z = (float(v) for v in lat["position"])
        q = Quaternion([float(v) for v in lat["rotation_quat"]])
        if q.magnitude == 0:
            raise ValueError("rotation_quat must be non-zero")
        q.normalize()
        s = float(lat["scale"])
        key = (oid, x, y, z, tuple(q), s, er)
        if st.get("xform") != key:
            ob.location = m @ Vector((x, y, -z))
            ob.rotation_quaternion = mq @ _C @ q
            ob.scale = (s, s, s)
            st["xform"] = key

        az, el = float(lat["light_azimuth"]), float(lat["light_elevation"])
        if st.get("light_dir") != (az, el, er):
            d_cam = (math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el))
            d_w = Vector((d_cam[0], d_cam[1], -d_cam[2]))
            # sun shines along its local -Z: local +Z must point toward the light
            self.sun.rotation_quaternion = mq @ d_w.to_track_quat("Z", "Y")
            st["light_dir"] = (az, el, er)
        li = self.sun.data
        # env_strength scales the world; instead of changing the world, scale the image
        # by it (colour-management exposure, applied to scene-linear values before the
        # view transform) and divide the sun by it: s*E + I*S = s*(E + (I/s)*S).
        # (scene.cycles.film_exposure has no effect on the saved result in bpy 5.0.1.)
        es = float(lat["env_strength"])
        e = float(lat["light_intensity"])
        exposure, world_strength = (es, 1.0) if es > 1e-3 else (1.0, es)
        if st.get("light_energy") != (e, es):
            li.energy = e / exposure
            sc.view_settings.exposure = math.log2(exposure)
            st["light_energy"] = (e, es)
        if st.get("world_strength") != world_strength:
            self._w_bg.inputs["Strength"].default_value = world_strength
            st["world_strength"] = world_strength
        tk = float(lat["light_temperature"])
        if st.get("light_temp") != tk:
            li.temperature = tk
            st["light_temp"] = tk

        bid = int(lat["background_id"])
        if not 0 <= bid < len(self.backgrounds):
            raise IndexError("background_id %d out of range 0..%d" % (bid, len(self.backgrounds) - 1))
        if st.get("background_id") != bid:
            img = self._bg_images[bid]
            desc = self.backgrounds[bid]
            backdrop = desc["kind"] == "backdrop"
            if self._backdrop is not None and self._backdrop.hide_render == backdrop:
                self._backdrop.hide_render = not backdrop
            if img is None:
                r, g, b = (float(c) for c in desc.get("world_rgb", desc.get("rgb")))
                self._w_rgb.outputs[0].default_value = (r, g, b, 1.0)
                self._w_mix.inputs[0].default_value = 1.0
            else:
                if self._w_env.image != img:
                    self._w_env.image = img
                self._w_mix.inputs[0].default_value = 0.0
            st["background_id"] = bid

        seed = int(lat["seed"])
        if st.get("seed") != seed:
            sc.cycles.seed = seed
            st["seed"] = seed

    def reset(self):
        """Hide the current object and forget the cached state.

        After a reset the next image's object is added to the scene afresh, so its
        pixels do not depend on what was rendered before (see ``_set_visible``).
        """
        oid = self._state.get("object_id")
        if oid is not None and oid in self.store.loaded:
            self._set_visible(self.store.loaded[oid], False)
        self._state = {}

    def clear_render(self):
        """Render once with no object, so that Cycles drops the object's acceleration data."""
        self.reset()
        bpy.ops.render.render(write_still=False)

    def render(self, latents: dict) -> tuple[np.ndarray, np.ndarray | None]:
        """Render one image.  Missing latent keys fall back to ``DEFAULT_LATENTS``.

        Returns ``(rgb uint8 [H,W,3], row 0 = image top; mask uint8 [H,W] 0..255
        object coverage, or None if want_mask=False)``.
        """
        lat = DEFAULT_LATENTS if not latents else {**DEFAULT_LATENTS, **latents}
        t0 = time.perf_counter()
        self._apply(lat)
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
        mask = None
        if self.want_mask and px.shape[2] == 4:
            a = px[:, :, 3].astype(np.int32)
            mask = np.clip(((a - 1) * 255 + 127) // 254, 0, 255).astype(np.uint8)
        return rgb, mask

    def depth(self) -> np.ndarray:
        """Depth (metres along the camera axis, inf = background) of the last render.

        Needs ``want_depth=True``; costs one extra EXR save (~4 ms at 64^2).
        """
        if not self.want_depth:
            raise RuntimeError("Stage was built without want_depth=True")
        return self.reader.read_depth()
