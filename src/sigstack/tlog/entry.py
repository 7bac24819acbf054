"""A transparency log entry and the evidence of its inclusion: the data model only.

It imports no HTTP code, so bundles (which embed entries) and the verification
pipeline can use it without the log client. The Rekor v1 wire form
(``{uuid: LogEntry}``) is parsed here too, because it is a document like any
other; fetching it is :mod:`sigstack.tlog.client`'s job.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigstack._internal import safejson
from sigstack.errors import LogClientError, ProofError

if TYPE_CHECKING:
    from sigstack.keys.base import Verifier
    from sigstack.tlog.checkpoint import Checkpoint


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 6962 inclusion proof of one leaf, with the signed checkpoint of its tree."""

    log_index: int
    tree_size: int
    root_hash: bytes
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed note, as served


@dataclass(frozen=True)
class TlogEntry:
    """One log entry with whatever evidence came with it.

    ``signed_entry_timestamp`` (Rekor v1's inclusion promise) and ``inclusion_proof``
    are each optional: cosign's SET-form evidence (the ``dev.sigstore.cosign/bundle``
    annotation, its legacy bundle file) carries no proof; a v0.2+ bundle carries a proof
    and, for Rekor v1, a SET too. What a verifier requires is its own decision.
    """

    log_index: int
    log_id: bytes
    integrated_time: int
    body: bytes  # the canonical entry: the Merkle leaf
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None
    entry_id: str = ""

    @property
    def body_b64(self) -> str:
        return base64.b64encode(self.body).decode()

    @property
    def kind_version(self) -> tuple[str, str]:
        try:
            doc = safejson.loads(self.body)
            return str(doc["kind"]), str(doc["apiVersion"])
        except (ValueError, KeyError, TypeError):
            raise ProofError("the log entry body is not a Rekor entry") from None

    @classmethod
    def from_response(cls, doc: Any) -> TlogEntry:
        """Parse ``{entryID: LogEntry}`` as Rekor v1 returns it (strictly)."""
        if not isinstance(doc, dict) or len(doc) != 1:
            raise LogClientError("unexpected log response: want one entry")
        ((entry_id, v),) = doc.items()
        try:
            proof = v["verification"]["inclusionProof"]
            entry = cls(
                log_index=_int(v["logIndex"]),
                log_id=bytes.fromhex(v["logID"]),
                integrated_time=_int(v["integratedTime"]),
                body=base64.b64decode(v["body"], validate=True),
                signed_entry_timestamp=base64.b64decode(v["verification"]["signedEntryTimestamp"],
                                                        validate=True),
                inclusion_proof=InclusionProof(
                    log_index=_int(proof["logIndex"]),
                    tree_size=_int(proof["treeSize"]),
                    root_hash=bytes.fromhex(proof["rootHash"]),
                    hashes=tuple(bytes.fromhex(h) for h in proof["hashes"]),
                    checkpoint=str(proof["checkpoint"]),
                ),
                entry_id=str(entry_id),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise LogClientError("unexpected log response: malformed LogEntry") from None
        # Rekor v1 always signs its entries. An empty SET would be read as "no SET" by
        # verify_entry, leaving integratedTime covered by nothing (found by tests/fuzz: a
        # response with "signedEntryTimestamp": "" and integratedTime 0 still verified).
        if not entry.signed_entry_timestamp:
            raise LogClientError("unexpected log response: the entry has no signed entry timestamp")
        try:  # every later reader of the body (verify/evidence.py) may count on it being JSON
            entry.kind_version  # noqa: B018
        except ProofError:
            raise LogClientError("unexpected log response: the entry body is not a Rekor entry") from None
        return entry


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("not an integer")
    return int(value)


def verify_entry(entry: TlogEntry, verifier: Verifier, *, require_set: bool = False) -> Checkpoint:
    """Check all log evidence of ``entry`` offline against the log key: the SET when present
    (or required), the inclusion proof, and the signed checkpoint of the proof's tree.
    Returns the checkpoint."""
    from sigstack.tlog import merkle
    from sigstack.tlog.checkpoint import log_id, verify_checkpoint, verify_set

    if entry.log_id != log_id(verifier.public_key()):
        raise ProofError("the entry was logged by a log whose key is not the trusted log key")
    if entry.signed_entry_timestamp:
        verify_set(entry.signed_entry_timestamp, entry.body_b64, entry.integrated_time, entry.log_index,
                   verifier)
    elif require_set:
        raise ProofError("the entry carries no signed entry timestamp")
    proof = entry.inclusion_proof
    if proof is None:
        raise ProofError("the entry carries no inclusion proof")
    if not proof.checkpoint:
        raise ProofError("the entry's inclusion proof carries no checkpoint")
    merkle.verify_inclusion(proof.log_index, proof.tree_size, merkle.leaf_hash(entry.body),
                            proof.hashes, proof.root_hash)
    cp = verify_checkpoint(proof.checkpoint, verifier)
    if cp.root_hash != proof.root_hash or cp.size != proof.tree_size:
        raise ProofError("the checkpoint does not match the inclusion proof's tree")
    return cp
