"""Pieces every remote key backend (Kubernetes, PKCS#11, KMS) shares.

* :func:`require` imports an optional client library or raises
  :class:`~sigstack.errors.MissingExtraError` naming the ``sigstack[extra]`` that
  brings it, so a scheme used without its extra fails with one clear line.
* :class:`RemoteSigner` turns "a public key plus a function that signs a digest"
  into a :class:`~sigstack.keys.Signer`; the algorithm (hash, padding) always
  follows the public key, as cosign's ``GetDefaultPublicKeyDetails`` does.
* :func:`retry` is one retry loop (exponential backoff with jitter, then a clear
  error) used by every KMS backend. The clients' own retry layers differ (botocore
  retries throttling, hvac retries nothing, azure-core retries 429 with its own
  timing); we turn them down to a single attempt and retry here, so every scheme
  behaves and reports the same way and the behaviour is tested once.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.errors import KeyLoadError, MissingExtraError
from sigstack.keys.base import Signer
from sigstack.keys.software import hash_for_public_key

T = TypeVar("T")

#: attempts per remote call (first try included) and the backoff schedule
RETRY_ATTEMPTS = 4
RETRY_BASE_DELAY = 0.2
RETRY_MAX_DELAY = 3.0
#: seconds one KMS request may take (connect and read) before it counts as a
#: transient failure; read when a client is built, so callers may lower it
REQUEST_TIMEOUT = 30.0


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import ``module`` or fail naming ``sigstack[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(feature, extra) from None


class TransientError(Exception):
    """Raised by a call wrapped in :func:`retry` for a failure worth retrying
    (throttling, 5xx, timeouts); ``reason`` ends up in the final error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def retry(
    call: Callable[[], T],
    *,
    what: str,
    attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``call``; on :class:`TransientError` wait and retry, then give up clearly.

    ``what`` names the operation for the final message, e.g. ``"AWS KMS Sign"``.
    """
    total = attempts or RETRY_ATTEMPTS
    for attempt in range(1, total + 1):
        try:
            return call()
        except TransientError as exc:
            if attempt == total:
                raise KeyLoadError(
                    f"{what} failed after {total} attempts: {exc.reason}; try again later"
                ) from None
            delay = min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * 2 ** (attempt - 1))
            sleep(delay * (0.5 + random.random() / 2))
    raise AssertionError("unreachable")  # the loop returns or raises


class RemoteSigner(Signer):
    """A signer whose private key never leaves a remote service or token.

    ``sign_digest_fn`` receives ``(digest, hash_name)`` and returns the signature in
    the form cosign expects (ASN.1 DER for ECDSA, raw PKCS#1 v1.5 for RSA).
    """

    def __init__(self, public_key: PublicKeyTypes, sign_digest_fn: Callable[[bytes, str], bytes]) -> None:
        self.hash_name, self.prehash = hash_for_public_key(public_key)
        if not self.prehash:
            raise KeyLoadError("remote Ed25519 keys cannot sign a digest; use an ECDSA or RSA key")
        self._public_key = public_key
        self._sign = sign_digest_fn

    def public_key(self) -> PublicKeyTypes:
        return self._public_key

    def sign_digest(self, digest: bytes) -> bytes:
        return self._sign(digest, self.hash_name)
