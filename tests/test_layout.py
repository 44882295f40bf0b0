"""Architecture rules of DESIGN.md, enforced: which modules may import Blender and torch, the
direction of imports between the package's parts, and no import cycles.

Imports are read with `ast` from every module of latentscape, top-level or inside a
function alike (a function-level import is still a dependency)."""
import ast
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "latentscape"
BLENDER_MODULES = {"bpy", "bmesh", "mathutils", "gpu", "freestyle", "aud"}  # and bl_* (bl_math, bl_ui, ...)


def is_blender(top: str) -> bool:
    return top in BLENDER_MODULES or top.startswith("bl_")


def test_only_renderer_blender_imports_bpy():
    """Every import statement (inside functions too, `import os, bpy` too) is read from the AST."""
    allowed = (f"{PKG.name}.renderer.blender", f"{PKG.name}.blender_scenes")
    _, external = import_graph(PKG)
    offenders = [str(e) for e in external if is_blender(e.target) and not e.source.startswith(allowed)]
    assert offenders == [], f"bpy imported outside latentscape/{{renderer/blender,blender_scenes}}/: {offenders}"


# ---- the import graph ----------------------------------------------------------------------
@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. latentscape.dataset.verify
    target: str  # imported module of the package, or an external top-level name (bpy, torch)
    where: str   # file:line

    def __str__(self):
        return f"{short(self.source)} -> {short(self.target)} ({self.where})"


def short(mod: str) -> str:
    return mod.split(".", 1)[1] if "." in mod else mod


def module_files(pkg_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under pkg_dir (a package's name is its __init__)."""
    out = {}
    for p in sorted(Path(pkg_dir).rglob("*.py")):
        parts = list(p.relative_to(Path(pkg_dir).parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = p
    return out


def import_graph(pkg_dir: Path) -> tuple[list[Edge], list[Edge]]:
    """(edges between the package's modules, edges to outside packages) of every import statement.

    `from a.b import c` imports module a.b (running its __init__) and module a.b.c if it exists;
    relative imports are resolved against the importing module. A file that does not parse
    fails the test that reads the graph."""
    files = module_files(pkg_dir)
    pkg = Path(pkg_dir).name
    internal, external = [], []

    def owner(name: str) -> str | None:  # the longest module prefix of a dotted name
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    for mod, path in files.items():
        tree = ast.parse(path.read_text(), str(path))  # SyntaxError names the file
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                # like the project's canonical checker: `from pkg import sub` also imports pkg itself
                targets = [src] + [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in files]
            else:
                continue
            where = f"{path.relative_to(Path(pkg_dir).parent)}:{node.lineno}"
            for t in targets:
                if t == pkg or t.startswith(pkg + "."):
                    target = owner(t)
                    if target and target != mod:
                        internal.append(Edge(mod, target, where))
                else:
                    external.append(Edge(mod, t.split(".")[0], where))
    return internal, external


# ---- the rules -------------------------------------------------------------------------------
# A part is a top-level module or subpackage of latentscape; dataset/torch.py (the torch
# dataset, a consumer above storage) is a part of its own.
APP = {"cli", "cli_analyze", "__main__", "specopts", "api", "preview", "latentscape"}  # the application: nothing below imports it
BOTTOM = {"errors", "outpaths", "version", "files"}  # helpers everyone may import; they import only each other
_ABOVE_ASSETS = {"config", "resolve", "pipeline", "renderer", "blender_scenes", "dataset", "dataset.torch",
                 "train", "analysis", "publish"}
NEVER = {  # part -> parts it must not import (besides APP, which no part below the application imports)
    "latents": _ABOVE_ASSETS,  # latents and assets may import each other
    "assets": _ABOVE_ASSETS,
    "config": {"pipeline", "renderer", "blender_scenes", "dataset.torch", "train", "analysis", "publish"},
    "resolve": {"pipeline", "dataset.torch", "train", "analysis", "publish"},
    "pipeline": {"dataset.torch", "train", "analysis", "publish"},
    "renderer": {"pipeline", "config", "resolve", "dataset.torch", "train", "analysis", "publish"},
    "blender_scenes": {"pipeline", "config", "resolve", "dataset", "dataset.torch", "train", "analysis", "publish"},
    "dataset": {"pipeline", "renderer", "blender_scenes", "config", "resolve", "dataset.torch", "train", "analysis",
                "publish"},
    "dataset.torch": {"pipeline", "renderer", "blender_scenes", "config", "resolve", "train", "analysis", "publish"},
    "train": {"analysis", "pipeline", "renderer", "blender_scenes", "publish"},
    "analysis": {"pipeline", "renderer", "blender_scenes", "publish"},
    "publish": {"pipeline", "renderer", "blender_scenes", "train", "analysis"},
}
TORCH_ALLOWED = ("dataset.torch", "train", "analysis")


def part(mod: str) -> str:
    bits = mod.split(".")
    if bits[1:3] == ["dataset", "torch"]:
        return "dataset.torch"
    return bits[1] if len(bits) > 1 else bits[0]


def forbidden(a: str, b: str) -> str | None:
    """Why part a may not import part b, or None."""
    if a == b or a in APP:
        return None
    if a in BOTTOM:
        return None if b in BOTTOM else f"{a} is a bottom helper: it imports only {', '.join(sorted(BOTTOM))}"
    if b in APP:
        return f"{b} is the application layer: nothing below it imports it"
    if b in NEVER.get(a, ()):
        return f"{b} is above {a}"
    return None


def upward_imports(edges: list[Edge]) -> list[str]:
    return sorted({f"{e}: {why}" for e in edges if (why := forbidden(part(e.source), part(e.target)))})


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    graph = defaultdict(set)
    for e in edges:
        graph[e.source].add(e.target)
    nodes = sorted(set(graph) | {t for ts in graph.values() for t in ts})
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def describe_cycle(comp: list[str], edges: list[Edge]) -> str:
    inside = set(comp)
    lines = sorted({str(e) for e in edges if e.source in inside and e.target in inside})
    return "cycle among " + ", ".join(short(m) for m in comp) + ":\n    " + "\n    ".join(lines)


def torch_outside_allowed(external: list[Edge]) -> list[str]:
    return sorted({str(e) for e in external
                   if e.target in ("torch", "torchvision") and part(e.source) not in TORCH_ALLOWED})


@pytest.fixture(scope="module")
def graph():
    return import_graph(PKG)


# ---- the rules on latentscape ------------------------------------------------------------
def test_the_graph_sees_every_module_and_import(graph):
    internal, external = graph
    files = module_files(PKG)
    assert len(files) > 40 and {e.source for e in internal} <= set(files)
    edges = {(short(e.source), short(e.target)) for e in internal}
    assert ("pipeline.local", "renderer.device_choice") in edges  # a top-level import
    assert any(e.target == "bpy" and part(e.source) in ("renderer", "blender_scenes") for e in external)


def test_no_import_cycles(graph):
    internal, _ = graph
    found = cycles(internal)
    assert found == [], "import cycles (imports inside functions count):\n" + "\n".join(
        describe_cycle(c, internal) for c in found)


def test_no_upward_imports(graph):
    """The layers of DESIGN.md: cli -> api -> config -> resolve -> latents, assets -> pipeline ->
    renderer, blender_scenes, dataset (storage); dataset/torch.py -> train -> analysis and
    publish above storage; errors, outpaths, version, files at the bottom."""
    internal, _ = graph
    bad = upward_imports(internal)
    assert bad == [], f"{len(bad)} upward import(s):\n" + "\n".join(bad)


def test_torch_only_in_allowed_modules(graph):
    _, external = graph
    bad = torch_outside_allowed(external)
    assert bad == [], "torch imported outside dataset/torch.py, train/, analysis/:\n" + "\n".join(bad)


# ---- the checkers can fail ---------------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "latentscape"
    for rel, src in files.items():
        p = pkg / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        for d in [p.parent, *p.parent.parents]:
            if d == pkg.parent:
                break
            (d / "__init__.py").touch()
        p.write_text(src)
    return pkg


CLEAN = {
    "errors.py": "class E(Exception): pass\n",
    "config.py": "from latentscape.latents import space\nfrom latentscape.errors import E\n",
    "latents/space.py": "from latentscape.assets import library\n",
    "assets/library.py": "import numpy\n",
    "pipeline/local.py": "from ..renderer import worker\nfrom latentscape.dataset.writer import W\n",
    "renderer/worker.py": "from latentscape.dataset import writer\n",
    "renderer/blender/stage.py": "import bpy\nimport latentscape.blender_scenes as blender_scenes\n",
    "blender_scenes/studio.py": "import bpy\n",
    "dataset/writer.py": "from latentscape.errors import E\nW = 1\n",
    "dataset/torch.py": "import torch\nfrom . import writer\n",
    "cli.py": "from latentscape.pipeline.local import x\n",
}


def test_clean_synthetic_package_passes(tmp_path):
    internal, external = import_graph(_tree(tmp_path, CLEAN))
    assert cycles(internal) == [] and upward_imports(internal) == [] and torch_outside_allowed(external) == []
    assert ("pipeline.local", "renderer.worker") in {(short(e.source), short(e.target)) for e in internal}


def test_checker_finds_each_kind_of_violation(tmp_path):
    files = dict(CLEAN)
    files["latents/space.py"] += "\n\ndef f():\n    from latentscape.config import DatasetSpec  # upward, in a function\n"
    files["dataset/reader.py"] = "from ..renderer import worker\nimport os, torch\n"  # upward (relative); torch
    files["errors.py"] += "import latentscape.outpaths\nfrom latentscape.dataset import writer\n"
    files["outpaths.py"] = "import latentscape.errors\n"
    files["assets/library.py"] += "from latentscape import cli\n"
    internal, external = import_graph(_tree(tmp_path, files))
    bad = upward_imports(internal)
    assert [b.split(" (")[0] for b in bad] == [  # `from pkg import sub` imports pkg (its __init__) too
        "assets.library -> cli", "assets.library -> latentscape", "dataset.reader -> renderer",
        "dataset.reader -> renderer.worker", "errors -> dataset", "errors -> dataset.writer",
        "latents.space -> config"], bad
    assert "latentscape/latents/space.py:5" in bad[6] and "config is above latents" in bad[6]
    assert "bottom helper" in bad[5] and "application layer" in bad[0] and "application layer" in bad[1]
    found = cycles(internal)  # config -> latents.space -> config; errors <-> outpaths; and through dataset.writer
    assert ["latentscape.config", "latentscape.latents.space"] in found
    assert any({"latentscape.errors", "latentscape.outpaths"} <= set(c) for c in found)
    assert "latents.space -> config (latentscape/latents/space.py:5)" in describe_cycle(found[0], internal)
    assert torch_outside_allowed(external) == ["dataset.reader -> torch (latentscape/dataset/reader.py:2)"]


def test_bpy_rule_fails_on_a_bpy_import_outside_the_blender_modules(tmp_path, monkeypatch):
    import sys
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "PKG", _tree(tmp_path / "clean", CLEAN))
    test_only_renderer_blender_imports_bpy()  # renderer/blender/ and blender_scenes/ may
    for rel, src in (("dataset/reader.py", "def f():\n    import bpy\n"),
                     ("latents/space.py", "from mathutils import Vector\n"),
                     ("renderer/worker.py", "import bmesh as bm\n")):
        monkeypatch.setattr(this, "PKG", _tree(tmp_path / rel.replace("/", "_"), {**CLEAN, rel: src}))
        with pytest.raises(AssertionError, match=re.escape(rel)):
            test_only_renderer_blender_imports_bpy()
    monkeypatch.setattr(this, "PKG", _tree(tmp_path / "multi", {**CLEAN, "assets/x.py": "import os, bpy\n"}))
    with pytest.raises(AssertionError, match="assets.x -> bpy"):
        test_only_renderer_blender_imports_bpy()
    assert is_blender("bl_math") and is_blender("bpy") and not is_blender("bpyutils") and not is_blender("gpus")