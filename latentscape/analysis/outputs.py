"""An analysis output directory: JSON (numbers), CSV (tables), PNG (figures), written atomically.
An existing file is replaced only with `overwrite`, so a second analysis never silently clobbers
the first."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from latentscape.errors import OutputPathError


class OutDir:
    """The files one analysis writes into `path` (created with its parents)."""

    def __init__(self, path, names: list[str], overwrite: bool = False):
        from latentscape.outpaths import check_output_dir, check_output_file
        self.path = check_output_dir(path, what="--out directory", parents=True)
        existing = [n for n in names if (self.path / n).exists()]
        if existing and not overwrite:
            raise OutputPathError(f"--out {self.path} already holds {', '.join(existing)}; "
                                  f"use --overwrite to replace them, or another --out")
        if self.path.is_dir():
            for n in names:
                check_output_file(self.path / n, overwrite=True, what="output file")
        self.written: list[Path] = []

    def create(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def file(self, name: str) -> Path:
        self.create()
        p = self.path / name
        self.written.append(p)
        return p

    def json(self, name: str, obj) -> Path:
        from latentscape.files import write_atomic
        p = self.file(name)
        write_atomic(p, json.dumps(finite(obj), indent=1, allow_nan=False) + "\n")
        return p

    def csv(self, name: str, rows: list[dict]) -> Path:
        from latentscape.files import write_atomic
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(finite(rows))
        p = self.file(name)
        write_atomic(p, buf.getvalue())
        return p


def finite(obj):
    """NaN / inf -> None (JSON has no NaN); numpy scalars and arrays -> Python."""
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return finite(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_text(path: Path, text: str) -> Path:
    from latentscape.files import write_atomic
    write_atomic(path, text)
    return Path(path)
