"""Log storage: SQLite (default, embedded) and PostgreSQL (``postgresql://`` URLs).

Both keep the same four tables: the entries (index, leaf hash, canonical body,
integration time), every *perfect* Merkle node above the leaves (which never
changes once complete, so any proof for any tree size is a few point reads), the
search index and the tree head. One transaction appends a whole batch and moves
the tree head, so a crash leaves either the whole batch or none of it.
"""

from __future__ import annotations

from sigstack.tlog.store.base import AppendResult, Store, StoredEntry


def open_store(url: str) -> Store:
    """Open (creating if needed) the store named by ``url``: a path, ``sqlite:///path``
    or ``postgresql://...``."""
    if url.startswith(("postgresql://", "postgres://")):
        from sigstack.tlog.store.postgres import PostgresStore

        store: Store = PostgresStore(url)
        return store
    from sigstack.tlog.store.sqlite import SQLiteStore

    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite://")
    return SQLiteStore(path)


__all__ = ["AppendResult", "Store", "StoredEntry", "open_store"]
