"""Silence Blender's C-level output (it writes to file descriptors 1 and 2 directly)."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet(fds=(1, 2)):
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in saved:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, s in saved.items():
            os.dup2(s, fd)
            os.close(s)
        os.close(devnull)
