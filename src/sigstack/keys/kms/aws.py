"""``awskms://[ENDPOINT]/{key-id | alias/NAME | arn:...:key/ID | arn:...:alias/NAME}`` with boto3.

Signing sends the digest (``MessageType=DIGEST``) with the algorithm that matches
the key: ECDSA_SHA_256/384/512 for NIST P-256/384/521, RSASSA_PKCS1_V1_5_SHA_256
for RSA (cosign's defaults). ``generate`` makes an ``ECC_NIST_P256`` /
``SIGN_VERIFY`` key and points the alias at it; like cosign, an alias that
already names a usable key is reused rather than replaced.

Credentials and region come from the AWS SDK's default chain (env vars, profile,
instance role); the region may also come from an ARN. A non-empty ENDPOINT is
used as ``https://ENDPOINT``; ``AWS_ENDPOINT_URL(_KMS)`` is honoured by boto3
itself; ``AWS_TLS_INSECURE_SKIP_VERIFY=1`` turns off TLS verification (as in
cosign). botocore's own retries are turned off: :func:`sigstack.keys._remote.retry`
retries throttling, 5xx and timeouts uniformly for every KMS.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.errors import KeyLoadError, KeyRefError, UnsupportedKeyError
from sigstack.keys import _remote
from sigstack.keys._remote import RemoteSigner, TransientError, require, retry
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PublicKeyVerifier

_PARTITIONS = "(?:aws|aws-us-gov|aws-cn)"
_REF_RES = (
    ("id", re.compile(r"^awskms://([^/]*)/([a-zA-Z0-9-_]+)$")),
    ("alias", re.compile(r"^awskms://([^/]*)/(alias/[a-zA-Z0-9:/_-]+)$")),
    ("arn", re.compile(rf"^awskms://([^/]*)/(arn:{_PARTITIONS}:kms:([a-z0-9-]+):\d{{12}}:key/[a-zA-Z0-9-]+)$")),
    ("arn", re.compile(
        rf"^awskms://([^/]*)/(arn:{_PARTITIONS}:kms:([a-z0-9-]+):\d{{12}}:alias/[a-zA-Z0-9/_-]+)$")),
)
_FORMAT = "awskms://[ENDPOINT]/{KEY_ID | alias/NAME | arn:aws:kms:REGION:ACCOUNT:key/ID | ...:alias/NAME}"

#: KeySpec -> SigningAlgorithm cosign uses for it
ALGORITHMS = {
    "ECC_NIST_P256": "ECDSA_SHA_256",
    "ECC_NIST_P384": "ECDSA_SHA_384",
    "ECC_NIST_P521": "ECDSA_SHA_512",
    "RSA_2048": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_3072": "RSASSA_PKCS1_V1_5_SHA_256",
    "RSA_4096": "RSASSA_PKCS1_V1_5_SHA_256",
}
DEFAULT_KEY_SPEC = "ECC_NIST_P256"

_TRANSIENT = {
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "LimitExceededException", "KMSInternalException", "DependencyTimeoutException",
    "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
}


@dataclass(frozen=True)
class AwsKeyRef:
    endpoint: str
    key_id: str
    kind: str  # "id", "alias" or "arn"
    region: str | None

    @classmethod
    def parse(cls, ref: str) -> AwsKeyRef:
        for kind, pattern in _REF_RES:
            m = pattern.match(ref)
            if m:
                region = m.group(3) if kind == "arn" else None
                return cls(m.group(1), m.group(2), kind, region)
        raise KeyRefError(f"invalid awskms format {ref!r}: expected {_FORMAT}")

    @property
    def is_alias(self) -> bool:
        return self.key_id.startswith("alias/") or ":alias/" in self.key_id


@dataclass(frozen=True)
class KeyDescription:
    public_key: PublicKeyTypes
    algorithm: str


class AwsKms:
    """One KMS key: describe, sign a digest, create."""

    def __init__(self, ref: str) -> None:
        self.ref = ref
        self.key = AwsKeyRef.parse(ref)
        boto3 = require("boto3", "aws", "awskms:// key references")
        from botocore.config import Config

        kw: dict[str, Any] = {
            "config": Config(retries={"total_max_attempts": 1}, connect_timeout=_remote.REQUEST_TIMEOUT,
                             read_timeout=_remote.REQUEST_TIMEOUT, user_agent_extra="sigstack"),
        }
        if self.key.endpoint:
            kw["endpoint_url"] = f"https://{self.key.endpoint}"
        if os.environ.get("AWS_TLS_INSECURE_SKIP_VERIFY") == "1":
            kw["verify"] = False
        # AWS_REGION is the Go SDK's variable (cosign users set it); boto3 reads AWS_DEFAULT_REGION
        env_region = os.environ.get("AWS_REGION")
        if self.key.region and not (env_region or os.environ.get("AWS_DEFAULT_REGION")):
            kw["region_name"] = self.key.region
        elif env_region:
            kw["region_name"] = env_region
        try:
            self.client = boto3.session.Session().client("kms", **kw)
        except Exception as exc:  # NoRegionError, bad profile ...
            raise KeyLoadError(f"AWS KMS: {_first_line(exc)}; set AWS_REGION or use a key ARN") from None

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            ConnectTimeoutError,
            NoCredentialsError,
            ReadTimeoutError,
        )

        def once() -> dict[str, Any]:
            try:
                result: dict[str, Any] = getattr(self.client, _snake(operation))(**params)
                return result
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code = str(err.get("Code", ""))
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                message = str(err.get("Message", "")) or code
                if code in _TRANSIENT or status >= 500:
                    raise TransientError(f"{code or status}: {message}") from None
                raise _client_error(self.key, operation, code, message) from None
            except (ConnectTimeoutError, ReadTimeoutError) as exc:
                raise TransientError(f"timeout: {_first_line(exc)}") from None
            except ConnectionError as exc:
                raise TransientError(f"connection failed: {_first_line(exc)}") from None
            except NoCredentialsError:
                raise KeyLoadError(
                    "AWS KMS: no AWS credentials found (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                    "AWS_PROFILE, or run with an instance role)") from None
            except BotoCoreError as exc:
                raise KeyLoadError(f"AWS KMS {operation}: {_first_line(exc)}") from None

        return retry(once, what=f"AWS KMS {operation} for {self.key.key_id}")

    def describe(self) -> KeyDescription:
        resp = self._call("GetPublicKey", KeyId=self.key.key_id)
        usage = resp.get("KeyUsage")
        spec = resp.get("KeySpec") or resp.get("CustomerMasterKeySpec") or "?"
        if usage != "SIGN_VERIFY":
            raise UnsupportedKeyError(
                f"AWS KMS key {self.key.key_id} has usage {usage} ({spec}); signing needs a SIGN_VERIFY key")
        algorithm = ALGORITHMS.get(spec)
        if algorithm is None:
            raise UnsupportedKeyError(
                f"AWS KMS key {self.key.key_id} has key spec {spec}; cosign supports "
                + ", ".join(ALGORITHMS))
        offered = resp.get("SigningAlgorithms") or [algorithm]
        if algorithm not in offered:
            raise UnsupportedKeyError(
                f"AWS KMS key {self.key.key_id} does not offer {algorithm} (offers {', '.join(offered)})")
        try:
            public = serialization.load_der_public_key(resp["PublicKey"])
        except (KeyError, ValueError) as exc:
            raise KeyLoadError(f"AWS KMS returned an unreadable public key: {_first_line(exc)}") from None
        return KeyDescription(public, algorithm)

    def sign_digest(self, digest: bytes, algorithm: str) -> bytes:
        resp = self._call("Sign", KeyId=self.key.key_id, Message=digest, MessageType="DIGEST",
                          SigningAlgorithm=algorithm)
        signature: bytes = resp["Signature"]
        return signature

    def create(self) -> KeyDescription:
        if not self.key.is_alias:
            raise KeyRefError(
                f"AWS KMS key {self.key.key_id} does not exist and KMS cannot create a key with a chosen id; "
                "use awskms:///alias/NAME to create one")
        meta = self._call("CreateKey", KeySpec=DEFAULT_KEY_SPEC, KeyUsage="SIGN_VERIFY",
                          Description="cosign/sigstack signing key")["KeyMetadata"]
        alias = self.key.key_id.split(":", 5)[-1] if self.key.key_id.startswith("arn:") else self.key.key_id
        self._call("CreateAlias", AliasName=alias, TargetKeyId=meta["KeyId"])
        return self.describe()


class _NotFound(KeyLoadError):
    pass


def _client_error(key: AwsKeyRef, operation: str, code: str, message: str) -> KeyLoadError:
    if code == "NotFoundException":
        return _NotFound(f"AWS KMS key {key.key_id} not found: {message}")
    if code == "AccessDeniedException":
        return KeyLoadError(f"AWS KMS {operation} on {key.key_id} was denied: {message}")
    if code in ("DisabledException", "KMSInvalidStateException"):
        return KeyLoadError(f"AWS KMS key {key.key_id} cannot be used now: {message}")
    if code in ("UnsupportedOperationException", "InvalidKeyUsageException"):
        return UnsupportedKeyError(f"AWS KMS key {key.key_id} cannot sign: {message}")
    return KeyLoadError(f"AWS KMS {operation} on {key.key_id} failed: {code}: {message}")


def _snake(operation: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class AwsKmsBackend:
    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        kms = AwsKms(ref)
        desc = kms.describe()
        return RemoteSigner(desc.public_key, lambda digest, _hash: kms.sign_digest(digest, desc.algorithm))

    def verifier(self, ref: str) -> Verifier:
        return PublicKeyVerifier(AwsKms(ref).describe().public_key)

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        kms = AwsKms(ref)
        try:
            desc = kms.describe()  # cosign reuses an existing key
        except _NotFound:
            desc = kms.create()
        return GeneratedKey(public_pem=PublicKeyVerifier(desc.public_key).public_key_pem())


BACKEND = AwsKmsBackend()
