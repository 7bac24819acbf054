"""The log's search index (what the explorer searches), on SQLite and a real
PostgreSQL: exact, prefix and time-range lookups, written with the entries, and the
migration that adds certificate issuers to a database written before they were indexed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sigstack.errors import QueryError
from sigstack.tlog import merkle
from sigstack.tlog.entries import canonicalize
from sigstack.tlog.explorer.query import parse
from sigstack.tlog.store import open_store
from sigstack.tlog.store.base import INDEX_VERSION, NewEntry, prefix_bounds
from tests.tlog._explorer_support import GITHUB_ISSUER, CertSigner, fingerprint
from tests.tlog._support import Signer

WORKFLOW = "https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main"


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def _new(proposal: dict[str, object]) -> NewEntry:
    c = canonicalize(proposal)
    return NewEntry(merkle.leaf_hash(c.body), c.body, c.index_keys)


def _fill(db: str) -> tuple[Signer, list[NewEntry]]:
    key = Signer()
    alice = CertSigner("Alice@Example.com", "https://accounts.example.com")
    ci = CertSigner(WORKFLOW, GITHUB_ISSUER)
    entries = [_new(s.proposal(b"a%d" % i)) for i, s in enumerate([key, alice, ci, key, alice, ci])]
    s = open_store(db)
    try:
        for i, e in enumerate(entries):  # one batch per entry, integrated at t = 100, 200, ...
            s.append([e], 100 * (i + 1))
    finally:
        s.close()
    return key, entries


def test_lookups_exact_prefix_and_time(db: str) -> None:
    key, entries = _fill(db)
    s = open_store(db)
    try:
        fp = fingerprint(key.pem)
        assert s.lookup(fp) == [(fp, 3), (fp, 0)]  # newest first
        assert [i for _, i in s.lookup("alice@example.com")] == [4, 1]  # SANs filed lowercase
        assert [i for _, i in s.lookup("alice@", prefix=True)] == [4, 1]
        assert [i for _, i in s.lookup("issuer:" + GITHUB_ISSUER)] == [5, 2]
        assert [i for _, i in s.lookup("issuer:https://token.actions.", prefix=True)] == [5, 2]
        assert [i for _, i in s.lookup("https://github.com/acme/", prefix=True)] == [5, 2]
        assert [i for _, i in s.lookup("issuer:", prefix=True)] == [5, 2, 4, 1]  # by key desc, then newest
        assert [i for _, i in s.lookup("alice@example.com", since=150, until=500)] == [1]
        assert [i for _, i in s.lookup(None, since=200, until=500)] == [3, 2, 1]
        assert [i for _, i in s.lookup(None, limit=2)] == [5, 4]
        assert s.lookup("issuer:", prefix=True, limit=1) == [("issuer:" + GITHUB_ISSUER, 5)]
        assert s.lookup("nobody@example.com", prefix=True) == []
        # the Rekor index API's lookups read the same rows
        assert s.search("alice@example.com") == [1, 4]
        leaf = entries[2].leaf_hash
        assert s.leaf_prefix(leaf[:3] + b"\0" * 29, leaf[:3] + b"\xff" * 29) == [2]
        got = s.entries_at([0, 2, 99])
        assert sorted(got) == [0, 2] and got[2].leaf_hash == leaf and got[2].integrated_time == 300
    finally:
        s.close()


def _downgrade_sqlite(path: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM search WHERE key LIKE 'issuer:%'")
        conn.execute("DELETE FROM meta WHERE k = 'index_version'")
        conn.execute("DROP INDEX entries_itime")


def _downgrade_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM search WHERE key LIKE 'issuer:%'")
        conn.execute("DELETE FROM meta WHERE k = 'index_version'")
        conn.execute("DROP INDEX entries_itime")
        conn.execute("DROP INDEX search_key_c")


def test_opening_an_older_database_adds_the_issuer_rows(db: str) -> None:
    """A database as sigstack wrote it before index version 2 (no issuer rows, no
    version row, no new indexes) is brought up to date when opened, keeping its tree."""
    _fill(db)
    before = open_store(db)
    head = before.head
    before.close()
    (_downgrade_postgres if db.startswith("postgresql://") else _downgrade_sqlite)(db)
    old = open_store(db)  # migrates
    try:
        assert old.head == head
        assert old._read_meta()["index_version"] == str(INDEX_VERSION)
        assert [i for _, i in old.lookup("issuer:" + GITHUB_ISSUER)] == [5, 2]
        assert [i for _, i in old.lookup(None, since=200, until=300)] == [1]
    finally:
        old.close()
    if not db.startswith("postgresql://"):
        with sqlite3.connect(db) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "entries_itime" in names


def test_prefix_bounds_cover_exactly_the_prefixed_strings() -> None:
    assert prefix_bounds("abc") == ("abc", "abd")
    assert prefix_bounds("a\U0010ffff") == ("a\U0010ffff", "b")
    assert prefix_bounds("\U0010ffff") == ("\U0010ffff", None)
    assert prefix_bounds("x\ud7ff") == ("x\ud7ff", "x\ue000")
    low, high = prefix_bounds("ab")
    assert high is not None
    for s in ("ab", "abz", "ab\U0010ffff"):
        assert low <= s < high
    for s in ("aa", "ac", "b", "a"):
        assert not low <= s < high


def test_query_parsing() -> None:
    q = parse("  alice@example.com after:2026-01-01 before:2026-01-02 ")
    assert (q.term, q.since, q.until) == ("alice@example.com", 1767225600, 1767312000)
    q = parse("2026-01-01..2026-01-01")  # a bare end date includes that whole day
    assert (q.term, q.since, q.until) == (None, 1767225600, 1767312000)
    q = parse("after:2026-01-01T12:00:00+02:00")
    assert q.since == 1767261600
    q = parse("before:1767225600")
    assert q.until == 1767225600
    assert parse("https://github.com/acme/..").term == "https://github.com/acme/.."  # URLs are terms
    with pytest.raises(QueryError, match=r"^the query is longer than 512 characters$"):
        parse("a" * 513)
