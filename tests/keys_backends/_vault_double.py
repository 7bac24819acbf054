"""An HTTP double of HashiCorp Vault's transit secrets engine (no Vault server can
be installed here). It serves the documented endpoints ``hvac`` calls, with
Vault's JSON shapes and error bodies (``{"errors": [...]}``):

* ``GET  /v1/{mount}/keys/{name}``  -> key info with ``keys.{version}.public_key`` (PEM)
* ``POST /v1/{mount}/keys/{name}``  -> create (``type``: ecdsa-p256/p384, rsa-2048, aes256-gcm96)
* ``POST /v1/{mount}/sign/{name}[/{hash}]`` -> ``vault:v{n}:<base64>``; honours
  ``prehashed``, ``hash_algorithm``, ``signature_algorithm`` (pss default for RSA,
  as Vault), ``marshaling_algorithm`` (asn1 default)
* ``POST /v1/{mount}/verify/{name}[/{hash}]`` -> ``{"valid": bool}`` for a
  ``vault:v{n}:<base64>`` signature, with the same options (cosign's ``verify --key
  hashivault://`` asks Vault instead of checking locally)
* ``PUT`` is the same as ``POST`` (Vault treats them alike; the Go client uses PUT)
* ``X-Vault-Token`` must match, else 403 ``permission denied``; the first
  ``throttle`` requests get 429 (a rate-limit quota), like Vault's quotas.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from ._http import JsonHandler

_HASHES = {"sha2-256": hashes.SHA256, "sha2-384": hashes.SHA384, "sha2-512": hashes.SHA512}


def make_key(key_type: str) -> Any:
    if key_type == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa-"):
        return rsa.generate_private_key(65537, int(key_type[4:]))
    return None  # symmetric: no public half


@dataclass
class VaultState:
    token: str
    mount: str = "transit"
    keys: dict[str, tuple[str, Any]] = field(default_factory=dict)
    throttle: int = 0
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class VaultHandler(JsonHandler):
    state: VaultState

    def _gate(self, body: dict[str, Any]) -> bool:
        with self.state.lock:
            self.state.requests.append((self.command, self.path, body))
            throttled = len(self.state.requests) <= self.state.throttle
        if throttled:
            self.send_json(429, {"errors": [f'request path "{self.path[4:]}": rate limit quota exceeded']})
            return False
        if self.headers.get("X-Vault-Token") != self.state.token:
            self.send_json(403, {"errors": ["permission denied"]})
            return False
        return True

    def _route(self) -> tuple[str, str, str] | None:
        prefix = f"/v1/{self.state.mount}/"
        if not self.path.startswith(prefix):
            return None
        parts = self.path[len(prefix):].split("/")
        if len(parts) in (2, 3) and parts[0] in ("keys", "sign", "verify"):
            return parts[0], parts[1], parts[2] if len(parts) == 3 else ""
        return None

    def do_GET(self) -> None:
        if not self._gate({}):
            return
        route = self._route()
        if route is None or route[0] != "keys":
            self.send_json(404, {"errors": []})
            return
        entry = self.state.keys.get(route[1])
        if entry is None:
            self.send_json(404, {"errors": []})
            return
        key_type, key = entry
        keys: dict[str, Any] = {"1": 1700000000}
        if key is not None:
            pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            keys = {"1": {"creation_time": "2026-01-01T00:00:00Z", "name": key_type, "public_key": pem}}
        self.send_json(200, {"request_id": "r", "lease_id": "", "renewable": False, "lease_duration": 0, "data": {
            "name": route[1], "type": key_type, "latest_version": 1, "min_decryption_version": 1,
            "supports_signing": key is not None, "exportable": False, "deletion_allowed": False, "keys": keys,
        }, "wrap_info": None, "warnings": None, "auth": None})

    def do_POST(self) -> None:
        body = self.json_body()
        if not self._gate(body):
            return
        route = self._route()
        if route is None:
            self.send_json(404, {"errors": []})
            return
        action, name, hash_in_path = route
        if action == "keys":
            key_type = body.get("type", "aes256-gcm96")
            self.state.keys.setdefault(name, (key_type, make_key(key_type)))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        entry = self.state.keys.get(name)
        if entry is None:
            self.send_json(400, {"errors": ["signing key not found"]})
            return
        key_type, key = entry
        if key is None:
            self.send_json(400, {"errors": [f"key type {key_type} does not support signing"]})
            return
        h = _HASHES[body.get("hash_algorithm") or hash_in_path or "sha2-256"]()
        data = base64.b64decode(body["input"])
        algo: Any = Prehashed(h) if body.get("prehashed") else h
        pad: Any = (padding.PKCS1v15() if body.get("signature_algorithm") == "pkcs1v15"
                    else padding.PSS(mgf=padding.MGF1(h), salt_length=padding.PSS.AUTO))
        if action == "verify":
            self.send_json(200, {"data": {"valid": _valid(key, body, data, pad, algo)}})
            return
        if isinstance(key, rsa.RSAPrivateKey):
            sig = key.sign(data, pad, algo)
        else:
            sig = key.sign(data, ec.ECDSA(algo))
            if body.get("marshaling_algorithm") == "jws":
                r, s = decode_dss_signature(sig)
                n = (key.curve.key_size + 7) // 8
                sig = r.to_bytes(n, "big") + s.to_bytes(n, "big")
        self.send_json(200, {"data": {"signature": "vault:v1:" + base64.b64encode(sig).decode(), "key_version": 1}})

    do_PUT = do_POST


def _valid(key: Any, body: dict[str, Any], data: bytes, pad: Any, algo: Any) -> bool:
    """Vault's verify answer: False (not an error) for a signature that does not match."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        sig = base64.b64decode(str(body.get("signature", "")).split(":", 2)[-1])
        if isinstance(key, rsa.RSAPrivateKey):
            key.public_key().verify(sig, data, pad, algo)
        else:
            if body.get("marshaling_algorithm") == "jws":
                n = len(sig) // 2
                sig = encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
            key.public_key().verify(sig, data, ec.ECDSA(algo))
    except (InvalidSignature, ValueError):
        return False
    return True
