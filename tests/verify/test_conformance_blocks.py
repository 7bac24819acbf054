"""The keyless building blocks against all 70 sigstore-conformance cases.

Every case is accounted for: each ``_fail`` case whose README blames one of these
checks (certificate chain, SCT, timestamp, verified time, checkpoint, inclusion proof,
Rekor v2 body, trusted root, log identity) is rejected by that check with an error
naming it, and every passing case passes *all* of them in pipeline order. The
remaining ``_fail`` cases fail in checks the pipeline owns (bundle parsing, the
artifact signature, Rekor v1 bodies, key mode); they are listed in ``OTHER_CHECKS`` so a
new upstream case cannot slip through unclassified.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

import pytest

from sigstack.bundle.trustroot import TrustedRoot, TrustRootError
from sigstack.errors import CertificateChainError, ProofError, SCTError, TimestampError
from sigstack.payload.dsse import pae
from sigstack.tlog.checkpoint import verify_set
from sigstack.tlog.merkle import leaf_hash, verify_inclusion
from sigstack.tlog.rekor_v2 import LogEntryError, verify_hashedrekord_v002, verify_log_checkpoint
from sigstack.verify.certificate import verify_certificate_chain
from sigstack.verify.identity import Identity
from sigstack.verify.sct import verify_embedded_sct
from sigstack.verify.timestamp import verify_timestamps
from tests.verify._vectors import Parsed, case, case_root, cases, parse_case

# case -> (check that must reject it, words its error must contain)
REJECTED_BY: dict[str, tuple[str, str]] = {
    "bundle-from-wrong-instance_fail": ("chain", "does not chain to a trusted CA"),
    "bundle-with-root-cert_fail": ("chain", "certificate chain contains a root certificate"),
    "integrated-time-in-future_fail": ("chain", "certificate chain: the signing certificate is not valid at"),
    "intoto-expired-certificate_fail": ("chain", "certificate chain: the signing certificate is not valid at"),
    "intoto-set-outside-signing-cert-validity_fail": ("chain", "the signing certificate is not valid at"),
    "intoto-tsa-timestamp-outside-cert-validity_fail": ("timestamp", "outside the signing certificate's validity"),
    "rekor2-timestamp-with-incorrect-time_fail": ("timestamp", "outside the signing certificate's validity"),
    "rekor2-timestamp-outside-trust-root-tsa-validity_fail": ("timestamp", "timestamp authority"),
    "rekor2-timestamp-outside-tsa-cert-validity_fail": ("timestamp", "timestamp authority"),
    "rekor2-timestamp-payload-mismatch_fail": ("timestamp", "does not verify"),
    "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail": ("timestamp", "timestamp"),
    "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail": ("timestamp", "does not verify"),
    "rekor2-no-timestamp_fail": ("time", "no verified time"),
    "invalid-ct-key_fail": ("sct", "SCT"),
    "checkpoint-bad-keyhint_fail": ("checkpoint", "no signature by the log"),
    "invalid-checkpoint-signature_fail": ("checkpoint", "checkpoint signature does not verify"),
    "rekor2-checkpoint-missing-log-signature_fail": ("checkpoint", "signed note"),
    "rekor2-checkpoint-missing-origin_fail": ("checkpoint", "checkpoint"),
    "rekor2-checkpoint-missing-root-hash_fail": ("checkpoint", "checkpoint"),
    "rekor2-checkpoint-missing-size_fail": ("checkpoint", "checkpoint"),
    "rekor2-checkpoint-no-matching-signature_fail": ("checkpoint", "checkpoint"),
    "checkpoint-wrong-roothash_fail": ("inclusion", "inclusion proof"),
    "inclusion-proof-corrupted-hash_fail": ("inclusion", "inclusion proof"),
    "invalid-inclusion-proof_fail": ("inclusion", "inclusion proof"),
    "intoto-missing-inclusion-proof_fail": ("inclusion", "no inclusion proof"),
    "rekor2-no-inclusion-proof_fail": ("inclusion", "no inclusion proof"),
    "rekor2-dsse-invalid-sig_fail": ("body", "log entry does not match the bundle"),
    "rekor2-dsse-mismatch-envelope_fail": ("body", "log entry does not match the signed artifact"),
    "rekor2-dsse-mismatch-sig_fail": ("body", "log entry does not match the bundle"),
    "incorrect-public-key_fail": ("set", "signed entry timestamp does not verify"),
    "set-invalid-signature_fail": ("set", "signed entry timestamp does not verify"),
    "trust-root-tlog-missing-validity-start_fail": ("root", "validFor is missing its start"),
}
# failing for a reason outside these blocks (bundle model, artifact signature, v1 bodies, key mode)
OTHER_CHECKS = {
    "bundle-empty-certificate-chain_fail", "bundle-invalid-base64-signature_fail", "bundle-malformed-json_fail",
    "bundle-unknown-version_fail", "dsse-invalid-sig_fail", "dsse-mismatch-envelope_fail",
    "dsse-mismatch-sig_fail", "bundle-negative-log-index_fail", "intoto-log-entry-mismatch_fail",
    "managed-key-no-key_fail", "managed-key-wrong-key_fail", "message-digest-mismatch_fail",
    "signature-mismatch_fail", "wrong-hashedrekord-artifact_fail", "wrong-hashedrekord-cert-and-sig_fail",
    "wrong-hashedrekord-entry_fail", "wrong-material_fail",
}
PASSING = [c["case"] for c in cases() if c["expected"] == "pass"]


class Rejected(Exception):
    def __init__(self, check: str, error: Exception) -> None:
        super().__init__(f"{check}: {error}")
        self.check, self.error = check, error


def _step(check: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except (TrustRootError, CertificateChainError, SCTError, TimestampError, ProofError) as exc:
        raise Rejected(check, exc) from exc


class _NoTime(Exception):
    pass


def run_blocks(c: dict[str, Any]) -> None:
    """All the blocks, in the pipeline's order, on one case."""
    root: TrustedRoot = _step("root", case_root, c)
    b = parse_case(c)
    # 2. verified times: RFC 3161 timestamps and (Rekor v1) the SET's integrated time
    leaf = b.leaf if b.certs else None
    times: list[datetime] = list(_step("timestamp", verify_timestamps, b.signature, b.tokens, root, leaf))
    integrated = b.integrated_time()
    if integrated is not None:
        times.append(integrated)
    if not times:
        raise Rejected("time", TimestampError("timestamp: no verified time (no SET and no RFC 3161 timestamp)"))
    if leaf is not None:
        for t in times:  # 3. chain at each time, 4. SCT
            chain = _step("chain", verify_certificate_chain, leaf, root, t, b.certs[1:])
            _step("sct", verify_embedded_sct, chain, root)
        if c["verify_mode"] == "identity":  # 5. identity
            Identity(identity=c["certificate_identity"], issuer=c["certificate_oidc_issuer"]).verify(leaf)
    # 7. log evidence
    _log_evidence(root, b)


def _log_evidence(root: TrustedRoot, b: Parsed) -> None:
    e = b.entry
    assert e is not None
    key_id = base64.b64decode(e["logId"]["keyId"])
    log = root.tlog(key_id)
    if log is None:
        raise Rejected("tlog", ProofError("the log that provided the entry is not in the trusted root"))
    if integrated := b.integrated_time():
        assert log.valid_at(integrated)
    body = base64.b64decode(e["canonicalizedBody"])
    if "inclusionPromise" in e:
        _step("set", verify_set, base64.b64decode(e["inclusionPromise"]["signedEntryTimestamp"]),
              e["canonicalizedBody"], int(e["integratedTime"]), int(e["logIndex"]), log.verifier())
    proof = e.get("inclusionProof")
    if not proof or "checkpoint" not in proof:
        raise Rejected("inclusion", ProofError("the entry has no inclusion proof with a checkpoint"))
    checkpoint = _step("checkpoint", verify_log_checkpoint, proof["checkpoint"]["envelope"], log)
    _step("inclusion", verify_inclusion, int(proof["logIndex"]), int(proof["treeSize"]), leaf_hash(body),
          [base64.b64decode(h) for h in proof["hashes"]], checkpoint.root_hash)
    if e["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.2"}:
        if b.dsse:
            digest = hashlib.sha256(pae(b.dsse["payloadType"], base64.b64decode(b.dsse["payload"]))).digest()
        else:
            digest = hashlib.sha256(b.artifact).digest()
        from cryptography.hazmat.primitives.serialization import Encoding

        try:
            verify_hashedrekord_v002(body, digest=digest, signature=b.signature,
                                     certificate_der=b.leaf.public_bytes(Encoding.DER))
        except LogEntryError as exc:
            raise Rejected("body", exc) from exc


def test_every_case_is_classified() -> None:
    names = {c["case"] for c in cases()}
    assert len(names) == 70
    fails = {n for n in names if n.endswith("_fail")}
    assert fails == set(REJECTED_BY) | OTHER_CHECKS
    assert not set(REJECTED_BY) & OTHER_CHECKS


@pytest.mark.parametrize("name", PASSING)
def test_passing_case_passes_every_block(name: str) -> None:
    run_blocks(case(name))


@pytest.mark.parametrize("name", sorted(REJECTED_BY))
def test_failing_case_rejected_by_its_check(name: str) -> None:
    check, words = REJECTED_BY[name]
    with pytest.raises(Rejected) as info:
        run_blocks(case(name))
    assert info.value.check == check, str(info.value)
    assert words in str(info.value.error), str(info.value.error)


NOT_PARSEABLE = {"bundle-malformed-json_fail", "bundle-invalid-base64-signature_fail"}


@pytest.mark.parametrize("name", sorted(OTHER_CHECKS - NOT_PARSEABLE))
def test_other_failures_are_not_blamed_on_these_blocks(name: str) -> None:
    """Cases that fail elsewhere carry a genuine certificate, timestamps and checkpoint:
    these blocks pass them, except that the log's own signatures (SET, Rekor v2 body)
    may catch an edited bundle first."""
    try:
        run_blocks(case(name))
    except Rejected as exc:
        assert exc.check in ("body", "set"), str(exc)


def test_malformed_base64_signature_is_not_decoded() -> None:
    with pytest.raises(ValueError):
        parse_case(case("bundle-invalid-base64-signature_fail"))


def test_validity_end_is_inclusive() -> None:
    """``trust-root-tlog-validity-end-inclusive``: integrated time == validFor.end."""
    c = case("trust-root-tlog-validity-end-inclusive")
    b = parse_case(c)
    log = case_root(c).tlog(base64.b64decode(b.entry["logId"]["keyId"]) if b.entry else b"")
    t = b.integrated_time()
    assert log is not None and t is not None and log.valid_for is not None
    assert log.valid_for.end == t and log.valid_at(t)

