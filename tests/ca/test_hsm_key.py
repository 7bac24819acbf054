"""The CA's issuing key in a PKCS#11 token (SoftHSM2): certificates are signed by a
signer that cryptography cannot sign X.509 with directly, so the TBS is produced and
signed through the token (sigstack.ca.authority.sign_builder's path)."""

from __future__ import annotations

from pathlib import Path

import httpx
from cryptography import x509

from tests.ca._support import Stack, ca_server, leaf_of, new_key, v2_request
from tests.keys_backends.conftest import Token, softhsm  # noqa: F401  (the session's SoftHSM token)


def test_issuing_key_in_a_pkcs11_token(stack: Stack, softhsm: Token, tmp_path: Path) -> None:  # noqa: F811
    ref = softhsm.uri("p384")
    server = ca_server(tmp_path, tmp_path / "state", stack.issuer, ["--ca-key", ref], env=softhsm.env)
    try:
        resp = httpx.post(server.url + "/api/v2/signingCert",
                          json=v2_request(stack.token("hsm@example.com"), new_key(), "hsm@example.com"))
        assert resp.status_code == 200, resp.text
        leaf, (root,) = leaf_of(resp.json())
        root.verify_directly_issued_by(root)
        leaf.verify_directly_issued_by(root)
        assert root == x509.load_pem_x509_certificate((tmp_path / "state" / "ca-key-root.pem").read_bytes())
        assert root.signature_hash_algorithm is not None and root.signature_hash_algorithm.name == "sha384"
        scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
        assert len(list(scts)) == 1
    finally:
        server.stop()
