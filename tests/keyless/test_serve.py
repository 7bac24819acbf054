"""`sigstack serve` itself: the files it writes, the explorer it mounts, a clean stop on
SIGTERM/SIGINT, state kept across a restart (old signatures still verify, the log keeps
growing), and refusing a non-loopback address."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest

from tests.helpers import assert_clean_error, run_peer, sigstack
from tests.keyless._support import start_served


def test_files_and_explorer(tmp_path: Path) -> None:
    s = start_served(tmp_path / "state", tmp_path)
    try:
        root = json.loads(s.trusted_root.read_text())
        assert root["mediaType"] == "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
        assert [t["baseUrl"] for t in root["tlogs"]] == [s.tlog]
        assert [c["uri"] for c in root["certificateAuthorities"]] == [s.ca]
        config = json.loads(s.signing_config.read_text())
        assert config["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
        assert [o["url"] for o in config["oidcUrls"]] == [s.oidc]
        trust = json.loads(s.trust_config.read_text())
        assert trust["trustedRoot"] == root and trust["signingConfig"] == config
        env = s.env()
        assert env["COSIGN_TRUSTED_ROOT"] == str(s.trusted_root)
        assert env["SIGSTORE_REKOR_PUBLIC_KEY"] == str(s.dir / "tlog" / "log.pub")
        assert "COSIGN_FULCIO_URL" not in env  # cosign refuses service URLs beside a signing config
        page = httpx.get(s.tlog + "/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "NOT FOR PRODUCTION" in s.log.read_text()
    finally:
        assert s.stop() == 0


def test_state_survives_a_restart(cosign: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    art, first, second = tmp_path / "a.txt", tmp_path / "1.json", tmp_path / "2.json"
    art.write_text("kept across restarts\n")
    s = start_served(state, tmp_path)
    try:
        r = sigstack("sign-blob", "--identity-token", s.token(), "--signing-config", s.signing_config,
                     "--bundle", first, art, offline=None)
        assert r.code == 0, r.err
    finally:
        s.proc.send_signal(signal.SIGINT)  # Ctrl-C stops it as cleanly as SIGTERM
        assert s.proc.wait(20) == 0
    s = start_served(state, tmp_path)  # new ports, same keys, same logs
    try:
        r = sigstack("sign-blob", "--identity-token", s.token(), "--signing-config", s.signing_config,
                     "--bundle", second, art, offline=None)
        assert r.code == 0, r.err
        assert "tlog entry created with index: 1" in r.err
        for bundle in (first, second):
            ok = run_peer(cosign, "verify-blob", "--bundle", bundle, "--trusted-root", s.trusted_root,
                          "--certificate-identity", "alice@example.com", "--certificate-oidc-issuer",
                          json.loads(s.signing_config.read_text())["oidcUrls"][0]["url"]
                          if bundle == second else _issuer_of(bundle), art)
            assert ok.code == 0, ok.err
    finally:
        assert s.stop() == 0


def _issuer_of(bundle: Path) -> str:
    """The OIDC issuer the certificate in ``bundle`` names (the first run's port)."""
    import base64

    from cryptography import x509

    raw = base64.b64decode(json.loads(bundle.read_text())["verificationMaterial"]["certificate"]["rawBytes"])
    ext = x509.load_der_x509_certificate(raw).extensions.get_extension_for_oid(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1"))
    return ext.value.value.decode()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_refuses_non_loopback(tmp_path: Path, host: str) -> None:
    r = sigstack("serve", "--dir", tmp_path / "s", "--host", host, timeout=30)
    assert_clean_error(r, f"Error: refusing to serve on {host}: sigstack serve runs a development OIDC issuer")
