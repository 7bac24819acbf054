"""RFC 6962 / RFC 9162 Merkle tree: hashing, proof generation and verification.

Hand-written because no maintained Python package offers both sides: sigstore-python
has a private inclusion verifier only, and the Go reference (transparency-dev/merkle)
is what these functions are tested against through its own vectors.

Generation works over *perfect* subtrees only: node ``(level, index)`` is the root of
leaves ``[index * 2**level, (index + 1) * 2**level)``. Storage keeps exactly those
nodes (they never change once complete), so any proof for any past tree size is a
handful of point reads: the functions below first list the perfect nodes they need
(:func:`inclusion_plan`, :func:`consistency_plan`), the store fetches them in one
query, and :func:`fold` combines them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sigstack.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]  # (level, index) of a perfect subtree
Range = tuple[int, int]  # [start, end) of leaves


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees whose concatenation is ``[start, end)``, left to right.

    ``start`` must be aligned as RFC 6962 ranges always are (a multiple of the
    largest power of two not above ``end - start``), which every range produced by
    the proof plans below is.
    """
    keys: list[NodeKey] = []
    while start < end:
        n = end - start
        level = n.bit_length() - 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def fold(keys: Sequence[NodeKey], nodes: dict[NodeKey, bytes]) -> bytes:
    """MTH of the range made of ``keys`` (as :func:`perfect_nodes` returned them)."""
    acc = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        acc = node_hash(nodes[key], acc)
    return acc


def inclusion_plan(index: int, size: int) -> list[Range]:
    """Ranges whose MTHs form the inclusion proof of leaf ``index`` in ``size`` leaves
    (RFC 6962 §2.1.1), ordered leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_plan(size1: int, size2: int) -> list[Range]:
    """Ranges whose MTHs form the consistency proof from ``size1`` to ``size2``
    (RFC 6962 §2.1.2), in proof order."""
    if not 0 < size1 <= size2:
        raise ProofError(f"no consistency proof from tree size {size1} to {size2}")
    ranges: list[Range] = []
    start, end, m, complete = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def resolve(
    ranges: Sequence[Range], fetch: Callable[[Iterable[NodeKey]], dict[NodeKey, bytes]]
) -> list[bytes]:
    """MTH of each range, fetching all perfect nodes in one ``fetch`` call."""
    plans = [perfect_nodes(a, b) for a, b in ranges]
    nodes = fetch({k for plan in plans for k in plan})
    return [fold(plan, nodes) for plan in plans]


@dataclass
class CompactRange:
    """The right edge of a tree: one perfect-subtree hash per set bit of ``size``.

    Appending a leaf returns the perfect nodes it completes, which is exactly what a
    store must persist; the root of the current tree is folded from the edge. Memory
    is O(log size), whatever the size.
    """

    size: int = 0
    edge: list[bytes] = field(default_factory=list)  # hashes, largest subtree first

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the new perfect nodes ``(level, index, hash)``, level >= 1."""
        created: list[tuple[int, int, bytes]] = []
        node = leaf
        index = self.size
        level = 0
        while index & 1:
            node = node_hash(self.edge.pop(), node)
            index >>= 1
            level += 1
            created.append((level, index, node))
        self.edge.append(node)
        self.size += 1
        return created

    def root(self) -> bytes:
        if not self.edge:
            return EMPTY_ROOT
        acc = self.edge[-1]
        for h in reversed(self.edge[:-1]):
            acc = node_hash(h, acc)
        return acc

    @staticmethod
    def edge_keys(size: int) -> list[NodeKey]:
        """The perfect nodes making up the right edge of a tree of ``size`` leaves."""
        return perfect_nodes(0, size)


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} has {len(value)} bytes; a SHA-256 hash has {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2, decomposed form)."""
    if index < 0 or size <= 0 or index >= size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    _check_hash("the leaf hash", leaf)
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise ProofError(
            f"wrong inclusion proof size {len(proof)} for leaf {index} in a tree of size {size}; "
            f"want {inner + border}"
        )
    seed = leaf
    for i, h in enumerate(proof):
        _check_hash("an inclusion proof hash", h)
        seed = node_hash(seed, h) if i < inner and not index >> i & 1 else node_hash(h, seed)
    return seed


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise :class:`ProofError` unless ``leaf`` is at ``index`` of the tree with ``root``."""
    _check_hash("the root hash", root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the expected root hash")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Raise :class:`ProofError` unless the tree (size2, root2) extends (size1, root1)."""
    if size2 < size1:
        raise ProofError(f"tree size {size2} is smaller than the earlier size {size1}")
    if size1 <= 0:
        raise ProofError("a consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise ProofError("the two roots of the same tree size differ")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    for h in proof:
        _check_hash("a consistency proof hash", h)
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    # Decomposed form of RFC 9162 §2.1.4.2 (as transparency-dev/merkle writes it).
    shift = (size1 & -size1).bit_length() - 1  # trailing zeros of size1
    inner -= shift
    seed: bytes
    rest: Sequence[bytes]
    if size1 == 1 << shift:  # size1 is a power of two: its root is the seed
        seed, rest = root1, proof
    else:
        seed, rest = proof[0], proof[1:]
    border = bin((size1 - 1) >> (inner + shift)).count("1")
    if len(rest) != inner + border:
        raise ProofError(f"wrong consistency proof size {len(proof)} from {size1} to {size2}")
    mask = (size1 - 1) >> shift
    h1 = seed
    for i in range(inner):
        if (mask >> i) & 1:
            h1 = node_hash(rest[i], h1)
    for h in rest[inner:]:
        h1 = node_hash(h, h1)
    if h1 != root1:
        raise ProofError("consistency proof does not lead to the earlier root hash")
    h2 = seed
    for i in range(inner):
        h2 = node_hash(rest[i], h2) if (mask >> i) & 1 else node_hash(h2, rest[i])
    for h in rest[inner:]:
        h2 = node_hash(h, h2)
    if h2 != root2:
        raise ProofError("consistency proof does not lead to the later root hash")
