"""PostgreSQL store (psycopg 3). A batch is one transaction; the server's default
``synchronous_commit=on`` makes COMMIT return only once the WAL is flushed.

Each thread gets its own connection (psycopg connections are not meant to be shared
between concurrent threads); the writer is a single thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from sigstack.errors import LogError
from sigstack.tlog import merkle
from sigstack.tlog.store.base import Store, StoredEntry, prefix_bounds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    idx BIGINT PRIMARY KEY, leaf BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL, itime BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS search (key TEXT NOT NULL, idx BIGINT NOT NULL, PRIMARY KEY (key, idx));
-- index version 2: prefix search in byte order whatever the database's collation, and
-- time-range search
CREATE INDEX IF NOT EXISTS search_key_c ON search ((key COLLATE "C"), idx);
CREATE INDEX IF NOT EXISTS entries_itime ON entries (itime, idx);
"""


class PostgresStore(Store):
    threaded_reads = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        conn = self._conn()
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(7251)")  # concurrent first starts
            conn.execute(_SCHEMA)
        self._load()

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            try:
                conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                raise LogError(f"connecting to PostgreSQL: {str(exc).strip().splitlines()[0]}") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _read_meta(self) -> dict[str, str]:
        return dict(self._conn().execute("SELECT k, v FROM meta").fetchall())

    def _write_meta_initial(self, tree_id: int) -> None:
        conn = self._conn()
        with conn.transaction():
            conn.cursor().executemany(
                "INSERT INTO meta VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [("tree_id", str(tree_id)), ("size", "0"), ("root", merkle.EMPTY_ROOT.hex())],
            )

    def _existing(self, leaves: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        rows = self._conn().execute(
            "SELECT leaf, idx, itime FROM entries WHERE leaf = ANY(%s)", (list(leaves),)
        )
        return {bytes(leaf): (idx, itime) for leaf, idx, itime in rows}

    @contextmanager
    def _locked(self) -> Iterator[int]:
        conn = self._conn()
        try:
            with conn.transaction():
                # the meta row lock serialises writers until COMMIT
                row = conn.execute("SELECT v FROM meta WHERE k = 'size' FOR UPDATE").fetchone()
                if row is None:
                    raise LogError("the log database has no tree head")
                yield int(row[0])
        except psycopg.Error as exc:
            raise LogError(f"storing entries: {str(exc).strip().splitlines()[0]}") from None

    def _write_rows(
        self,
        entries: Sequence[tuple[int, bytes, bytes, int]],
        nodes: Sequence[tuple[int, bytes]],
        search: Sequence[tuple[str, int]],
        size: int,
        root: bytes,
    ) -> None:
        cur = self._conn().cursor()
        with cur.copy("COPY entries (idx, leaf, body, itime) FROM STDIN") as cp:
            for entry in entries:
                cp.write_row(entry)
        if nodes:
            with cur.copy("COPY nodes (id, hash) FROM STDIN") as cp:
                for node in nodes:
                    cp.write_row(node)
        cur.executemany("INSERT INTO search VALUES (%s, %s) ON CONFLICT DO NOTHING", search)
        cur.execute(
            "UPDATE meta SET v = CASE k WHEN 'size' THEN %s ELSE %s END WHERE k IN ('size', 'root')",
            (str(size), root.hex()),
        )

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        rows = self._conn().execute(
            "SELECT leaf FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end)
        )
        return [bytes(r[0]) for r in rows]

    def _node_rows(self, ids: Sequence[int]) -> dict[int, bytes]:
        rows = self._conn().execute("SELECT id, hash FROM nodes WHERE id = ANY(%s)", (list(ids),))
        return {i: bytes(h) for i, h in rows}

    def _leaf_rows(self, indexes: Sequence[int]) -> dict[int, bytes]:
        rows = self._conn().execute("SELECT idx, leaf FROM entries WHERE idx = ANY(%s)", (list(indexes),))
        return {i: bytes(h) for i, h in rows}

    def _entry(self, where: str, arg: Any) -> StoredEntry | None:
        row = self._conn().execute(f"SELECT idx, leaf, body, itime FROM entries WHERE {where}", (arg,))
        found = row.fetchone()
        if not found:
            return None
        return StoredEntry(found[0], bytes(found[1]), bytes(found[2]), found[3])

    def entry_by_index(self, index: int) -> StoredEntry | None:
        return self._entry("idx = %s", index)

    def entry_by_leaf(self, leaf_hash: bytes) -> StoredEntry | None:
        return self._entry("leaf = %s", leaf_hash)

    def entries_range(self, start: int, end: int) -> list[bytes]:
        rows = self._conn().execute(
            "SELECT body FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end)
        )
        return [bytes(r[0]) for r in rows]

    def search(self, key: str) -> list[int]:
        rows = self._conn().execute(
            "SELECT idx FROM search WHERE key = %s ORDER BY idx LIMIT 1000", (key,)
        )
        return [r[0] for r in rows]

    def lookup(self, key: str | None, *, prefix: bool = False, since: int | None = None,
               until: int | None = None, limit: int = 100) -> list[tuple[str, int]]:
        args: list[object] = []
        where: list[str] = []
        if since is not None:
            where.append("e.itime >= %s")
            args.append(since)
        if until is not None:
            where.append("e.itime < %s")
            args.append(until)
        if key is None:
            cond = ("WHERE " + " AND ".join(where)) if where else ""
            sql = f"SELECT '', e.idx FROM entries e {cond} ORDER BY e.itime DESC, e.idx DESC LIMIT %s"
            return [(r[0], r[1]) for r in self._conn().execute(sql, [*args, limit])]
        key_args: list[object]
        if prefix:
            low, high = prefix_bounds(key)
            keyed = ['(s.key COLLATE "C") >= %s'] + (['(s.key COLLATE "C") < %s'] if high is not None else [])
            key_args = [low, high] if high is not None else [low]
            order = '(s.key COLLATE "C") DESC, s.idx DESC'
        else:
            keyed, order = ["s.key = %s"], "s.idx DESC"
            key_args = [key]
        join = " JOIN entries e ON e.idx = s.idx" if where else ""
        sql = f"SELECT s.key, s.idx FROM search s{join} WHERE {' AND '.join(keyed + where)} ORDER BY {order} LIMIT %s"
        return [(r[0], r[1]) for r in self._conn().execute(sql, [*key_args, *args, limit])]

    def leaf_prefix(self, low: bytes, high: bytes, limit: int = 100) -> list[int]:
        rows = self._conn().execute(
            "SELECT idx FROM entries WHERE leaf >= %s AND leaf <= %s ORDER BY leaf LIMIT %s", (low, high, limit))
        return [r[0] for r in rows]

    def entries_at(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        rows = self._conn().execute(
            "SELECT idx, leaf, body, itime FROM entries WHERE idx = ANY(%s)", (list(indexes),))
        return {r[0]: StoredEntry(r[0], bytes(r[1]), bytes(r[2]), r[3]) for r in rows}

    def _entry_rows(self, start: int, end: int) -> list[StoredEntry]:
        rows = self._conn().execute(
            "SELECT idx, leaf, body, itime FROM entries WHERE idx >= %s AND idx < %s ORDER BY idx", (start, end))
        return [StoredEntry(r[0], bytes(r[1]), bytes(r[2]), r[3]) for r in rows]

    def _insert_search(self, rows: Sequence[tuple[str, int]]) -> None:
        if rows:
            self._conn().cursor().executemany(
                "INSERT INTO search VALUES (%s, %s) ON CONFLICT DO NOTHING", list(rows))

    def _set_meta(self, key: str, value: str) -> None:
        self._conn().execute(
            "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", (key, value))

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    def disk_bytes(self) -> int:
        row = self._conn().execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
