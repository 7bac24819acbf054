"""Every network read is bounded in size and time (issue 15): registries and logs that
stream forever, trickle, send decompression bombs or nest JSON deeper than any parser
goes each end in one clear error, within the configured timeout, with memory bounded.

The servers are :class:`hostile.HostileRegistry`, a small HTTP double on 127.0.0.1
(no real registry misbehaves on demand). No test measures the wall clock: the bodies
never end, so only the bound under test can end the command.
"""

from __future__ import annotations

import gzip
import itertools
import time
import zlib
from collections.abc import Iterator

import pytest
from hostile import HostileRegistry
from ocihelpers import one_error
from tests.helpers import sigstack

from sigstack.errors import LogClientError, RegistryError
from sigstack.oci.client import OCI_MANIFEST, RegistryClient, RegistryOptions
from sigstack.oci.reference import parse_reference
from sigstack.tlog.client import RekorClient


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    h = HostileRegistry()
    yield h
    h.close()


def _forever(chunk: bytes, pause: float = 0.0) -> Iterator[bytes]:
    yield b"{"
    for _ in itertools.count():
        if pause:
            time.sleep(pause)
        yield chunk


def _bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed (about a thousandth of the size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join([*(c.compress(block) for _ in range(size >> 20)), c.flush()])


def test_manifest_streamed_forever(hostile, keypair) -> None:
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (200, {"Content-Type": OCI_MANIFEST},
                                                          _forever(b" " * 65536)))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "over the 4194304-byte limit")


def test_manifest_trickled_past_the_timeout(hostile, keypair) -> None:
    """One byte every 50 ms: no socket read ever waits long enough to time out, so
    only the whole-body deadline ends it."""
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (200, {"Content-Type": OCI_MANIFEST},
                                                          _forever(b" ", pause=0.05)))
    r = sigstack("verify", "-t", "2s", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "the server took more than 2 s to send it")


def test_gzip_bomb_manifest_is_refused_unread(hostile, keypair) -> None:
    seen: list[str] = []

    def bomb(req):
        seen.append(req.headers.get("Accept-Encoding", ""))
        return 200, {"Content-Type": OCI_MANIFEST, "Content-Encoding": "gzip"}, _bomb(64 << 20)

    hostile.route("GET", "/v2/x/manifests/v1", bomb)
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    one_error(r, 1, "came gzip-encoded, which was not asked for")
    assert seen and set(seen) == {"identity"}


def test_gzip_bomb_blob_is_refused_unread(hostile) -> None:
    digest = "sha256:" + "0" * 64
    hostile.route("GET", f"/v2/x/blobs/{digest}",
                  lambda _r: (200, {"Content-Encoding": "gzip"}, gzip.compress(bytes(1 << 20))))
    with RegistryClient() as client, pytest.raises(RegistryError, match="gzip-encoded"):
        client.get_blob(parse_reference(f"{hostile.host}/x:v1").repository, digest)


@pytest.mark.parametrize("body", [b"[" * 1_000_000, b'{"a":' * 500_000], ids=["array", "object"])
def test_deeply_nested_manifest(hostile, keypair, body: bytes) -> None:
    """Served as application/json, the client parses it to learn its media type."""
    hostile.route("GET", "/v2/x/manifests/v1", lambda _r: (200, {"Content-Type": "application/json"}, body))
    r = sigstack("verify", "--key", str(keypair[1]), f"{hostile.host}/x:v1")
    assert "RecursionError" not in r.err and "unexpected" not in r.err, r.err
    one_error(r, 1, "is not valid JSON")


def test_gigantic_manifest_by_length_is_refused_before_reading(hostile) -> None:
    """A Content-Length over the bound is refused with nothing read (the double would
    otherwise block writing 3 GB)."""
    hostile.route("GET", "/v2/x/manifests/v1",
                  lambda _r: (200, {"Content-Type": OCI_MANIFEST, "Content-Length": str(3 << 30)},
                              _forever(b" " * 65536)))
    with RegistryClient(RegistryOptions(timeout=5)) as client, \
            pytest.raises(RegistryError, match=f"is {3 << 30} bytes, over the 4194304-byte limit"):
        client.get_manifest(parse_reference(f"{hostile.host}/x:v1"))


def test_retry_after_with_a_unicode_digit(hostile) -> None:
    """``"²".isdigit()`` is True and float("²") raises: the header was a traceback."""
    calls = {"n": 0}

    def busy(_req):
        calls["n"] += 1
        return (503, {"Retry-After": "\u00b2"}, b"") if calls["n"] == 1 else (200, {"Content-Type": OCI_MANIFEST},
                                                                              b'{"schemaVersion":2}')

    hostile.route("GET", "/v2/x/manifests/v1", busy)
    with RegistryClient(RegistryOptions(backoff=0.01)) as client:
        assert client.get_manifest(parse_reference(f"{hostile.host}/x:v1")).data == b'{"schemaVersion":2}'


# ---- the transparency log client ---------------------------------------------------

def test_log_streaming_forever(hostile) -> None:
    hostile.route("GET", "/api/v1/log", lambda _r: (200, {"Content-Type": "application/json"},
                                                    _forever(b" " * 65536)))
    with RekorClient(f"http://{hostile.host}", timeout=30) as log, \
            pytest.raises(LogClientError, match="over the 33554432-byte limit"):
        log.log_info()


def test_log_trickling(hostile) -> None:
    hostile.route("GET", "/api/v1/log", lambda _r: (200, {"Content-Type": "application/json"},
                                                    _forever(b" ", pause=0.05)))
    with RekorClient(f"http://{hostile.host}", timeout=1) as log, \
            pytest.raises(LogClientError, match="took more than 1 s"):
        log.log_info()


@pytest.mark.parametrize("status", [200, 500])
def test_log_answer_nested_too_deeply(hostile, status: int) -> None:
    hostile.route("GET", "/api/v1/log", lambda _r: (status, {"Content-Type": "application/json"}, b"[" * 100_000))
    with RekorClient(f"http://{hostile.host}", timeout=30) as log, pytest.raises(LogClientError):
        log.log_info()


def test_log_gzip_bomb(hostile) -> None:
    hostile.route("GET", "/api/v1/log", lambda _r: (200, {"Content-Encoding": "gzip"}, _bomb(16 << 20)))
    with RekorClient(f"http://{hostile.host}", timeout=30) as log, \
            pytest.raises(LogClientError, match="gzip-encoded"):
        log.log_info()
