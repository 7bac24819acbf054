"""DSSE envelopes (``application/vnd.dsse.envelope.v1+json``) and their PAE."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from sigstack._internal import safejson
from sigstack.errors import VerificationError
from sigstack.keys.base import Signer, Verifier
from sigstack.payload import gojson

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[bytes, ...]

    def to_json(self) -> bytes:
        """As cosign stores it: Go's encoding/json of the protobuf struct, no ``keyid``."""
        return gojson.dumps({
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [{"sig": base64.b64encode(s).decode()} for s in self.signatures],
        })

    def to_dict(self) -> dict[str, object]:
        return safejson.loads(self.to_json())  # type: ignore[no-any-return]


def sign(signer: Signer, body: bytes, payload_type: str = INTOTO_PAYLOAD_TYPE) -> Envelope:
    return Envelope(body, payload_type, (signer.sign(pae(payload_type, body)),))


def parse(data: bytes | dict[str, object]) -> Envelope:
    try:
        obj = safejson.loads(data) if isinstance(data, bytes) else data
        payload = base64.b64decode(str(obj["payload"]), validate=True)
        ptype = str(obj["payloadType"])
        sigs_raw = obj.get("signatures") or []
        if not isinstance(sigs_raw, list):
            raise TypeError
        sigs = tuple(base64.b64decode(str(s["sig"]), validate=True) for s in sigs_raw)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise VerificationError("not a valid DSSE envelope") from None
    return Envelope(payload, ptype, sigs)


def verify(verifier: Verifier, envelope: Envelope) -> None:
    """Pass if any signature verifies over the PAE; else raise with the last reason."""
    if not envelope.signatures:
        raise VerificationError("the DSSE envelope has no signatures")
    message = pae(envelope.payload_type, envelope.payload)
    last: VerificationError | None = None
    for sig in envelope.signatures:
        try:
            verifier.verify(sig, message)
            return
        except VerificationError as exc:
            last = exc
    assert last is not None
    raise last
