"""A real forward proxy for the proxy tests: Debian's ``tinyproxy`` (1.11), run in the
foreground (``-d``) with a generated config on a free loopback port and its own log.

The log is the evidence: tinyproxy writes one ``Request (file descriptor N): METHOD
URL HTTP/1.1`` line per proxied request (absolute-form for plain HTTP, ``CONNECT
host:port`` for HTTPS), so a test reads which requests went through it.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.tiers import slow_resource

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tinyproxy:
    port: int
    log: Path
    proc: subprocess.Popen[bytes]
    user: str = ""
    password: str = ""

    @property
    def url(self) -> str:
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    def mark(self) -> int:
        """The current end of the log: pass it to :meth:`requests` to see only later lines."""
        return self.log.stat().st_size

    def requests(self, since: int = 0) -> list[str]:
        """``METHOD target`` of every request the proxy received after ``since``."""
        with self.log.open("rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
        return re.findall(r"Request \(file descriptor \d+\): (\S+ \S+) HTTP/", text)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_tinyproxy(tmp: Path, basic_auth: tuple[str, str] | None = None) -> Tinyproxy:
    slow_resource("tinyproxy")
    """Start tinyproxy on a free 127.0.0.1 port (retrying if another process takes the
    port between our probe and tinyproxy's bind); the caller stops it."""
    if not Path(TINYPROXY).exists():
        pytest.fail("tinyproxy is not installed: run scripts/bootstrap (apt package tinyproxy)")
    tmp.mkdir(parents=True, exist_ok=True)
    for attempt in range(5):
        port = free_port()
        log = tmp / f"tinyproxy-{attempt}.log"
        log.touch()
        conf = tmp / f"tinyproxy-{attempt}.conf"
        lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 60", f'LogFile "{log}"',
                 "LogLevel Connect", "MaxClients 50", "Allow 127.0.0.1", "DisableViaHeader Yes"]
        if basic_auth:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        conf.write_text("\n".join(lines) + "\n")
        proc = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                time.sleep(0.05)
                continue
            user, password = basic_auth or ("", "")
            return Tinyproxy(port, log, proc, user, password)
        proc.kill()
        proc.wait(10)
    pytest.fail("tinyproxy did not start")
