"""`sigstack tsa serve` over HTTP, as sigstore/timestamp-authority's clients use it:
``POST /api/v1/timestamp`` (DER and JSON), ``GET /api/v1/timestamp/certchain``, and
every bad request answered with timestamp-authority's status and JSON error, never a
crash; the command's own bad flags are one ``Error:`` line."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from rfc3161_client import TimestampRequestBuilder, decode_timestamp_response

from sigstack.bundle.trustroot import TrustedRoot
from sigstack.verify.timestamp import verify_timestamps
from tests.helpers import assert_clean_error, sigstack
from tests.tsa._support import TSA

SIG = b"a signature to timestamp"


def query(cert: bool = False, nonce: bool = True) -> bytes:
    return (TimestampRequestBuilder().data(SIG).nonce(nonce=nonce).cert_request(cert_request=cert).build()
            .as_bytes())


def post(tsa: TSA, body: bytes, content_type: str | None = "application/timestamp-query") -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(tsa.url, content=body, headers=headers, timeout=10)


def test_certchain_is_the_state_chain_leaf_first(tsa: TSA) -> None:
    r = httpx.get(tsa.url + "/certchain", timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pem-certificate-chain"
    assert r.content == (tsa.state / "chain.pem").read_bytes()
    leaf, root = x509.load_pem_x509_certificates(r.content)
    assert leaf.issuer == root.subject


def test_timestamp_query(tsa: TSA) -> None:
    r = post(tsa, query())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/timestamp-reply"
    root = TrustedRoot.from_json(tsa.trusted_root.read_bytes())
    assert len(verify_timestamps(SIG, [r.content], root)) == 1


def test_json_request(tsa: TSA) -> None:
    body = json.dumps({"artifactHash": base64.b64encode(hashlib.sha256(SIG).digest()).decode(),
                       "hashAlgorithm": "sha256", "certificates": True, "nonce": 1234}).encode()
    r = post(tsa, body, "application/json")
    assert r.status_code == 200, r.text
    resp = decode_timestamp_response(r.content)
    assert resp.tst_info.nonce == 1234 and len(resp.signed_data.certificates) == 1
    root = TrustedRoot.from_json(tsa.trusted_root.read_bytes())
    assert verify_timestamps(SIG, [r.content], root)


def test_concurrent_requests(tsa: TSA) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda _: post(tsa, query()), range(32)))
    assert {r.status_code for r in replies} == {200}
    serials = {decode_timestamp_response(r.content).tst_info.serial_number for r in replies}
    assert len(serials) == 32


@pytest.mark.parametrize("body,content_type,status,fragment", [
    (b"garbage", "application/timestamp-query", 400, "Error generating timestamp response: the body is not"),
    (b"", "application/timestamp-query", 400, "Error generating timestamp response"),
    (b"\x30" * 20000, "application/timestamp-query", 400, "larger than 10240 bytes"),
    (b"{not json", "application/json", 400, "the request body is not valid JSON"),
    (b'{"artifactHash": "AAAA", "hashAlgorithm": "sha1"}', "application/json", 400,
     "Weak hash algorithm in timestamp request"),
    (b'{"artifactHash": "AAAA"}', "application/json", 400,
     "Message digest has incorrect length for specified algorithm: expected 32 bytes, got 3 bytes"),
    (b"hello", "text/plain", 415,
     'unsupported media type "text/plain", only [application/timestamp-query application/json] are allowed'),
    (query(nonce=False), None, 415, 'unsupported media type "application/octet-stream"'),
])
def test_bad_requests(tsa: TSA, body: bytes, content_type: str | None, status: int, fragment: str) -> None:
    r = post(tsa, body, content_type)
    assert r.status_code == status
    doc = r.json()
    assert doc["code"] == status
    assert fragment in doc["message"], doc


def test_sha1_query_is_weak(tsa: TSA) -> None:
    from asn1crypto import tsp

    der = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha1"}, "hashed_message": hashlib.sha1(SIG).digest()}}).dump()
    r = post(tsa, der)
    assert (r.status_code, r.json()["message"].split(":")[0]) == (400, "Weak hash algorithm in timestamp request")


def test_unaccepted_policy(tsa: TSA) -> None:
    from asn1crypto import tsp

    der = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": hashlib.sha256(SIG).digest()},
        "req_policy": "1.2.3"}).dump()
    r = post(tsa, der)
    assert r.status_code == 400
    assert r.json()["message"].startswith("unaccepted policy: requested TSA policy is not supported by the TSA")


def test_wrong_method_and_path(tsa: TSA) -> None:
    assert httpx.get(tsa.url, timeout=10).status_code == 405
    assert httpx.post(tsa.url + "/certchain", timeout=10).status_code == 405
    assert httpx.get(tsa.server.url + "/api/v1/nothing", timeout=10).status_code == 404


def test_the_state_survives_a_restart(tsa: TSA, tmp_path: Path) -> None:
    from tests.tsa._support import start_tsa

    first = start_tsa(tmp_path)
    chain = first.chain.read_bytes()
    first.stop()
    again = start_tsa(tmp_path)
    try:
        assert httpx.get(again.url + "/certchain", timeout=10).content == chain
    finally:
        again.stop()


@pytest.mark.parametrize("args,fragment", [
    (["--certificate-chain-path", "chain.pem"], "--certificate-chain-path needs --key"),
    (["--policy-oid", "sigstore"], "--policy-oid: 'sigstore' is not a dotted object identifier"),
    (["--key", "missing.key"], "missing.key"),
])
def test_bad_flags(tmp_path: Path, args: list[str], fragment: str) -> None:
    r = sigstack("tsa", "serve", "--state", str(tmp_path / "s"), "--port", "1", *args, cwd=tmp_path)
    assert_clean_error(r, fragment)


def test_a_chain_for_another_key_is_refused(tmp_path: Path) -> None:
    from sigstack.tsa.state import ensure_state

    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=tmp_path)
    assert r.code == 0, r.err
    (tmp_path / "chain.pem").write_bytes(ensure_state(tmp_path / "other").chain_pem())
    r = sigstack("tsa", "serve", "--state", str(tmp_path / "s"), "--port", "1", "--key", "cosign.key",
                 "--certificate-chain-path", "chain.pem", cwd=tmp_path, env={"COSIGN_PASSWORD": "pw"})
    assert_clean_error(r, "chain.pem: the first certificate is not for the timestamp signing key")
