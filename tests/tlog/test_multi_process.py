"""The production shape of the log: two ``sigstack tlog serve`` processes on one
PostgreSQL database behind a (client-side) round robin, under concurrent uploads.
No entry is lost or stored twice, a proposal sent to both servers at once is stored
once (the other answer is 409), and every checkpoint either server signed during the
load is a prefix of the final tree (checked with consistency proofs)."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import verify_checkpoint
from tests.tlog._support import Signer, TlogServer

UNIQUE = 160
RACED = 20  # proposals sent to both servers at the same time


def test_two_servers_on_one_database_under_load(tmp_path: Path, log_key: Path, pg_url: str) -> None:
    servers = [TlogServer(pg_url, log_key, tmp_path).start(), TlogServer(pg_url, log_key, tmp_path).start()]
    try:
        load_and_check(servers)
    finally:
        for s in servers:
            s.stop()


def load_and_check(servers: list[TlogServer]) -> None:
    """Upload to both servers (round robin, and raced pairs) while watching their
    checkpoints, then check the tree; also run beside the CA pair in
    tests/ca/test_multi_process.py (both stacks on one PostgreSQL at once)."""
    signer = Signer()
    proposals = [signer.proposal(b"entry %d" % i) for i in range(UNIQUE)]
    raced = [signer.proposal(b"raced %d" % i) for i in range(RACED)]
    seen: list[tuple[str, int]] = []  # (checkpoint note, server) observed during the load
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                for n, s in enumerate(servers):
                    seen.append((http.get(s.url + "/api/v1/log").json()["signedTreeHead"], n))

    def post(job: tuple[int, dict[str, object]]) -> tuple[int, str]:
        n, proposal = job
        r = httpx.post(servers[n].url + "/api/v1/log/entries", json=proposal, timeout=30)
        assert r.status_code in (201, 409), r.text
        return r.status_code, r.headers["Location"].rsplit("/", 1)[1]

    jobs = [(i % 2, p) for i, p in enumerate(proposals)] + [(n, p) for p in raced for n in (0, 1)]
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(post, jobs))
    finally:
        stop.set()
        watcher.join()

    unique = results[:UNIQUE]
    assert all(code == 201 for code, _ in unique)
    for i in range(RACED):
        pair = results[UNIQUE + 2 * i : UNIQUE + 2 * i + 2]
        assert sorted(code for code, _ in pair) == [201, 409], pair
        assert pair[0][1] == pair[1][1]  # both answers name the one stored entry
    want = {uuid for _, uuid in results}
    assert len(want) == UNIQUE + RACED

    # both servers see the same tree, holding every entry exactly once
    with httpx.Client(timeout=10) as http:
        total = UNIQUE + RACED
        leaves = set()
        for index in range(total):
            docs = [http.get(s.url + "/api/v1/log/entries", params={"logIndex": index}).json()
                    for s in servers]
            assert docs[0].keys() == docs[1].keys()
            (uuid,) = docs[0]
            leaves.add(uuid)
        assert leaves == want
        assert http.get(servers[0].url + "/api/v1/log/entries", params={"logIndex": total}).status_code == 404
        final = http.get(servers[1].url + "/api/v1/log/proof", params={"lastSize": total}).json()
        final_root = bytes.fromhex(final["rootHash"])

        verifier = PublicKeyVerifier(load_public_key_pem(servers[0].public_key.read_bytes()))
        checked = 0
        for note, n in seen:
            cp = verify_checkpoint(note, verifier)
            if cp.size == 0:
                continue
            proof = http.get(servers[n].url + "/api/v1/log/proof",
                             params={"firstSize": cp.size, "lastSize": total}).json()
            merkle.verify_consistency(cp.size, total, [bytes.fromhex(h) for h in proof["hashes"]],
                                      cp.root_hash, final_root)
            checked += 1
        assert checked > 0
        # entries logged by one server verify through the other
        doc = http.get(servers[0].url + "/api/v1/log/entries", params={"logIndex": total - 1}).json()
        (value,) = doc.values()
        body = base64.b64decode(value["body"])
        p = value["verification"]["inclusionProof"]
        merkle.verify_inclusion(p["logIndex"], p["treeSize"], merkle.leaf_hash(body),
                                [bytes.fromhex(h) for h in p["hashes"]], bytes.fromhex(p["rootHash"]))
