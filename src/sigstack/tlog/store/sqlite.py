"""SQLite store (WAL, ``synchronous=FULL``: a batch is on disk when ``append`` returns).

Readers use one connection per thread; the single writer thread has its own.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sigstack.errors import LogError
from sigstack.tlog import merkle
from sigstack.tlog.store.base import Store, StoredEntry, prefix_bounds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL UNIQUE, body BLOB NOT NULL, itime INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id INTEGER PRIMARY KEY, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS search (key TEXT NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (key, idx))
    WITHOUT ROWID;
-- index version 2: time-range search (the index holds (itime, idx): idx is the rowid)
CREATE INDEX IF NOT EXISTS entries_itime ON entries (itime);
"""
_CHUNK = 500


def _create_private(path: str) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask, 0644
    by default); SQLite gives its -wal and -shm files the database file's mode."""
    if path == ":memory:" or path.startswith("file:") or os.path.exists(path):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise sqlite3.OperationalError(exc.strerror or str(exc)) from None
    os.close(fd)


class SQLiteStore(Store):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._local = threading.local()
        try:
            _create_private(path)
            conn = self._conn()
            conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise LogError(f"opening log database {path}: {exc}") from None
        self._load()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def _read_meta(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT k, v FROM meta").fetchall())

    def _write_meta_initial(self, tree_id: int) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT OR IGNORE INTO meta VALUES (?, ?)",
            [("tree_id", str(tree_id)), ("size", "0"), ("root", merkle.EMPTY_ROOT.hex())],
        )
        conn.execute("COMMIT")

    def _existing(self, leaves: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        out: dict[bytes, tuple[int, int]] = {}
        conn = self._conn()
        for i in range(0, len(leaves), _CHUNK):
            chunk = leaves[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for leaf, idx, itime in conn.execute(
                f"SELECT leaf, idx, itime FROM entries WHERE leaf IN ({marks})", chunk
            ):
                out[leaf] = (idx, itime)
        return out

    @contextmanager
    def _locked(self) -> Iterator[int]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock, held until COMMIT
            (stored,) = conn.execute("SELECT v FROM meta WHERE k = 'size'").fetchone()
            yield int(stored)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise LogError(f"storing entries: {exc}") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _write_rows(
        self,
        entries: Sequence[tuple[int, bytes, bytes, int]],
        nodes: Sequence[tuple[int, bytes]],
        search: Sequence[tuple[str, int]],
        size: int,
        root: bytes,
    ) -> None:
        conn = self._conn()
        conn.executemany("INSERT INTO entries VALUES (?, ?, ?, ?)", entries)
        conn.executemany("INSERT INTO nodes VALUES (?, ?)", nodes)
        conn.executemany("INSERT OR IGNORE INTO search VALUES (?, ?)", search)
        conn.executemany("UPDATE meta SET v = ? WHERE k = ?", [(str(size), "size"), (root.hex(), "root")])

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._conn().execute(
            "SELECT leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [r[0] for r in rows]

    def _rows(self, sql: str, ids: Sequence[int]) -> dict[int, bytes]:
        out: dict[int, bytes] = {}
        conn = self._conn()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            out.update(conn.execute(sql.format(",".join("?" * len(chunk))), chunk).fetchall())
        return out

    def _node_rows(self, ids: Sequence[int]) -> dict[int, bytes]:
        return self._rows("SELECT id, hash FROM nodes WHERE id IN ({})", ids)

    def _leaf_rows(self, indexes: Sequence[int]) -> dict[int, bytes]:
        return self._rows("SELECT idx, leaf FROM entries WHERE idx IN ({})", indexes)

    def entry_by_index(self, index: int) -> StoredEntry | None:
        row = self._conn().execute("SELECT idx, leaf, body, itime FROM entries WHERE idx = ?", (index,))
        found = row.fetchone()
        return StoredEntry(*found) if found else None

    def entry_by_leaf(self, leaf_hash: bytes) -> StoredEntry | None:
        row = self._conn().execute("SELECT idx, leaf, body, itime FROM entries WHERE leaf = ?", (leaf_hash,))
        found = row.fetchone()
        return StoredEntry(*found) if found else None

    def entries_range(self, start: int, end: int) -> list[bytes]:
        rows = self._conn().execute(
            "SELECT body FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        )
        return [r[0] for r in rows]

    def search(self, key: str) -> list[int]:
        rows = self._conn().execute("SELECT idx FROM search WHERE key = ? ORDER BY idx LIMIT 1000", (key,))
        return [r[0] for r in rows]

    def lookup(self, key: str | None, *, prefix: bool = False, since: int | None = None,
               until: int | None = None, limit: int = 100) -> list[tuple[str, int]]:
        args: list[object] = []
        where: list[str] = []
        if since is not None:
            where.append("e.itime >= ?")
            args.append(since)
        if until is not None:
            where.append("e.itime < ?")
            args.append(until)
        if key is None:
            sql = "SELECT '', e.idx FROM entries e {} ORDER BY e.itime DESC, e.idx DESC LIMIT ?"
            cond = ("WHERE " + " AND ".join(where)) if where else ""
            return [(r[0], r[1]) for r in self._conn().execute(sql.format(cond), [*args, limit])]
        key_args: list[object]
        if prefix:
            low, high = prefix_bounds(key)
            keyed = ["s.key >= ?"] + (["s.key < ?"] if high is not None else [])
            key_args = [low, high] if high is not None else [low]
            order = "s.key DESC, s.idx DESC"
        else:
            keyed, order = ["s.key = ?"], "s.idx DESC"
            key_args = [key]
        join = " JOIN entries e ON e.idx = s.idx" if where else ""
        sql = f"SELECT s.key, s.idx FROM search s{join} WHERE {' AND '.join(keyed + where)} ORDER BY {order} LIMIT ?"
        return [(r[0], r[1]) for r in self._conn().execute(sql, [*key_args, *args, limit])]

    def leaf_prefix(self, low: bytes, high: bytes, limit: int = 100) -> list[int]:
        rows = self._conn().execute(
            "SELECT idx FROM entries WHERE leaf >= ? AND leaf <= ? ORDER BY leaf LIMIT ?", (low, high, limit))
        return [r[0] for r in rows]

    def entries_at(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        out: dict[int, StoredEntry] = {}
        conn = self._conn()
        for i in range(0, len(indexes), _CHUNK):
            chunk = list(indexes[i : i + _CHUNK])
            marks = ",".join("?" * len(chunk))
            for row in conn.execute(f"SELECT idx, leaf, body, itime FROM entries WHERE idx IN ({marks})", chunk):
                out[row[0]] = StoredEntry(*row)
        return out

    def _entry_rows(self, start: int, end: int) -> list[StoredEntry]:
        rows = self._conn().execute(
            "SELECT idx, leaf, body, itime FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end))
        return [StoredEntry(*r) for r in rows]

    def _insert_search(self, rows: Sequence[tuple[str, int]]) -> None:
        self._conn().executemany("INSERT OR IGNORE INTO search VALUES (?, ?)", rows)

    def _set_meta(self, key: str, value: str) -> None:
        self._conn().execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def disk_bytes(self) -> int:
        return sum(
            os.path.getsize(p) for p in (self.path, self.path + "-wal") if os.path.exists(p)
        )
