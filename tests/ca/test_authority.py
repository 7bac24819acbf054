"""The issuing flow in process, with keys the HTTP tests do not use: an RSA CT log key
(a 256-byte SCT signature, so the SCT list needs DER long-form lengths) and a CA key
that cryptography cannot sign certificates with directly (any other Signer)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.ca.authority import CertificateAuthority
from sigstack.ca.ctlog import CTLog
from sigstack.ca.identity import Principal
from sigstack.ca.state import ensure_state
from sigstack.ca.submit import LocalCT
from sigstack.keys.base import Signer
from sigstack.keys.software import PrivateKeySigner
from sigstack.tlog.store import open_store
from tests.ca._support import embedded_sct, sct_signed_data, verify_chain


class OpaqueSigner(Signer):
    """Like a KMS or token signer: only ``sign_digest``, no private key object."""

    def __init__(self, inner: PrivateKeySigner) -> None:
        self._inner = inner
        self.hash_name = inner.hash_name

    def public_key(self) -> PublicKeyTypes:
        return self._inner.public_key()

    def sign_digest(self, digest: bytes) -> bytes:
        return self._inner.sign_digest(digest)


def _issue(ca: CertificateAuthority, ct: CTLog, principal: Principal,
           key: ec.EllipticCurvePublicKey) -> x509.Certificate:
    async def run() -> x509.Certificate:
        await ct.start()
        try:
            return (await ca.issue(principal, key)).certificate
        finally:
            await ct.stop()

    return asyncio.run(run())


def test_rsa_ct_key_and_opaque_ca_signer(tmp_path: Path) -> None:
    material = ensure_state(tmp_path / "state")
    ct_key = rsa.generate_private_key(65537, 2048)
    ct = CTLog(open_store(str(tmp_path / "ct.db")), PrivateKeySigner(ct_key), [material.root])
    assert isinstance(material.signer, PrivateKeySigner)
    ca = CertificateAuthority(OpaqueSigner(material.signer), material.chain, LocalCT(ct))
    principal = Principal("a@example.com", "email", "a@example.com", "https://issuer.example",
                          {24: "x" * 300})  # a long value: long-form lengths in the TBS too
    leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    cert = _issue(ca, ct, principal, leaf_key)
    verify_chain(cert, material.chain, material.root)
    sct, ts = embedded_sct(cert)
    assert isinstance(sct.signature_hash_algorithm, hashes.SHA256)
    assert len(sct.signature) == 256
    ct_key.public_key().verify(sct.signature, sct_signed_data(cert, material.chain[0], ts, sct.extension_bytes),
                               padding.PKCS1v15(), hashes.SHA256())
    value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.24")).value
    assert isinstance(value, x509.UnrecognizedExtension) and value.value == b"\x0c\x82\x01\x2c" + b"x" * 300
