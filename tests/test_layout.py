"""Architecture rules of DESIGN.md, enforced."""
import re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "latentscape"
BLENDER_MODULES = re.compile(r"^\s*(import|from)\s+(bpy|bmesh|mathutils|gpu|bl_\w+)\b", re.M)
TORCH = re.compile(r"^\s*(import|from)\s+(torch|torchvision)\b", re.M)


def test_only_renderer_blender_imports_bpy():
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if "renderer/blender" not in p.as_posix() and BLENDER_MODULES.search(p.read_text())]
    assert offenders == [], f"bpy imported outside latentscape/renderer/blender/: {offenders}"


def test_torch_only_in_allowed_modules():
    allowed = ("dataset/torch.py", "train/", "analysis/")
    offenders = [str(p.relative_to(PKG)) for p in PKG.rglob("*.py")
                 if not any(a in p.relative_to(PKG).as_posix() for a in allowed) and TORCH.search(p.read_text())]
    assert offenders == [], offenders


def test_rule_detects_a_violation(tmp_path):
    # the pattern really matches the forms we forbid
    for src in ("import bpy\n", "from bpy import data\n", "    import bmesh\n", "from mathutils import Vector\n"):
        assert BLENDER_MODULES.search(src)
    assert not BLENDER_MODULES.search("import bpyutils_not_blender_x\n".replace("bpyutils_not_blender_x", "numpy"))
