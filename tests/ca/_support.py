"""Helpers for the CA tests: `sigstack` servers as child processes on free loopback
ports, tokens from the development issuer, and RFC 6962 checks written from the RFC
(independently of sigstack.ca) on top of cryptography's SCT objects."""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import os
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.tlog._support import SIGSTACK, free_port


class Server:
    """A `sigstack ...` server child process, ready when ``probe`` answers 200."""

    def __init__(self, args: list[str], workdir: Path, probe: str, name: str,
                 env: dict[str, str] | None = None) -> None:
        self.args, self.workdir, self.probe, self.name, self.env = args, workdir, probe, name, env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        logpath = self.workdir / f"{self.name}-{self.port}.log"
        log = open(logpath, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([SIGSTACK, *self.args, "--port", str(self.port)], stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, cwd=self.workdir,
                                     env={**os.environ, **self.env} if self.env else None)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {logpath.read_text()}")
            try:
                if httpx.get(self.url + self.probe, timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not start: {logpath.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def oidc_server(workdir: Path, state: Path) -> Server:
    return Server(["oidc", "serve", "--state", str(state)], workdir, "/.well-known/openid-configuration",
                  "oidc").start()


def ca_server(workdir: Path, state: Path, issuer: str, extra: list[str] | None = None,
              env: dict[str, str] | None = None) -> Server:
    return Server(["ca", "serve", "--state", str(state), "--oidc-issuer", issuer, "--ci-issuer",
                   issuer + "/github", *(extra or [])], workdir, "/api/v2/trustBundle", "ca", env).start()


@dataclass
class Stack:
    oidc: Server
    ca: Server
    oidc_state: Path
    ca_state: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        return self.oidc.url

    def token(self, email: str | None = "alice@example.com", subject: str | None = None,
              github: bool = False, **kw: Any) -> str:
        """A token signed with the development issuer's key (its state directory)."""
        from sigstack.oidc.issuer import DevIssuer, load_or_create_key

        issuer = DevIssuer(self.issuer, load_or_create_key(self.oidc_state))
        return issuer.mint(subject, None if github else email, github=github, **kw)

    @property
    def chain(self) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates((self.ca_state / "chain.pem").read_bytes())

    @property
    def ct_key(self) -> ec.EllipticCurvePublicKey:
        key = serialization.load_pem_public_key((self.ca_state / "ct.pub").read_bytes())
        assert isinstance(key, ec.EllipticCurvePublicKey)
        return key


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_public(key: ec.EllipticCurvePrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pop(key: ec.EllipticCurvePrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), ec.ECDSA(hashes.SHA256()))).decode()


def v2_request(token: str, key: ec.EllipticCurvePrivateKey, message: str) -> dict[str, Any]:
    """The public-key form, as cosign v3 / sigstore-go send it."""
    return {"credentials": {"oidcIdentityToken": token},
            "publicKeyRequest": {"publicKey": {"algorithm": "ECDSA", "content": pem_public(key)},
                                 "proofOfPossession": pop(key, message)}}


def csr_request(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The CSR form, as sigstore-python sends it (empty subject, CA=false, base64 of the PEM)."""
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([]))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .sign(key, hashes.SHA256()))
    return {"certificateSigningRequest": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()}


def leaf_of(doc: dict[str, Any]) -> tuple[x509.Certificate, list[x509.Certificate]]:
    pems = doc["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in pems]
    return certs[0], certs[1:]


def verify_chain(leaf: x509.Certificate, chain: list[x509.Certificate], root: x509.Certificate) -> None:
    for child, parent in zip([leaf, *chain], chain, strict=False):
        child.verify_directly_issued_by(parent)
    assert chain[-1] == root
    root.verify_directly_issued_by(root)


def _u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def embedded_sct(leaf: x509.Certificate) -> tuple[Any, int]:
    """The certificate's one embedded SCT and its timestamp in milliseconds."""
    scts = list(leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value)
    assert len(scts) == 1
    sct = scts[0]
    ts = sct.timestamp  # naive UTC
    return sct, calendar.timegm(ts.utctimetuple()) * 1000 + ts.microsecond // 1000


def sct_signed_data(leaf: x509.Certificate, issuer: x509.Certificate, timestamp_ms: int, ext: bytes) -> bytes:
    issuer_hash = hashlib.sha256(issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    return (struct.pack(">BBQH", 0, 0, timestamp_ms, 1) + issuer_hash + _u24(leaf.tbs_precertificate_bytes)
            + len(ext).to_bytes(2, "big") + ext)


def get_json(url: str, **params: Any) -> Any:
    resp = httpx.get(url, params=params, timeout=10)
    assert resp.status_code == 200, (resp.status_code, resp.text)
    return resp.json()


def dumps(doc: Any) -> str:
    return json.dumps(doc)
