"""``azurekms://VAULT_HOST/KEY[/VERSION]``: a key in Azure Key Vault, through the
official ``azure-keyvault-keys`` client and ``azure-identity``'s
``DefaultAzureCredential`` (``AZURE_*`` service-principal variables, workload
identity, managed identity, ``az login`` ...), as cosign does.

The vault URL is ``https://VAULT_HOST/``. Signing sends the digest with ES256,
ES384, ES512 (P-256/384/521) or RS256 (RSA); Key Vault returns ECDSA signatures
as JWS ``r || s``, which we re-encode as the ASN.1 DER cosign expects.
``generate`` creates a P-256 key with the ``sign``/``verify`` operations; an
existing key is reused, as cosign does. azure-core's retry policy is disabled
(``retry_total=0``) in favour of :func:`sigstack.keys._remote.retry`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sigstack.errors import KeyLoadError, KeyRefError, UnsupportedKeyError
from sigstack.keys import _remote
from sigstack.keys._remote import RemoteSigner, TransientError, require, retry
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PublicKeyVerifier

_REF_RE = re.compile(r"^azurekms://([^/]+)/([^/]+)(?:/([^/]+))?$")
_FORMAT = "azurekms://VAULT_HOST/KEY[/VERSION], e.g. azurekms://myvault.vault.azure.net/release-key"
_CURVES: dict[str, tuple[ec.EllipticCurve, str]] = {
    "P-256": (ec.SECP256R1(), "ES256"),
    "P-384": (ec.SECP384R1(), "ES384"),
    "P-521": (ec.SECP521R1(), "ES512"),
}
_NO_RETRY: dict[str, Any] = {"retry_total": 0}


def _client_options() -> dict[str, Any]:
    timeout = _remote.REQUEST_TIMEOUT
    return {**_NO_RETRY, "connection_timeout": timeout, "read_timeout": timeout}


@dataclass(frozen=True)
class AzureKeyRef:
    vault_url: str
    name: str
    version: str | None

    @classmethod
    def parse(cls, ref: str) -> AzureKeyRef:
        m = _REF_RE.match(ref)
        if m is None:
            raise KeyRefError(f"invalid azurekms format {ref!r}: expected {_FORMAT}")
        return cls(f"https://{m.group(1)}/", m.group(2), m.group(3))


@dataclass(frozen=True)
class AzureKey:
    key_id: str
    algorithm: str
    public_key: PublicKeyTypes


class _NotFound(KeyLoadError):
    pass


class AzureKms:
    def __init__(self, ref: str) -> None:
        self.key = AzureKeyRef.parse(ref)
        require("azure.keyvault.keys", "azure", "azurekms:// key references")
        require("azure.identity", "azure", "azurekms:// key references")
        from azure.identity import DefaultAzureCredential
        from azure.keyvault.keys import KeyClient

        self.credential = DefaultAzureCredential(**_client_options())
        self.client = KeyClient(self.key.vault_url, self.credential, **_client_options())

    def _call(self, operation: str, fn: Any, *args: Any, **kw: Any) -> Any:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
            ServiceResponseError,
        )

        def once() -> Any:
            try:
                return fn(*args, **kw)
            except ResourceNotFoundError as exc:
                raise _NotFound(
                    f"Azure Key Vault key {self.key.name} not found in {self.key.vault_url}: {_message(exc)}"
                ) from None
            except ClientAuthenticationError as exc:
                raise KeyLoadError(f"Azure credentials: {_message(exc)}") from None
            except HttpResponseError as exc:
                status = exc.status_code or 0
                if status == 429 or status >= 500:
                    raise TransientError(f"HTTP {status}: {_message(exc)}") from None
                raise KeyLoadError(
                    f"Azure Key Vault {operation} on {self.key.name} failed: HTTP {status}: {_message(exc)}"
                ) from None
            except (ServiceRequestError, ServiceResponseError) as exc:
                raise TransientError(f"{type(exc).__name__}: {_message(exc)}") from None

        return retry(once, what=f"Azure Key Vault {operation} for {self.key.name}")

    def describe(self) -> AzureKey:
        key = self._call("get key", self.client.get_key, self.key.name, self.key.version)
        return _to_key(self.key.name, key)

    def sign_digest(self, key: AzureKey, digest: bytes) -> bytes:
        from azure.keyvault.keys.crypto import CryptographyClient

        crypto = CryptographyClient(key.key_id, self.credential, **_client_options())
        result = self._call("sign", crypto.sign, key.algorithm, digest)
        raw: bytes = result.signature
        if isinstance(key.public_key, ec.EllipticCurvePublicKey):  # JWS r || s -> ASN.1 DER
            half = len(raw) // 2
            return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        return raw

    def create(self) -> AzureKey:
        key = self._call("create key", self.client.create_ec_key, self.key.name, curve="P-256",
                         key_operations=["sign", "verify"])
        return _to_key(self.key.name, key)


def _to_key(name: str, bundle: Any) -> AzureKey:
    jwk = bundle.key
    kty = _text(jwk.kty)
    ops = [_text(o) for o in (jwk.key_ops or [])]
    if "sign" not in ops:
        raise UnsupportedKeyError(
            f"Azure Key Vault key {name} ({kty}) does not allow the sign operation "
            f"(allowed: {', '.join(ops)})")
    if kty in ("EC", "EC-HSM"):
        crv = _text(jwk.crv)
        if crv not in _CURVES:
            raise UnsupportedKeyError(
                f"Azure Key Vault key {name} uses curve {crv}; cosign supports P-256/384/521")
        curve, alg = _CURVES[crv]
        public: PublicKeyTypes = ec.EllipticCurvePublicNumbers(
            int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve).public_key()
        return AzureKey(bundle.id, alg, public)
    if kty in ("RSA", "RSA-HSM"):
        public = rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")).public_key()
        return AzureKey(bundle.id, "RS256", public)
    raise UnsupportedKeyError(f"Azure Key Vault key {name} has type {kty}; signing needs an EC or RSA key")


def _text(value: Any) -> str:
    """The wire string of an SDK enum member (or a plain string)."""
    return str(getattr(value, "value", value) or "")


def _message(exc: Any) -> str:
    """Key Vault's own error message (``error.message``) when it sent one."""
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "message", None):
        return str(error.message)
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AzureKmsBackend:
    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        kms = AzureKms(ref)
        key = kms.describe()
        return RemoteSigner(key.public_key, lambda digest, _hash: kms.sign_digest(key, digest))

    def verifier(self, ref: str) -> Verifier:
        return PublicKeyVerifier(AzureKms(ref).describe().public_key)

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        kms = AzureKms(ref)
        try:
            key = kms.describe()
        except _NotFound:
            key = kms.create()
        return GeneratedKey(public_pem=PublicKeyVerifier(key.public_key).public_key_pem())


BACKEND = AzureKmsBackend()
