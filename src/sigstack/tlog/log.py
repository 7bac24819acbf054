"""The log service, independent of HTTP: sequencing, group commit, signed heads and
Rekor v1 LogEntry documents.

Uploads queue up; one writer task takes everything queued (up to ``max_batch``),
appends it in one durable transaction on a dedicated thread and only then resolves
the waiting requests, so many entries share one fsync while each response still
means "durably stored at this index". A checkpoint is signed once per batch.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

from sigstack.errors import BadEntryError, LogError
from sigstack.tlog import merkle
from sigstack.tlog.batch import BatchWriter
from sigstack.tlog.checkpoint import Checkpoint, LogSigner
from sigstack.tlog.entries import Canonical
from sigstack.tlog.store.base import AppendResult, NewEntry, Store, StoredEntry


@dataclass(frozen=True)
class Added:
    """The outcome of one upload: rejected (``error``), a duplicate (``created`` False),
    or stored, with its complete LogEntry document (``doc``)."""

    leaf_hash: bytes
    result: AppendResult | None = None
    doc: dict[str, Any] | None = None
    error: BadEntryError | None = None


@dataclass(frozen=True)
class SignedHead:
    size: int
    root: bytes
    checkpoint: str


class Log:
    def __init__(self, store: Store, signer: LogSigner, hostname: str, max_batch: int = 1024) -> None:
        self.store = store
        self.signer = signer
        self.hostname = hostname
        self.origin = f"{hostname} - {store.tree_id}"
        self._writer: BatchWriter[NewEntry, Added] = BatchWriter(
            self._append_batch, lambda exc: exc if isinstance(exc, LogError) else LogError(f"storing entries: {exc}"),
            max_batch=max_batch, name="tlog-writer")
        self.head = self._sign_head(*store.head)
        self._latest = self.head  # the writer's view; published to ``head`` after each batch

    @property
    def tree_id_hex(self) -> str:
        return f"{self.store.tree_id:016x}"

    def entry_id(self, leaf_hash: bytes) -> str:
        return self.tree_id_hex + leaf_hash.hex()

    def _sign_head(self, size: int, root: bytes) -> SignedHead:
        return SignedHead(size, root, self.signer.sign_checkpoint(Checkpoint(self.origin, size, root)))

    # -- writing ------------------------------------------------------------------
    async def start(self) -> None:
        await self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    async def add(self, canonical: Canonical) -> Added:
        """Append (or find) an entry; returns once it is durably stored."""
        leaf = merkle.leaf_hash(canonical.body)
        return await self._writer.submit(NewEntry(leaf, canonical.body, canonical.index_keys, canonical.check))

    def _append_batch(self, entries: list[NewEntry]) -> list[Added]:
        added = self._append(entries)
        self.head = self._latest  # published once the batch is stored
        return added

    def _append(self, entries: list[NewEntry]) -> list[Added]:
        """On the writer thread: run the deferred signature checks, commit the valid
        entries in one transaction, sign the new head, and build every new entry's
        LogEntry (inclusion proofs from one round of reads, SETs). The OpenSSL and
        SQLite/PostgreSQL work here runs without the GIL, beside the HTTP loop."""
        out: list[Added | None] = []
        valid: list[NewEntry] = []
        for e in entries:
            try:
                if e.check is not None:
                    e.check()
            except BadEntryError as exc:
                out.append(Added(e.leaf_hash, error=exc))
                continue
            out.append(None)
            valid.append(e)
        results = iter(self.store.append(valid, int(time.time())) if valid else [])
        head = self._latest
        size, root = self.store.head
        if size != head.size:
            head = self._sign_head(size, root)
        self._latest = head
        done: list[Added] = []
        created: list[tuple[NewEntry, AppendResult]] = []
        for e, a in zip(entries, out, strict=True):
            if a is not None:
                done.append(a)
                continue
            r = next(results)
            done.append(Added(e.leaf_hash, r))
            if r.created:
                created.append((e, r))
        proofs = self.store.inclusion_proofs([r.index for _, r in created], head.size)
        docs = {r.index: self.log_entry(StoredEntry(r.index, e.leaf_hash, e.body, r.integrated_time), head,
                                        proofs[r.index]) for e, r in created}
        return [Added(a.leaf_hash, a.result, docs.get(a.result.index), None) if a.result and a.result.created
                else a for a in done]

    # -- reading ------------------------------------------------------------------
    def log_entry(self, entry: StoredEntry, head: SignedHead | None = None,
                  proof: list[bytes] | None = None) -> dict[str, Any]:
        """The Rekor v1 LogEntry object ``{entryID: {...}}`` with SET and inclusion proof."""
        head = head or self.head
        if head.size <= entry.index:  # committed, but after this head (or by another server)
            size, root = self.store.head
            if size <= entry.index:
                size, root = self.store.refresh_head()
            head = self._sign_head(size, root)
        body_b64 = base64.b64encode(entry.body).decode()
        if proof is None:
            proof = self.store.inclusion_proof(entry.index, head.size)
        value = {
            "body": body_b64,
            "integratedTime": entry.integrated_time,
            "logID": self.signer.log_id.hex(),
            "logIndex": entry.index,
            "verification": {
                "inclusionProof": {
                    "checkpoint": head.checkpoint,
                    "hashes": [h.hex() for h in proof],
                    "logIndex": entry.index,
                    "rootHash": head.root.hex(),
                    "treeSize": head.size,
                },
                "signedEntryTimestamp": base64.b64encode(
                    self.signer.sign_set(body_b64, entry.integrated_time, entry.index)
                ).decode(),
            },
        }
        return {self.entry_id(entry.leaf_hash): value}

    def log_info(self) -> dict[str, Any]:
        head = self.head
        return {
            "rootHash": head.root.hex(),
            "treeSize": head.size,
            "signedTreeHead": head.checkpoint,
            "treeID": str(self.store.tree_id),
            "inactiveShards": [],
        }

    def find(self, uuid_or_id: str) -> StoredEntry | None:
        """An entry by 64-hex UUID or 80-hex entry ID (of this tree)."""
        text = uuid_or_id.lower()
        if len(text) == 80:
            if text[:16] != self.tree_id_hex:
                return None
            text = text[16:]
        if len(text) != 64:
            return None
        try:
            leaf = bytes.fromhex(text)
        except ValueError:
            return None
        return self.store.entry_by_leaf(leaf)
