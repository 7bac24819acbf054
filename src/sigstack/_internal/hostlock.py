"""A host-local advisory lock, so that writers on one machine take turns.

The read-modify-write of a shared registry tag (:mod:`sigstack.oci.layouts.merge`)
can only detect and repair lost updates, never prevent them, because registries have
no conditional PUT. Most concurrent writers of one tag, though, run on one machine (a
CI job that signs every tag with ``xargs -P``, a Makefile with ``-j``, several
pipelines on one runner): for them an ``flock(2)`` on a file named after the tag
serialises the whole check-PUT-read-back, and the window that remains only concerns
writers on other machines.

``flock`` locks belong to an open file description, so the kernel drops them when the
holder exits or is killed: there are no stale locks to clean up. The lock is advisory
and best-effort: when the directory cannot be created or locked (read-only home, a
filesystem without ``flock``) the writer goes on unlocked, protected by the read-back
alone. The standard library's :mod:`fcntl` is the whole implementation; the
third-party lock packages add Windows support and stale-lock heuristics that ``flock``
does not need.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path


def default_lock_dir() -> Path:
    """The user's cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``) + ``sigstack/locks``.

    Per user, so no other account can hold or pre-create a lock of ours."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sigstack" / "locks"


@contextlib.contextmanager
def host_lock(directory: Path, name: str, timeout: float) -> Iterator[bool]:
    """Hold an exclusive lock on ``name`` for the ``with`` block; yields whether it is held.

    Waits at most ``timeout`` seconds for another holder (then yields False and the
    caller proceeds unlocked, as when the lock cannot be taken at all)."""
    path = directory / (hashlib.sha256(name.encode()).hexdigest()[:32] + ".lock")
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        yield False
        return
    try:
        deadline = time.monotonic() + timeout
        pause = 0.002
        held = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    break  # no flock on this filesystem: unlocked
                if time.monotonic() >= deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
        yield held
    finally:
        os.close(fd)  # releases the lock
