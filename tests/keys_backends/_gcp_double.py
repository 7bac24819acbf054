"""An HTTP double of the Cloud KMS v1 REST API (no emulator exists for Cloud KMS),
serving the documented endpoints ``google-cloud-kms`` calls with
``transport="rest"``, plus the OAuth2 token endpoint that Application Default
Credentials use. ADC here is a ``service_account`` key file (whose ``token_uri``
points at the double); the client then authenticates either with a self-signed
JWT (RS256, checked against the service account's public key, as Google does) or
with an access token from:

* ``POST /token`` -> ``{"access_token", "expires_in", "token_type"}``
* ``GET  /v1/projects/*/locations/*/keyRings/*`` (GetKeyRing),
  ``POST /v1/projects/*/locations/*/keyRings?keyRingId=`` (CreateKeyRing)
* ``GET  /v1/.../cryptoKeys/*`` (GetCryptoKey),
  ``POST /v1/.../keyRings/*/cryptoKeys?cryptoKeyId=`` (CreateCryptoKey)
* ``GET  /v1/.../cryptoKeys/*/cryptoKeyVersions`` (ListCryptoKeyVersions)
* ``GET  /v1/.../cryptoKeyVersions/*/publicKey`` (GetPublicKey)
* ``POST /v1/.../cryptoKeyVersions/*:asymmetricSign`` (AsymmetricSign)

Errors use Google's JSON error shape; every API call needs the issued bearer token.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ._http import JsonHandler

ALGORITHMS: dict[str, Any] = {
    "EC_SIGN_P256_SHA256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "EC_SIGN_P384_SHA384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "RSA_SIGN_PKCS1_2048_SHA256": lambda: rsa.generate_private_key(65537, 2048),
    "RSA_SIGN_PSS_2048_SHA256": lambda: rsa.generate_private_key(65537, 2048),
    "GOOGLE_SYMMETRIC_ENCRYPTION": lambda: None,
}
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


@dataclass
class GcpState:
    token: str
    service_account: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    rings: set[str] = field(default_factory=set)
    # key name -> (purpose, algorithm, {version number: private key})
    keys: dict[str, tuple[str, str, dict[int, Any]]] = field(default_factory=dict)
    throttle: int = 0
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(self, name: str, algorithm: str, purpose: str = "ASYMMETRIC_SIGN") -> None:
        self.rings.add(name.rsplit("/cryptoKeys/", 1)[0])
        self.keys[name] = (purpose, algorithm, {1: ALGORITHMS[algorithm]()})


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


class GcpHandler(JsonHandler):
    state: GcpState

    def _api(self) -> tuple[str, dict[str, list[str]]] | None:
        parts = urlsplit(self.path)
        if not self._authenticated(self.headers.get("Authorization", "")):
            self.send_json(401, _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."))
            return None
        with self.state.lock:
            self.state.calls.append(f"{self.command} {parts.path}")
            throttled = len(self.state.calls) <= self.state.throttle
        if throttled:
            self.send_json(429, _error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Crypto requests'"))
            return None
        return parts.path.removeprefix("/v1/"), parse_qs(parts.query)

    def _authenticated(self, header: str) -> bool:
        token = header.removeprefix("Bearer ")
        if token == self.state.token:
            return True
        if token.count(".") != 2:
            return False
        signed, _, sig = token.rpartition(".")
        try:
            self.state.service_account.public_key().verify(
                base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), signed.encode(), padding.PKCS1v15(),
                hashes.SHA256())
        except Exception:
            return False
        return True

    def _not_found(self, name: str) -> None:
        self.send_json(404, _error(404, "NOT_FOUND", f"{name} not found."))

    def _key_json(self, name: str) -> dict[str, Any]:
        purpose, algorithm, _ = self.state.keys[name]
        return {"name": name, "purpose": purpose, "createTime": "2026-01-01T00:00:00Z",
                "versionTemplate": {"algorithm": algorithm, "protectionLevel": "SOFTWARE"}}

    def do_GET(self) -> None:
        api = self._api()
        if api is None:
            return
        path, _ = api
        if path.endswith("/publicKey"):
            version_name = path.removesuffix("/publicKey")
            key_name, _, number = version_name.partition("/cryptoKeyVersions/")
            entry = self.state.keys.get(key_name)
            if entry is None or not number.isdigit() or int(number) not in entry[2]:
                return self._not_found(version_name)
            private = entry[2][int(number)]
            if private is None:
                self.send_json(400, _error(400, "FAILED_PRECONDITION", f"{version_name} is not asymmetric."))
                return
            pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            self.send_json(200, {"pem": pem, "algorithm": entry[1], "name": version_name,
                                 "protectionLevel": "SOFTWARE"})
        elif path.endswith("/cryptoKeyVersions"):
            key_name = path.removesuffix("/cryptoKeyVersions")
            if key_name not in self.state.keys:
                return self._not_found(key_name)
            _, algorithm, versions = self.state.keys[key_name]
            items = [{"name": f"{key_name}/cryptoKeyVersions/{n}", "state": "ENABLED", "algorithm": algorithm}
                     for n in sorted(versions, reverse=True)]
            self.send_json(200, {"cryptoKeyVersions": items, "totalSize": len(items)})
        elif "/cryptoKeys/" in path:
            if path not in self.state.keys:
                return self._not_found(path)
            self.send_json(200, self._key_json(path))
        elif "/keyRings/" in path:
            if path not in self.state.rings:
                return self._not_found(path)
            self.send_json(200, {"name": path, "createTime": "2026-01-01T00:00:00Z"})
        else:
            self._not_found(path)

    def do_POST(self) -> None:
        if urlsplit(self.path).path == "/token":
            self.body()
            self.send_json(200, {"access_token": self.state.token, "expires_in": 3600, "token_type": "Bearer"})
            return
        body = self.json_body()
        api = self._api()
        if api is None:
            return
        path, query = api
        if path.endswith(":asymmetricSign"):
            version_name = path.removesuffix(":asymmetricSign")
            key_name, _, number = version_name.partition("/cryptoKeyVersions/")
            entry = self.state.keys.get(key_name)
            if entry is None or int(number) not in entry[2]:
                return self._not_found(version_name)
            private = entry[2][int(number)]
            (hash_name, b64digest), = body["digest"].items()
            digest = base64.b64decode(b64digest)
            h = _HASHES[hash_name]()
            if isinstance(private, ec.EllipticCurvePrivateKey):
                sig = private.sign(digest, ec.ECDSA(Prehashed(h)))
            elif "PSS" in entry[1]:
                sig = private.sign(digest, padding.PSS(mgf=padding.MGF1(h), salt_length=32), Prehashed(h))
            else:
                sig = private.sign(digest, padding.PKCS1v15(), Prehashed(h))
            self.send_json(200, {"signature": base64.b64encode(sig).decode(), "name": version_name,
                                 "protectionLevel": "SOFTWARE"})
        elif path.endswith("/keyRings"):
            name = f"{path}/{query['keyRingId'][0]}"
            self.state.rings.add(name)
            self.send_json(200, {"name": name, "createTime": "2026-01-01T00:00:00Z"})
        elif path.endswith("/cryptoKeys"):
            parent = path.removesuffix("/cryptoKeys")
            if parent not in self.state.rings:
                return self._not_found(parent)
            name = f"{path}/{query['cryptoKeyId'][0]}"
            if name in self.state.keys:
                self.send_json(409, _error(409, "ALREADY_EXISTS", f"{name} already exists."))
                return
            from google.cloud import kms_v1  # the client sends enums as numbers (enum-encoding=int)

            purpose, algorithm = body["purpose"], body["versionTemplate"]["algorithm"]
            if isinstance(purpose, int):
                purpose = kms_v1.CryptoKey.CryptoKeyPurpose(purpose).name
            if isinstance(algorithm, int):
                algorithm = kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm(algorithm).name
            self.state.add_key(name, algorithm, purpose)
            self.send_json(200, self._key_json(name))
        else:
            self._not_found(path)
