"""Answering RFC 3161 timestamp requests as sigstore/timestamp-authority does.

A request (``TimeStampReq``, DER; or timestamp-authority's JSON form) is checked, then
answered with a ``TimeStampResp`` whose token is a CMS ``SignedData`` over a ``TSTInfo``:

- ``TSTInfo``: version 1, the TSA policy (``1.3.6.1.4.1.57264.2``, Sigstore's, unless
  configured otherwise), the request's ``messageImprint`` echoed, a random 159-bit
  serial (20 bytes, as timestamp-authority's), ``genTime`` in whole seconds (Go's
  ``encoding/asn1``, which cosign parses timestamps with, refuses fractions it would
  not write back), ``accuracy`` of one second, ``ordering`` false, the request's
  ``nonce`` echoed, and ``tsa`` naming the leaf's subject;
- the ``SignerInfo`` (issuer and serial of the leaf) signs the signed attributes:
  content type ``id-ct-TSTInfo``, ``signingTime``, ``messageDigest`` of the TSTInfo
  and the ESS ``signingCertificateV2`` (RFC 5816: SHA-256 of the leaf, its issuer and
  serial), which verifiers use to bind the token to its certificate;
- ``certificates`` holds the leaf only when the request asked (``certReq``), as
  RFC 3161 §2.4.1 says; the verifier has the chain from its trusted root otherwise.

What timestamp-authority (v2) refuses with HTTP 400 is refused here the same way
(:class:`~sigstack.errors.TimestampRequestError`, with its sentences as the prefix and
the reason after): a body that does not parse (``Error generating timestamp
response``), SHA-1 (``Weak hash algorithm in timestamp request``), an imprint of the
wrong length, a policy other than the TSA's (``unaccepted policy: ...``) and any
request extension (``unaccepted extension: ...``; timestamp-authority copies none
unless told to). Those answers were recorded from the real server
(tests/tsa/test_peer.py compares them).

Why asn1crypto: ``cryptography`` signs CMS only with ``id-data`` content (its PKCS#7
builder), never a ``TSTInfo`` eContent with the signed attributes RFC 3161 requires,
and ``rfc3161-client`` only parses. asn1crypto is pure Python, has no dependencies,
and defines TSP, CMS and ESS from the RFCs' modules (pyasn1-modules has them too, with
an order of magnitude more code to build them). It parses every request, encodes each
``TSTInfo``, and encodes once, per TSA, every part that is the same in all timestamps
(the signer identifier, the ESS ``signingCertificateV2`` and content-type attributes,
the algorithm identifiers, the TSA's name). What is written by hand is the assembly
around those encodings: the signing-time and message-digest attributes, the SET OF
signed attributes, ``SignerInfo``, ``SignedData``, ``ContentInfo`` and
``TimeStampResp``, each a SEQUENCE or SET of parts already encoded (RFC 5652 §5,
RFC 3161 §2.4.2). Built with asn1crypto's own types those took 0.6 ms per timestamp,
and one in ten took 40-100 ms (re-tagging a parsed SignedData copies and re-parses it);
assembled, a timestamp costs its TSTInfo and its signature. The tests parse every
answer strictly with asn1crypto and rfc3161-client, verify it with sigstack, cosign, OpenSSL and
timestamp-authority's ``timestamp-cli``, and compare its shape with the real
timestamp-authority's. The signature itself is made by the
:class:`~sigstack.keys.base.Signer` (file, KMS, PKCS#11 alike).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigstack._internal.der import oid_der, tlv
from sigstack.errors import (
    TSA_DIGEST_LENGTH,
    TSA_FAILED,
    TSA_UNACCEPTED_EXTENSION,
    TSA_UNACCEPTED_POLICY,
    TSA_WEAK_HASH,
    TimestampRequestError,
)
from sigstack.tsa.state import TSAMaterial

#: Sigstore's TSA policy OID, timestamp-authority's default
SIGSTORE_POLICY = "1.3.6.1.4.1.57264.2"
#: digest name -> length; timestamp-authority takes these (SHA-1 is refused as weak)
DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}
MAX_REQUEST = 10 * 1024


@dataclass(frozen=True)
class TimestampRequest:
    """What a request asks for, whatever form it came in."""

    hash_name: str
    digest: bytes
    nonce: int | None = None
    cert_req: bool = False
    policy: str | None = None
    extensions: tuple[str, ...] = ()  # the OIDs of the request's extensions


def _bad(reason: str, sentence: str = TSA_FAILED) -> TimestampRequestError:
    return TimestampRequestError(f"{sentence}: {reason}")


def _check_digest(hash_name: str | None, digest: bytes) -> None:
    if hash_name in ("sha1", "md5"):
        raise _bad(f"{hash_name} must not be used; use SHA-256, SHA-384 or SHA-512", TSA_WEAK_HASH)
    if hash_name not in DIGESTS:
        raise _bad(f"unsupported hash algorithm {hash_name}; use SHA-256, SHA-384 or SHA-512", TSA_WEAK_HASH)
    if len(digest) != DIGESTS[hash_name]:
        raise _bad(f"expected {DIGESTS[hash_name]} bytes, got {len(digest)} bytes", TSA_DIGEST_LENGTH)


def parse_der_request(der: bytes) -> TimestampRequest:
    """A DER ``TimeStampReq``; TimestampRequestError when it is not one."""
    from asn1crypto import tsp

    if len(der) > MAX_REQUEST:
        raise _bad(f"the request is larger than {MAX_REQUEST} bytes")
    try:
        req = tsp.TimeStampReq.load(der, strict=True)
        version = req["version"].native
        imprint = req["message_imprint"]
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        policy = req["req_policy"].native
        nonce = req["nonce"].native
        cert_req = bool(req["cert_req"].native)
        extensions = req["extensions"]
        extension_ids = tuple(str(e["extn_id"].dotted) for e in extensions) if extensions.native is not None else ()
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad(f"the body is not a DER TimeStampReq ({exc})") from None
    if version != "v1":
        raise _bad(f"unsupported TimeStampReq version {version}")
    _check_digest(hash_name, digest)
    return TimestampRequest(hash_name, digest, nonce, cert_req, policy, extension_ids)


def parse_json_request(doc: Any) -> TimestampRequest:
    """timestamp-authority's JSON request: ``{"artifactHash": "<b64 digest>",
    "hashAlgorithm": "sha256", "certificates": bool, "nonce": int, "tsaPolicyOID": "..."}``."""
    if not isinstance(doc, dict):
        raise _bad("the JSON request must be an object")
    unknown = set(doc) - {"artifactHash", "hashAlgorithm", "certificates", "nonce", "tsaPolicyOID"}
    if unknown:
        raise _bad(f"unknown field {sorted(unknown)[0]!r} in the JSON request")
    text, name = doc.get("artifactHash"), doc.get("hashAlgorithm", "sha256")
    if not isinstance(text, str) or not isinstance(name, str):
        raise _bad("artifactHash (base64) and hashAlgorithm must be strings")
    try:
        digest = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("artifactHash is not base64") from None
    name = name.lower().replace("-", "")
    _check_digest(name, digest)
    nonce, certs, policy = doc.get("nonce"), doc.get("certificates", False), doc.get("tsaPolicyOID")
    if nonce is not None and (not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0):
        raise _bad("nonce must be a non-negative integer")
    if not isinstance(certs, bool):
        raise _bad("certificates must be true or false")
    if policy is not None and (not isinstance(policy, str) or not is_oid(policy)):
        raise _bad("tsaPolicyOID must be a dotted object identifier")
    return TimestampRequest(name, digest, nonce, certs, policy or None)


def is_oid(text: str) -> bool:
    parts = text.split(".")
    return len(parts) >= 2 and all(p.isascii() and p.isdigit() for p in parts)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
ID_SIGNING_TIME = "1.2.840.113549.1.9.5"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }


@dataclass
class TimestampAuthority:
    """Issues timestamps with ``material`` (signer and chain). ``clock`` is the time
    source (tests pin it); ``policy`` the TSA policy OID.

    What is the same in every timestamp (the signer identifier, the ESS attribute
    naming the leaf, the content-type attribute, the algorithms, the certificate, the
    TSA's name) is encoded once, here, with asn1crypto; each timestamp encodes its
    ``TSTInfo`` with asn1crypto and is then assembled around it (see the module
    docstring)."""

    material: TSAMaterial
    policy: str = SIGSTORE_POLICY
    clock: Callable[[], datetime.datetime] = _now
    _fixed: dict[str, bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from asn1crypto import algos, cms, tsp
        from asn1crypto import x509 as ax509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        leaf_der = self.material.leaf.public_bytes(serialization.Encoding.DER)
        leaf = ax509.Certificate.load(leaf_der)
        signer = self.material.signer
        kind = "ecdsa" if isinstance(signer.public_key(), ec.EllipticCurvePublicKey) else "rsa"
        ess = tsp.SigningCertificateV2({"certs": [{
            "hash_algorithm": {"algorithm": "sha256"},
            "cert_hash": hashlib.sha256(leaf_der).digest(),
            "issuer_serial": {"issuer": [ax509.GeneralName("directory_name", leaf.issuer)],
                              "serial_number": leaf.serial_number},
        }]})
        self._fixed = {
            "sid": cms.SignerIdentifier("issuer_and_serial_number", cms.IssuerAndSerialNumber({
                "issuer": leaf.issuer, "serial_number": leaf.serial_number})).dump(),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": signer.hash_name}).dump(),
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": f"{signer.hash_name}_{kind}"}).dump(),
            "content_type": cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}).dump(),
            "ess": cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}).dump(),
            "certificate": leaf_der,
            "tsa": ax509.GeneralName("directory_name", leaf.subject).dump(),
        }

    def chain_pem(self) -> bytes:
        return self.material.chain_pem()

    def respond(self, request: TimestampRequest) -> bytes:
        """The DER ``TimeStampResp`` granting ``request``; TimestampRequestError when it
        asks for a policy or an extension this TSA does not give."""
        if request.policy is not None and request.policy != self.policy:
            raise TimestampRequestError(f"{TSA_UNACCEPTED_POLICY}: the TSA's policy is {self.policy}, not "
                                        f"{request.policy}")
        if request.extensions:
            raise TimestampRequestError(f"{TSA_UNACCEPTED_EXTENSION}: {request.extensions[0]}")
        return self._grant(request)

    def _grant(self, request: TimestampRequest) -> bytes:
        from asn1crypto import core, tsp
        from asn1crypto import x509 as ax509

        fixed = self._fixed
        gen_time = self.clock().astimezone(datetime.UTC).replace(microsecond=0)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy,
            "message_imprint": {"hash_algorithm": {"algorithm": request.hash_name},
                                "hashed_message": request.digest},
            "serial_number": secrets.randbits(159) | 1,
            "gen_time": core.GeneralizedTime(gen_time),
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": ax509.GeneralName.load(fixed["tsa"]),
        }
        if request.nonce is not None:
            info["nonce"] = request.nonce
        tst_der: bytes = tsp.TSTInfo(info).dump()

        signer = self.material.signer
        signing_time = tlv(0x17, gen_time.strftime("%y%m%d%H%M%SZ").encode())  # UTCTime (RFC 5652: to 2049)
        attrs = [
            fixed["content_type"],
            tlv(0x30, oid_der(ID_SIGNING_TIME) + tlv(0x31, signing_time)),
            tlv(0x30, oid_der(ID_MESSAGE_DIGEST) + tlv(0x31, tlv(0x04, hashlib.new(signer.hash_name,
                                                                                  tst_der).digest()))),
            fixed["ess"],
        ]
        attrs_body = b"".join(sorted(attrs))  # DER orders a SET OF by the encodings
        signature = signer.sign(tlv(0x31, attrs_body))  # signed as a SET OF, stored as [0] IMPLICIT
        signer_info = tlv(0x30, b"\x02\x01\x01" + fixed["sid"] + fixed["digest_algorithm"] + tlv(0xA0, attrs_body)
                          + fixed["signature_algorithm"] + tlv(0x04, signature))
        signed = (b"\x02\x01\x03" + tlv(0x31, fixed["digest_algorithm"])
                  + tlv(0x30, oid_der(ID_TST_INFO) + tlv(0xA0, tlv(0x04, tst_der)))
                  + (tlv(0xA0, fixed["certificate"]) if request.cert_req else b"")
                  + tlv(0x31, signer_info))
        token = tlv(0x30, oid_der(ID_SIGNED_DATA) + tlv(0xA0, tlv(0x30, signed)))
        return tlv(0x30, GRANTED + token)
