"""An HTTPS double of Azure Key Vault's keys REST API and of the App Service
managed-identity token endpoint (no Key Vault emulator can be installed here).
It serves what ``azure-keyvault-keys`` and ``azure-identity`` call:

* any vault request without a bearer token -> 401 with the
  ``WWW-Authenticate: Bearer authorization=..., resource=...`` challenge that
  Key Vault's challenge-auth policy expects;
* ``GET  /msi/token?resource=...&api-version=2019-08-01`` (header
  ``X-IDENTITY-HEADER``) -> ``{"access_token", "expires_on", ...}``, the App
  Service managed-identity protocol ``DefaultAzureCredential`` uses when
  ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` are set;
* ``GET  /keys/{name}[/{version}]``, ``POST /keys/{name}/create``,
  ``POST /keys/{name}[/{version}]/sign`` and ``/verify`` (an empty version means the
  latest, as the Go SDK sends it; cosign's ``verify --key azurekms://`` asks the vault) with Key Vault's JSON (JWK keys, base64url
  values, JWS ``r || s`` ECDSA signatures) and error shapes.

The SDK checks that the challenge's ``resource`` domain is a parent domain of the
vault host. A loopback vault has no parent domain, so the challenge names
``https://0.0.1:PORT``, a string suffix of ``127.0.0.1:PORT``; the SDK's check
runs unmodified.
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from ._http import JsonHandler

_ALG_HASH = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512, "RS256": hashes.SHA256}
_CRV = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def _b64url(n: int | bytes, size: int | None = None) -> str:
    data = n if isinstance(n, bytes) else n.to_bytes(size or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class AzureState:
    token: str
    identity_header: str
    # name -> (version, key_ops, private key or None for an "oct" key)
    keys: dict[str, tuple[str, list[str], Any]] = field(default_factory=dict)
    throttle: int = 0
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_key(self, name: str, kind: str = "P-256", ops: list[str] | None = None) -> None:
        private: Any
        if kind in _CRV:
            private = ec.generate_private_key(_CRV[kind]())
        elif kind.startswith("RSA"):
            private = rsa.generate_private_key(65537, int(kind[4:] or 2048))
        else:
            private = None
        self.keys[name] = ("0123456789abcdef0123456789abcdef", ops or ["sign", "verify"], private)


class AzureHandler(JsonHandler):
    state: AzureState

    def _host(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def _bundle(self, name: str) -> dict[str, Any]:
        version, ops, private = self.state.keys[name]
        jwk: dict[str, Any] = {"kid": f"https://{self._host()}/keys/{name}/{version}", "key_ops": ops}
        if isinstance(private, ec.EllipticCurvePrivateKey):
            nums = private.public_key().public_numbers()
            size = (private.curve.key_size + 7) // 8
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[private.curve.name]
            jwk.update(kty="EC", crv=crv, x=_b64url(nums.x, size), y=_b64url(nums.y, size))
        elif isinstance(private, rsa.RSAPrivateKey):
            rnums = private.public_key().public_numbers()
            jwk.update(kty="RSA", n=_b64url(rnums.n), e=_b64url(rnums.e))
        else:
            jwk.update(kty="oct-HSM")
        return {"key": jwk, "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000,
                                           "recoveryLevel": "Recoverable+Purgeable", "exportable": False}}

    def _gate(self) -> bool:
        auth = self.headers.get("Authorization")
        if auth is None:
            self.send_json(401, {"error": {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}},
                           {"WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                            '72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://0.0.1:'
                            f'{self.server.server_address[1]}"'})
            return False
        if auth != f"Bearer {self.state.token}":
            self.send_json(401, {"error": {"code": "Unauthorized", "message": "AKV10032: Invalid issuer."}})
            return False
        with self.state.lock:
            self.state.calls.append(f"{self.command} {urlsplit(self.path).path}")
            throttled = len(self.state.calls) <= self.state.throttle
        if throttled:
            self.send_json(429, {"error": {"code": "Throttled", "message":
                                           "Request was not processed because too many requests were received."}})
            return False
        return True

    def _missing(self, name: str) -> None:
        self.send_json(404, {"error": {"code": "KeyNotFound", "message":
                                       f"A key with (name/id) {name} was not found in this key vault."}})

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/msi/token":
            if self.headers.get("X-IDENTITY-HEADER") != self.state.identity_header:
                self.send_json(400, {"error": "invalid identity header"})
                return
            resource = parse_qs(parts.query)["resource"][0]
            self.send_json(200, {"access_token": self.state.token, "expires_on": str(int(time.time()) + 3600),
                                 "resource": resource, "token_type": "Bearer", "client_id": "mi"})
            return
        if not self._gate():
            return
        segs = [s for s in parts.path.split("/") if s]
        if len(segs) in (2, 3) and segs[0] == "keys":
            entry = self.state.keys.get(segs[1])
            if entry is None or (len(segs) == 3 and segs[2] != entry[0]):
                return self._missing(segs[1])
            self.send_json(200, self._bundle(segs[1]))
            return
        self.send_json(404, {"error": {"code": "NotFound", "message": parts.path}})

    def do_POST(self) -> None:
        body = self.json_body()
        if not self._gate():
            return
        segs = [s for s in urlsplit(self.path).path.split("/") if s]
        if len(segs) == 3 and segs[0] == "keys" and segs[2] in ("sign", "verify") and segs[1] in self.state.keys:
            segs.insert(2, self.state.keys[segs[1]][0])  # no version: the latest
        if len(segs) == 3 and segs[0] == "keys" and segs[2] == "create":
            self.state.add_key(segs[1], body.get("crv", "P-256"), body.get("key_ops"))
            self.send_json(200, self._bundle(segs[1]))
            return
        if len(segs) == 4 and segs[0] == "keys" and segs[3] == "verify":
            entry = self.state.keys.get(segs[1])
            if entry is None or entry[0] != segs[2] or entry[2] is None:
                return self._missing(segs[1])
            self.send_json(200, {"value": _valid(entry[2], body["alg"], _unb64url(body["digest"]),
                                                 _unb64url(body["value"]))})
            return
        if len(segs) == 4 and segs[0] == "keys" and segs[3] == "sign":
            entry = self.state.keys.get(segs[1])
            if entry is None or entry[0] != segs[2]:
                return self._missing(segs[1])
            _, ops, private = entry
            if "sign" not in ops or private is None:
                self.send_json(403, {"error": {"code": "Forbidden", "message": "Operation sign is not permitted on this key."}})
                return
            alg = body["alg"]
            digest = _unb64url(body["value"])
            h = _ALG_HASH[alg]()
            if isinstance(private, ec.EllipticCurvePrivateKey):
                r, s = decode_dss_signature(private.sign(digest, ec.ECDSA(Prehashed(h))))
                size = (private.curve.key_size + 7) // 8
                sig = r.to_bytes(size, "big") + s.to_bytes(size, "big")
            else:
                sig = private.sign(digest, padding.PKCS1v15(), Prehashed(h))
            self.send_json(200, {"kid": f"https://{self._host()}/keys/{segs[1]}/{segs[2]}", "value": _b64url(sig)})
            return
        self.send_json(404, {"error": {"code": "NotFound", "message": self.path}})


def _valid(private: Any, alg: str, digest: bytes, sig: bytes) -> bool:
    """Key Vault's verify answer for a JWS-form signature over ``digest``."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    h = Prehashed(_ALG_HASH[alg]())
    try:
        if isinstance(private, ec.EllipticCurvePrivateKey):
            n = len(sig) // 2
            der = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
            private.public_key().verify(der, digest, ec.ECDSA(h))
        else:
            private.public_key().verify(sig, digest, padding.PKCS1v15(), h)
    except (InvalidSignature, ValueError):
        return False
    return True
