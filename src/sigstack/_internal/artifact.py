"""Open the artifact a command works on, turning OS errors into one-line messages."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sigstack.errors import ArtifactError


@contextlib.contextmanager
def open_artifact(name: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary stream for a path, or stdin for ``-``."""
    if str(name) == "-":
        yield sys.stdin.buffer
        return
    path = Path(name)
    try:
        if path.is_dir():
            raise ArtifactError(f"reading {name}: is a directory, not a file")
        f = path.open("rb")
    except FileNotFoundError:
        raise ArtifactError(f"reading {name}: no such file") from None
    except PermissionError:
        raise ArtifactError(f"reading {name}: permission denied") from None
    except OSError as exc:
        raise ArtifactError(f"reading {name}: {exc.strerror or exc}") from None
    with f:
        try:
            yield f
        except OSError as exc:
            raise ArtifactError(f"reading {name}: {exc.strerror or exc}") from None
