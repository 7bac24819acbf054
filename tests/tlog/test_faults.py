"""Crash safety: kill -9 the log server in the middle of concurrent uploads, restart it
on the same database (SQLite and a real PostgreSQL), and check that every entry that
got a 201 is still there at the same index, the new checkpoint is consistent with
every checkpoint handed out before the crash, and nothing is duplicated."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.software import PublicKeyVerifier
from sigstack.tlog import merkle
from sigstack.tlog.checkpoint import Checkpoint, verify_checkpoint
from sigstack.tlog.client import RekorClient
from sigstack.tlog.entry import TlogEntry, verify_entry
from tests.tlog._support import Signer, TlogServer

pytestmark = pytest.mark.needs_server  # every test starts `sigstack tlog serve` (and some PostgreSQL)


def _hammer(server: TlogServer, signer: Signer, stop: threading.Event,
            acked: list[tuple[int, dict[str, Any]]], heads: list[str], worker: int) -> None:
    n = 0
    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            proposal = signer.proposal(b"worker %d entry %d" % (worker, n))
            n += 1
            try:
                r = http.post(server.url + "/api/v1/log/entries", json=proposal)
            except httpx.HTTPError:
                return
            if r.status_code == 201:
                entry = TlogEntry.from_response(r.json())
                acked.append((entry.log_index, proposal))
                heads.append(entry.inclusion_proof.checkpoint)  # every checkpoint handed out counts
                if n % 10 == 0:
                    try:
                        heads.append(http.get(server.url + "/api/v1/log").json()["signedTreeHead"])
                    except httpx.HTTPError:
                        return


def _crash_and_check(server: TlogServer, signer: Signer) -> None:
    stop = threading.Event()
    acked: list[tuple[int, dict[str, Any]]] = []
    heads: list[str] = []
    threads = [threading.Thread(target=_hammer, args=(server, signer, stop, acked, heads, w))
               for w in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.kill9()  # mid-stream: the workers still have requests in flight
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 300
    log_key = PublicKeyVerifier(load_public_key_pem(server.public_key.read_bytes()))
    before = [verify_checkpoint(h, log_key) for h in set(heads)]
    assert len(before) > 5  # many batches, many checkpoints

    server.start()
    client = RekorClient(server.url)
    now = verify_checkpoint(client.log_info()["signedTreeHead"], log_key)
    assert now.size >= max(i for i, _ in acked) + 1
    # every acknowledged entry is at the index it was acknowledged with
    for index, proposal in acked:
        entry = client.retrieve(proposal)
        assert entry is not None, f"acknowledged entry {index} lost"
        assert entry.log_index == index
    verify_entry(client.get(log_index=acked[-1][0]), log_key)
    # the new tree extends every checkpoint handed out before the crash
    for old in before:
        if old.size:
            proof = client.consistency(old.size, now.size) if old.size != now.size else []
            merkle.verify_consistency(old.size, now.size, proof, old.root_hash, now.root_hash)
    # no duplicates: all leaves distinct (read back through the tiles API)
    leaves = _all_leaves(server.url, now)
    assert len(leaves) == now.size == len(set(leaves))
    # re-sending acknowledged entries adds nothing
    with httpx.Client() as http:
        for _, proposal in acked[:50]:
            r = http.post(server.url + "/api/v1/log/entries", json=proposal)
            assert r.status_code == 409
    assert client.log_info()["treeSize"] == now.size


def _all_leaves(url: str, cp: Checkpoint) -> list[bytes]:
    out: list[bytes] = []
    for tile in range(0, (cp.size + 255) // 256):
        width = min(256, cp.size - tile * 256)
        path = f"{tile:03d}" if width == 256 else f"{tile:03d}.p/{width}"
        data = httpx.get(f"{url}/tile/entries/{path}").content
        pos = 0
        while pos < len(data):
            (n,) = struct.unpack(">H", data[pos:pos + 2])
            out.append(merkle.leaf_hash(data[pos + 2:pos + 2 + n]))
            pos += 2 + n
    return out


def test_kill9_sqlite(tmp_path: Path, log_key: Path, signer: Signer) -> None:
    server = TlogServer(str(tmp_path / "log.db"), log_key, tmp_path).start()
    try:
        _crash_and_check(server, signer)
    finally:
        server.stop()


def test_kill9_postgres(tmp_path: Path, log_key: Path, signer: Signer, pg_url: str) -> None:
    server = TlogServer(pg_url, log_key, tmp_path).start()
    try:
        _crash_and_check(server, signer)
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_concurrent_duplicates_one_entry(tmp_path: Path, log_key: Path, signer: Signer, backend: str,
                                         request: pytest.FixtureRequest) -> None:
    db = str(tmp_path / "d.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    server = TlogServer(db, log_key, tmp_path).start()
    try:
        proposal = signer.proposal(b"the same entry")
        codes: list[int] = []

        def post() -> None:
            with httpx.Client() as http:
                codes.append(http.post(server.url + "/api/v1/log/entries", json=proposal).status_code)

        threads = [threading.Thread(target=post) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [201] + [409] * 19
        assert RekorClient(server.url).log_info()["treeSize"] == 1
    finally:
        server.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_servers_one_database_never_fork(tmp_path: Path, log_key: Path, signer: Signer, backend: str,
                                            request: pytest.FixtureRequest) -> None:
    """Two server processes writing the same database interleave their batches: every 201
    is at its index, the leaves are distinct, and the stored root is the root of the leaves."""
    from sigstack.tlog.store import open_store

    db = str(tmp_path / "shared.db") if backend == "sqlite" else request.getfixturevalue("pg_url")
    servers = [TlogServer(db, log_key, tmp_path).start() for _ in range(2)]
    try:
        acked: list[tuple[int, dict[str, Any]]] = []

        def upload(worker: int) -> None:
            with httpx.Client(timeout=30) as http:
                for n in range(60):
                    proposal = signer.proposal(b"w%d n%d" % (worker, n))
                    r = http.post(servers[worker % 2].url + "/api/v1/log/entries", json=proposal)
                    assert r.status_code == 201, r.text
                    acked.append((TlogEntry.from_response(r.json()).log_index, proposal))

        threads = [threading.Thread(target=upload, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(acked) == 360
        assert sorted(i for i, _ in acked) == list(range(360))
        for index, proposal in acked[::17]:
            found = RekorClient(servers[(index + 1) % 2].url).retrieve(proposal)
            assert found is not None and found.log_index == index
    finally:
        for s in servers:
            s.stop()
    store = open_store(db)
    try:
        cr = merkle.CompactRange()
        for h in store.leaf_hashes(0, store.size):
            cr.append(h)
        assert store.size == 360 and cr.root() == store.head[1]
    finally:
        store.close()


def test_postgres_crash_mid_stream(tmp_path: Path, log_key: Path, signer: Signer, pg_url: str,
                                   postgres_server: Any) -> None:
    """PostgreSQL itself crashes (immediate stop, crash recovery) under a stream of uploads:
    requests fail cleanly while it is down, the log server recovers by itself, and every
    entry that got a 201 is still at its index afterwards."""
    server = TlogServer(pg_url, log_key, tmp_path).start()
    try:
        stop = threading.Event()
        acked: list[tuple[int, dict[str, Any]]] = []
        heads: list[str] = []
        failures: list[int] = []

        def hammer(worker: int) -> None:
            n = 0
            with httpx.Client(timeout=30) as http:
                while not stop.is_set():
                    proposal = signer.proposal(b"pg crash %d %d" % (worker, n))
                    n += 1
                    r = http.post(server.url + "/api/v1/log/entries", json=proposal)
                    if r.status_code == 201:
                        entry = TlogEntry.from_response(r.json())
                        acked.append((entry.log_index, proposal))
                        heads.append(entry.inclusion_proof.checkpoint)
                    else:
                        assert r.status_code == 500 and r.json()["message"], r.text
                        failures.append(r.status_code)
                        time.sleep(0.05)

        threads = [threading.Thread(target=hammer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        while len(acked) < 100:
            time.sleep(0.02)
        postgres_server.crash_and_restart()
        before = len(acked)
        deadline = time.monotonic() + 20
        while len(acked) < before + 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
        assert len(acked) >= before + 100, "the log server did not recover after PostgreSQL restarted"
        assert failures, "the outage was not observed: the test did not exercise the fault"
        client = RekorClient(server.url)
        log_key_v = PublicKeyVerifier(load_public_key_pem(server.public_key.read_bytes()))
        now = verify_checkpoint(client.log_info()["signedTreeHead"], log_key_v)
        for index, proposal in acked:
            entry = client.retrieve(proposal)
            assert entry is not None and entry.log_index == index
        for old in {verify_checkpoint(h, log_key_v) for h in heads}:
            proof = client.consistency(old.size, now.size) if old.size != now.size else []
            merkle.verify_consistency(old.size, now.size, proof, old.root_hash, now.root_hash)
        assert len(set(_all_leaves(server.url, now))) == now.size
    finally:
        server.stop()



def test_disk_full_sqlite(tmp_path: Path, log_key: Path, signer: Signer, small_disk: Path) -> None:
    """The database's disk fills up under a stream of uploads: the server stays up and
    answers each failed upload with one clean 500, nothing acknowledged is lost, and once
    space is back (the tmpfs grown) uploads succeed again without a restart, on a tree
    consistent with every checkpoint handed out before."""
    import subprocess

    server = TlogServer(str(small_disk / "log.db"), log_key, tmp_path).start()
    try:
        acked: list[tuple[int, dict[str, Any]]] = []
        heads: list[str] = []
        failures: list[str] = []
        with httpx.Client(timeout=30) as http:
            n = 0
            while len(failures) < 5 and n < 20000:
                proposal = signer.proposal(b"disk full %d" % n + b"x" * 900)
                n += 1
                r = http.post(server.url + "/api/v1/log/entries", json=proposal)
                if r.status_code == 201:
                    entry = TlogEntry.from_response(r.json())
                    acked.append((entry.log_index, proposal))
                    heads.append(entry.inclusion_proof.checkpoint)
                else:
                    assert r.status_code == 500 and r.json()["message"], r.text
                    assert "Traceback" not in r.text
                    failures.append(r.json()["message"])
            assert failures, "the disk never filled: the test did not exercise the fault"
            assert server.proc is not None and server.proc.poll() is None, "the server died on a full disk"
            subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
            cleared = time.monotonic()
            recovered = None
            for attempt in range(200):
                proposal = signer.proposal(b"after %d" % attempt)
                r = http.post(server.url + "/api/v1/log/entries", json=proposal)
                if r.status_code == 201:
                    recovered = attempt
                    entry = TlogEntry.from_response(r.json())
                    acked.append((entry.log_index, proposal))
                    break
                time.sleep(0.05)
            took = time.monotonic() - cleared  # reported, not asserted
            assert recovered is not None, "uploads did not succeed again once the disk had space"
        client = RekorClient(server.url)
        key = PublicKeyVerifier(load_public_key_pem(server.public_key.read_bytes()))
        now = verify_checkpoint(client.log_info()["signedTreeHead"], key)
        for index, proposal in acked:
            found = client.retrieve(proposal)
            assert found is not None and found.log_index == index, f"acknowledged entry {index} lost"
        for old in {verify_checkpoint(h, key) for h in heads}:
            proof = client.consistency(old.size, now.size) if old.size != now.size else []
            merkle.verify_consistency(old.size, now.size, proof, old.root_hash, now.root_hash)
        assert len(set(_all_leaves(server.url, now))) == now.size
        print(f"disk full: {len(acked) - 1} acknowledged before the disk filled, {len(failures)} clean 500s "
              f"({failures[0][:80]!r}), uploads back after {recovered} retries, {took:.3f} s")
    finally:
        server.stop()
