"""RFC 6962 Merkle proofs against transparency-dev/merkle's own vectors (shared/vectors/merkle).

Every vector is a case: the happy paths must verify, every mutated one must be
rejected. The generator is checked by building trees of many sizes and verifying
every proof it emits with the verifier (and against a naive recursive MTH).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from sigstack.errors import ProofError
from sigstack.tlog import merkle

VEC = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "merkle"


def _files(kind: str) -> list[Path]:
    return sorted((VEC / kind).rglob("*.json"))


def _b(v: str | None) -> bytes:
    return base64.b64decode(v) if v else b""


def _proof(v: list[str] | None) -> list[bytes]:
    return [base64.b64decode(h) for h in (v or [])]


def _id(p: Path) -> str:
    return f"{p.parent.name}/{p.stem}"


INCLUSION = _files("inclusion")
CONSISTENCY = _files("consistency")


def test_vector_counts() -> None:
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["leafIdx"], v["treeSize"], _b(v["leafHash"]), _proof(v["proof"]), _b(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    args = (v["size1"], v["size2"], _proof(v["proof"]), _b(v["root1"]), _b(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


REF = json.loads((VEC / "reference-tree.json").read_text())


def test_hasher_vectors() -> None:
    for case in REF["rfc6962_hasher_vectors"]:
        if case["kind"] == "empty_root":
            got = merkle.EMPTY_ROOT
        elif case["kind"] == "leaf":
            got = merkle.leaf_hash(bytes.fromhex(case["leaf_hex"]))
        else:
            got = merkle.node_hash(bytes.fromhex(case["left_hex"]), bytes.fromhex(case["right_hex"]))
        assert got.hex() == case["want"], case["desc"]


def _naive(leaves: list[bytes]) -> bytes:
    if not leaves:
        return merkle.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(_naive(leaves[:k]), _naive(leaves[k:]))


class _Tree:
    """An in-memory node store fed by CompactRange, as the real stores are."""

    def __init__(self) -> None:
        self.cr = merkle.CompactRange()
        self.nodes: dict[tuple[int, int], bytes] = {}

    def add(self, leaf: bytes) -> None:
        self.nodes[(0, self.cr.size)] = leaf
        for level, index, h in self.cr.append(leaf):
            self.nodes[(level, index)] = h

    def fetch(self, keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return {k: self.nodes[k] for k in keys}


def test_reference_tree_roots() -> None:
    leaves = [merkle.leaf_hash(bytes.fromhex(x)) for x in REF["reference_tree"]["leaf_inputs_hex"]]
    t = _Tree()
    roots = [t.cr.root()]
    for leaf in leaves:
        t.add(leaf)
        roots.append(t.cr.root())
    want = REF["reference_tree"]["root_hash_by_tree_size"]
    for n in range(len(leaves) + 1):
        assert roots[n] == _naive(leaves[:n])
        assert roots[n].hex() == want[str(n)]


def test_generated_proofs_verify() -> None:
    t = _Tree()
    leaves = [merkle.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(70)]
    roots = [merkle.EMPTY_ROOT]
    for leaf in leaves:
        t.add(leaf)
        roots.append(t.cr.root())
        assert roots[-1] == _naive(leaves[: len(roots) - 1])
    for size in range(1, 71):
        assert merkle.fold(merkle.perfect_nodes(0, size), t.nodes) == roots[size]
        for index in range(size):
            proof = merkle.resolve(merkle.inclusion_plan(index, size), t.fetch)
            merkle.verify_inclusion(index, size, leaves[index], proof, roots[size])
        for size1 in range(1, size + 1):
            proof = merkle.resolve(merkle.consistency_plan(size1, size), t.fetch)
            merkle.verify_consistency(size1, size, proof, roots[size1], roots[size])
            if proof:
                bad = [*proof[:-1], bytes(32)]
                with pytest.raises(ProofError):
                    merkle.verify_consistency(size1, size, bad, roots[size1], roots[size])


@pytest.mark.parametrize(
    ("index", "size"), [(-1, 4), (4, 4), (0, 0)], ids=["negative", "index-equals-size", "empty-tree"]
)
def test_inclusion_plan_rejects_bad_index(index: int, size: int) -> None:
    with pytest.raises(ProofError, match="outside a tree"):
        merkle.inclusion_plan(index, size)


@pytest.mark.parametrize(("size1", "size2"), [(0, 3), (4, 3)], ids=["from-empty", "shrinking"])
def test_consistency_plan_rejects_bad_sizes(size1: int, size2: int) -> None:
    with pytest.raises(ProofError, match="no consistency proof"):
        merkle.consistency_plan(size1, size2)
