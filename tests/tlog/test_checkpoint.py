"""Signed checkpoints (C2SP signed note, Rekor v1 flavour) and Signed Entry Timestamps."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.errors import ProofError
from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier
from sigstack.tlog.checkpoint import (
    Checkpoint,
    LogSigner,
    log_id,
    public_key_der,
    set_payload,
    verify_checkpoint,
    verify_set,
)

ROOT = hashlib.sha256(b"root").digest()


def _signer(kind: str = "ecdsa") -> LogSigner:
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else ed25519.Ed25519PrivateKey.generate()
    )
    return LogSigner(PrivateKeySigner(key), "log.example")


@pytest.mark.parametrize("kind", ["ecdsa", "ed25519"])
def test_checkpoint_round_trip(kind: str) -> None:
    s = _signer(kind)
    note = s.sign_checkpoint(Checkpoint("log.example - 42", 7, ROOT))
    text, sig = note.split("\n\n")
    assert text == f"log.example - 42\n7\n{base64.b64encode(ROOT).decode()}"
    assert sig.startswith("\u2014 log.example ")
    key_hash = hashlib.sha256(public_key_der(s.public_key)).digest()[:4]
    assert base64.b64decode(sig.split(" ")[2])[:4] == key_hash
    cp = verify_checkpoint(note, PublicKeyVerifier(s.public_key))
    assert (cp.origin, cp.size, cp.root_hash) == ("log.example - 42", 7, ROOT)
    assert s.log_id == log_id(s.public_key)


def test_old_rekor_timestamp_extension_line_accepted() -> None:
    s = _signer()
    note = s.sign_checkpoint(Checkpoint("log - 1", 3, ROOT, ("Timestamp: 1700000000000000000",)))
    cp = verify_checkpoint(note, PublicKeyVerifier(s.public_key))
    assert cp.extensions == ("Timestamp: 1700000000000000000",)


R64 = base64.b64encode(ROOT).decode()
Z64 = base64.b64encode(bytes(32)).decode()

# each case: (how to build the bad note from text, signature block, another key's block; message)
MUTATIONS: dict[str, tuple[Callable[[str, str, str], str], str]] = {
    "wrong-key": (lambda t, s, o: t + "\n\n" + o, "no signature by the log's public key"),
    "size-changed": (lambda t, s, o: t.replace("\n3\n", "\n4\n") + "\n\n" + s, "does not verify"),
    "root-changed": (lambda t, s, o: t.replace(R64, Z64) + "\n\n" + s, "does not verify"),
    "leading-zero-size": (lambda t, s, o: t.replace("\n3\n", "\n03\n") + "\n\n" + s, "does not verify"),
    "no-blank-line": (lambda t, s, o: t + "\n" + s, "no blank line"),
    "no-final-newline": (lambda t, s, o: (t + "\n\n" + s).rstrip("\n"), "must end with a newline"),
    "bad-dash": (lambda t, s, o: t + "\n\n" + s.replace("\u2014", "-"), "bad signature line"),
    "sig-not-base64": (lambda t, s, o: t + "\n\n\u2014 log.example !!!\n", "bad signature line"),
}


@pytest.mark.parametrize("case", list(MUTATIONS), ids=list(MUTATIONS))
def test_checkpoint_mutation_rejected(case: str) -> None:
    s = _signer()
    text, sig = s.sign_checkpoint(Checkpoint("log - 1", 3, ROOT)).split("\n\n")
    other = _signer().sign_checkpoint(Checkpoint("log - 1", 3, ROOT)).split("\n\n")[1]
    build, message = MUTATIONS[case]
    with pytest.raises(ProofError, match=message):
        verify_checkpoint(build(text, sig, other), PublicKeyVerifier(s.public_key))


def test_signature_found_by_key_hash_not_name() -> None:
    s = _signer()
    text, sig = s.sign_checkpoint(Checkpoint("log - 1", 3, ROOT)).split("\n\n")
    other = _signer().sign_checkpoint(Checkpoint("log - 1", 3, ROOT)).split("\n\n")[1]
    # unknown signers are ignored; ours is found by its 4-byte key hash whatever its name
    note = text + "\n\n" + other + sig.replace("log.example", "renamed")
    assert verify_checkpoint(note, PublicKeyVerifier(s.public_key)).size == 3


def test_set_matches_rekor_payload_and_detects_tampering() -> None:
    s = _signer()
    sig = s.sign_set("Ym9keQ==", 1700000000, 5)
    v = PublicKeyVerifier(s.public_key)
    verify_set(sig, "Ym9keQ==", 1700000000, 5, v)
    for args in (("Ym9keR==", 1700000000, 5), ("Ym9keQ==", 1700000001, 5), ("Ym9keQ==", 1700000000, 6)):
        with pytest.raises(ProofError, match="signed entry timestamp"):
            verify_set(sig, *args, v)
    want = b'{"body":"Ym9keQ==","integratedTime":1,"logID":"ab","logIndex":2}'
    assert set_payload("Ym9keQ==", 1, "ab", 2) == want


BAD_TEXTS = {
    "two-lines": (b"log - 1\n3\n", "want origin, size and root"),
    "empty-line": (b"log - 1\n\n3\n" + R64.encode() + b"\n", "want origin, size and root"),
    "size-not-number": (b"log - 1\nthree\n" + R64.encode() + b"\n", "bad tree size"),
    "size-leading-zero": (b"log - 1\n03\n" + R64.encode() + b"\n", "bad tree size"),
    "root-not-base64": (b"log - 1\n3\n!!!\n", "root hash is not base64"),
    "root-short": (b"log - 1\n3\nAAAA\n", "root hash is not 32 bytes"),
    "no-final-newline": (b"log - 1\n3\n" + R64.encode(), "no blank line"),
    "not-utf8": (b"\xff\n3\n" + R64.encode() + b"\n", "not UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD_TEXTS), ids=list(BAD_TEXTS))
def test_malformed_checkpoint_text_rejected(case: str) -> None:
    """Even correctly signed, a malformed checkpoint body is refused."""
    text, message = BAD_TEXTS[case]
    s = _signer()
    sig = base64.b64encode(s.key_hash + s.signer.sign(text)).decode()
    note = text + "\n\u2014 log.example ".encode() + sig.encode() + b"\n"
    with pytest.raises(ProofError, match=message):
        verify_checkpoint(note, PublicKeyVerifier(s.public_key))
