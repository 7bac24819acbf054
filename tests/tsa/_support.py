"""`sigstack tsa serve` as a child process on a free loopback port, and the trust
material a verifier needs for it (its chain as PEM, a TrustedRoot listing it)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.ca._support import Server
from tests.tiers import slow_resource
from tests.tlog._support import SIGSTACK


@dataclass
class TSA:
    server: Server
    state: Path
    chain: Path          # PEM, leaf first (what /api/v1/timestamp/certchain serves)
    trusted_root: Path   # a TrustedRoot whose only entry is this TSA

    @property
    def url(self) -> str:
        """The timestamp endpoint (cosign's --timestamp-server-url, a signing config's tsaUrls)."""
        return self.server.url + "/api/v1/timestamp"

    def stop(self) -> None:
        self.server.stop()


def start_tsa(workdir: Path, extra: list[str] | None = None) -> TSA:
    slow_resource("a timestamp authority (sigstack tsa serve)")
    workdir.mkdir(parents=True, exist_ok=True)
    state = workdir / "tsa-state"
    server = Server(["tsa", "serve", "--state", str(state), *(extra or [])], workdir,
                    "/api/v1/timestamp/certchain", "tsa").start()
    import httpx

    chain = workdir / "tsa-chain.pem"
    chain.write_bytes(httpx.get(server.url + "/api/v1/timestamp/certchain", timeout=10).content)
    root = workdir / "tsa-trusted-root.json"
    subprocess.run([SIGSTACK, "trusted-root", "create", "--tsa",
                    f"url={server.url}/api/v1/timestamp,certificate-chain={chain}", "--out", str(root)],
                   check=True, capture_output=True)
    return TSA(server, state, chain, root)
