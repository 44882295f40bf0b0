"""Tests for the Blender stage (real bpy, tiny images)."""
import math

import pytest

bpy = pytest.importorskip("bpy")
np = pytest.importorskip("numpy")

from latentscape.assets.backgrounds import default_backgrounds  # noqa: E402
from latentscape.assets.library import placeholder_library  # noqa: E402
from latentscape.latents.geometry import project  # noqa: E402
from latentscape.renderer.blender.devices import (  # noqa: E402
    DeviceUnavailableError, choose_device)
from latentscape.renderer.blender.objects import PLACEHOLDER_CATEGORIES, PLACEHOLDER_EXTENTS  # noqa: E402
from latentscape.renderer.blender.stage import Stage  # noqa: E402
from latentscape.renderer.types import BackgroundRef, ImageState, ObjectRef, StageSettings  # noqa: E402

RES = 64
FOV = 40.0
SPHERE = PLACEHOLDER_CATEGORIES.index("sphere")
MONKEY = PLACEHOLDER_CATEGORIES.index("monkey")


BASE = dict(object_id=SPHERE, position=(0.0, 0.0, 3.0), rotation_quat=(1.0, 0.0, 0.0, 0.0),
            scale=0.6, light_azimuth=0.3, light_elevation=0.4, light_intensity=3.0,
            light_temperature=6500.0, env_strength=1.0, background_id=0, env_rotation=0.0, seed=3)


def state(**changes) -> ImageState:
    return ImageState(**{**BASE, **changes})


def project_point(position, fov_deg):
    return project(np.asarray(position, dtype=np.float64), fov_deg)[0]


@pytest.fixture(scope="module")
def stage():
    # One Stage per process: building a Stage resets Blender (factory settings).
    settings = StageSettings(resolution=RES, fov_deg=FOV, samples=2, denoise=False, want_mask=True, want_depth=False,
                             device="cpu", device_slot=None, threads=0)
    return Stage(settings, [ObjectRef.of(o) for o in placeholder_library().objects],
                 [BackgroundRef.of(b) for b in default_backgrounds()])


def _centroid(mask):
    w = mask.astype(np.float64)
    h, wd = mask.shape
    cy = (w * (np.arange(h)[:, None] + 0.5)).sum() / w.sum()
    cx = (w * (np.arange(wd)[None, :] + 0.5)).sum() / w.sum()
    return cx, cy


def test_output_types(stage):
    rgb, mask = stage.render(state())
    assert rgb.shape == (RES, RES, 3) and rgb.dtype == np.uint8
    assert mask.shape == (RES, RES) and mask.dtype == np.uint8
    assert mask.max() == 255 and mask.min() == 0
    assert stage.device_used == "CPU"
    # neutral grey world 0.5 linear -> ~188 in sRGB at the corner
    assert abs(int(rgb[0, 0, 0]) - 188) <= 3


def test_render_takes_only_an_image_state(stage):
    """The boundary is typed: no dict of latents, no defaults for missing ones."""
    with pytest.raises(TypeError, match="Stage.render takes an ImageState, got dict"):
        stage.render(BASE)


@pytest.mark.parametrize("pos", [(0.0, 0.0, 3.0), (0.5, 0.2, 3.0), (-0.4, -0.5, 2.5), (0.3, 0.6, 4.0)])
def test_mask_centroid_matches_pinhole(stage, pos):
    _, mask = stage.render(state(position=pos, scale=0.4))
    cx, cy = _centroid(mask)
    u, v = project_point(pos, FOV)
    ex, ey = (u + 1) / 2 * RES, (1 - v) / 2 * RES  # row 0 = image top
    assert abs(cx - ex) < 1.5 and abs(cy - ey) < 1.5, (cx, cy, ex, ey)


def test_deterministic_and_sensitive(stage):
    lat = dict(object_id=MONKEY, scale=1.0, background_id=1)
    a, ma = stage.render(state(**lat))
    stage.render(state(**{**lat, "seed": 99, "background_id": 2}))  # disturb state in between
    b, mb = stage.render(state(**lat))
    assert np.array_equal(a, b) and np.array_equal(ma, mb)
    c, _ = stage.render(state(**lat, rotation_quat=(math.cos(0.3), 0.0, 0.0, math.sin(0.3))))
    assert np.abs(a.astype(int) - c).mean() > 1.0
    d, md = stage.render(state(**{**lat, "background_id": 5}))
    bg = (ma == 0) & (md == 0)
    assert bg.sum() > RES * RES // 4
    assert np.abs(a.astype(int) - d)[bg].mean() > 5.0


def test_light_from_right_lights_right_side(stage):
    lat = dict(scale=1.0, env_strength=0.05, light_elevation=0.0)
    rgb, mask = stage.render(state(**lat, light_azimuth=1.2))
    lum = rgb.astype(float).mean(-1)
    obj = mask == 255
    left = lum[:, : RES // 2][obj[:, : RES // 2]].mean()
    right = lum[:, RES // 2:][obj[:, RES // 2:]].mean()
    assert right > left + 20
    rgb, mask = stage.render(state(**{**lat, "light_azimuth": 0.0, "light_elevation": 1.2}))
    lum = rgb.astype(float).mean(-1)
    obj = mask == 255
    top = lum[: RES // 2][obj[: RES // 2]].mean()
    bottom = lum[RES // 2:][obj[RES // 2:]].mean()
    assert top > bottom + 20


def test_placeholder_extents():
    assert list(PLACEHOLDER_EXTENTS) == list(PLACEHOLDER_CATEGORIES)
    for cat, ext in PLACEHOLDER_EXTENTS.items():
        assert len(ext) == 3
        assert max(ext) == pytest.approx(1.0, abs=1e-5), cat
        assert min(ext) > 0.1, cat
    # the sampler's in-frame rule uses the library's copy of these boxes: they must agree
    from latentscape.assets.library import placeholder_library
    for o in placeholder_library().objects:
        assert o.extents == pytest.approx(PLACEHOLDER_EXTENTS[o.name], abs=2e-4), o.name


def test_placeholder_hulls_and_colours_are_those_of_the_rendered_meshes():
    """The sampler's --min-visible decides from stored placeholder hulls: they are the hulls of the
    meshes the renderer builds (rebuilt here), and the colours are the renderer's."""
    from latentscape.assets.hulls import hull_points, hull_text
    from latentscape.assets.placeholder_hulls import PLACEHOLDER_HULLS
    from latentscape.renderer.blender import objects as O
    for cat in PLACEHOLDER_CATEGORIES:
        me = O._build_placeholder_mesh(cat)
        try:
            assert hull_text(O._vertex_coords(me)) == PLACEHOLDER_HULLS[cat], cat
            assert np.abs(hull_points(PLACEHOLDER_HULLS[cat])).max(0) == pytest.approx(
                np.array(PLACEHOLDER_EXTENTS[cat]) / 2, abs=1e-4), cat
        finally:
            bpy.data.meshes.remove(me)
    assert {o.name: o.colour for o in placeholder_library().objects} == O._PLACEHOLDER_COLOURS


def test_contrast_model_display_curve_is_what_blender_shows(stage):
    """--min-contrast predicts display values through latents.appearance.DISPLAY_CURVE: the grey
    studio (linear 0.5) at several environment strengths reads what the curve says, within 2."""
    from latentscape.latents.appearance import display_rgb_luminance
    for env in (0.05, 0.3, 1.0, 3.0):
        rgb, mask = stage.render(state(position=(0.0, 0.0, -3.0), light_intensity=0.0, env_strength=env))
        assert mask.max() == 0  # the object is behind the camera
        shown = float(rgb.reshape(-1, 3).astype(float).mean(0) @ [0.2126, 0.7152, 0.0722])
        assert abs(shown - display_rgb_luminance((0.5 * env,) * 3, stage.settings.view_transform)) <= 2, (env, shown)


def test_render_settings_reach_cycles():
    """Every knob a --quality preset sets is what Cycles is given (issue 13)."""
    from latentscape.renderer.blender.render_setup import configure_render
    scene = bpy.data.scenes.new("knobs")
    try:
        s = StageSettings(resolution=RES, fov_deg=FOV, samples=7, denoise=True, want_mask=False, want_depth=False,
                          device="cpu", device_slot=None, threads=0, denoise_prefilter="accurate",
                          adaptive_threshold=0.03, max_bounces=4, clamp_indirect=2.0, filter_width=1.2)
        configure_render(scene, s)
        c = scene.cycles
        assert (c.samples, c.use_denoising, c.denoising_prefilter, c.denoising_quality) == (7, True, "ACCURATE", "HIGH")
        assert c.denoising_input_passes == "RGB_ALBEDO_NORMAL" and c.use_adaptive_sampling
        assert c.adaptive_threshold == pytest.approx(0.03) and c.max_bounces == 4
        assert c.sample_clamp_indirect == pytest.approx(2.0) and c.filter_width == pytest.approx(1.2)
        configure_render(scene, s.replace(denoise=False, adaptive_threshold=0.0, denoise_prefilter="fast"))
        assert not c.use_denoising and not c.use_adaptive_sampling
    finally:
        bpy.data.scenes.remove(scene)


def test_default_backgrounds():
    bgs = [BackgroundRef.of(b) for b in default_backgrounds()]
    assert bgs[0] == BackgroundRef(name="grey", kind="color", rgb=(0.5, 0.5, 0.5), world_rgb=None, path=None)
    assert len(bgs) == 14 and all(b.kind == "color" for b in bgs[:5]) and bgs[5].kind == "backdrop"
    assert bgs[5].world_colour == (0.35, 0.35, 0.35) and bgs[5].rgb == (0.6, 0.6, 0.6)
    assert all(b.kind == "hdri" for b in bgs[6:])
    names = [b.path for b in bgs[6:]]
    assert names == sorted(names)


# ---------------------------------------------------------------- devices
def test_choose_device_cpu_only_lists():
    avail = {"OPTIX": [], "CUDA": [], "HIP": [], "ONEAPI": [], "METAL": [], "CPU": ["AMD EPYC"]}
    assert choose_device("auto", avail) == ("CPU", ["AMD EPYC"])
    assert choose_device("CPU", avail) == ("CPU", ["AMD EPYC"])
    for req in ("cuda", "optix", "hip", "oneapi", "metal"):
        with pytest.raises(DeviceUnavailableError) as ei:
            choose_device(req, avail)
        assert req in str(ei.value) and "AMD EPYC" in str(ei.value)
        assert isinstance(ei.value, ValueError)
    from latentscape.errors import DeviceError
    with pytest.raises(DeviceError, match="unknown render device 'tpu'"):
        choose_device("tpu", avail)


def test_choose_device_synthetic_cuda():
    avail = {"OPTIX": [], "CUDA": ["NVIDIA H100"], "HIP": [], "ONEAPI": [], "METAL": [], "CPU": ["cpu"]}
    assert choose_device("auto", avail) == ("CUDA", ["NVIDIA H100"])
    assert choose_device("cuda", avail) == ("CUDA", ["NVIDIA H100"])
    assert choose_device("cpu", avail) == ("CPU", ["cpu"])
    with pytest.raises(DeviceUnavailableError):
        choose_device("optix", avail)
    avail["OPTIX"] = ["NVIDIA H100"]
    assert choose_device("auto", avail) == ("OPTIX", ["NVIDIA H100"])


def test_object_stays_put_when_the_environment_turns(stage):
    """env_rotation turns camera and scene together: the object's image position is unchanged."""
    pos = (0.5, 0.2, 3.0)
    for er in (0.0, 1.0, -2.5):
        _, mask = stage.render(state(position=pos, env_rotation=er, background_id=7))
        cx, cy = _centroid(mask)
        u, v = project_point(pos, FOV)
        assert abs(cx - (u + 1) / 2 * RES) < 1.5 and abs(cy - (1 - v) / 2 * RES) < 1.5, er


def test_env_rotation_turns_the_background_about_the_up_axis(stage):
    """A small positive env_rotation moves the environment to the right by ~ er / tan(fov/2) half-widths
    (docs/latents.md): b[x] == a[x - shift] with shift > 0."""
    far = dict(position=(0.0, 0.0, 500.0), scale=0.01, background_id=7)  # object out of sight
    a = stage.render(state(**far, env_rotation=0.0))[0].astype(np.float64).mean(axis=2)
    b = stage.render(state(**far, env_rotation=0.06))[0].astype(np.float64).mean(axis=2)
    rows = slice(RES // 2 - 8, RES // 2 + 8)
    errs = {s: np.abs(a[rows, 16 + s:48 + s] - b[rows, 16:48]).mean() for s in range(-10, 11)}
    shift = -min(errs, key=errs.get)  # b[:, 16:48] ~ a[:, 16-shift:48-shift]
    expected = 0.06 / math.tan(math.radians(FOV) / 2) * RES / 2  # ~5.3 px
    assert abs(shift - expected) <= 1.5, (shift, expected)


def test_env_strength_scales_the_environment_linearly(stage):
    """Grey world (linear 0.5) seen directly: sRGB 188 at strength 1, 137 at 0.5 (linear 0.25)."""
    far = dict(position=(0.0, 0.0, 500.0), scale=0.01, background_id=0)
    for strength, want in ((1.0, 188), (0.5, 137)):
        rgb, _ = stage.render(state(**far, env_strength=strength))
        assert abs(float(np.median(rgb)) - want) <= 1, (strength, np.median(rgb))


def test_studio_backdrop_is_background_not_object(stage):
    """Background 5 is a paper sweep: visible behind the object, outside its mask, gone for other backgrounds."""
    pos = (0.4, -0.3, 4.0)
    rgb, mask = stage.render(state(position=pos, background_id=5))
    cx, cy = _centroid(mask)
    u, v = project_point(pos, FOV)
    assert abs(cx - (u + 1) / 2 * RES) < 1.5 and abs(cy - (1 - v) / 2 * RES) < 1.5
    bg = rgb[mask == 0].astype(float)
    assert bg.std() > 1.0  # floor, curve and wall are shaded differently: not a flat colour
    grey, _ = stage.render(state(position=pos, background_id=0))
    from scipy.ndimage import binary_erosion
    far = binary_erosion(mask == 0, iterations=2)  # the pixel filter blurs edges beyond the mask
    assert np.all(grey[far] == 188)  # switched off again: plain grey world


def test_missing_texture_falls_back_to_plain_material(stage, tmp_path):
    """An OBJ whose MTL points at a texture that does not exist renders with its plain colour."""
    from latentscape.renderer.blender import objects as O
    (tmp_path / "m.mtl").write_text("newmtl wood\nKd 0.6 0.4 0.2\nmap_Kd textures/missing.jpg\n"
                                    "newmtl steel\nKd 0.5 0.5 0.5\n")
    (tmp_path / "m.obj").write_text("mtllib m.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n"
                                    "usemtl wood\nf 1 2 3\nf 1 2 4\nusemtl steel\nf 1 3 4\nf 2 3 4\n")
    meshes = O.import_file(tmp_path / "m.obj")
    try:
        tex = lambda: [n for ob in meshes for m in ob.data.materials if m and m.node_tree  # noqa: E731
                       for n in m.node_tree.nodes if n.type == "TEX_IMAGE"]
        assert len(tex()) == 1 and not O._image_ok(tex()[0].image)  # the importer made a node for it
        for ob in meshes:
            O._ensure_material(ob, "m")
        assert tex() == []
        mats = {m.name for ob in meshes for m in ob.data.materials if m}
        assert any("wood" in n for n in mats) and any("steel" in n for n in mats)  # materials kept
    finally:
        for ob in meshes:
            bpy.data.objects.remove(ob, do_unlink=True)


def _vmrss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_memory_stays_flat_when_env_strength_changes_every_image(stage):
    """Each image sets a new colour-management exposure (env_strength). With AgX and
    OpenColorIO's processor cache on, each distinct exposure kept ~2.9 MB: +430 MB here."""
    vs = stage.scene.view_settings
    old = vs.view_transform
    vs.view_transform = "AgX"
    try:
        strengths = np.linspace(0.3, 1.5, 190)
        for s in strengths[:40]:
            stage.render(state(env_strength=float(s)))
        before = _vmrss_mb()
        for s in strengths[40:]:
            stage.render(state(env_strength=float(s)))
        grown = _vmrss_mb() - before
    finally:
        vs.view_transform = old
        stage.render(state())
    assert grown < 60, f"VmRSS grew {grown:.0f} MB over 150 images"
