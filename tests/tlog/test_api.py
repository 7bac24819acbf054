"""The Rekor v1 REST API of `sigstack tlog serve`, exercised over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import verify_checkpoint
from sigstack.tlog.client import RekorClient
from sigstack.tlog.entry import TlogEntry, verify_entry
from tests.tlog._support import Signer, TlogServer, write_key

pytestmark = pytest.mark.needs_server  # every test talks to a running `sigstack tlog serve`


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlogServer]:
    d = tmp_path_factory.mktemp("api")
    s = TlogServer(str(d / "log.db"), write_key(d / "log.key"), d, hostname="api.test").start(
        ["--max-body", "65536"])
    yield s
    s.stop()


def _log_key(server: TlogServer) -> PublicKeyVerifier:
    return PublicKeyVerifier(load_public_key_pem(server.public_key.read_bytes()))


def test_upload_get_and_verify(server: TlogServer, signer: Signer) -> None:
    r = httpx.post(server.url + "/api/v1/log/entries", json=signer.proposal(b"hello"))
    assert r.status_code == 201, r.text
    entry = TlogEntry.from_response(r.json())
    assert r.headers["location"] == f"/api/v1/log/entries/{entry.entry_id}"
    assert r.headers["etag"] == entry.entry_id
    assert len(entry.entry_id) == 80
    cp = verify_entry(entry, _log_key(server), require_set=True)
    assert cp.origin.startswith("api.test - ")
    body = json.loads(entry.body)
    assert body["kind"] == "hashedrekord"
    assert list(body) == ["apiVersion", "kind", "spec"]  # canonical: sorted keys
    client = RekorClient(server.url)
    for got in (client.get(log_index=entry.log_index), client.get(uuid=entry.entry_id),
                client.get(uuid=entry.entry_id[16:])):
        assert got.body == entry.body
        assert got.log_index == entry.log_index
        verify_entry(got, _log_key(server))


def test_duplicate_gets_409_with_location(server: TlogServer, signer: Signer) -> None:
    proposal = signer.proposal(b"dup")
    first = httpx.post(server.url + "/api/v1/log/entries", json=proposal)
    assert first.status_code == 201
    again = httpx.post(server.url + "/api/v1/log/entries", json=proposal)
    assert again.status_code == 409
    entry_id = next(iter(first.json()))
    assert again.headers["location"] == f"/api/v1/log/entries/{entry_id}"
    assert again.json() == {
        "code": 409,
        "message": f"an equivalent entry already exists in the transparency log with UUID {entry_id}",
    }


def test_concurrent_duplicates_make_one_entry(server: TlogServer, signer: Signer) -> None:
    proposal = signer.proposal(b"concurrent duplicate")
    with httpx.Client() as http, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: http.post(server.url + "/api/v1/log/entries", json=proposal)
                              .status_code, range(32)))
    assert codes.count(201) == 1
    assert codes.count(409) == 31
    digest = hashlib.sha256(b"concurrent duplicate").hexdigest()
    ids = RekorClient(server.url).search(sha=digest)
    assert len(ids) == 1


def _tamper_sig(p: dict[str, Any]) -> dict[str, Any]:
    sig = bytearray(base64.b64decode(p["spec"]["signature"]["content"]))
    sig[-1] ^= 1
    p["spec"]["signature"]["content"] = base64.b64encode(bytes(sig)).decode()
    return p


def _set(path: str, value: Any) -> Any:
    def f(p: dict[str, Any]) -> dict[str, Any]:
        obj = p
        keys = path.split(".")
        for k in keys[:-1]:
            obj = obj[k]
        if value is KeyError:
            del obj[keys[-1]]
        else:
            obj[keys[-1]] = value
        return p
    return f


BAD_UPLOADS = {
    "not-json": (b"{nope", 400, "not valid JSON"),
    "array": (b"[]", 400, "must be a JSON object"),
    "unknown-kind": (_set("kind", "rekord"), 400, "unsupported kind 'rekord'"),
    "bad-version": (_set("apiVersion", "9.9.9"), 400, "unsupported apiVersion"),
    "spec-not-object": (_set("spec", "x"), 400, "spec must be a JSON object"),
    "no-signature": (_set("spec.signature", KeyError), 400, "missing signature.content"),
    "sig-not-base64": (_set("spec.signature.content", "!!!"), 400, "signature.content is not valid base64"),
    "wrong-signature": (_tamper_sig, 400, "invalid signature"),
    "md5": (_set("spec.data.hash.algorithm", "md5"), 400, "unsupported hash algorithm"),
    "short-digest": (_set("spec.data.hash.value", "abcd"), 400, "must be 32 bytes of lowercase hex"),
    "bad-key": (_set("spec.signature.publicKey.content", base64.b64encode(b"garbage").decode()), 400,
                "must be a PEM 'PUBLIC KEY' or 'CERTIFICATE'"),
    "oversized": (b"{" + b" " * 70000 + b"}", 413, "request body larger than 65536 bytes"),
    "deeply-nested": (b"[" * 30000 + b"]" * 30000, 400, "not valid JSON"),
    "huge-number": (b'{"kind": 1e999999}', 400, "unsupported kind"),
    "kind-not-string": (b'{"kind": ["hashedrekord"], "apiVersion": "0.0.1", "spec": {}}', 400,
                        "unsupported kind"),
}


@pytest.mark.parametrize("case", list(BAD_UPLOADS), ids=list(BAD_UPLOADS))
def test_bad_upload_rejected(server: TlogServer, signer: Signer, case: str) -> None:
    make, status, message = BAD_UPLOADS[case]
    body = make if isinstance(make, bytes) else json.dumps(make(signer.proposal(case.encode()))).encode()
    before = httpx.get(server.url + "/api/v1/log").json()["treeSize"]
    r = httpx.post(server.url + "/api/v1/log/entries", content=body,
                   headers={"Content-Type": "application/json"})
    assert r.status_code == status
    assert r.json()["code"] == status
    assert message in r.json()["message"]
    assert httpx.get(server.url + "/api/v1/log").json()["treeSize"] == before


BAD_READS = {
    "index-not-number": ("GET", "/api/v1/log/entries?logIndex=abc", None, 400, "logIndex must be"),
    "index-missing": ("GET", "/api/v1/log/entries", None, 400, "logIndex query parameter is required"),
    "index-unknown": ("GET", "/api/v1/log/entries?logIndex=999999", None, 404, None),
    "uuid-malformed": ("GET", "/api/v1/log/entries/xyz", None, 400, "64 or 80 hexadecimal"),
    "uuid-unknown": ("GET", "/api/v1/log/entries/" + "ab" * 32, None, 404, None),
    "uuid-other-tree": ("GET", "/api/v1/log/entries/" + "00" * 40, None, 404, None),
    "proof-no-last": ("GET", "/api/v1/log/proof?firstSize=1", None, 400, "lastSize query parameter"),
    "proof-beyond": ("GET", "/api/v1/log/proof?firstSize=1&lastSize=99999999", None, 400,
                     "beyond the current"),
    "proof-reversed": ("GET", "/api/v1/log/proof?firstSize=3&lastSize=2", None, 400,
                       "between 1 and lastSize"),
    "proof-zero": ("GET", "/api/v1/log/proof?firstSize=0&lastSize=2", None, 400, "between 1 and lastSize"),
    "retrieve-too-many": ("POST", "/api/v1/log/entries/retrieve", {"logIndexes": list(range(11))}, 422,
                          "at most 10"),
    "retrieve-bad-index": ("POST", "/api/v1/log/entries/retrieve", {"logIndexes": [-1]}, 400,
                           "non-negative"),
    "search-empty": ("POST", "/api/v1/index/retrieve", {}, 400, "at least one of"),
    "search-bad-hash": ("POST", "/api/v1/index/retrieve", {"hash": "sha256:zz"}, 400, "<algorithm>:<hex>"),
    "search-bad-op": ("POST", "/api/v1/index/retrieve", {"hash": "ab", "operator": "xor"}, 400, "operator"),
    "tile-malformed": ("GET", "/tile/0/12", None, 400, "malformed tile path"),
    "tile-beyond": ("GET", "/tile/0/x999/000", None, 404, None),
    "tile-bad-width": ("GET", "/tile/0/000.p/300", None, 400, "partial tile width"),
}


@pytest.mark.parametrize("case", list(BAD_READS), ids=list(BAD_READS))
def test_bad_read_rejected(server: TlogServer, signer: Signer, case: str) -> None:
    httpx.post(server.url + "/api/v1/log/entries", json=signer.proposal(b"a"))
    httpx.post(server.url + "/api/v1/log/entries", json=signer.proposal(b"b"))
    method, path, body, status, message = BAD_READS[case]
    r = httpx.request(method, server.url + path, json=body)
    assert r.status_code == status
    if message is None:
        assert r.content == b""
    else:
        assert message in r.json()["message"]


def test_proofs_retrieve_search_and_tiles(tmp_path: Path, signer: Signer) -> None:
    server = TlogServer(str(tmp_path / "t.db"), write_key(tmp_path / "k.key"), tmp_path).start()
    try:
        client = RekorClient(server.url)
        log_key = _log_key(server)
        heads = []
        proposals = [signer.proposal(b"leaf %d" % i) for i in range(300)]
        for i, proposal in enumerate(proposals):
            client.upload(proposal)
            if i in (0, 6, 127, 255):
                heads.append(verify_checkpoint(client.log_info()["signedTreeHead"], log_key))
        final = verify_checkpoint(client.log_info()["signedTreeHead"], log_key)
        assert final.size == 300
        for old in heads:
            proof = client.consistency(old.size, final.size)
            merkle.verify_consistency(old.size, final.size, proof, old.root_hash, final.root_hash)
        r = httpx.get(server.url + "/api/v1/log/proof", params={"firstSize": 7, "lastSize": 128}).json()
        assert r["rootHash"] == heads[2].root_hash.hex()
        # retrieve by index, uuid and proposal
        e5 = client.get(log_index=5)
        docs = httpx.post(server.url + "/api/v1/log/entries/retrieve/", json={
            "logIndexes": [5, 999], "entryUUIDs": [e5.entry_id],
            "entries": [proposals[5]]}).json()
        assert [TlogEntry.from_response(d).log_index for d in docs] == [5, 5, 5]
        # search by key and by hash (and both with "and")
        by_key = client.search(public_key_pem=signer.pem)
        assert len(by_key) == 300
        digest = "sha256:" + hashlib.sha256(b"leaf 9").hexdigest()
        assert client.search(sha=digest) == [client.get(log_index=9).entry_id]
        both = httpx.post(server.url + "/api/v1/index/retrieve",
                          json={"hash": digest, "publicKey": {"format": "x509", "content":
                                base64.b64encode(signer.pem).decode()}, "operator": "and"}).json()
        assert both == [client.get(log_index=9).entry_id]
        # tlog-tiles: one full level-0 tile and a partial one; entry bundles hash to the tiles
        assert httpx.get(server.url + "/checkpoint").text == client.log_info()["signedTreeHead"]
        full = httpx.get(server.url + "/tile/0/000").content
        part = httpx.get(server.url + "/tile/0/001.p/44").content
        assert (len(full), len(part)) == (256 * 32, 44 * 32)
        assert httpx.get(server.url + "/tile/0/001.p/45").status_code == 404
        bundle = httpx.get(server.url + "/tile/entries/001.p/44").content
        leaves = []
        pos = 0
        while pos < len(bundle):
            (n,) = struct.unpack(">H", bundle[pos:pos + 2])
            leaves.append(merkle.leaf_hash(bundle[pos + 2:pos + 2 + n]))
            pos += 2 + n
        assert b"".join(leaves) == part
        hashes = [full[i:i + 32] for i in range(0, len(full), 32)] + leaves
        cr = merkle.CompactRange()
        for h in hashes:
            cr.append(h)
        assert cr.root() == final.root_hash
        assert httpx.get(server.url + "/api/v1/log/publicKey").content == server.public_key.read_bytes()
    finally:
        server.stop()


def test_upper_level_tiles_match_level0(tmp_path: Path) -> None:
    """tlog-tiles levels 1 and 2: hash i of level-1 tile n is the root of level-0 tile
    n*256+i; level 2 covers 65,536 leaves per hash. The store is filled directly (the
    server's own append path, no HTTP) to get past 65,536 entries quickly."""
    from sigstack.tlog.store import open_store
    from sigstack.tlog.store.base import NewEntry

    db = str(tmp_path / "big.db")
    store = open_store(db)
    n = 65536 + 300
    for lo in range(0, n, 8192):
        batch = [NewEntry(merkle.leaf_hash(b"e%d" % i), b"e%d" % i, ()) for i in range(lo, min(n, lo + 8192))]
        store.append(batch, 1)
    store.close()
    server = TlogServer(db, write_key(tmp_path / "k.key"), tmp_path).start()
    try:
        def root(data: bytes) -> bytes:
            cr = merkle.CompactRange()
            for i in range(0, len(data), 32):
                cr.append(data[i:i + 32])
            return cr.root()

        level0 = [httpx.get(server.url + f"/tile/0/{t:03d}").content for t in range(256)]
        level1 = httpx.get(server.url + "/tile/1/000").content
        assert len(level1) == 256 * 32
        assert [level1[i * 32:(i + 1) * 32] for i in range(256)] == [root(t) for t in level0]
        assert httpx.get(server.url + "/tile/1/001.p/1").content == root(
            httpx.get(server.url + "/tile/0/256").content)
        assert httpx.get(server.url + "/tile/1/001.p/2").status_code == 404
        level2 = httpx.get(server.url + "/tile/2/000.p/1").content
        assert level2 == root(level1)
        tail = httpx.get(server.url + "/tile/0/257.p/44").content
        cp = verify_checkpoint(httpx.get(server.url + "/checkpoint").text, _log_key(server))
        assert cp.size == n
        assert merkle.node_hash(level2, merkle.node_hash(
            httpx.get(server.url + "/tile/1/001.p/1").content, root(tail))) == cp.root_hash
    finally:
        server.stop()
