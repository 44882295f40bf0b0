"""Checks on output paths, made before any work starts (bottom layer: stdlib and errors only).

A command only ever writes a regular file it may replace, or into a directory: never a
device, FIFO or socket, never under /proc or /sys, never on a read-only mount. Each check
raises OutputPathError with one line that names the path and what is wrong with it.
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from latentscape.errors import OutputPathError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PSEUDO_ROOTS = ("/proc", "/sys")

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"),
          (stat.S_ISREG, "a regular file"))


def file_kind(mode: int) -> str:
    """Words for the file type in an st_mode: 'a character device', 'a FIFO (named pipe)', ..."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "a special file"


def check_output_file(path, *, overwrite: bool, suffixes: tuple[str, ...] | None = None,
                      what: str = "output file") -> Path:
    """The absolute path of a single output file, once it is safe to (re)place it.

    Refused: an empty path, a wrong suffix (`suffixes`, e.g. IMAGE_SUFFIXES), /proc or /sys,
    an existing path that is not a regular file (directory, device, FIFO, socket, symlink),
    an existing file unless `overwrite`, a missing parent directory, a parent that
    is a file, a name longer than the filesystem allows, a read-only or unwritable directory.
    """
    p = _absolute(path, what)
    _check_suffix(p, suffixes, what)
    _check_not_pseudo(p, what)
    st = _stat(p, what)
    if st is None:
        _check_parent_dir(p, what)
        _check_name(p, what)
    elif not stat.S_ISREG(st.st_mode):
        hint = "; give a file name" if stat.S_ISDIR(st.st_mode) else "; refusing to replace it"
        raise OutputPathError(f"{what} {p} is {file_kind(st.st_mode)}, not a regular file{hint}")
    elif os.path.islink(p):
        raise OutputPathError(f"{what} {p} is a symbolic link (to {os.readlink(p)}); give the path of the file itself")
    elif not overwrite:
        raise OutputPathError(f"{what} {p} exists; use --overwrite to replace it")
    _check_writable(p.parent, what)
    return p


def check_output_dir(path, *, what: str = "output directory", parents: bool = False) -> Path:
    """The absolute path of an output directory that exists, or whose parent exists (it is then
    created by the caller; with `parents`, any missing ancestors too). Refused as in
    `check_output_file`; an existing path must be a directory."""
    p = _absolute(path, what)
    _check_not_pseudo(p, what)
    st = _stat(p, what)
    if st is None and parents:
        missing = [p] + [a for a in p.parents if not os.path.lexists(a)]
        top = missing[-1]
        _check_parent_dir(top, what)
        for m in missing:
            _check_name(m, what)
        _check_writable(top.parent, what)
    elif st is None:
        _check_parent_dir(p, what)
        _check_name(p, what)
        _check_writable(p.parent, what)
    elif not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {p} is {file_kind(st.st_mode)}, not a directory")
    else:
        _check_writable(p, what)
    return p


def check_replaceable(path, what: str = "output file") -> None:
    """Refuse to replace `path` unless it is absent or a regular file (a symlink is not followed)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise OutputPathError(f"{what} {path} is {file_kind(st.st_mode)}, not a regular file; "
                              f"refusing to replace it (remove it yourself if that is intended)")


def _absolute(path, what: str) -> Path:
    if path is None:
        raise OutputPathError(f"{what} is missing; give a path")
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if raw.strip() == "":
        raise OutputPathError(f"{what} is empty ({raw!r}); give a path (use '.' for the current directory)")
    if "\0" in raw:
        raise OutputPathError(f"{what} {raw!r} contains a NUL character")
    return Path(os.path.abspath(raw))


def _check_suffix(p: Path, suffixes, what: str):
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise OutputPathError(f"{what} {p.name!r} must end in {', '.join(suffixes)} (got "
                              f"{p.suffix or 'no suffix'!r})")


def _check_not_pseudo(p: Path, what: str):
    for cand in (str(p), os.path.realpath(p)):
        for root in PSEUDO_ROOTS:
            if cand == root or cand.startswith(root + "/"):
                raise OutputPathError(f"{what} {p} is on the {root} pseudo-filesystem; choose a path on a disk")


def _stat(p: Path, what: str):
    """os.stat of p (following symlinks), None when nothing is there."""
    try:
        return os.stat(p)
    except FileNotFoundError:
        if os.path.lexists(p):
            raise OutputPathError(f"{what} {p} is a symbolic link to a missing file ({os.readlink(p)}); "
                                  f"refusing to write through it") from None
        return None
    except NotADirectoryError:
        raise OutputPathError(f"{what} {p}: {_file_ancestor(p)} is a file, not a directory") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:
            _check_name(p, what)
        raise OutputPathError(f"{what} {p}: {e.strerror}") from None


def _check_parent_dir(p: Path, what: str):
    parent = p.parent
    try:
        st = os.stat(parent)
    except FileNotFoundError:
        raise OutputPathError(f"{what} {p}: directory {parent} does not exist; create it first") from None
    except NotADirectoryError:
        raise OutputPathError(f"{what} {p}: {_file_ancestor(p)} is a file, not a directory") from None
    except OSError as e:
        raise OutputPathError(f"{what} {p}: {parent}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise OutputPathError(f"{what} {p}: {parent} is {file_kind(st.st_mode)}, not a directory")


def _file_ancestor(p: Path) -> Path:
    """The nearest existing ancestor of p that is not a directory."""
    for a in p.parents:
        if os.path.lexists(a) and not os.path.isdir(a):
            cand = a
            for b in a.parents:  # the topmost non-directory is the one to name
                if os.path.lexists(b) and not os.path.isdir(b):
                    cand = b
            return cand
    return p.parent


def _check_name(p: Path, what: str):
    try:
        name_max = os.pathconf(p.parent, "PC_NAME_MAX")
        path_max = os.pathconf(p.parent, "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    n = len(os.fsencode(p.name))
    if n > name_max:
        raise OutputPathError(f"{what}: the name {p.name[:40]!r}... is {n} bytes; this filesystem allows at most "
                              f"{name_max}")
    if len(os.fsencode(str(p))) >= path_max:
        raise OutputPathError(f"{what}: the path is {len(os.fsencode(str(p)))} bytes; at most {path_max - 1} allowed")


def _check_writable(d: Path, what: str):
    try:
        flags = os.statvfs(d).f_flag
    except OSError as e:
        raise OutputPathError(f"{what}: cannot inspect directory {d}: {e.strerror}") from None
    if flags & os.ST_RDONLY:
        raise OutputPathError(f"{what}: directory {d} is on a read-only filesystem")
    if not os.access(d, os.W_OK | os.X_OK):
        raise OutputPathError(f"{what}: no permission to write in directory {d}")
