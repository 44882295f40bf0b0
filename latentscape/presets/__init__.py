"""Preset specs shipped with latentscape: plain YAML files in this folder (docs/presets.md).

`latentscape config --preset NAME` prints one; copy it to a file and edit it to make your own.
"""
from __future__ import annotations

from pathlib import Path

from latentscape.errors import SpecError

PRESETS = ("xie2024", "hvm")
ALIASES = {"tdw-image-dataset": "xie2024"}


def preset_path(name: str) -> Path:
    """The YAML file of preset `name` (or of its alias)."""
    key = ALIASES.get(name, name)
    if key not in PRESETS:
        names = ", ".join(PRESETS + tuple(f"{a} (= {t})" for a, t in ALIASES.items()))
        raise SpecError(f"unknown preset {name!r}; allowed: {names}")
    return Path(__file__).with_name(f"{key}.yaml")


def preset_comments(name: str) -> str:
    """The comment lines at the top of preset `name`'s file (its sources), as written."""
    lines = preset_path(name).read_text().splitlines()
    head = []
    for line in lines:
        if not line.startswith("#"):
            break
        head.append(line)
    return "\n".join(head)
