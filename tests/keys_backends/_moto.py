"""moto's KMS in server mode, taught the one documented behaviour it lacks.

moto 5.2 accepts ``Sign(MessageType=DIGEST)`` but ignores the message type: it
hashes the digest again, so every digest signature it returns is over
``H(H(m))`` and verifies against nothing. Real KMS (and cosign) sign the digest
as given. :func:`teach_digest_signing` patches moto's two key classes so that,
during a DIGEST request, they sign the bytes as a prehashed digest with the same
key and algorithm; everything else (key creation, aliases, GetPublicKey, errors,
the HTTP/JSON protocol) is moto's own.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

_HASH = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def teach_digest_signing(mp: pytest.MonkeyPatch) -> None:
    from moto.kms import responses, utils

    local = threading.local()
    original_sign = responses.KmsResponse.sign
    original_ec = utils.ECDSAPrivateKey.sign
    original_rsa = utils.RSAPrivateKey.sign

    def response_sign(self: Any) -> str:
        local.digest = self._get_param("MessageType") == "DIGEST"
        try:
            result: str = original_sign(self)
            return result
        finally:
            local.digest = False

    def ec_sign(self: Any, message: bytes, algorithm: str) -> bytes:
        if not getattr(local, "digest", False):
            return original_ec(self, message, algorithm)  # type: ignore[no-any-return]
        signature: bytes = self.private_key.sign(message, ec.ECDSA(Prehashed(_HASH[algorithm[-3:]]())))
        return signature

    def rsa_sign(self: Any, message: bytes, algorithm: str) -> bytes:
        if not getattr(local, "digest", False):
            return original_rsa(self, message, algorithm)  # type: ignore[no-any-return]
        h = _HASH[algorithm[-3:]]()
        pad: Any = padding.PKCS1v15() if "PKCS1" in algorithm else padding.PSS(
            mgf=padding.MGF1(h), salt_length=padding.PSS.MAX_LENGTH)
        signature: bytes = self.private_key.sign(message, pad, Prehashed(h))
        return signature

    mp.setattr(responses.KmsResponse, "sign", response_sign)
    mp.setattr(utils.ECDSAPrivateKey, "sign", ec_sign)
    mp.setattr(utils.RSAPrivateKey, "sign", rsa_sign)
