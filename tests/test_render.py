"""End-to-end rendering with real Blender: tiny images, few samples."""
import json
import math
import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest
from support import wait_for_shards as _wait_for_shards

import importlib.util

if importlib.util.find_spec("bpy") is None:  # don't import bpy here: the parent process never does
    pytest.skip("bpy not installed", allow_module_level=True)

from latentscape.config import DatasetSpec, RenderSettings
from latentscape.dataset.reader import DatasetReader
from latentscape.dataset.verify import verify
from latentscape.latents import geometry as geo
from latentscape.pipeline.local import render_dataset

pytestmark = pytest.mark.blender
RES = 64


def _spec(**kw):
    base = dict(n=8, shard_size=4, resolution=RES, seed=1, render=RenderSettings(samples=2, passes=("mask",)))
    base.update(kw)
    return DatasetSpec(library="placeholder", **base)


def _images(root):
    with DatasetReader(root) as r:
        return np.stack([r.image(i) for i in range(len(r))]), r.latents()


def assert_same_pixels(a, b):
    """Equal up to Cycles' cross-process float noise (docs/determinism.md): at most 2% of
    pixels may differ, and mean absolute difference stays below 0.5 grey levels."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    frac = (d > 0).any(-1).mean()
    assert frac <= 0.02 and d.mean() < 0.5, (frac, d.mean(), d.max())


def _masks(root):
    out = []
    for p in sorted((root / "shards").glob("shard-*.h5")):
        with h5py.File(p) as f:
            out.append(f["masks"][()])
    return np.concatenate(out)


@pytest.fixture(scope="module")
def position_run(tmp_path_factory):
    """Small spheres at varying positions: labels can be checked against the mask."""
    root = tmp_path_factory.mktemp("r") / "pos"
    spec = _spec(n=12, vary=("position",), fix=(("category", "sphere"), ("scale", 0.5)))
    s = render_dataset(spec, root, device="cpu", progress=False)
    return root, spec, s


def test_render_writes_a_dataset_verify_accepts(position_run):
    root, spec, summary = position_run
    assert summary.rendered == 12 and summary.devices == {"CPU"}
    problems, info = verify(root)
    assert problems == [] and info["images"] == 12
    with h5py.File(root / "shards" / "shard-000000.h5") as f:
        assert f.attrs["device"] == "CPU" and f.attrs["blender_version"].startswith("5.0")
        assert f["masks"].shape == (4, RES, RES)


def test_object_appears_where_the_labels_say(position_run):
    root, spec, _ = position_run
    _, lat = _images(root)
    masks = _masks(root).astype(np.float64)
    ys, xs = np.mgrid[0:RES, 0:RES] + 0.5
    for i in range(len(masks)):
        w = masks[i] / masks[i].sum()
        cx, cy = (w * xs).sum(), (w * ys).sum()
        u, v = geo.project(lat["position"][i], spec.fov_deg)[0]
        assert np.allclose([u, v], lat["image_xy"][i])
        px, py = (u + 1) / 2 * RES, (1 - v) / 2 * RES
        assert abs(cx - px) < 1.5 and abs(cy - py) < 1.5, (i, cx, cy, px, py)
    vf = lat["meta/visible_fraction"]
    assert np.all(vf > 0.005) and np.allclose(vf, masks.mean(axis=(1, 2)) / 255, atol=1e-6)


def test_fixed_groups_give_identical_backgrounds_and_pose_changes_the_image(tmp_path):
    root = tmp_path / "pose"
    render_dataset(_spec(n=4, shard_size=4, vary=("pose",), fix=(("category", "monkey"),)), root, device="cpu",
                   progress=False)
    imgs, lat = _images(root)
    masks = _masks(root)
    from scipy.ndimage import binary_erosion
    # pixels at least 2 px from any object (the pixel filter blurs edges beyond the ID mask)
    bg = binary_erosion((masks == 0).all(axis=0), iterations=2)
    assert bg.sum() > RES * RES / 2
    for i in range(1, 4):
        assert np.array_equal(imgs[i][bg], imgs[0][bg])  # background and lighting held fixed
        assert not np.array_equal(imgs[i], imgs[0])       # the pose changed the object
        assert not np.array_equal(lat["rotation_quat"][i], lat["rotation_quat"][0])


def test_denoised_presets_render_bit_identically(tmp_path):
    """Same run configuration, denoiser on (standard and high denoise): the same pixels."""
    for name in ("a", "b"):
        render_dataset(_spec(n=3, shard_size=3, render=RenderSettings.preset("standard")), tmp_path / name,
                       device="cpu", progress=False)
    ia, la = _images(tmp_path / "a")
    ib, _ = _images(tmp_path / "b")
    assert np.array_equal(ia, ib) and len(la["index"]) == 3
    with DatasetReader(tmp_path / "a") as r:
        stored = r.manifest["resolved"]["spec"]["render"]
    assert stored["quality"] == "standard" and stored["denoise"] is True  # the dataset says how it was rendered


def test_same_spec_renders_identically(tmp_path):
    spec = _spec(n=4, shard_size=2)
    render_dataset(spec, tmp_path / "a", device="cpu", progress=False)
    render_dataset(spec, tmp_path / "b", device="cpu", progress=False)
    render_dataset(spec, tmp_path / "c", device="cpu", progress=False, workers=2)
    ia, la = _images(tmp_path / "a")
    ib, lb = _images(tmp_path / "b")
    ic, lc = _images(tmp_path / "c")
    measured = {"meta/clipped_fraction", "meta/contrast"}  # from the colours, which may differ slightly
    for name in la:
        nan = la[name].dtype.kind == "f"  # NaN: e.g. no predicted contrast on an HDRI
        assert np.array_equal(la[name], lb[name], equal_nan=nan), name
        if name in measured:  # the pixels may differ slightly across a worker layout (assert_same_pixels)
            assert np.allclose(la[name], lc[name], atol=1.0 if name == "meta/contrast" else 0.02, equal_nan=True), name
        else:
            assert np.array_equal(la[name], lc[name], equal_nan=nan), name
    assert np.array_equal(ia, ib)  # same configuration: bit-identical
    assert_same_pixels(ia, ic)


def test_rerun_is_a_no_op_and_other_spec_is_refused(position_run, tmp_path):
    root, spec, _ = position_run
    s = render_dataset(spec, root, device="cpu", progress=False)
    assert s.rendered == 0 and s.skipped == 12
    from latentscape.errors import DatasetMismatchError
    with pytest.raises(DatasetMismatchError):
        render_dataset(spec.replace(seed=9), root, device="cpu", progress=False)


def test_bad_device_request_is_a_clear_error(tmp_path):
    """A GPU type this machine cannot have (Metal off macOS; never CUDA, which a GPU runner has)."""
    assert sys.platform != "darwin"
    r = subprocess.run([sys.executable, "-m", "latentscape", "render", "--n", "2", "--resolution", "16",
                        "--library", "placeholder",
                        "--device", "metal", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 1
    assert "requested render device 'metal'" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x" / "shards").exists() or not list((tmp_path / "x" / "shards").iterdir())


# Interrupted runs: many small shards, so that when the first is listed in the manifest (the
# state the tests wait for) most of the run is still to do, however fast the machine renders.
SIG_N, SIG_SHARD = 36, 3


def _sig_spec():
    return DatasetSpec(library="placeholder", n=SIG_N, shard_size=SIG_SHARD, resolution=48,
                       render=RenderSettings(samples=8))


def _start_cli(root):
    """The CLI rendering _sig_spec() into root, in its own process group (like a terminal job)."""
    cmd = [sys.executable, "-m", "latentscape", "render", "--n", str(SIG_N), "--shard-size", str(SIG_SHARD),
           "--resolution", "48", "--samples", "8", "--no-denoise", "--out", str(root), "--quiet", "--device", "cpu",
           "--library", "placeholder"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.fixture(scope="module")
def signal_reference(tmp_path_factory):
    """The uninterrupted run both signal tests compare with."""
    ref = tmp_path_factory.mktemp("sig") / "ref"
    render_dataset(_sig_spec(), ref, device="cpu", progress=False)
    return ref


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_leaves_whole_shards_and_resume_equals_uninterrupted(tmp_path, sig, signal_reference):
    root = tmp_path / "run"
    p = _start_cli(root)
    _wait_for_shards(root, 1, p)
    os.killpg(p.pid, sig)  # like Ctrl-C in a terminal: the whole process group
    out, err = p.communicate(timeout=60)  # the bound on how fast it stops: generous (it takes ~1 s)
    assert p.returncode == 130 and "rerun the same command to resume" in err, err
    assert not list((root / "shards").glob(".*.tmp"))
    m = json.loads((root / "dataset.json").read_text())
    assert 1 <= len(m["shards"]) < SIG_N // SIG_SHARD
    problems, _ = verify(root)
    assert problems and all("missing" in str(x) for x in problems)  # only absent shards, nothing broken
    render_dataset(_sig_spec(), root, device="cpu", progress=False)
    assert verify(root)[0] == []
    (img_r, lat_r), (img_ref, lat_ref) = _images(root), _images(signal_reference)
    for name in lat_ref:
        assert np.array_equal(lat_r[name], lat_ref[name], equal_nan=lat_ref[name].dtype.kind == "f"), name
    assert_same_pixels(img_r, img_ref)


def test_sigkill_of_a_worker_is_survived_and_leaves_no_bad_shard(tmp_path):
    """A killed worker (a Blender crash, the OOM killer) is replaced; a shard it was inside is
    rendered again; the run completes whole."""
    root = tmp_path / "kill"
    p = _start_cli(root)
    _wait_for_shards(root, 1, p)
    workers = subprocess.run(["pgrep", "-s", str(p.pid), "-f", "multiprocessing.spawn"], capture_output=True,
                             text=True)
    pids = [int(x) for x in workers.stdout.split()]
    assert pids, "no worker process found"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert verify(root)[0] == []


def test_depth_pass_matches_the_geometry(tmp_path):
    """A cube facing the camera: depth on its front face = centre z - 0.5 * scale; inf on the background."""
    spec = _spec(n=3, shard_size=3, vary=("position",), fix=(("category", "cube"), ("scale", 0.8)),
                 render=RenderSettings(samples=2, passes=("mask", "depth")), canonical_pose="front")
    root = tmp_path / "depth"
    render_dataset(spec, root, device="cpu", progress=False)
    with h5py.File(root / "shards" / "shard-000000.h5") as f:
        depth, masks = f["depth"][()].astype(np.float32), f["masks"][()]
        pos = f["latents/position"][()]
    assert depth.shape == (3, RES, RES) and verify(root)[0] == []
    for i in range(3):
        inside, outside = masks[i] == 255, masks[i] == 0
        assert np.all(np.isinf(depth[i][outside]))
        assert np.isfinite(depth[i][inside]).all()
        # the front face (-Y of the cube) is the nearest surface: planar depth z - 0.4
        assert abs(float(np.min(depth[i][inside])) - (pos[i, 2] - 0.4)) < 0.02


def write_hdr(path, rgb, w=16, h=8):
    """A Radiance .hdr of one colour (flat RGBE scanlines). Choose components k/256 * 2^e so
    that they are stored exactly."""
    m = max(rgb)
    f, e = math.frexp(m)
    scale = f * 256.0 / m
    px = bytes([round(rgb[0] * scale), round(rgb[1] * scale), round(rgb[2] * scale), e + 128])
    path.write_bytes(b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {h} +X {w}\n".encode() + px * (w * h))


def srgb8(linear):
    x = np.asarray(linear, dtype=np.float64)
    return 255 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def test_user_hdri_folder_adds_backgrounds(tmp_path):
    """--backgrounds DIR appends its HDRIs to the table (sorted by name), and an image rendered
    on one shows it: a one-colour sky, seen wherever the object is not, in that colour."""
    import shutil

    from scipy.ndimage import binary_erosion

    from latentscape.assets.backgrounds import bpy_hdri_dir, default_backgrounds
    hdris = tmp_path / "hdris"
    hdris.mkdir()
    shutil.copy(bpy_hdri_dir() / "night.exr", hdris / "my_night.exr")
    sky = (16 / 256, 64 / 256, 200 / 256)  # linear RGB, exact in RGBE; unlike every built-in background
    write_hdr(hdris / "sky.hdr", sky)
    (hdris / "notes.txt").write_text("ignored")
    n0 = len(default_backgrounds())
    spec = _spec(n=2, shard_size=2, vary=("position",), backgrounds=(str(hdris),), fix=(("background_id", n0 + 1),),
                 render=RenderSettings(samples=2, passes=("mask",), view_transform="standard"))  # plain sRGB
    root = tmp_path / "bg"
    render_dataset(spec, root, device="cpu", progress=False)
    m = json.loads((root / "dataset.json").read_text())
    assert [b["name"] for b in m["backgrounds"]][n0:] == ["hdris/my_night", "hdris/sky"]
    imgs, lat = _images(root)
    assert set(lat["background_id"]) == {n0 + 1}
    masks = _masks(root)
    want = srgb8(sky)  # env strength 1, Standard view transform: the sky's own colour
    for img, mask in zip(imgs, masks):
        bg = binary_erosion(mask == 0, iterations=2)  # 2 px from the object (the pixel filter blurs edges)
        assert bg.mean() > 0.5
        assert np.abs(img[bg].astype(float) - want).max() <= 3, (np.unique(img[bg], axis=0), want)
        assert np.abs(img[mask == 255].astype(float) - want).max(-1).mean() > 20  # the object is not the sky
    from latentscape.errors import SpecError
    with pytest.raises(SpecError, match="no .exr or .hdr files"):
        render_dataset(_spec(backgrounds=(str(tmp_path),)), tmp_path / "x", device="cpu", progress=False)


def test_bad_asset_is_reported_with_shard_image_and_cause(tmp_path):
    """A catalogue model that cannot be imported stops the run with one line naming
    the shard, the image index and the original error."""
    import zipfile

    import model_fixtures as M
    cat = tmp_path / "catalogues"
    cat.mkdir()
    v, f = M.box((1.0, 1.0, 1.0))
    props = ["license=Public domain"]
    with zipfile.ZipFile(cat / "Test-CC-0.sh3f", "w") as z:
        for k, name in enumerate(["good1", "good2", "broken"], start=1):
            obj = tmp_path / f"{name}.obj"
            if name == "broken":
                obj.write_text("f 1 2 3\nthis is not geometry\n")  # a face but no vertices
            else:
                M.write_obj(obj, v, f)
            z.write(obj, f"test/{name}/{name}.obj")
            props += [f"id#{k}=Test#{name}", f"name#{k}=Chair {name}", f"model#{k}=/test/{name}/{name}.obj",
                      f"width#{k}=50", f"depth#{k}=50", f"height#{k}=90", f"creator#{k}=me"]
        z.writestr("PluginFurnitureCatalog.properties", "\n".join(props))
    env = {**os.environ, "LATENTSCAPE_SH3D_DIR": str(cat), "LATENTSCAPE_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "latentscape", "render", "--library", "furniture", "--n", "4", "--shard-size", "2",
           "--resolution", "16", "--samples", "1", "--fix", "object_id=sh3d/Test#broken", "--device", "cpu",
           "--quiet", "--out", str(tmp_path / "out")]
    # with the guarantees on (the default) it is refused before rendering: it has no vertex to measure
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "'sh3d/Test#broken' has no measured hull" in r.stderr and not (tmp_path / "out" / "shards").exists()
    # with them off, Blender's own error is reported where it happens
    r = subprocess.run(cmd + ["--min-visible", "0", "--min-contrast", "0"], capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "shard 0, image " in lines[0] and "could not load object 'sh3d/Test#broken'" in lines[0]
    assert not list((tmp_path / "out" / "shards").glob("*.tmp"))


def test_verify_reports_images_without_object_pixels(tmp_path, capsys):
    """An object too small to cover a pixel is kept, counted and reported, never dropped silently."""
    from latentscape.cli import main
    root = tmp_path / "tiny"
    spec = _spec(n=2, shard_size=2, vary=("pose",), fix=(("scale", 0.001), ("category", "sphere"), ("background_id", 7)),
                 min_visible=0.0)  # the guarantee off: the user asked for a speck
    render_dataset(spec, root, device="cpu", progress=False)
    problems, summary = verify(root)
    assert problems == [] and summary["empty_images"] == [0, 1]
    with pytest.raises(SystemExit) as e:
        main(["verify", str(root)])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "2 image(s) show no object pixel" in out


GREY_STUDIO = 170  # background 0: linear 0.5 grey through AgX, the default view transform (188 with Standard)


def _check_cells(cells, captions, min_cover):
    """Each cell shows an object on the grey studio, cells differ, each caption has text."""
    cells = [c.astype(np.int16) for c in cells]
    values, counts = np.unique(np.concatenate([c.reshape(-1, 3) for c in cells]), axis=0, return_counts=True)
    bg = values[counts.argmax()]  # the background, the commonest colour of all cells
    assert np.abs(bg - GREY_STUDIO).max() <= 3, bg
    cover = [float((np.abs(c - bg).max(-1) > 20).mean()) for c in cells]
    assert all(min_cover < f < 0.9 for f in cover), cover  # an object, not a blank (0) or a flat fill (1)
    for i in range(len(cells)):
        for j in range(i):
            assert np.abs(cells[i] - cells[j]).mean() > 1, (i, j)  # not the same image twice
    for t in captions:
        assert (t.max(-1) < 100).sum() >= 10  # dark caption / label text was drawn


def test_rendered_pose_is_the_stored_rotation_after_the_canonical_pose(tmp_path):
    """rotation_quat is relative to the canonical pose q0 (three_quarter by default): every mask
    pixel lies inside the projected box of the object turned by q0 * q, and for some image not
    inside the box of q alone (q0 really is applied, by the renderer as by the sampler)."""
    from latentscape.latents import geometry as geo
    spec = _spec(n=6, shard_size=6, vary=("pose", "position", "category"))
    assert spec.canonical_pose == "three_quarter"
    render_dataset(spec, tmp_path / "d", device="cpu", progress=False)
    imgs, lat = _images(tmp_path / "d")
    masks = _masks(tmp_path / "d")
    with DatasetReader(tmp_path / "d") as r:
        ext = [o["extents"] for o in r.manifest["resolved"]["objects"]]
    q0 = geo.canonical_quat("three_quarter")

    def outside(q, i):
        pts = geo.object_points_camera(geo.box_corners(np.array(ext[lat["object_id"][i]])), lat["position"][i], q,
                                       lat["scale"][i])
        uv = pts[:, :2] / (pts[:, 2:] * np.tan(np.radians(spec.fov_deg) / 2))
        px = (uv[:, 0] + 1) / 2 * RES, (1 - uv[:, 1]) / 2 * RES  # column, row
        rows, cols = np.nonzero(masks[i] > 127)
        return int(np.sum((cols + 0.5 < px[0].min() - 1) | (cols + 0.5 > px[0].max() + 1) |
                          (rows + 0.5 < px[1].min() - 1) | (rows + 0.5 > px[1].max() + 1)))
    with_q0 = [outside(geo.quat_mul(q0, lat["rotation_quat"][i]), i) for i in range(6)]
    without = [outside(lat["rotation_quat"][i], i) for i in range(6)]
    assert with_q0 == [0] * 6 and sum(without) > 0, (with_q0, without)


def test_agx_keeps_a_white_object_under_a_strong_sun_from_clipping(tmp_path):
    """The default view transform (AgX) rolls highlights off: a cube lit by a strong sun (40 W/m²)
    has most of its pixels clipped (all channels >= 254) under Standard and none under AgX; the
    grey studio (linear 0.5) reads 188 under Standard and 170 under AgX."""
    fix = (("category", "cube"), ("light_intensity", 40.0), ("light_azimuth", 0.0), ("light_elevation", 0.3),
           ("light_temperature", 6500.0))
    clipped, grey = {}, {}
    for vt in ("standard", "agx"):
        spec = _spec(n=2, shard_size=2, vary=("pose",), fix=fix,
                     render=RenderSettings(samples=4, passes=("mask",), view_transform=vt))
        render_dataset(spec, tmp_path / vt, device="cpu", progress=False)
        imgs, _ = _images(tmp_path / vt)
        masks = _masks(tmp_path / vt)
        obj = np.concatenate([img[m == 255] for img, m in zip(imgs, masks)])
        clipped[vt] = float((obj >= 254).all(-1).mean())
        grey[vt] = int(np.median(np.concatenate([img[m == 0][:, 0] for img, m in zip(imgs, masks)])))
    assert clipped["standard"] > 0.3 and clipped["agx"] == 0.0, clipped
    assert abs(grey["standard"] - 188) <= 2 and abs(grey["agx"] - 170) <= 2, grey


def test_stored_fidelity_is_measured_from_the_pixels_and_the_hull_predicts_coverage(tmp_path):
    """Every image stores what it shows (visible, clipped, contrast: equal to recomputing them from
    the stored image and mask) and what was predicted before rendering: the convex hull's share of
    the image bounds the measured coverage, and equals it (up to the silhouette's anti-aliased
    edge) for the convex placeholders; the guarantees hold on the pixels."""
    from latentscape.dataset.fidelity import image_fidelity
    spec = _spec(n=24, shard_size=12, resolution=96, min_visible=0.02)
    render_dataset(spec, tmp_path / "d", device="cpu", progress=False)
    imgs, lat = _images(tmp_path / "d")
    masks = _masks(tmp_path / "d")
    for i in range(len(imgs)):
        clipped, contrast = image_fidelity(imgs[i], masks[i])
        assert np.isclose(lat["meta/clipped_fraction"][i], clipped, equal_nan=True)
        assert np.isclose(lat["meta/contrast"][i], contrast, rtol=1e-6, equal_nan=True)
    seen, hull = lat["meta/visible_fraction"], lat["meta/predicted_visible"]
    edge = 4 * np.sqrt(hull) / 96  # a one-pixel band around the silhouette, as a share of the image
    assert (seen <= hull + edge).all(), np.c_[seen, hull]
    with DatasetReader(tmp_path / "d") as r:
        names = [r.manifest["resolved"]["objects"][k]["name"] for k in lat["object_id"]]
    convex = np.array([n in ("cube", "sphere", "cylinder", "cone") for n in names])
    assert convex.sum() >= 8 and (np.abs(seen - hull)[convex] <= 0.05 * hull[convex] + edge[convex]).all()
    assert seen.min() >= 0.02 - edge.max()  # --min-visible 0.02 holds on the pixels


def test_real_size_renders_the_unit_image_scaled(tmp_path):
    """--size real: a mug (0.11 m) is rendered at its size and its distance scaled with it, the
    backdrop too, so the image equals the unit-size one while position and distance are metric."""
    imgs, lats = {}, {}
    for size in ("unit", "real"):
        spec = DatasetSpec(library="procedural", n=3, shard_size=3, resolution=RES, seed=2, size=size,
                           vary=("pose", "position"), fix=(("category", "mug"), ("background_id", 5)),
                           render=RenderSettings(samples=2))
        render_dataset(spec, tmp_path / size, device="cpu", progress=False)
        imgs[size], lats[size] = _images(tmp_path / size)
    assert np.allclose(lats["real"]["meta/size_m"], 0.11) and np.allclose(lats["unit"]["meta/size_m"], 1.0)
    assert np.allclose(lats["real"]["position"], 0.11 * lats["unit"]["position"])
    assert lats["real"]["distance"].max() < 0.6
    assert_same_pixels(imgs["unit"], imgs["real"])


def test_preview_and_asset_preview_write_contact_sheets(tmp_path):
    """`preview` and `assets preview` render with Blender and save PNG grids: every cell shows
    its object (a blank render or a missing cell fails), with its caption."""
    from PIL import Image
    common = ["--library", "placeholder", "--resolution", "32"]
    for args, out in ((["preview", "--n", "4", "--samples", "1", "--vary", "pose", "--quiet"], "p.png"),
                      (["assets", "preview", "--per-category", "1"], "a.png")):
        r = subprocess.run([sys.executable, "-m", "latentscape", *args, *common, "--out", str(tmp_path / out)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    p = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    cell = 160  # contact_sheet's cell; 4 images -> 2 x 2, each cell above its two caption lines
    assert p.shape[1] == 2 * cell and p.shape[0] % 2 == 0
    row_h = p.shape[0] // 2
    cells = [p[r * row_h:r * row_h + cell, c * cell:(c + 1) * cell] for r in range(2) for c in range(2)]
    captions = [p[r * row_h + cell:(r + 1) * row_h, c * cell:(c + 1) * cell] for r in range(2) for c in range(2)]
    _check_cells(cells, captions, min_cover=0.02)
    a = np.asarray(Image.open(tmp_path / "a.png").convert("RGB"))
    assert a.shape[:2] == (6 * 32, 110 + 32)  # one row per placeholder category: label, then one 32 px cell
    _check_cells([a[r * 32:(r + 1) * 32, 110:] for r in range(6)], [a[r * 32:(r + 1) * 32, :110] for r in range(6)],
                 min_cover=0.05)
