"""``hashivault://KEY`` (and ``openbao://KEY``): a key in HashiCorp Vault's (or
OpenBao's) transit secrets engine, through ``hvac``.

Configuration follows cosign: ``VAULT_ADDR`` (or ``BAO_ADDR``) is required; the
token is ``VAULT_TOKEN`` / ``BAO_TOKEN``, else ``~/.vault-token``; the engine is
mounted at ``TRANSIT_SECRET_ENGINE_PATH`` (default ``transit``); ``VAULT_CACERT``
and ``VAULT_SKIP_VERIFY`` control TLS. Signing posts the digest with
``prehashed=true`` and the key's hash (``sha2-256`` for P-256 and RSA, ``sha2-384``
for P-384, ``sha2-512`` for P-521), ASN.1 marshalling for ECDSA and ``pkcs1v15``
for RSA (Vault's RSA default is PSS, which cosign does not verify). ``generate``
creates an ``ecdsa-p256`` key; an existing key is reused, as cosign does.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.errors import KeyLoadError, KeyRefError, UnsupportedKeyError
from sigstack.keys import _remote
from sigstack.keys._remote import RemoteSigner, TransientError, require, retry
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PublicKeyVerifier

_REF_RE = re.compile(r"^(hashivault|openbao)://(\w(?:[\w.-]*\w)?)$")
_SIGNING_TYPES = {"ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096"}
_VAULT_HASH = {"sha256": "sha2-256", "sha384": "sha2-384", "sha512": "sha2-512"}
DEFAULT_KEY_TYPE = "ecdsa-p256"


@dataclass(frozen=True)
class VaultKey:
    name: str
    mount: str
    version: int
    type: str
    public_key: PublicKeyTypes


class _NotFound(KeyLoadError):
    pass


class Vault:
    def __init__(self, ref: str) -> None:
        m = _REF_RE.match(ref)
        if m is None:
            raise KeyRefError(
                f"invalid hashivault format {ref!r}: expected hashivault://KEY_NAME "
                "(letters, digits, '_', '-' and '.', not starting or ending with '-' or '.')")
        self.name = m.group(2)
        hvac = require("hvac", "vault", "hashivault:// key references")
        addr = os.environ.get("VAULT_ADDR") or os.environ.get("BAO_ADDR")
        if not addr:
            raise KeyLoadError(
                "VAULT_ADDR must be set to the Vault server address (e.g. https://vault:8200)")
        token = os.environ.get("VAULT_TOKEN") or os.environ.get("BAO_TOKEN") or _token_file()
        if not token:
            raise KeyLoadError(
                "no Vault token: set VAULT_TOKEN or log in with `vault login` (~/.vault-token)")
        verify: bool | str = True
        if os.environ.get("VAULT_SKIP_VERIFY", "").lower() in ("1", "true", "t"):
            verify = False
        elif os.environ.get("VAULT_CACERT"):
            verify = os.environ["VAULT_CACERT"]
        self.mount = (os.environ.get("TRANSIT_SECRET_ENGINE_PATH") or "transit").strip("/")
        self.client = hvac.Client(url=addr, token=token, verify=verify, timeout=_remote.REQUEST_TIMEOUT)

    def _call(self, operation: str, fn: Any, **kw: Any) -> Any:
        from hvac import exceptions as hx
        from requests.exceptions import ConnectionError, Timeout

        where = self.name

        def once() -> Any:
            try:
                return fn(mount_point=self.mount, **kw)
            except (hx.RateLimitExceeded, hx.InternalServerError, hx.VaultDown, hx.BadGateway) as exc:
                raise TransientError(f"{type(exc).__name__}: {_errors(exc)}") from None
            except (ConnectionError, Timeout) as exc:
                raise TransientError(f"{type(exc).__name__}: {_first_line(exc)}") from None
            except hx.InvalidPath as exc:
                raise _NotFound(
                    f"Vault transit key {self.name} not found at {self.mount}/: {_errors(exc)}") from None
            except hx.Forbidden as exc:
                raise KeyLoadError(
                    f"Vault {operation} on {self.mount}/keys/{where}: denied: {_errors(exc)}") from None
            except hx.VaultError as exc:
                raise KeyLoadError(
                    f"Vault {operation} on {self.mount}/keys/{where} failed: {_errors(exc)}") from None

        return retry(once, what=f"Vault {operation} for {self.name}")

    def describe(self) -> VaultKey:
        resp = self._call("read key", self.client.secrets.transit.read_key, name=self.name)
        data = (resp or {}).get("data") or {}
        key_type = str(data.get("type", "?"))
        if key_type not in _SIGNING_TYPES:
            raise UnsupportedKeyError(
                f"Vault transit key {self.name} has type {key_type}; cosign signs with "
                + ", ".join(sorted(_SIGNING_TYPES)))
        version = int(data.get("latest_version") or 0)
        entry = (data.get("keys") or {}).get(str(version)) or {}
        pem = entry.get("public_key") if isinstance(entry, dict) else None
        if not pem:
            raise KeyLoadError(f"Vault returned no public key for {self.name} version {version}")
        return VaultKey(self.name, self.mount, version, key_type, load_public_key_pem(pem.encode()))

    def sign_digest(self, key: VaultKey, digest: bytes, hash_name: str) -> bytes:
        kw: dict[str, Any] = {
            "name": self.name, "hash_input": base64.b64encode(digest).decode(), "prehashed": True,
            "hash_algorithm": _VAULT_HASH[hash_name], "key_version": key.version,
        }
        if isinstance(key.public_key, rsa.RSAPublicKey):
            kw["signature_algorithm"] = "pkcs1v15"
        else:
            kw["marshaling_algorithm"] = "asn1"
        resp = self._call("sign", self.client.secrets.transit.sign_data, **kw)
        text = str(((resp or {}).get("data") or {}).get("signature", ""))
        parts = text.split(":", 2)  # "vault:v<version>:<base64>"
        if len(parts) != 3 or not parts[1].startswith("v"):
            raise KeyLoadError(f"Vault returned a signature in an unknown format: {text[:40]!r}")
        try:
            return base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise KeyLoadError("Vault returned a signature that is not base64") from None

    def create(self) -> VaultKey:
        self._call("create key", self.client.secrets.transit.create_key, name=self.name,
                   key_type=DEFAULT_KEY_TYPE)
        return self.describe()


def _token_file() -> str | None:
    path = Path.home() / ".vault-token"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _errors(exc: Any) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class VaultBackend:
    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        vault = Vault(ref)
        key = vault.describe()
        return RemoteSigner(key.public_key, lambda digest, hash: vault.sign_digest(key, digest, hash))

    def verifier(self, ref: str) -> Verifier:
        return PublicKeyVerifier(Vault(ref).describe().public_key)

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        vault = Vault(ref)
        try:
            key = vault.describe()
        except _NotFound:
            key = vault.create()
        return GeneratedKey(public_pem=PublicKeyVerifier(key.public_key).public_key_pem())


BACKEND = VaultBackend()
