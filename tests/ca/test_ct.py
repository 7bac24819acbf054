"""The CT log's RFC 6962 API: submissions it must refuse, proofs, entries, and the
CT log served on its own (``sigstack ct serve``) with the CA pointed at it."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.tlog import merkle
from tests.ca._support import (
    Server,
    Stack,
    ca_server,
    embedded_sct,
    get_json,
    leaf_of,
    new_key,
    sct_signed_data,
    v2_request,
    verify_chain,
)
from tests.tlog.conftest import pg_url, postgres, postgres_server  # noqa: F401  (a private PostgreSQL)


def _self_signed(key: ec.EllipticCurvePrivateKey, poison: bool = False) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    if poison:
        b = b.add_extension(x509.PrecertPoison(), critical=True)
    return b.sign(key, hashes.SHA256())


def _chain_body(*certs: x509.Certificate) -> dict[str, list[str]]:
    return {"chain": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs]}


def _issue(stack: Stack, email: str = "ct@example.com") -> x509.Certificate:
    resp = httpx.post(stack.ca.url + "/api/v2/signingCert", json=v2_request(stack.token(email), new_key(), email))
    assert resp.status_code == 200, resp.text
    return leaf_of(resp.json())[0]


def test_refused_submissions(stack: Stack) -> None:
    _issue(stack)
    url = stack.ca.url + "/ct/v1/"
    stranger = _self_signed(new_key())
    resp = httpx.post(url + "add-chain", json=_chain_body(stranger))
    assert (resp.status_code, resp.text) == (400, "the chain does not end at a root this log accepts\n")
    resp = httpx.post(url + "add-pre-chain", json=_chain_body(stranger))
    assert resp.status_code == 400
    assert resp.text == "add-pre-chain needs a precertificate with the critical CT poison extension\n"
    resp = httpx.post(url + "add-chain", json=_chain_body(_self_signed(new_key(), poison=True)))
    assert (resp.status_code, resp.text) == (400, "add-chain got a precertificate; submit it with add-pre-chain\n")
    resp = httpx.post(url + "add-chain", json={"chain": ["!!"]})
    assert (resp.status_code, resp.text) == (400, 'body must be {"chain": [base64 DER certificates]}\n')
    resp = httpx.get(url + "get-entries", params={"start": 10**9, "end": 10**9})
    assert resp.status_code == 400 and resp.text.startswith("start 1000000000 is beyond the tree size")
    resp = httpx.get(url + "get-proof-by-hash", params={"hash": base64.b64encode(b"\0" * 32).decode(),
                                                        "tree_size": 1})
    assert (resp.status_code, resp.text) == (404, "no leaf with that hash in a tree of size 1\n")


def test_add_chain_for_an_issued_certificate(stack: Stack) -> None:
    """A final certificate (with its SCT) can be logged too, as an X.509 entry."""
    leaf = _issue(stack)
    inter = stack.chain[0]
    resp = httpx.post(stack.ca.url + "/ct/v1/add-chain", json=_chain_body(leaf, inter))  # root added by the log
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert doc["sct_version"] == 0
    assert base64.b64decode(doc["id"]) == embedded_sct(leaf)[0].log_id


def test_consistency_between_heads(stack: Stack) -> None:
    _issue(stack)
    first = get_json(stack.ca.url + "/ct/v1/get-sth")
    _issue(stack)
    _issue(stack)
    second = get_json(stack.ca.url + "/ct/v1/get-sth")
    proof = get_json(stack.ca.url + "/ct/v1/get-sth-consistency", first=first["tree_size"],
                     second=second["tree_size"])
    merkle.verify_consistency(first["tree_size"], second["tree_size"],
                              [base64.b64decode(h) for h in proof["consistency"]],
                              base64.b64decode(first["sha256_root_hash"]), base64.b64decode(second["sha256_root_hash"]))
    entries = get_json(stack.ca.url + "/ct/v1/get-entries", start=0, end=second["tree_size"] + 5)["entries"]
    assert len(entries) == second["tree_size"]  # clipped to the tree


@pytest.fixture(scope="module")
def separate(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server, Path]]:
    """``sigstack ct serve`` accepting the CA's root, and a second CA (same root material
    copied) submitting to it with --ct-url."""
    import shutil

    work = tmp_path_factory.mktemp("ctsep")
    ca_state = work / "ca"
    shutil.copytree(stack.ca_state, ca_state, ignore=shutil.ignore_patterns("ct.*"))
    ct = Server(["ct", "serve", "--state", str(work / "ct"), "--root", str(ca_state / "root.pem")], work,
                "/ct/v1/get-sth", "ct").start()
    try:
        ca = ca_server(work, ca_state, stack.issuer, ["--ct-url", ct.url])
    except BaseException:
        ct.stop()
        raise
    yield ct, ca, work
    ca.stop()
    ct.stop()


def test_ca_with_a_separate_ct_log(stack: Stack, separate: tuple[Server, Server, Path]) -> None:
    ct, ca, work = separate
    resp = httpx.post(ca.url + "/api/v2/signingCert",
                      json=v2_request(stack.token("sep@example.com"), new_key(), "sep@example.com"))
    assert resp.status_code == 200, resp.text
    leaf, chain = leaf_of(resp.json())
    verify_chain(leaf, chain, stack.chain[-1])
    sct, ts = embedded_sct(leaf)
    key = serialization.load_pem_public_key((work / "ct" / "ct.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(sct.signature, sct_signed_data(leaf, chain[0], ts, sct.extension_bytes), ec.ECDSA(hashes.SHA256()))
    assert get_json(ct.url + "/ct/v1/get-sth")["tree_size"] == 1
    assert httpx.get(ca.url + "/ct/v1/get-sth").status_code == 404  # no log of its own


def test_ca_fails_closed_when_its_ct_log_is_down(stack: Stack, separate: tuple[Server, Server, Path]) -> None:
    ct, ca, _ = separate
    ct.stop()
    try:
        resp = httpx.post(ca.url + "/api/v2/signingCert",
                          json=v2_request(stack.token("down@example.com"), new_key(), "down@example.com"))
        assert resp.status_code == 500
        doc = resp.json()
        assert doc["code"] == 13
        assert doc["message"].startswith(f"Error entering certificate in CTL: cannot reach the CT log at {ct.url}")
    finally:
        ct.start()


def test_precertificate_from_another_submitter(stack: Stack) -> None:
    """A precertificate whose poison is not the last extension (built here with the CA's
    intermediate key): the SCT signs its TBS without the poison, byte for byte what
    cryptography builds for the same certificate without it."""
    import hashlib
    import struct

    key = serialization.load_pem_private_key((stack.ca_state / "intermediate.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    inter, root = stack.chain
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    def build(poison: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(inter.subject)
             .public_key(leaf_key.public_key()).serial_number(4242)
             .not_valid_before(now).not_valid_after(now + datetime.timedelta(minutes=10)))
        if poison:
            b = b.add_extension(x509.PrecertPoison(), critical=True)
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name("x@example.com")]), critical=True)
        return b.sign(key, hashes.SHA256())

    leaf_key = new_key()
    precert = build(True)
    resp = httpx.post(stack.ca.url + "/ct/v1/add-pre-chain", json=_chain_body(precert, inter, root))
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    ds = base64.b64decode(doc["signature"])
    issuer_hash = hashlib.sha256(inter.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    tbs = build(False).tbs_certificate_bytes
    signed = (struct.pack(">BBQH", 0, 0, doc["timestamp"], 1) + issuer_hash + len(tbs).to_bytes(3, "big") + tbs
              + b"\x00\x00")
    stack.ct_key.verify(ds[4:], signed, ec.ECDSA(hashes.SHA256()))


def test_ct_log_on_postgresql(stack: Stack, pg_url: str, tmp_path: Path) -> None:  # noqa: F811
    """--ct-db postgresql://...: the same CT log on the transparency log's PostgreSQL store."""
    server = ca_server(tmp_path, tmp_path / "state", stack.issuer, ["--ct-db", pg_url])
    try:
        for i in range(3):
            resp = httpx.post(server.url + "/api/v2/signingCert",
                              json=v2_request(stack.token(f"pg{i}@example.com"), new_key(), f"pg{i}@example.com"))
            assert resp.status_code == 200, resp.text
        leaf, chain = leaf_of(resp.json())
        sth = get_json(server.url + "/ct/v1/get-sth")
        assert sth["tree_size"] == 3
        sct, ts = embedded_sct(leaf)
        leaf_hash = merkle.leaf_hash(sct_signed_data(leaf, chain[0], ts, sct.extension_bytes))
        proof = get_json(server.url + "/ct/v1/get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                         tree_size=3)
        merkle.verify_inclusion(proof["leaf_index"], 3, leaf_hash, [base64.b64decode(h) for h in proof["audit_path"]],
                                base64.b64decode(sth["sha256_root_hash"]))
        assert not (tmp_path / "state" / "ct.db").exists()
    finally:
        server.stop()
