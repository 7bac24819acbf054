"""What a log store does, independent of the database."""

from __future__ import annotations

import contextlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sigstack.errors import LogError
from sigstack.tlog import merkle

LEVEL_SHIFT = 56  # node id = level << 56 | index: one integer key per perfect node
#: meta ``index_version``: 2 = the search index also files certificate issuers
#: (``issuer:<url>``); databases of version 1 get those rows added when opened
INDEX_VERSION = 2
_MIGRATE_CHUNK = 2000


def node_id(level: int, index: int) -> int:
    return (level << LEVEL_SHIFT) | index


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """``[low, high)`` of the strings starting with ``prefix`` in code-point order (which is
    UTF-8 byte order, SQLite's BINARY and PostgreSQL's "C" collation), so a prefix
    search is a range scan of the key index; ``high`` None: no upper bound."""
    rest = prefix
    while rest:
        nxt = ord(rest[-1]) + 1
        if nxt == 0xD800:  # surrogates never occur in UTF-8 text
            nxt = 0xE000
        if nxt <= 0x10FFFF:
            return prefix, rest[:-1] + chr(nxt)
        rest = rest[:-1]
    return prefix, None


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_hash: bytes
    body: bytes
    integrated_time: int


@dataclass(frozen=True)
class AppendResult:
    index: int
    integrated_time: int
    created: bool  # False: an equal entry was already in the log at ``index``


@dataclass(frozen=True)
class NewEntry:
    leaf_hash: bytes
    body: bytes
    index_keys: Sequence[str]
    check: Callable[[], None] | None = None  # deferred signature check (see entries.canonicalize)


class Store(ABC):
    """A log's durable state. Appends come from one writer thread; reads from any."""

    tree_id: int
    #: reads block on the network: run them off the event loop
    threaded_reads: bool = False

    def __init__(self) -> None:
        self._range = merkle.CompactRange()
        self._head: tuple[int, bytes] = (0, merkle.EMPTY_ROOT)
        self._index_checked = False

    @property
    def head(self) -> tuple[int, bytes]:
        """(size, root) of the committed tree, swapped as one reference so a reader on
        another thread never pairs one batch's size with another's root."""
        return self._head

    @property
    def size(self) -> int:
        return self._head[0]

    def refresh_head(self) -> tuple[int, bytes]:
        """Catch up with entries another writer committed (a reader met an index beyond
        this store's head). Only ever moves the head forward."""
        meta = self._read_meta()
        size, root = int(meta["size"]), bytes.fromhex(meta["root"])
        if size > self._head[0]:
            self._head = (size, root)
        return self._head

    # -- subclasses ---------------------------------------------------------------
    @abstractmethod
    def _read_meta(self) -> dict[str, str]:
        """All rows of the meta table (tree_id, size, root)."""

    @abstractmethod
    def _write_meta_initial(self, tree_id: int) -> None:
        """Create the meta rows for an empty tree."""

    @abstractmethod
    def _existing(self, leaves: Sequence[bytes]) -> dict[bytes, tuple[int, int]]:
        """leaf hash -> (index, integrated time) for those already stored."""

    @abstractmethod
    def _locked(self) -> AbstractContextManager[int]:
        """A write transaction holding the database's write lock, yielding the stored tree
        size; it commits durably on normal exit and rolls back on an exception."""

    @abstractmethod
    def _write_rows(
        self,
        entries: Sequence[tuple[int, bytes, bytes, int]],
        nodes: Sequence[tuple[int, bytes]],
        search: Sequence[tuple[str, int]],
        size: int,
        root: bytes,
    ) -> None:
        """Insert a batch's rows and move the tree head (inside :meth:`_locked`)."""

    @abstractmethod
    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """Leaf hashes of ``[start, end)``."""

    @abstractmethod
    def _node_rows(self, ids: Sequence[int]) -> dict[int, bytes]:
        """Perfect nodes (level >= 1) by id."""

    @abstractmethod
    def _leaf_rows(self, indexes: Sequence[int]) -> dict[int, bytes]:
        """Leaf hashes by index."""

    @abstractmethod
    def entry_by_index(self, index: int) -> StoredEntry | None: ...

    @abstractmethod
    def entry_by_leaf(self, leaf_hash: bytes) -> StoredEntry | None: ...

    @abstractmethod
    def entries_range(self, start: int, end: int) -> list[bytes]:
        """Bodies of ``[start, end)``."""

    @abstractmethod
    def search(self, key: str) -> list[int]:
        """Indexes of the entries filed under ``key``."""

    @abstractmethod
    def lookup(self, key: str | None, *, prefix: bool = False, since: int | None = None,
               until: int | None = None, limit: int = 100) -> list[tuple[str, int]]:
        """The explorer's search: (key, index) of the entries filed under ``key`` (or under any key starting
        with it, with ``prefix``), integrated in ``[since, until)`` when given; with no
        key, every entry of that time range (key ""). At most ``limit``, each query one bounded
        index scan: exact keys and time ranges newest first, prefix matches by key
        (descending) then newest first."""

    @abstractmethod
    def leaf_prefix(self, low: bytes, high: bytes, limit: int = 100) -> list[int]:
        """Indexes of the entries whose leaf hash (the entry UUID) is in ``[low, high]``."""

    @abstractmethod
    def entries_at(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        """The stored entries at ``indexes`` (those that exist), in one query."""

    @abstractmethod
    def _insert_search(self, rows: Sequence[tuple[str, int]]) -> None:
        """Add search rows, ignoring those already there (inside :meth:`_locked`)."""

    @abstractmethod
    def _set_meta(self, key: str, value: str) -> None:
        """Insert or replace one meta row (inside :meth:`_locked`)."""

    @abstractmethod
    def _entry_rows(self, start: int, end: int) -> list[StoredEntry]:
        """The entries of ``[start, end)``."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def disk_bytes(self) -> int:
        """Bytes the database occupies (for benchmarks)."""

    # -- shared logic -------------------------------------------------------------
    def _load(self) -> None:
        meta = self._read_meta()
        if "tree_id" not in meta:
            self._write_meta_initial(secrets.randbits(62) + 1)
            meta = self._read_meta()
        self.tree_id = int(meta["tree_id"])
        size, root = int(meta["size"]), bytes.fromhex(meta["root"])
        keys = merkle.CompactRange.edge_keys(size)
        nodes = self.nodes(keys)
        self._range = merkle.CompactRange(size, [nodes[k] for k in keys])
        self._head = (size, root)
        if self._range.root() != root:
            raise LogError("the stored tree head does not match the stored Merkle nodes; database corrupt")
        if not self._index_checked:  # once, on open (later reloads run inside a write lock)
            self._index_checked = True
            if meta.get("index_version") != str(INDEX_VERSION):
                self._migrate_index()

    def _migrate_index(self) -> None:
        """Bring a database written by an older sigstack up to :data:`INDEX_VERSION`:
        add the issuer rows of every stored certificate, in one transaction under the
        write lock (a second server opening the same database waits, then finds the
        work done)."""
        import logging

        from sigstack.tlog.identity import issuer_keys

        with self._locked() as size:
            if self._read_meta().get("index_version") == str(INDEX_VERSION):
                return
            if size:
                logging.getLogger("sigstack.tlog").warning(
                    "adding certificate issuers to the search index of %d entries", size)
            for start in range(0, size, _MIGRATE_CHUNK):
                rows = self._entry_rows(start, min(size, start + _MIGRATE_CHUNK))
                self._insert_search([(k, e.index) for e in rows for k in issuer_keys(e.body)])
            self._set_meta("index_version", str(INDEX_VERSION))

    def nodes(self, keys: Iterable[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """Perfect nodes by (level, index); level 0 are the leaf hashes."""
        keys = list(keys)
        leaves = [i for lvl, i in keys if lvl == 0]
        upper = [node_id(lvl, i) for lvl, i in keys if lvl > 0]
        out: dict[merkle.NodeKey, bytes] = {}
        if leaves:
            for i, h in self._leaf_rows(leaves).items():
                out[(0, i)] = h
        if upper:
            for nid, h in self._node_rows(upper).items():
                out[(nid >> LEVEL_SHIFT, nid & ((1 << LEVEL_SHIFT) - 1))] = h
        missing = [k for k in keys if k not in out]
        if missing:
            raise LogError(f"Merkle node {missing[0]} is missing from the store")
        return out

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.resolve(merkle.inclusion_plan(index, size), self.nodes)

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs of many leaves in one tree, with one round of node reads."""
        plans = {i: [merkle.perfect_nodes(a, b) for a, b in merkle.inclusion_plan(i, size)] for i in indexes}
        nodes = self.nodes({k for ranges in plans.values() for keys in ranges for k in keys})
        return {i: [merkle.fold(keys, nodes) for keys in ranges] for i, ranges in plans.items()}

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if size1 == size2:
            return []
        return merkle.resolve(merkle.consistency_plan(size1, size2), self.nodes)

    def root_at(self, size: int) -> bytes:
        if size == 0:
            return merkle.EMPTY_ROOT
        keys = merkle.perfect_nodes(0, size)
        return merkle.fold(keys, self.nodes(keys))

    def append(self, batch: Sequence[NewEntry], integrated_time: int) -> list[AppendResult]:
        """Append a batch durably (the group commit); equal entries are not added twice.

        The whole batch is decided under the database's write lock: if another writer
        (a second server on the same database) moved the tree, this store first reloads
        the durable tree, so writers interleave and never fork. After a failure the tree
        is reloaded too, because a failed COMMIT may still have been durable; a client's
        retry then finds its entry (409)."""
        try:
            with self._locked() as stored_size:
                if stored_size != self._range.size:
                    self._load()
                results, pending = self._prepare(batch, integrated_time)
                if pending is not None:
                    entries, nodes, search, rng = pending
                    self._write_rows(entries, nodes, search, rng.size, rng.root())
        except LogError:
            with contextlib.suppress(Exception):
                self._load()
            raise
        if pending is not None:
            self._range = rng
            self._head = (rng.size, rng.root())
        return results

    def _prepare(self, batch: Sequence[NewEntry], integrated_time: int) -> tuple[
        list[AppendResult],
        tuple[list[tuple[int, bytes, bytes, int]], list[tuple[int, bytes]], list[tuple[str, int]],
              merkle.CompactRange] | None,
    ]:
        """Indexes for the new entries, their perfect nodes and search rows."""
        existing = self._existing([e.leaf_hash for e in batch])
        results: list[AppendResult] = []
        rng = merkle.CompactRange(self._range.size, list(self._range.edge))
        entries: list[tuple[int, bytes, bytes, int]] = []
        nodes: list[tuple[int, bytes]] = []
        search: list[tuple[str, int]] = []
        for e in batch:
            seen = existing.get(e.leaf_hash)
            if seen is not None:
                results.append(AppendResult(seen[0], seen[1], False))
                continue
            index = rng.size
            existing[e.leaf_hash] = (index, integrated_time)
            entries.append((index, e.leaf_hash, e.body, integrated_time))
            nodes.extend((node_id(lvl, i), h) for lvl, i, h in rng.append(e.leaf_hash))
            search.extend((k, index) for k in dict.fromkeys(e.index_keys))
            results.append(AppendResult(index, integrated_time, True))
        return results, ((entries, nodes, search, rng) if entries else None)
