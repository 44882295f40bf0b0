"""Checks on a user's .blend file that need no Blender: is it there, is it a .blend, its hash."""
from __future__ import annotations

import hashlib
from pathlib import Path

# A .blend starts with "BLENDER"; Blender also writes them gzip- (before 3.0) or zstd-compressed.
_MAGIC = {b"BLENDER": "blend", b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


def header_problem(path) -> str | None:
    """A one-line problem if `path` is missing, not a file or not a .blend file; None if it looks like one."""
    p = Path(path)
    if not p.exists():
        return f"scene file {p} does not exist"
    if not p.is_file():
        return f"scene file {p} is not a file"
    with open(p, "rb") as f:
        head = f.read(7)
    if not any(head.startswith(m) for m in _MAGIC):
        return f"scene file {p} is not a .blend file (it starts with {head[:7]!r}, not b'BLENDER')"
    return None


def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
