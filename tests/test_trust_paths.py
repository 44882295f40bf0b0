"""Trust under hostile or careless use, output side: commands never replace, truncate or write
anything that is not a regular file or a directory, check their outputs before any work, and
user asset / HDRI folders cannot lead outside themselves. Special files are made in tmp dirs
(a character device with the numbers of /dev/null, a FIFO, a socket); the real /dev/null is
never used."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tarfile
import warnings

import h5py
import pytest
from support import no_hang

from conftest import write_synthetic_dataset
from latentscape.assets.backgrounds import folder_backgrounds
from latentscape.assets.folders import folder_objects
from latentscape.cli import main
from latentscape.config import DatasetSpec
from latentscape.dataset.export import export_webdataset
from latentscape.errors import AssetError, ExportError, OutputPathError
from latentscape.outpaths import IMAGE_SUFFIXES, check_output_dir, check_output_file

import model_fixtures as M




def chardev(path):
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    return path


def is_our_chardev(path):
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3)


@pytest.fixture
def specials(tmp_path):
    d = tmp_path / "sp"
    d.mkdir()
    chardev(d / "null.png")
    os.mkfifo(d / "fifo.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(d / "sock.png"))
    (d / "file.txt").write_text("keep me")
    (d / "dir.png").mkdir()
    (d / "link.png").symlink_to(d / "null.png")
    (d / "dangling.png").symlink_to(d / "nowhere.png")
    yield d
    sock.close()


def cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out = capsys.readouterr()
    return e.value.code, out.out, out.err


def assert_one_line_error(code, err, *words):
    assert code not in (0, None)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_check_output_file_refuses_every_unsafe_path(specials, tmp_path):
    d = specials
    cases = {
        "": "is empty",
        str(d / "null.png"): "is a character device, not a regular file; refusing to replace it",
        str(d / "fifo.png"): "is a FIFO (named pipe), not a regular file",
        str(d / "sock.png"): "is a socket, not a regular file",
        str(d / "dir.png"): "is a directory, not a regular file; give a file name",
        str(d / "link.png"): "is a character device",  # a symlink to the device is followed
        str(d / "dangling.png"): "is a symbolic link to a missing file",
        str(d / "file.txt" / "x.png"): f"{d / 'file.txt'} is a file, not a directory",
        str(d / "file.txt" / "a" / "b.png"): f"{d / 'file.txt'} is a file, not a directory",
        str(d / "missing" / "x.png"): f"directory {d / 'missing'} does not exist",
        str(d / ("x" * 300 + ".png")): "is 304 bytes; this filesystem allows at most 255",
        "/proc/version.png": "is on the /proc pseudo-filesystem",
        "/proc/self/x.png": "is on the /proc pseudo-filesystem",
        "/sys/kernel/x.png": "is on the /sys pseudo-filesystem",
        str(d / "sheet.txt"): "must end in .png, .jpg, .jpeg",
        str(d / "sheet"): "(got 'no suffix')",
    }
    for path, words in cases.items():
        with pytest.raises(OutputPathError) as e:
            check_output_file(path, overwrite=True, suffixes=IMAGE_SUFFIXES, what="--out")
        assert words in str(e.value) and str(e.value).startswith("--out"), (path, str(e.value))
    with pytest.raises(OutputPathError, match="/proc/version is on the /proc pseudo-filesystem"):
        check_output_file("/proc/version", overwrite=True)
    (d / "old.png").write_bytes(b"x")
    with pytest.raises(OutputPathError, match="exists; use --overwrite"):
        check_output_file(d / "old.png", overwrite=False)
    assert check_output_file(d / "old.png", overwrite=True) == d / "old.png"
    assert check_output_file(d / "new.JPG", overwrite=False, suffixes=IMAGE_SUFFIXES) == d / "new.JPG"
    assert is_our_chardev(d / "null.png") and stat.S_ISFIFO(os.lstat(d / "fifo.png").st_mode)
    assert (d / "file.txt").read_text() == "keep me"


def test_check_output_dir(specials):
    d = specials
    for path, words in {"": "is empty", str(d / "file.txt"): "is a regular file, not a directory",
                        str(d / "null.png"): "is a character device, not a directory",
                        str(d / "file.txt" / "sub"): "is a file, not a directory",
                        str(d / "a" / "b"): f"directory {d / 'a'} does not exist",
                        "/sys/x": "/sys pseudo-filesystem"}.items():
        with pytest.raises(OutputPathError, match="^OUT") as e:
            check_output_dir(path, what="OUT")
        assert words in str(e.value), str(e.value)
    assert check_output_dir(d / "new", what="OUT") == d / "new" and not (d / "new").exists()
    assert check_output_dir(d / "dir.png") == d / "dir.png"


def test_read_only_filesystem_is_refused(tmp_path):
    """/proc always; a real read-only tmpfs mount too where mounting is permitted (root)."""
    with pytest.raises(OutputPathError, match="pseudo-filesystem"):
        check_output_file("/proc/latents.h5", overwrite=True)
    ro = tmp_path / "ro"
    ro.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True)
    if r.returncode != 0:
        return  # not permitted here: the /proc check above is the read-only case
    try:
        with pytest.raises(OutputPathError, match=f"directory {ro} is on a read-only filesystem"):
            check_output_file(ro / "x.png", overwrite=True)
        with pytest.raises(OutputPathError, match="read-only filesystem"):
            check_output_dir(ro / "wds")
        with pytest.raises(OutputPathError, match="read-only filesystem"):
            check_output_dir(ro)
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_latents_out_never_replaces_special_files(specials, tmp_path, capsys):
    """`latents --out X --overwrite` used to replace /dev/null with a regular file."""
    d = specials
    base = ["latents", "--library", "placeholder", "--n", "5"]
    for out, words in [(d / "null.png", "is a character device"), (d / "fifo.png", "is a FIFO"),
                       (d / "dir.png", "is a directory"), (d / "link.png", "is a character device"),
                       ("", "is empty"), (d / "missing" / "l.h5", "does not exist"),
                       ("/proc/l.h5", "/proc pseudo-filesystem")]:
        with no_hang():
            code, out_, err = cli(base + ["--out", str(out), "--overwrite"], capsys)
        assert_one_line_error(code, err, words)
        assert out_ == ""
    assert is_our_chardev(d / "null.png") and stat.S_ISFIFO(os.lstat(d / "fifo.png").st_mode)
    assert os.path.islink(d / "link.png")
    # a regular file is replaced atomically, leaving nothing else behind
    target = tmp_path / "lat.h5"
    target.write_bytes(b"old")
    code, out_, err = cli(base + ["--out", str(target)], capsys)
    assert_one_line_error(code, err, "exists; use --overwrite")
    assert target.read_bytes() == b"old"
    code, out_, _ = cli(base + ["--out", str(target), "--overwrite"], capsys)
    assert code == 0 and "wrote 5 latent rows" in out_
    with h5py.File(target, "r") as f:
        assert list(f["index"][()]) == [0, 1, 2, 3, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.h5", "sp"]
    r = subprocess.run([sys.executable, "-m", "latentscape", *base, "--out", str(d / "null.png"), "--overwrite"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert r.stderr.startswith("error: latents file") and is_our_chardev(d / "null.png")


def test_image_outputs_are_checked_before_any_work(specials, tmp_path, capsys):
    """info --plot, preview --out, assets preview --out: bad paths fail at once (no summary
    printed, no render started) with one line."""
    d = specials
    root = tmp_path / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=4, shard_size=4, resolution=8))
    bad = [("", "is empty"), (d / "null.png", "character device"), (d / "fifo.png", "FIFO"),
           (d / "h.txt", "must end in .png, .jpg, .jpeg"), (d / "missing" / "h.png", "does not exist"),
           ("/proc/h.png", "/proc pseudo-filesystem"), (d / "file.txt" / "h.png", "is a file, not a directory")]
    for path, words in bad:
        for args in (["info", str(root), "--plot", str(path)],
                     ["preview", "--library", "placeholder", "--out", str(path), "--quiet"],
                     ["assets", "preview", "--library", "placeholder", "--out", str(path)]):
            with no_hang():
                code, out, err = cli(args, capsys)
            assert_one_line_error(code, err, words)
            assert out == ""  # nothing was summarised or rendered
    assert is_our_chardev(d / "null.png") and stat.S_ISFIFO(os.lstat(d / "fifo.png").st_mode)
    code, out, _ = cli(["info", str(root), "--plot", str(tmp_path / "h.jpg")], capsys)
    assert code == 0 and (tmp_path / "h.jpg").read_bytes()[:2] == b"\xff\xd8"


def test_export_never_replaces_special_files(specials, tmp_path, capsys):
    d = specials
    root = tmp_path / "ds"
    write_synthetic_dataset(root, DatasetSpec(library="placeholder", n=6, shard_size=3, resolution=8))
    for out, words in [("", "is empty"), (d / "file.txt", "is a regular file, not a directory"),
                       (d / "null.png", "is a character device, not a directory"),
                       (d / "nope" / "wds", f"directory {d / 'nope'} does not exist"),
                       ("/proc/wds", "/proc pseudo-filesystem")]:
        code, _, err = cli(["export", "webdataset", str(root), str(out)], capsys)
        assert_one_line_error(code, err, words)
    assert not (d / "nope").exists() and (d / "file.txt").read_text() == "keep me"
    wds = tmp_path / "wds"
    wds.mkdir()
    os.mkfifo(wds / "latentscape-000000.tar")
    chardev(wds / "latentscape-000001.tar")
    with no_hang():
        code, _, err = cli(["export", "webdataset", str(root), str(wds), "--overwrite"], capsys)
    assert_one_line_error(code, err, "latentscape-000000.tar is a FIFO (named pipe), not a regular file")
    assert stat.S_ISFIFO(os.lstat(wds / "latentscape-000000.tar").st_mode)
    assert is_our_chardev(wds / "latentscape-000001.tar")
    # a planted symlink at the old predictable temporary name is never written through
    good = tmp_path / "good"
    good.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (good / f".latentscape-000000.tar.tmp{os.getpid()}").symlink_to(victim)
    paths = export_webdataset(root, good, shard_size=4)
    assert victim.read_text() == "precious" and [p.name for p in paths] == ["latentscape-000000.tar",
                                                                            "latentscape-000001.tar"]
    with tarfile.open(paths[0]) as t:
        assert json.load(t.extractfile("000000002.json"))["index"] == 2
    with pytest.raises(ExportError, match="already holds 2"):
        export_webdataset(root, good)


def _cache_ok(monkeypatch, tmp_path, model):
    """Record `model` as already probed, so folder_objects needs no Blender for it."""
    import hashlib
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("LATENTSCAPE_CACHE", str(cache))
    from latentscape.assets.folders import PROBE_VERSION
    from latentscape.assets.hulls import hull_text
    from latentscape.latents.geometry import box_corners
    key = f"{PROBE_VERSION}:{hashlib.sha256(model.read_bytes()).hexdigest()}:null"
    value = {"extents": [1, 1, 1], "triangles": 12, "hull": hull_text(box_corners([1, 1, 1])),
             "colour": [0.6, 0.6, 0.6], "size_m": 1.0}
    (cache / "model-probe.json").write_text(json.dumps({key: {"status": "ok", "value": value}}))


def test_user_model_folder_cannot_lead_outside(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    (outside / "cat").mkdir(parents=True)
    os.mkfifo(outside / "secret.obj")  # reading (hashing) it would block
    v, f = M.box((1.0, 1.0, 1.0))
    M.write_ply(outside / "cat" / "x.ply", v, f)
    root = tmp_path / "models"
    (root / "crate").mkdir(parents=True)
    M.write_ply(root / "crate" / "good.ply", v, f)
    (root / "crate" / "link.obj").symlink_to(outside / "secret.obj")
    (root / "crate" / "pipe.stl").parent.mkdir(exist_ok=True)
    os.mkfifo(root / "crate" / "pipe.stl")
    (root / "evil").symlink_to(outside / "cat")  # a whole category folder outside
    (root / "crate" / "inner.ply").symlink_to(root / "crate" / "good.ply")  # inside: fine
    _cache_ok(monkeypatch, tmp_path, root / "crate" / "good.ply")
    with no_hang():
        with pytest.raises(AssetError) as e:
            folder_objects(root)
        msg = str(e.value)
        assert "3 model file(s)" in msg and "--skip-bad-assets" in msg
        assert f"link.obj: leads outside the asset folder {root} (to {outside / 'secret.obj'})" in msg
        assert f"evil: leads outside the asset folder {root} (to {outside / 'cat'})" in msg
        assert "pipe.stl: is a FIFO (named pipe), not a regular file" in msg
        with warnings.catch_warnings(record=True) as warned:
            warnings.simplefilter("always")
            objs, skipped = folder_objects(root, skip_bad=True)
    assert sorted(o.name.rsplit("/", 1)[-1] for o in objs) == ["good", "inner"]
    assert len(skipped) == 3 and sum("leads outside" in str(w.message) for w in warned) == 2
    assert stat.S_ISFIFO(os.lstat(outside / "secret.obj").st_mode)
    (root / "crate" / "good.yaml").symlink_to(outside / "secret.obj")  # a sidecar outside
    with no_hang(), pytest.raises(AssetError, match="model sidecar .*good.yaml leads outside"):
        folder_objects(root, skip_bad=True)


def test_hdri_folder_cannot_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.mkfifo(outside / "secret.exr")
    d = tmp_path / "hdri"
    d.mkdir()
    (d / "good.exr").write_bytes(b"v/1\x01")
    (d / "link.hdr").symlink_to(outside / "secret.exr")
    os.mkfifo(d / "pipe.exr")
    with no_hang(), pytest.raises(AssetError) as e:
        folder_backgrounds(d)
    msg = str(e.value)
    assert msg.startswith(f"2 background file(s) in {d} may not be read")
    assert f"link.hdr: leads outside the background folder {d} (to {outside / 'secret.exr'})" in msg
    assert "pipe.exr: is a FIFO (named pipe), not a regular file" in msg
    (d / "link.hdr").unlink()
    (d / "pipe.exr").unlink()
    assert [b.name for b in folder_backgrounds(d)] == ["hdri/good"]
