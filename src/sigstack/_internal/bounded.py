"""Reading an HTTP response body from a server that may be hostile, within bounds.

httpx bounds each socket read by its timeout, not the whole body: a server that sends
one byte a second never times out, and one that streams forever fills memory when
the body is read with ``.content``/``.json()``. httpx also undoes any
``Content-Encoding`` it receives, so a small gzip/brotli/zstd body can expand a
thousandfold within one chunk, before any size check sees it. The clients therefore
ask for ``Accept-Encoding: identity`` (:data:`IDENTITY`), read with :func:`read_body`,
which refuses an encoding nobody asked for, counts bytes as they arrive and stops at
the size limit or the deadline, whichever comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: request headers that ask the server not to compress (registries, logs and CAs do not)
IDENTITY = {"Accept-Encoding": "identity"}


def read_body(resp: Any, limit: int, seconds: float, what: str,
              error: Callable[[str], Exception], too_large: Callable[[str], Exception] | None = None,
              update: Callable[[bytes], None] | None = None) -> bytes:
    """The body of a streamed httpx response: at most ``limit`` bytes, read within
    ``seconds`` of the call (the last read may overrun by one socket timeout).
    ``update`` sees each chunk (a running digest)."""
    too_large = too_large or error
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        raise error(f"{what} came {encoding}-encoded, which was not asked for (a decompression bomb "
                    "is refused unread)")
    length = resp.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and len(length) < 20 and int(length) > limit:
        raise too_large(f"{what} is {length} bytes, over the {limit}-byte limit")
    deadline = time.monotonic() + seconds
    buf = bytearray()
    for chunk in resp.iter_raw():
        buf += chunk
        if len(buf) > limit:
            raise too_large(f"{what} is over the {limit}-byte limit")
        if update is not None:
            update(chunk)
        if time.monotonic() > deadline:
            raise error(f"{what}: the server took more than {seconds:g} s to send it")
    return bytes(buf)
