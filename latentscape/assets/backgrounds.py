"""Backgrounds: a neutral studio colour and the CC0 HDRIs shipped inside the bpy wheel.

Found without importing bpy, so latents and manifests can name them anywhere.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

HDRI_NAMES = ("city", "courtyard", "forest", "interior", "night", "studio", "sunrise", "sunset")


@dataclass(frozen=True)
class Background:
    name: str
    kind: str  # "color", "backdrop" or "hdri"
    rgb: tuple[float, float, float] | None = None  # linear RGB for kind "color" (and the backdrop's paper)
    path: str | None = None  # EXR file for kind "hdri"
    licence: str = "CC0-1.0"

    def to_dict(self) -> dict:
        d = {"name": self.name, "kind": self.kind, "licence": self.licence}
        if self.rgb is not None:
            d["rgb"] = list(self.rgb)
        if self.path is not None:
            d["file"] = Path(self.path).name
        return d


def bpy_hdri_dir() -> Path | None:
    """The studiolights/world folder of an installed bpy wheel, or None."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        return None
    # origin is site-packages/bpy/__init__.so before import, or
    # site-packages/bpy/<ver>/scripts/modules/bpy/__init__.py once imported
    for base in Path(spec.origin).parents:
        if base.name == "bpy":
            hits = sorted(base.glob("*/datafiles/studiolights/world"))
            if hits:
                return hits[-1]
    return None


SOLID_COLOURS = (  # linear RGB
    ("grey", (0.5, 0.5, 0.5)),      # the neutral studio: index 0, the canonical background
    ("white", (0.9, 0.9, 0.9)),
    ("black", (0.02, 0.02, 0.02)),
    ("blue", (0.08, 0.18, 0.45)),
    ("green", (0.12, 0.35, 0.12)),
)


def default_backgrounds() -> list[Background]:
    """The solid colours (grey studio first), a studio backdrop, then the 8 bpy HDRIs in name order."""
    out = [Background(name=n, kind="color", rgb=rgb) for n, rgb in SOLID_COLOURS]
    out.append(Background(name="studio-backdrop", kind="backdrop", rgb=(0.6, 0.6, 0.6)))
    d = bpy_hdri_dir()
    for name in HDRI_NAMES:
        path = str(d / f"{name}.exr") if d is not None else None
        out.append(Background(name=name, kind="hdri", path=path))
    return out


HDRI_SUFFIXES = (".exr", ".hdr")


def folder_backgrounds(folder: str | Path) -> list[Background]:
    """Every .exr / .hdr file of a folder, sorted by name, as HDRI backgrounds.

    A file that leads outside the folder (a symlink) or is not a regular file (a FIFO,
    a device) is an AssetError naming every such file; none of them is read."""
    from latentscape.errors import AssetError, SpecError
    d = Path(folder)
    if not d.is_dir():
        raise SpecError(f"background folder not found: {d}")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in HDRI_SUFFIXES)
    if not files:
        raise SpecError(f"background folder {d} has no {' or '.join(HDRI_SUFFIXES)} files")
    bad = [f"{p}: {why}" for p in files if (why := _unsafe(d, p))]
    if bad:
        raise AssetError(f"{len(bad)} background file(s) in {d} may not be read: " + "; ".join(bad))
    return [Background(name=f"{d.name}/{p.stem}", kind="hdri", path=str(p.resolve()), licence="user-supplied")
            for p in files]


def _unsafe(folder: Path, path: Path) -> str | None:
    """Why an HDRI file of `folder` may not be read (outside the folder, not a regular file), or None."""
    import os
    import stat

    from latentscape.outpaths import file_kind
    base = folder.resolve()
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return "is a symbolic link to a missing file"
    except (OSError, RuntimeError) as e:
        return f"cannot be resolved ({e})"
    if not real.is_relative_to(base):
        return f"leads outside the background folder {base} (to {real})"
    mode = os.stat(real).st_mode
    return None if stat.S_ISREG(mode) else f"is {file_kind(mode)}, not a regular file"


def backgrounds_for(spec) -> list[Background]:
    """The default backgrounds followed by those of the spec's HDRI folders."""
    out = default_backgrounds()
    for folder in spec.backgrounds:
        out += folder_backgrounds(folder)
    return out
