"""Step 2 of keyless verification (part): RFC 3161 signed timestamps as verified times.

:func:`verify_timestamps` checks the ``timestampVerificationData.rfc3161Timestamps``
of a bundle the way sigstore-python does, with the ``rfc3161-client`` package doing
the CMS / ESS work:

- at most 32 tokens, no two identical (a repeated token would count twice);
- each token must verify over the *signature bytes* (message signature, or the DSSE
  envelope's signature) against one TSA of the trusted root: the TSA chain's first
  certificate is the signing certificate, its last the root, the rest intermediates
  (a TSA entry with fewer than two certificates cannot anchor anything); the token
  may or may not embed its certificate (conformance
  ``rekor2-timestamp-{with,without}-embedded-cert``);
- its ``genTime`` must lie in that TSA's ``validFor`` (closed interval,
  ``trust-root-tsa-validity-end-inclusive``) and, when a leaf is given, in the
  signing certificate's validity (``rekor2-timestamp-with-incorrect-time_fail``,
  ``intoto-tsa-timestamp-outside-cert-validity_fail``).

Every token must verify: one that does not is an error, not silently skipped, so a
bundle cannot hide a forged token behind a good one. The function returns the
verified times, in bundle order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sigstack.errors import TimestampError
from sigstack.keys.base import Verifier as KeyVerifier

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from rfc3161_client import TimeStampResponse

    from sigstack.bundle.trustroot import CertificateAuthority, TrustedRoot

MAX_TIMESTAMPS = 32


def decode_timestamp(der: bytes) -> TimeStampResponse:
    """A DER ``TimeStampResp`` (what a bundle's ``signedTimestamp`` holds)."""
    from rfc3161_client import decode_timestamp_response

    try:
        return decode_timestamp_response(der)
    except (ValueError, TypeError) as exc:
        raise TimestampError(
            f"timestamp: the RFC 3161 timestamp cannot be parsed (untrusted or malformed): {exc}") from None


def timestamps_from_bundle_json(tvd: object) -> list[bytes]:
    """The DER tokens of a bundle's ``timestampVerificationData`` JSON object."""
    if tvd is None:
        return []
    if not isinstance(tvd, dict):
        raise TimestampError("timestamp: timestampVerificationData must be an object")
    out = []
    for item in tvd.get("rfc3161Timestamps") or []:
        try:
            # protobuf JSON decoders (Go's) skip line breaks in base64; so do we
            text = item["signedTimestamp"].replace("\r", "").replace("\n", "")
            out.append(base64.b64decode(text, validate=True))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise TimestampError("timestamp: an rfc3161Timestamps entry has no base64 signedTimestamp") from None
    return out


def _gen_time(resp: TimeStampResponse) -> datetime:
    t = resp.tst_info.gen_time
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _verify_one(resp: TimeStampResponse, signature: bytes, tsas: Sequence[CertificateAuthority]) -> datetime | None:
    from rfc3161_client import VerificationError, VerifierBuilder

    gen = _gen_time(resp)
    for tsa in tsas:
        certs = tsa.certs()
        if len(certs) < 2:
            continue
        builder = VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
        for cert in certs[1:-1]:
            builder = builder.add_intermediate_certificate(cert)
        try:
            builder.build().verify_message(resp, signature)
        except (VerificationError, ValueError):
            continue
        if tsa.valid_for.contains(gen):
            return gen
    return None


def verify_timestamps(
    signature: bytes,
    tokens: Sequence[bytes],
    trusted_root: TrustedRoot,
    leaf: x509.Certificate | None = None,
) -> list[datetime]:
    """The genTimes of ``tokens`` (DER TimeStampResp), each verified; TimestampError otherwise."""
    if len(tokens) > MAX_TIMESTAMPS:
        raise TimestampError(f"timestamp: too many RFC 3161 timestamps ({len(tokens)} > {MAX_TIMESTAMPS})")
    if len(set(tokens)) != len(tokens):
        raise TimestampError("timestamp: the bundle carries the same RFC 3161 timestamp twice")
    if tokens and not trusted_root.timestamp_authorities:
        raise TimestampError("timestamp: the bundle has RFC 3161 timestamps but the trusted root lists no TSA")
    times = []
    for der in tokens:
        resp = decode_timestamp(der)
        gen = _verify_one(resp, signature, trusted_root.timestamp_authorities)
        if gen is None:
            raise TimestampError(
                f"timestamp: the RFC 3161 timestamp ({_fmt(_gen_time(resp))}) does not verify against a "
                f"timestamp authority of the trusted root valid at that time")
        if leaf is not None and not (leaf.not_valid_before_utc <= gen <= leaf.not_valid_after_utc):
            raise TimestampError(
                f"timestamp: the RFC 3161 timestamp ({_fmt(gen)}) is outside the signing certificate's "
                f"validity ({_fmt(leaf.not_valid_before_utc)} to {_fmt(leaf.not_valid_after_utc)})")
        times.append(gen)
    return times


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class TimestampedKey(KeyVerifier):
    """A trusted key whose signatures must also carry RFC 3161 timestamps from a TSA of
    ``trusted_root`` (cosign's ``--key`` with ``--use-signed-timestamps``; a
    policy-controller key authority with ``rfc3161timestamp``).

    It verifies as ``key`` does; the pipeline (:class:`sigstack.verify.verifier.Verifier`)
    sees this type and checks each signature's timestamps with :meth:`check` (the
    bundle's ``timestampVerificationData``, a legacy layer's ``rfc3161timestamp``
    annotation, and the detached ``timestamps`` given). Every timestamp present must
    verify; with ``required`` at least one must be there. A key has no validity period,
    so the times are only vouched for, not compared with a certificate."""

    def __init__(self, key: KeyVerifier, trusted_root: TrustedRoot, timestamps: Sequence[bytes] = (),
                 required: bool = True) -> None:
        self.key = key
        self.hash_name = key.hash_name
        self.prehash = key.prehash
        self.trusted_root = trusted_root
        self.timestamps = tuple(timestamps)
        self.required = required

    def public_key(self) -> PublicKeyTypes:
        return self.key.public_key()

    def verify_digest(self, signature: bytes, digest: bytes) -> None:
        self.key.verify_digest(signature, digest)

    def verify(self, signature: bytes, message: bytes) -> None:
        self.key.verify(signature, message)

    def check(self, stamped: bytes, tokens: Sequence[bytes]) -> list[datetime]:
        """The verified times of ``tokens`` (and the detached ones) over ``stamped``."""
        times = verify_timestamps(stamped, [*tokens, *self.timestamps], self.trusted_root)
        if self.required and not times:
            raise TimestampError("timestamp: no RFC 3161 timestamp, and one is required")
        return times
