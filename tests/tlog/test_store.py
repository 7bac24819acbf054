"""Store-level guarantees, on SQLite and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack.tlog import merkle
from sigstack.tlog.store import open_store
from sigstack.tlog.store.base import NewEntry


def _entry(i: int) -> NewEntry:
    body = b"entry %d" % i
    return NewEntry(merkle.leaf_hash(body), body, (f"k{i}",))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.needs_server)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    url: str = request.getfixturevalue("pg_url")
    return url


def test_two_writers_interleave_and_never_fork(db: str) -> None:
    """A store whose view is stale retries on top of the durable tree (and dedups against it)."""
    a, b = open_store(db), open_store(db)
    try:
        a.append([_entry(0), _entry(1)], 1)
        got = b.append([_entry(2), _entry(1)], 1)  # b still thinks the tree is empty
        assert [(r.index, r.created) for r in got] == [(2, True), (1, False)]
        a.append([_entry(3)], 1)
        c = open_store(db)
        assert c.size == 4
        assert c.head[1] == merkle.fold(merkle.perfect_nodes(0, 4), c.nodes(merkle.perfect_nodes(0, 4)))
        assert c.leaf_hashes(0, 4) == [_entry(i).leaf_hash for i in range(4)]
        c.close()
    finally:
        a.close()
        b.close()


def test_reopen_restores_tree_and_dedups(db: str) -> None:
    s = open_store(db)
    results = s.append([_entry(i) for i in range(37)] + [_entry(5)], 7)
    assert [r.index for r in results][-2:] == [36, 5] and not results[-1].created
    root, tree_id = s.root_at(37), s.tree_id
    s.close()
    again = open_store(db)
    try:
        assert (again.size, again.head[1], again.tree_id) == (37, root, tree_id)
        more = again.append([_entry(3), _entry(40)], 8)
        assert (more[0].index, more[0].created, more[1].index, more[1].created) == (3, False, 37, True)
        assert again.search("k40") == [37]
        proof = again.consistency_proof(37, 38)
        merkle.verify_consistency(37, 38, proof, root, again.head[1])
    finally:
        again.close()
