"""Streaming digests of files and streams with flat memory.

``hashlib.file_digest`` exists, but it uses a 256 KiB buffer and only takes
file objects; we read into one reusable 1 MiB buffer, which measured faster on
large artifacts (see BENCHMARKS.md) and lets callers pass any binary stream.
"""

from __future__ import annotations

import hashlib
import threading
from typing import BinaryIO

from sigstack.errors import Cancelled

CHUNK = 1 << 20




def hash_stream(stream: BinaryIO, algorithm: str = "sha256",
                cancel: threading.Event | None = None) -> bytes:
    """Return the digest of everything left in ``stream``, reading in fixed chunks.

    ``cancel``, when set from another thread, stops the work at the next chunk.
    """
    h = hashlib.new(algorithm)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        while True:
            n = readinto(view)
            if not n:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("hashing cancelled")
            h.update(view[:n])
    else:
        while chunk := stream.read(CHUNK):
            h.update(chunk)
    return h.digest()
