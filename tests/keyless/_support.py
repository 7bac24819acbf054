"""`sigstack serve` as a child process for the keyless tests: a whole private Sigstore
(development OIDC issuer, CA with its CT log, transparency log, timestamp authority) on free loopback ports,
and tokens minted with the issuer key it keeps in its directory."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.tiers import slow_resource
from tests.tlog._support import SIGSTACK, free_port


@dataclass
class Served:
    dir: Path
    oidc: str
    ca: str
    tlog: str
    tsa: str
    proc: subprocess.Popen[bytes]
    log: Path
    trusted_root: Path = field(init=False)
    signing_config: Path = field(init=False)
    trust_config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.trusted_root, self.signing_config, self.trust_config = (
            self.dir / f"{n}.json" for n in ("trusted_root", "signing_config", "trust_config"))

    def token(self, email: str | None = "alice@example.com", github: bool = False, **kw: Any) -> str:
        """A token signed with the issuer's key from the state directory."""
        from sigstack.oidc.issuer import DevIssuer, load_or_create_key

        issuer = DevIssuer(self.oidc, load_or_create_key(self.dir / "oidc"))
        return issuer.mint(None, None if github else email, github=github, **kw)

    def env(self) -> dict[str, str]:
        """The lines of DIR/env, as a user sourcing it gets them."""
        out = {}
        for line in (self.dir / "env").read_text().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                out[k] = v
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_served(state: Path, workdir: Path) -> Served:
    slow_resource("sigstack serve")
    ports = [free_port() for _ in range(4)]
    log = workdir / f"serve-{ports[0]}.log"
    out = open(log, "wb")  # noqa: SIM115 - the child writes to it until it stops
    proc = subprocess.Popen([SIGSTACK, "serve", "--dir", str(state), "--oidc-port", str(ports[0]),
                             "--ca-port", str(ports[1]), "--tlog-port", str(ports[2]), "--tsa-port", str(ports[3])],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                            env={k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))})
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    served = Served(state, urls[0], urls[1], urls[2], urls[3] + "/api/v1/timestamp", proc, log)
    deadline = time.monotonic() + 60
    probes = [urls[0] + "/.well-known/openid-configuration", urls[1] + "/api/v2/trustBundle",
              urls[2] + "/api/v1/log", urls[3] + "/api/v1/timestamp/certchain"]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sigstack serve exited: {log.read_text()}")
        try:
            if all(httpx.get(p, timeout=1).status_code == 200 for p in probes) and "Press Ctrl-C" in log.read_text():
                return served
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    served.stop()
    raise RuntimeError(f"sigstack serve did not start: {log.read_text()}")
