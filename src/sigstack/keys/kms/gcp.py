"""``gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V | /versions/V]``
with the official ``google-cloud-kms`` client.

As in cosign: the key must have purpose ``ASYMMETRIC_SIGN``; without a version,
the newest ENABLED version is used; signing sends the digest
(``AsymmetricSign``); ``generate`` creates the key ring if needed and a key with
algorithm ``EC_SIGN_P256_SHA256`` (an existing key is reused). Credentials are
Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud,
metadata server).

The client speaks REST (``transport="rest"``, the same documented JSON API as
``gcloud``), which needs no gRPC channel and can be pointed at a private
endpoint with ``SIGSTACK_GCPKMS_ENDPOINT`` (a URL; our tests use it to reach an
HTTP double). The client's own retry policies are disabled (``retry=None``) in
favour of :func:`sigstack.keys._remote.retry`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.errors import KeyLoadError, KeyRefError, UnsupportedKeyError
from sigstack.keys import _remote
from sigstack.keys._remote import RemoteSigner, TransientError, require, retry
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PublicKeyVerifier

_REF_RE = re.compile(
    r"^gcpkms://(projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/]+))"
    r"(?:/(?:cryptoKeyVersions|versions)/([^/]+))?$"
)
_FORMAT = "gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K[/cryptoKeyVersions/V]"
ENDPOINT_ENV = "SIGSTACK_GCPKMS_ENDPOINT"

#: algorithms cosign accepts, by their CryptoKeyVersionAlgorithm names
SUPPORTED = (
    "EC_SIGN_P256_SHA256", "EC_SIGN_P384_SHA384", "RSA_SIGN_PKCS1_2048_SHA256",
    "RSA_SIGN_PKCS1_3072_SHA256", "RSA_SIGN_PKCS1_4096_SHA256",
)
DEFAULT_ALGORITHM = "EC_SIGN_P256_SHA256"
_CREATE_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class GcpKeyRef:
    key_name: str
    project: str
    location: str
    ring: str
    key: str
    version: str | None

    @classmethod
    def parse(cls, ref: str) -> GcpKeyRef:
        m = _REF_RE.match(ref)
        if m is None:
            raise KeyRefError(f"invalid gcpkms format {ref!r}: expected {_FORMAT}")
        return cls(*m.groups())

    @property
    def ring_name(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/keyRings/{self.ring}"


@dataclass(frozen=True)
class GcpKeyVersion:
    name: str
    algorithm: str
    public_key: PublicKeyTypes


class _NotFound(KeyLoadError):
    pass


class GcpKms:
    def __init__(self, ref: str) -> None:
        self.key = GcpKeyRef.parse(ref)
        require("google.cloud.kms_v1", "gcp", "gcpkms:// key references")
        from google.api_core.client_options import ClientOptions
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import kms_v1

        endpoint = os.environ.get(ENDPOINT_ENV)
        options = ClientOptions(api_endpoint=endpoint) if endpoint else None
        try:
            self.client = kms_v1.KeyManagementServiceClient(transport="rest", client_options=options)
        except DefaultCredentialsError as exc:
            raise KeyLoadError(f"GCP KMS: no credentials: {_first_line(exc)}") from None
        self.kms = kms_v1

    def _call(self, operation: str, fn: Any, **kw: Any) -> Any:
        from google.api_core import exceptions as gx
        from google.auth.exceptions import GoogleAuthError, TransportError
        from requests.exceptions import ConnectionError, Timeout

        def once() -> Any:
            try:
                return fn(retry=None, timeout=_remote.REQUEST_TIMEOUT, **kw)
            except (gx.TooManyRequests, gx.ResourceExhausted, gx.ServiceUnavailable, gx.InternalServerError,
                    gx.DeadlineExceeded, gx.BadGateway, gx.GatewayTimeout) as exc:
                raise TransientError(f"{exc.code}: {_message(exc)}") from None
            except (ConnectionError, Timeout, TransportError) as exc:
                raise TransientError(f"{type(exc).__name__}: {_first_line(exc)}") from None
            except gx.NotFound as exc:
                raise _NotFound(f"GCP KMS {operation}: not found: {_message(exc)}") from None
            except gx.PermissionDenied as exc:
                raise KeyLoadError(f"GCP KMS {operation} denied: {_message(exc)}") from None
            except gx.GoogleAPICallError as exc:
                raise KeyLoadError(f"GCP KMS {operation} failed: {exc.code}: {_message(exc)}") from None
            except GoogleAuthError as exc:
                raise KeyLoadError(f"GCP KMS credentials: {_first_line(exc)}") from None

        return retry(once, what=f"GCP KMS {operation} for {self.key.key_name}")

    def version(self) -> GcpKeyVersion:
        """The version to use: the one named in the reference, else the newest enabled one."""
        key = self._call("GetCryptoKey", self.client.get_crypto_key, name=self.key.key_name)
        purpose = self.kms.CryptoKey.CryptoKeyPurpose(key.purpose).name
        if purpose != "ASYMMETRIC_SIGN":
            raise UnsupportedKeyError(
                f"GCP KMS key {self.key.key_name} has purpose {purpose}; signing needs ASYMMETRIC_SIGN")
        if self.key.version:
            name = f"{self.key.key_name}/cryptoKeyVersions/{self.key.version}"
        else:
            pages = self._call("ListCryptoKeyVersions", self.client.list_crypto_key_versions, request={
                "parent": self.key.key_name, "filter": "state=ENABLED", "order_by": "name desc"})
            versions = sorted(pages.crypto_key_versions, key=lambda v: int(v.name.rsplit("/", 1)[1]),
                              reverse=True)
            if not versions:
                raise KeyLoadError(f"GCP KMS key {self.key.key_name} has no enabled version")
            name = versions[0].name
        pub = self._call("GetPublicKey", self.client.get_public_key, name=name)
        algorithm = self.kms.CryptoKeyVersion.CryptoKeyVersionAlgorithm(pub.algorithm).name
        if algorithm not in SUPPORTED:
            raise UnsupportedKeyError(
                f"GCP KMS key version {name} uses {algorithm}; cosign supports " + ", ".join(SUPPORTED))
        return GcpKeyVersion(name, algorithm, load_public_key_pem(pub.pem.encode()))

    def sign_digest(self, version: GcpKeyVersion, digest: bytes, hash_name: str) -> bytes:
        resp = self._call("AsymmetricSign", self.client.asymmetric_sign, request={
            "name": version.name, "digest": {hash_name: digest}})
        signature: bytes = resp.signature
        return signature

    def create(self) -> GcpKeyVersion:
        try:
            self._call("GetKeyRing", self.client.get_key_ring, name=self.key.ring_name)
        except _NotFound:
            self._call("CreateKeyRing", self.client.create_key_ring, request={
                "parent": f"projects/{self.key.project}/locations/{self.key.location}",
                "key_ring_id": self.key.ring, "key_ring": {}})
        self._call("CreateCryptoKey", self.client.create_crypto_key, request={
            "parent": self.key.ring_name, "crypto_key_id": self.key.key,
            "crypto_key": {"purpose": "ASYMMETRIC_SIGN",
                           "version_template": {"algorithm": DEFAULT_ALGORITHM}}})
        deadline = time.monotonic() + _CREATE_WAIT_SECONDS
        while True:  # asymmetric versions start in PENDING_GENERATION
            try:
                return self.version()
            except KeyLoadError as exc:
                if "no enabled version" not in exc.message or time.monotonic() > deadline:
                    raise
            time.sleep(1)


_REQUEST_PREFIX = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: ")


def _message(exc: Any) -> str:
    """The server's message without the "METHOD URL: " prefix the REST transport adds."""
    return _REQUEST_PREFIX.sub("", str(exc.message or ""), count=1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class GcpKmsBackend:
    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        kms = GcpKms(ref)
        version = kms.version()
        return RemoteSigner(version.public_key, lambda digest, h: kms.sign_digest(version, digest, h))

    def verifier(self, ref: str) -> Verifier:
        return PublicKeyVerifier(GcpKms(ref).version().public_key)

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        kms = GcpKms(ref)
        try:
            version = kms.version()
        except _NotFound:
            version = kms.create()
        return GeneratedKey(public_pem=PublicKeyVerifier(version.public_key).public_key_pem())


BACKEND = GcpKmsBackend()
