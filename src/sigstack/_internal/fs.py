"""Crash-safe file writes.

Key files must never be left half-written or briefly world-readable: we create a
temporary file beside the target with the final mode already set (O_EXCL, so no
other process can have it open), write and fsync it, then ``os.replace`` it over the
target and fsync the directory. ``os.replace`` is atomic on POSIX, so a reader sees
either the old file or the whole new one. The standard library has no such helper.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def atomic_write_files(files: Iterable[tuple[Path, bytes, int]]) -> None:
    """Write several files so that each appears whole or not at all.

    All temporaries are written first and renamed only when every one of them is on
    disk, so a failure while writing (disk full, permissions) leaves no target touched.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data, mode in files:
            staged.append((_write_temp(path, data, mode), path))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in staged:
        os.replace(tmp, path)
    for directory in {path.parent for _, path in staged}:
        _fsync_dir(directory)


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write one file atomically with ``mode``."""
    atomic_write_files([(path, data, mode)])
