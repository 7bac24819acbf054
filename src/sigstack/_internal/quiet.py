"""Silencing a native library that writes to the process's stdout.

rego-cpp (``regopy``) prints its parse diagnostics straight to file descriptor 1, which
would corrupt a command's output (cosign-compatible JSON on stdout); Python-level
redirection cannot catch a C library's writes, so the descriptor itself is pointed at
/dev/null for the duration.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
