"""The background table (latentscape/assets/backgrounds.py), without Blender: ids are indices
into it, so its order is part of every dataset's labels."""
import importlib.util
import os
import subprocess
import sys

import pytest

from latentscape.assets import backgrounds as B
from latentscape.assets.backgrounds import default_backgrounds, folder_backgrounds
from latentscape.errors import AssetError, SpecError

NAMES = ["grey", "white", "black", "blue", "green", "studio-backdrop",
         "city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset"]
HAS_BPY = importlib.util.find_spec("bpy") is not None


def test_default_table_order_kinds_and_colours():
    bgs = default_backgrounds()
    assert [b.name for b in bgs] == NAMES  # background_id i is NAMES[i]
    assert [b.kind for b in bgs] == ["color"] * 5 + ["backdrop"] + ["hdri"] * 8
    assert bgs[0].rgb == (0.5, 0.5, 0.5)  # the canonical background: neutral grey studio
    assert all(b.path is None and len(b.rgb) == 3 for b in bgs[:6])
    assert all(b.rgb is None for b in bgs[6:])
    assert {b.licence for b in bgs} == {"CC0-1.0"}
    assert bgs[0].to_dict() == {"name": "grey", "kind": "color", "licence": "CC0-1.0", "rgb": [0.5, 0.5, 0.5]}


@pytest.mark.skipif(not HAS_BPY, reason="bpy not installed")
def test_hdris_are_the_files_inside_the_bpy_wheel():
    d = B.bpy_hdri_dir()
    assert d is not None and d.is_dir() and d.as_posix().endswith("datafiles/studiolights/world")
    for b in default_backgrounds()[6:]:
        assert os.path.isfile(b.path) and os.path.dirname(b.path) == str(d) and b.path.endswith(f"/{b.name}.exr")
        assert b.to_dict()["file"] == f"{b.name}.exr"  # the manifest names the file, never this machine's path


def test_table_is_found_without_importing_bpy():
    code = ("import sys; from latentscape.assets.backgrounds import default_backgrounds; default_backgrounds(); "
            "print('bpy' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_without_the_bpy_wheel_hdris_have_no_path(monkeypatch):
    monkeypatch.setattr(B, "bpy_hdri_dir", lambda: None)
    bgs = default_backgrounds()
    assert [b.name for b in bgs] == NAMES and all(b.path is None for b in bgs)


def test_folder_backgrounds_sorted_by_name(tmp_path):
    d = tmp_path / "skies"
    d.mkdir()
    for name in ("b.hdr", "a.exr", "C.EXR", "notes.txt", "x.png"):
        (d / name).write_bytes(b"data")
    (d / "sub.exr").mkdir()  # a directory with an HDRI suffix is refused below, not silently used
    with pytest.raises(AssetError, match="sub.exr: is a directory"):
        folder_backgrounds(d)
    (d / "sub.exr").rmdir()
    bgs = folder_backgrounds(d)
    assert [b.name for b in bgs] == ["skies/C", "skies/a", "skies/b"]  # sorted by file name, suffix case ignored
    assert all(b.kind == "hdri" and b.licence == "user-supplied" and b.rgb is None for b in bgs)
    assert [b.path for b in bgs] == [str((d / n).resolve()) for n in ("C.EXR", "a.exr", "b.hdr")]


def test_folder_errors(tmp_path):
    with pytest.raises(SpecError, match="background folder not found"):
        folder_backgrounds(tmp_path / "nope")
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(SpecError, match=r"has no \.exr or \.hdr files"):
        folder_backgrounds(tmp_path)


def test_folder_files_that_may_not_be_read(tmp_path):
    d = tmp_path / "hdris"
    d.mkdir()
    (tmp_path / "outside.exr").write_bytes(b"secret")
    (d / "ok.exr").write_bytes(b"x")
    (d / "link.exr").symlink_to(tmp_path / "outside.exr")
    os.mkfifo(d / "pipe.hdr")  # reading it would block: it must be refused unread
    (d / "dangling.exr").symlink_to(tmp_path / "missing.exr")
    with pytest.raises(AssetError) as ei:
        folder_backgrounds(d)
    msg = str(ei.value)
    assert msg.startswith(f"3 background file(s) in {d} may not be read")
    assert "link.exr: leads outside the background folder" in msg
    assert "pipe.hdr: is a FIFO (named pipe), not a regular file" in msg
    assert "dangling.exr: is a symbolic link to a missing file" in msg
    assert "ok.exr" not in msg


def test_spec_folders_are_appended_in_order(tmp_path):
    from latentscape.config import DatasetSpec
    a, b = tmp_path / "a", tmp_path / "b"
    for d, files in ((a, ("z.exr",)), (b, ("y.exr", "x.hdr"))):
        d.mkdir()
        for f in files:
            (d / f).write_bytes(b"x")
    spec = DatasetSpec(library="placeholder", n=1, backgrounds=(str(b), str(a)))
    assert [x.name for x in B.backgrounds_for(spec)] == NAMES + ["b/x", "b/y", "a/z"]
