"""Entry kinds dsse 0.0.1 and intoto 0.0.1/0.0.2: canonical bodies, validation, and the
real clients that produce them (cosign attest-blob, rekor-cli upload --type)."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.bundle import trusted_root_for_log
from sigstack.errors import BadEntryError
from sigstack.tlog.entries import canonicalize
from sigstack.tlog.entries._common import pae
from tests.tlog._support import Signer, TlogServer

STATEMENT = json.dumps({"_type": "https://in-toto.io/Statement/v1",
                        "predicateType": "https://example.com/p",
                        "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}],
                        "predicate": {}}).encode()


def _envelope(signer: Signer, payload: bytes = STATEMENT) -> str:
    ptype = "application/vnd.in-toto+json"
    sig = signer.key.sign(pae(ptype, payload), ec.ECDSA(hashes.SHA256()))
    return json.dumps({"payloadType": ptype, "payload": base64.b64encode(payload).decode(),
                       "signatures": [{"keyid": "", "sig": base64.b64encode(sig).decode()}]})


def dsse_proposal(signer: Signer) -> dict[str, Any]:
    return {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": _envelope(signer), "verifiers": [base64.b64encode(signer.pem).decode()]}}}


def intoto_proposal(signer: Signer) -> dict[str, Any]:
    import hashlib

    text = _envelope(signer)
    env = json.loads(text)
    b = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731 - the double base64 quirk
    return {"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": {"payloadType": env["payloadType"], "payload": b(env["payload"]),
                     "signatures": [{"keyid": "", "sig": b(env["signatures"][0]["sig"]),
                                     "publicKey": base64.b64encode(signer.pem).decode()}]},
        "hash": {"algorithm": "sha256", "value": hashlib.sha256(text.encode()).hexdigest()}}}}


def intoto1_proposal(signer: Signer) -> dict[str, Any]:
    from sigstack.tlog.client import intoto_proposal as make

    return make(_envelope(signer).encode(), signer.pem)


def test_dsse_canonical_body(signer: Signer) -> None:
    proposal = dsse_proposal(signer)
    c = canonicalize(proposal)
    body = json.loads(c.body)
    import hashlib

    assert body["spec"]["payloadHash"]["value"] == hashlib.sha256(STATEMENT).hexdigest()
    assert body["spec"]["envelopeHash"]["value"] == hashlib.sha256(
        proposal["spec"]["proposedContent"]["envelope"].encode()).hexdigest()
    assert list(body["spec"]["signatures"][0]) == ["signature", "verifier"]
    assert "proposedContent" not in body["spec"]
    assert "sha256:" + "ab" * 32 in c.index_keys  # in-toto subject is searchable


def test_intoto_canonical_body(signer: Signer) -> None:
    c = canonicalize(intoto_proposal(signer))
    content = json.loads(c.body)["spec"]["content"]
    assert "payload" not in content["envelope"]
    assert sorted(content) == ["envelope", "hash", "payloadHash"]


def test_intoto_v001_canonical_body(signer: Signer) -> None:
    """Rekor's form: only the two hashes and the key; client hashes are recomputed."""
    import hashlib

    proposal = intoto1_proposal(signer)
    text = proposal["spec"]["content"]["envelope"]
    proposal["spec"]["content"]["hash"]["value"] = "00" * 32  # ignored, as by Rekor
    c = canonicalize(proposal)
    assert json.loads(c.body) == {"apiVersion": "0.0.1", "kind": "intoto", "spec": {
        "content": {"hash": {"algorithm": "sha256", "value": hashlib.sha256(text.encode()).hexdigest()},
                    "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(STATEMENT).hexdigest()}},
        "publicKey": base64.b64encode(signer.pem).decode()}}
    assert c.body.startswith(b'{"apiVersion":"0.0.1","kind":"intoto","spec":{"content":')  # JCS order
    assert "sha256:" + "ab" * 32 in c.index_keys


def _two_sigs_one_good(p: dict[str, Any]) -> None:
    env = json.loads(p["spec"]["content"]["envelope"])
    env["signatures"].insert(0, {"keyid": "", "sig": base64.b64encode(b"junk").decode()})
    p["spec"]["content"]["envelope"] = json.dumps(env)


def test_intoto_v001_needs_one_verifying_signature_only(signer: Signer) -> None:
    """go-securesystemslib's envelope verifier has a threshold of one."""
    proposal = intoto1_proposal(signer)
    _two_sigs_one_good(proposal)
    canonicalize(proposal)


def _bad_sig_dsse(p: dict[str, Any]) -> None:
    env = json.loads(p["spec"]["proposedContent"]["envelope"])
    env["payload"] = base64.b64encode(b"{}").decode()
    p["spec"]["proposedContent"]["envelope"] = json.dumps(env)


BAD: dict[str, tuple[str, Any, str]] = {
    "dsse-wrong-payload": ("dsse", _bad_sig_dsse, "all signatures must have a key that verifies it"),
    "dsse-no-verifiers": ("dsse", lambda p: p["spec"]["proposedContent"].update(verifiers=[]),
                          "verifiers must be a non-empty list"),
    "dsse-envelope-not-json": ("dsse", lambda p: p["spec"]["proposedContent"].update(envelope="{"),
                               "not a JSON DSSE envelope"),
    "dsse-server-fields": ("dsse", lambda p: p["spec"].update(
        payloadHash={"algorithm": "sha256", "value": "0"}), "but not both"),
    "dsse-other-key": ("dsse", lambda p: p["spec"]["proposedContent"].update(
        verifiers=[base64.b64encode(Signer().pem).decode()]), "all signatures must have a key"),
    "intoto-bad-hash": ("intoto", lambda p: p["spec"]["content"]["hash"].update(value="xyz"),
                        "content.hash must be a sha256 digest"),
    "intoto-no-signatures": ("intoto", lambda p: p["spec"]["content"]["envelope"].update(signatures=[]),
                             "signatures must be a non-empty list"),
    "intoto-payload-not-b64": ("intoto", lambda p: p["spec"]["content"]["envelope"].update(payload="!!"),
                               "payload is not valid base64"),
    "intoto-wrong-key": ("intoto", lambda p: p["spec"]["content"]["envelope"]["signatures"][0].update(
        publicKey=base64.b64encode(Signer().pem).decode()), "all signatures must have a key"),
    "intoto1-other-key": ("intoto1", lambda p: p["spec"].update(
        publicKey=base64.b64encode(Signer().pem).decode()), "no signature verifies with the public key"),
    "intoto1-no-envelope": ("intoto1", lambda p: p["spec"]["content"].pop("envelope"), "envelope"),
    "intoto1-envelope-not-json": ("intoto1", lambda p: p["spec"]["content"].update(envelope="{"),
                                  "not a JSON DSSE envelope"),
    "intoto1-no-signatures": ("intoto1", lambda p: p["spec"]["content"].update(
        envelope=json.dumps({**json.loads(p["spec"]["content"]["envelope"]), "signatures": []})),
        "non-empty list"),
    "intoto1-key-not-pem": ("intoto1", lambda p: p["spec"].update(
        publicKey=base64.b64encode(b"nope").decode()), "PUBLIC KEY"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_entries_rejected(signer: Signer, case: str) -> None:
    kind, mutate, message = BAD[case]
    make = {"dsse": dsse_proposal, "intoto": intoto_proposal, "intoto1": intoto1_proposal}[kind]
    proposal = copy.deepcopy(make(signer))
    mutate(proposal)
    with pytest.raises(BadEntryError, match=message):
        canonicalize(proposal)


@pytest.mark.interop
def test_cosign_attest_blob_dsse_round_trip(cosign: str, tlog_server: TlogServer, tmp_path: Path) -> None:
    env = {**os.environ, "COSIGN_PASSWORD": "pw"}
    run = lambda *a: subprocess.run(a, capture_output=True, text=True, env=env, timeout=120)  # noqa: E731
    assert run(cosign, "generate-key-pair", "--output-key-prefix", str(tmp_path / "k")).returncode == 0
    art = tmp_path / "a.txt"
    art.write_text("attested\n")
    pred = tmp_path / "pred.json"
    pred.write_text("{}")
    root = tmp_path / "root.json"
    root.write_bytes(trusted_root_for_log(tlog_server.public_key.read_bytes(), tlog_server.url))
    bundle = tmp_path / "att.json"
    p = run(cosign, "attest-blob", "--key", str(tmp_path / "k.key"), "--rekor-url", tlog_server.url,
            "--use-signing-config=false", "--predicate", str(pred), "--type", "custom",
            "--bundle", str(bundle), "--yes", str(art))
    assert p.returncode == 0, p.stderr
    entry = json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    p = run(cosign, "verify-blob-attestation", "--key", str(tmp_path / "k.pub"), "--bundle", str(bundle),
            "--trusted-root", str(root), "--type", "custom", str(art))
    assert p.returncode == 0, p.stderr


@pytest.mark.interop
@pytest.mark.parametrize("kind", ["dsse", "intoto:0.0.2", "intoto:0.0.1"])
def test_rekor_cli_envelope_types(rekor_cli: str, tlog_server: TlogServer, tmp_path: Path, signer: Signer,
                                  kind: str) -> None:
    env_file = tmp_path / "envelope.json"
    env_file.write_text(_envelope(signer))
    pub = tmp_path / "k.pub"
    pub.write_bytes(signer.pem)
    common = ["--rekor_server", tlog_server.url, "--type", kind, "--artifact", str(env_file),
              "--public-key", str(pub)]
    envv = {**os.environ, "HOME": str(tmp_path)}
    up = subprocess.run([rekor_cli, "upload", *common], capture_output=True, text=True, env=envv)
    assert "Created entry at index 0" in up.stdout, up.stderr
    got = subprocess.run([rekor_cli, "get", "--rekor_server", tlog_server.url, "--log-index", "0", "--format",
                          "json"], capture_output=True, text=True, env=envv)
    body = json.loads(got.stdout)["Body"]
    assert ("DSSEObj" if kind == "dsse" else "IntotoObj") in body
    ver = subprocess.run([rekor_cli, "verify", *common], capture_output=True, text=True, env=envv)
    assert ver.returncode == 0, ver.stderr
