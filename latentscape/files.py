"""Small file-system helpers every layer may use: temporary names per writer, atomic replace."""
from __future__ import annotations

import os
import socket
from pathlib import Path


def owner_tag() -> str:
    """host.pid of this process: the suffix of its temporary files, so that a writer
    (or whoever takes over its expired claim) deletes exactly its leftovers."""
    return f"{socket.gethostname()}.{os.getpid()}"


def write_atomic(path: str | Path, text: str):
    """Replace `path` with `text` atomically (see `replace_atomically`)."""
    replace_atomically(path, lambda fh: fh.write(text.encode()))


def replace_atomically(path: str | Path, write):
    """Replace `path` with what `write(binary file)` writes, through a temporary file named for
    this writer and a rename: a reader sees the old or the new content, never half; a failed
    write (disk full) leaves no temporary file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{owner_tag()}.tmp")
    tmp.unlink(missing_ok=True)  # our own leftover, or something planted: never written through
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_in_shared_dir(directory: str | Path, create, tries: int = 3):
    """`create()` a file in `directory`, which other writers remove once it is empty: make the
    folder, create, and start over if the folder vanished in between. Returns what `create` returns."""
    for attempt in range(tries):
        Path(directory).mkdir(exist_ok=True)
        try:
            return create()
        except FileNotFoundError:
            if attempt == tries - 1:
                raise
