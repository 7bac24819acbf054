"""Slow clients (slowloris) against the log, the CA and the admission webhook: 200
connections that dribble their headers or their body one byte at a time must not
starve a normal client, and the server must close each of them (with a 408) once the
request read timeout passes (sigstack._internal.serving: uvicorn has no such timeout
of its own, so without it these connections stay open as long as the client likes).
Assertions are functional: a generous client timeout for the normal request and a
generous bound for the closings, no timing measured."""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from tests.keys_backends._http import Tls, make_tls
from tests.servers import _support as s
from tests.servers._support import Proc, raw_connect, review_json

pytestmark = pytest.mark.needs_server
SLOW = 200  # half dribble headers, half bodies
TIMEOUT = ("--read-timeout", "2s")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


class Dribblers:
    """``SLOW`` connections to ``proc`` sending ``path``'s request a byte at a time."""

    def __init__(self, proc: Proc, path: str) -> None:
        self.open: list[socket.socket] = []
        self.answers: dict[int, bytes] = {}
        for i in range(SLOW):
            sock = raw_connect(proc, timeout=10)
            head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            if i % 2:  # the whole head, then a body that never ends
                head += "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
            sock.sendall(head.encode())
            self.open.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _closed(self, sock: socket.socket) -> bool:
        """True once the server has answered or closed ``sock`` (its answer kept)."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending and not select.select([sock], [], [], 0)[0]:
            return False
        try:
            sock.settimeout(0.05)
            data = sock.recv(4096)
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except OSError:
            data = b""
        self.answers[id(sock)] = self.answers.get(id(sock), b"") + data
        if data:
            return self._closed(sock)  # read on to the end of the stream
        return True

    def _run(self) -> None:
        while not self.stop.is_set() and self.open:
            for sock in list(self.open):
                if self._closed(sock):
                    self.open.remove(sock)
                    sock.close()
                    continue
                try:
                    sock.settimeout(1)
                    sock.sendall(b"X")  # one more header-name or body byte
                except OSError:
                    pass  # the server closed it; seen as closed on the next round
            time.sleep(0.3)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.open:
            sock.close()


def _slowloris(proc: Proc, slow_path: str, normal: tuple[str, str, bytes | None], expect: int) -> None:
    with s.running(proc):
        dribblers = Dribblers(proc, slow_path)
        try:
            method, path, body = normal
            with proc.client(timeout=60) as c:  # a normal client still gets its answer
                r = c.request(method, path, content=body,
                              headers={"Content-Type": "application/json"} if body else None)
                assert r.status_code == expect, r.text
            bound = time.monotonic() + 90  # a failure bound, not a measurement
            while dribblers.open and time.monotonic() < bound:
                time.sleep(0.2)
            assert not dribblers.open, f"{len(dribblers.open)} slow connections still open"
            answers = list(dribblers.answers.values())
            assert len(answers) == SLOW
            timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408 ")]
            assert len(timed_out) >= SLOW * 0.9, {a[:40] for a in answers}
            assert all(b"request not received within the read timeout" in a for a in timed_out)
            with proc.client() as c:  # and the server is still fine afterwards
                assert c.get(proc.probe).status_code == 200
        finally:
            dribblers.close()


def test_slowloris_log(tmp_path: Path) -> None:
    _slowloris(s.tlog(tmp_path, *TIMEOUT), "/api/v1/log/entries", ("GET", "/api/v1/log", None), 200)


def test_slowloris_ca(tmp_path: Path) -> None:
    oidc = s.oidc(tmp_path)
    with s.running(oidc):
        _slowloris(s.ca(tmp_path, oidc.url, *TIMEOUT), "/api/v2/signingCert",
                   ("GET", "/api/v2/trustBundle", None), 200)


def test_slowloris_webhook(tmp_path: Path, tls: Tls) -> None:
    _slowloris(s.admission(tmp_path, tls, *TIMEOUT), "/validations", ("POST", "/validations", review_json()), 200)


def test_keep_alive_and_large_bodies_still_work_with_the_read_timeout(tmp_path: Path) -> None:
    """A keep-alive client sending requests one after another, pausing between them
    longer than nothing but shorter than the keep-alive timeout, and a 3 MB body sent
    at loopback speed, are not cut off by the read timeout."""
    with s.running(s.tlog(tmp_path, *TIMEOUT)) as (log,), log.client() as c:
        for _ in range(3):
            assert c.get("/api/v1/log").status_code == 200
            time.sleep(1)
        r = c.post("/api/v1/log/entries", content=b'{"x": "' + b"a" * (3 << 20) + b'"}',
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 400  # read whole and refused as an entry, not timed out
