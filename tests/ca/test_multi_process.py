"""The production shape of the CA: two ``sigstack ca serve`` processes with one CA
identity (the same state directory: issuing key, chain and CT log key) and one CT log
database on PostgreSQL, under concurrent certificate requests sent round robin to both.

Every certificate's embedded SCT verifies with the CT log key and its precertificate
entry is in the log exactly once (found by its RFC 6962 leaf hash through either
process, with an inclusion proof to the final tree); the log holds no other entry and
none twice; and every STH either process served during the load is signed with the log
key and is a prefix of the final tree (consistency proofs checked with
sigstack.tlog.merkle). Meanwhile two `sigstack tlog serve` processes on another database
of the same PostgreSQL server take their own load and checks
(tests/tlog/test_multi_process.py), so the whole production shape runs at once."""

from __future__ import annotations

import base64
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
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
    oidc_server,
    sct_signed_data,
    v2_request,
    verify_chain,
)
from tests.tlog._support import TlogServer, write_key
from tests.tlog.conftest import new_database, pg_url, postgres, postgres_server  # noqa: F401  (a private PostgreSQL)
from tests.tlog.test_multi_process import load_and_check

CERTS = 160
IDENTITIES = 8  # tokens minted (each used for CERTS / IDENTITIES requests, each with a fresh key)


def _verify_sth(sth: dict[str, Any], key: ec.EllipticCurvePublicKey) -> None:
    """RFC 6962 §3.5: the signature covers version, tree_hash type, timestamp, size, root."""
    signed = struct.pack(">BBQQ", 0, 1, sth["timestamp"], sth["tree_size"]) + base64.b64decode(sth["sha256_root_hash"])
    ds = base64.b64decode(sth["tree_head_signature"])
    assert ds[:2] == b"\x04\x03"  # SHA-256, ECDSA
    (n,) = struct.unpack(">H", ds[2:4])
    assert len(ds) == 4 + n
    key.verify(ds[4:], signed, ec.ECDSA(hashes.SHA256()))


def test_two_cas_and_two_logs_on_one_postgresql_under_load(tmp_path: Path, postgres: str,  # noqa: F811
                                                           pg_url: str) -> None:  # noqa: F811
    oidc_state, ca_state = tmp_path / "oidc", tmp_path / "ca"
    oidc = oidc_server(tmp_path, oidc_state)
    cas: list[Server] = []
    logs: list[TlogServer] = []
    try:
        tlog_db, log_key = new_database(postgres), write_key(tmp_path / "log.key")
        for _ in range(2):
            logs.append(TlogServer(tlog_db, log_key, tmp_path).start())
        # the first start creates the CA's keys and certificates; the second loads them
        for _ in range(2):
            cas.append(ca_server(tmp_path, ca_state, oidc.url, ["--ct-db", pg_url]))
        stack = Stack(oidc, cas[0], oidc_state, ca_state)
        ct_key, (inter, root) = stack.ct_key, stack.chain
        tokens = [stack.token(f"multi{i}@example.com") for i in range(IDENTITIES)]
        seen: list[tuple[dict[str, Any], int]] = []  # (STH, CA) observed during the load
        stop = threading.Event()

        def watch() -> None:
            with httpx.Client(timeout=10) as http:
                while not stop.is_set():
                    for n, ca in enumerate(cas):
                        resp = http.get(ca.url + "/ct/v1/get-sth")
                        assert resp.status_code == 200, resp.text
                        seen.append((resp.json(), n))

        def issue(i: int) -> dict[str, Any]:
            email = f"multi{i % IDENTITIES}@example.com"
            resp = httpx.post(cas[i % 2].url + "/api/v2/signingCert",
                              json=v2_request(tokens[i % IDENTITIES], new_key(), email), timeout=60)
            assert resp.status_code == 200, resp.text
            doc: dict[str, Any] = resp.json()
            return doc

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with ThreadPoolExecutor(1) as tlog_load:
                tlog_done = tlog_load.submit(load_and_check, logs)  # the log pair's load, at once
                with ThreadPoolExecutor(8) as pool:
                    docs = list(pool.map(issue, range(CERTS)))
                tlog_done.result()
        finally:
            stop.set()
            watcher.join()

        # every certificate: chained to the one CA, its SCT signed by the one CT log key
        want: dict[bytes, int] = {}  # RFC 6962 leaf hash of the precertificate entry -> request
        for i, doc in enumerate(docs):
            leaf, chain = leaf_of(doc)
            verify_chain(leaf, chain, root)
            assert chain[0] == inter
            sct, ts = embedded_sct(leaf)
            signed = sct_signed_data(leaf, inter, ts, sct.extension_bytes)
            ct_key.verify(sct.signature, signed, ec.ECDSA(hashes.SHA256()))
            want[merkle.leaf_hash(signed)] = i
        assert len(want) == CERTS

        with httpx.Client(timeout=10) as http:
            finals = [get_json(ca.url + "/ct/v1/get-sth") for ca in cas]
            assert {(s["tree_size"], s["sha256_root_hash"]) for s in finals} == {
                (CERTS, finals[0]["sha256_root_hash"])}
            for sth in finals:
                _verify_sth(sth, ct_key)
            final_root = base64.b64decode(finals[0]["sha256_root_hash"])

            # each precertificate is in the log once: its proof (asked of the CA that did
            # not issue it) names one index, and no two certificates share one
            indexes: set[int] = set()
            for leaf_hash, i in want.items():
                resp = http.get(cas[(i + 1) % 2].url + "/ct/v1/get-proof-by-hash",
                                params={"hash": base64.b64encode(leaf_hash).decode(), "tree_size": CERTS})
                assert resp.status_code == 200, resp.text
                proof = resp.json()
                merkle.verify_inclusion(proof["leaf_index"], CERTS, leaf_hash,
                                        [base64.b64decode(h) for h in proof["audit_path"]], final_root)
                indexes.add(proof["leaf_index"])
            assert indexes == set(range(CERTS))

            # the log's entries are exactly those precertificates, each once, and both
            # processes serve the same entries
            logged: list[bytes] = []
            for start in range(0, CERTS, 64):
                pages = [get_json(ca.url + "/ct/v1/get-entries", start=start, end=start + 63)["entries"]
                         for ca in cas]
                assert pages[0] == pages[1]
                logged += [merkle.leaf_hash(base64.b64decode(e["leaf_input"])) for e in pages[0]]
            assert len(logged) == CERTS
            assert set(logged) == set(want)
            resp = http.get(cas[1].url + "/ct/v1/get-entries", params={"start": CERTS, "end": CERTS})
            assert resp.status_code == 400

            # every STH served during the load is signed by the log and a prefix of the final tree
            checked = 0
            for sth, n in seen:
                _verify_sth(sth, ct_key)
                size = sth["tree_size"]
                if size == 0:
                    continue
                proof = get_json(cas[n].url + "/ct/v1/get-sth-consistency", first=size, second=CERTS)
                merkle.verify_consistency(size, CERTS, [base64.b64decode(h) for h in proof["consistency"]],
                                          base64.b64decode(sth["sha256_root_hash"]), final_root)
                checked += 1
            assert checked > 0
            assert len({sth["tree_size"] for sth, _ in seen}) > 2  # the heads moved during the load
    finally:
        for server in [*cas, *logs]:
            server.stop()
        oidc.stop()
