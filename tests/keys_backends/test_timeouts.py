"""A KMS that accepts requests and never answers: every backend gives up after the
retry loop with one clear line. The server here is a stalling socket (it reads the
request and answers nothing until the test has its result), standing in for an
overloaded service, so only the client's timeout can end each attempt; the
per-request timeout is lowered so the test takes seconds. The attempts are counted
on the server, not timed: a wall-clock bound would flake on a loaded machine."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sigstack import keys
from sigstack.errors import KeyLoadError
from sigstack.keys import _remote

from ._http import JsonHandler, Tls, serve


class Stall(JsonHandler):
    release: ClassVar[threading.Event] = threading.Event()
    requests: ClassVar[list[str]] = []

    def _stall(self) -> None:
        self.body()
        self.requests.append(self.path)
        self.release.wait(30)
        self.close_connection = True

    do_GET = do_POST = do_PUT = _stall


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_remote, "REQUEST_TIMEOUT", 0.3)
    monkeypatch.setattr(_remote, "RETRY_BASE_DELAY", 0.05)


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("kms", ["aws", "vault", "gcp", "azure"])
def test_stalled_kms_times_out_then_clear_error(kms: str, tls: Tls, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Stall.release.clear()
    Stall.requests.clear()
    with serve(Stall, None, tls if kms in ("aws", "azure") else None) as url:
        hostport = url.split("://", 1)[1]
        if kms == "aws":
            for k, v in {"AWS_CA_BUNDLE": str(tls.ca_file), "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b",
                         "AWS_REGION": "us-east-1", "AWS_CONFIG_FILE": str(tmp_path / "x"),
                         "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "x")}.items():
                monkeypatch.setenv(k, v)
            ref, expected = f"awskms://{hostport}/alias/slow", "AWS KMS GetPublicKey for alias/slow failed after 4 attempts: timeout: "
        elif kms == "vault":
            monkeypatch.setenv("VAULT_ADDR", url)
            monkeypatch.setenv("VAULT_TOKEN", "t")
            ref, expected = "hashivault://slow", "Vault read key for slow failed after 4 attempts: "
        elif kms == "gcp":
            pem = rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
            creds = tmp_path / "sa.json"
            creds.write_text(json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k",
                                         "private_key": pem, "client_email": "s@p.iam.gserviceaccount.com",
                                         "client_id": "1", "token_uri": f"{url}/token"}))
            monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(creds))
            monkeypatch.setenv("SIGSTACK_GCPKMS_ENDPOINT", url)
            key = "projects/p/locations/l/keyRings/r/cryptoKeys/slow"
            ref, expected = f"gcpkms://{key}", f"GCP KMS GetCryptoKey for {key} failed after 4 attempts: "
        else:
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))
            monkeypatch.setenv("IDENTITY_ENDPOINT", f"{url}/msi/token")
            monkeypatch.setenv("IDENTITY_HEADER", "h")
            ref, expected = f"azurekms://{hostport}/slow", "Azure Key Vault get key for slow failed after 4 attempts: "
        try:
            with pytest.raises(KeyLoadError) as info:
                keys.load_verifier(ref)
        finally:
            Stall.release.set()
    assert info.value.message.startswith(expected), info.value.message
    assert info.value.message.endswith("; try again later")
    assert "imeout" in info.value.message
    stalled = [p for p in Stall.requests if "token" not in p]  # GCP/Azure fetch a token first
    assert len(stalled) == 4, Stall.requests
