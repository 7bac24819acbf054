"""An HTTPS double of the AWS KMS JSON API (``X-Amz-Target: TrentService.*``) that
throttles: the first ``throttle`` requests get HTTP 400 ``ThrottlingException``
(the documented error shape), later ones are answered for one P-256 key.

moto cannot be told to throttle, so the retry tests use this. It serves only
GetPublicKey and Sign, with the request/response JSON of the KMS API reference.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ._http import JsonHandler


@dataclass
class ThrottleState:
    throttle: int
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    seen: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class ThrottlingKms(JsonHandler):
    state: ThrottleState

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        body = self.json_body()
        with self.state.lock:
            self.state.seen.append(target)
            throttled = len(self.state.seen) <= self.state.throttle
        if throttled:
            self.send_json(400, {"__type": "ThrottlingException", "message": "Rate exceeded"},
                           {"Content-Type": "application/x-amz-json-1.1"})
            return
        key_id = body.get("KeyId", "")
        if target.endswith(".GetPublicKey"):
            der = self.state.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.send_json(200, {
                "KeyId": f"arn:aws:kms:us-east-1:111122223333:key/{key_id}",
                "PublicKey": base64.b64encode(der).decode(), "KeySpec": "ECC_NIST_P256",
                "CustomerMasterKeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY",
                "SigningAlgorithms": ["ECDSA_SHA_256"]})
        elif target.endswith(".Sign"):
            assert body.get("MessageType") == "DIGEST" and body.get("SigningAlgorithm") == "ECDSA_SHA_256"
            digest = base64.b64decode(body["Message"])
            sig = self.state.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
            self.send_json(200, {"KeyId": key_id, "Signature": base64.b64encode(sig).decode(),
                                 "SigningAlgorithm": "ECDSA_SHA_256"})
        else:
            self.send_json(400, {"__type": "UnknownOperationException", "message": target})
