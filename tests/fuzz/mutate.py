"""Hypothesis strategies that derive hostile inputs from valid ones.

A fuzz target gives a few valid documents (seeds); :func:`mutants` draws one and applies
one to four structured mutations, the kinds an attacker or a broken peer produces:

* JSON-aware (the seed parsed, a node picked by a drawn path): replace a value with an
  edge value (huge or negative numbers, floats, ``NaN``, unicode, base64 edge cases),
  change its type, delete a key or an element, add an unknown key, duplicate a key with
  another value (emitted textually: Python's ``dict`` cannot hold two), reorder keys,
  nest a value thousands of levels deep, flip one bit of the bytes under a base64 or
  hex string (re-encoded, so the mutant still parses and reaches signature checks),
  truncate or extend a string;
* byte-level, on the serialised document: flip a bit, truncate, insert, prefix a BOM,
  append garbage.

The mutators are plain functions of hypothesis's ``draw`` rather than strategies: a
strategy's arguments are kept for its repr, and the repr of a 5000-deep document is
itself a RecursionError.

Seeds that are not JSON (PEM, signed notes, DER) get the byte-level mutations and the
line-aware ones of :func:`text_mutants`.

Every choice a mutator makes goes through a :class:`Chooser`, so the same mutation
families have two engines: :class:`HypothesisChooser` (hypothesis's ``draw``: the fast
budget in the suite, derandomized, and shrinking) and :class:`RandomChooser`
(``random.Random``: the long budget). Profiling the long budget showed hypothesis's
per-example bookkeeping (its choice sequence, span tracking, the repr it keeps for
reporting) cost 90-99 % of the time: 170-1,000 mutants/s drawn against 2,600-88,000/s
the parsers run. The random engine draws the same mutations at the parsers' rate; what
it gives up is shrinking, so a finding is reported with its whole mutant (saved to a
file, replayable with ``scripts/fuzz --replay``).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

#: numbers that break parsers: int64 edges, beyond float precision, negative, huge
EDGE_INTS = [0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400]
EDGE_STRINGS = ["", " ", "0", "-1", "00", "1e3", "0x10", "²", "١٢", "9" * 5000, "\u0000", "\ud800",
                "\u202e", "é", "😀", "\n", "null", "true", "sha256:", "sha256:" + "0" * 64,
                # base64 edge cases: padding, url-safe alphabet, whitespace, non-canonical tails
                "=", "A", "AA", "AA=", "AA==", "AB==", "AAA=", "AAB=", "====", "A===", "-_-_", "+/+/",
                "QQ", "QQ==\n", " QQ==", "QQ==QQ==", "Zg", "Zh==", "Zm9v YmFy"]
DEEP = (10, 200, 1200, 5000)
MAX_PATH = 40
MAX_MUTANT = 1 << 21  # mutants stay under 2 MiB (the resource-limit tests send bigger ones)


@dataclass(eq=False, repr=False)  # identity eq/hash, no repr: mutants nest 5000 deep
class Pairs:
    """A JSON object as ordered (key, value) pairs: may hold a key twice.

    Treated as immutable (mutations copy the path they change), so each keeps its own
    serialisation once made: a mutant re-serialises only the path it changed, not the
    whole document (re-serialising was 90 % of a mutant's cost)."""

    items: tuple[tuple[str, Any], ...]
    text: str | None = None

    def __repr__(self) -> str:
        return f"Pairs(<{len(self.items)} items>)"


def to_pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs(tuple((str(k), to_pairs(v)) for k, v in value.items()))
    if isinstance(value, list):
        return [to_pairs(v) for v in value]
    return value


@dataclass(frozen=True, eq=False, repr=False)
class Nest:
    """``inner`` wrapped ``depth`` times in a list or an object: kept as one node (a
    leaf to the mutators) and serialised in one string operation, where building and
    walking 5000 levels node by node cost more than all other mutations together."""

    kind: str  # "list" | "object"
    depth: int
    inner: Any

    def __repr__(self) -> str:
        return f"Nest({self.kind}, {self.depth})"


#: below this depth :func:`dump` recurses (and caches); deeper, it iterates
_RECURSE = 150


def dump(value: Any, depth: int = 0) -> str:
    """Serialise (iteratively below ``_RECURSE`` levels: json.dumps recurses)."""
    if depth > _RECURSE:
        return _dump_deep(value)
    if isinstance(value, Pairs):
        if value.text is None:
            value.text = "{" + ",".join(json.dumps(k) + ":" + dump(v, depth + 1) for k, v in value.items) + "}"
        return value.text
    if isinstance(value, list):
        return "[" + ",".join(dump(v, depth + 1) for v in value) + "]"
    if isinstance(value, Nest):
        opening, closing = ("[", "]") if value.kind == "list" else ('{"a":', "}")
        return opening * value.depth + dump(value.inner, depth + 1) + closing * value.depth
    return json.dumps(value)


def _dump_deep(value: Any) -> str:
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Raw):
            out.append(v.text)
        elif isinstance(v, (Pairs, Nest)) and (not isinstance(v, Pairs) or v.text is not None):
            out.append(dump(v, 0) if isinstance(v, Nest) else str(v.text))
        elif isinstance(v, Pairs):
            parts: list[Any] = [_Raw("{")]
            for i, (k, item) in enumerate(v.items):
                parts += [_Raw(("," if i else "") + json.dumps(k) + ":"), item]
            parts.append(_Raw("}"))
            stack.extend(reversed(parts))
        elif isinstance(v, list):
            parts = [_Raw("[")]
            for i, item in enumerate(v):
                parts += ([_Raw(",")] if i else []) + [item]
            parts.append(_Raw("]"))
            stack.extend(reversed(parts))
        else:
            out.append(json.dumps(v))
    return "".join(out)


@dataclass(frozen=True)
class _Raw:
    text: str


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path in the tree (iterative: seeds are shallow, mutants may not be)."""
    found: list[tuple[Any, ...]] = []
    stack = [(value, path)]
    while stack and len(found) < 5000:
        v, p = stack.pop()
        found.append(p)
        if len(p) >= MAX_PATH:  # inside a deep nest: mutate around it, not through it
            continue
        if isinstance(v, Pairs):
            stack.extend((item, (*p, i)) for i, (_, item) in enumerate(v.items))
        elif isinstance(v, list):
            stack.extend((item, (*p, i)) for i, item in enumerate(v))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for i in path:
        value = value.items[i][1] if isinstance(value, Pairs) else value[i]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    i, rest = path[0], path[1:]
    if isinstance(value, Pairs):
        items = list(value.items)
        items[i] = (items[i][0], _set(items[i][1], rest, new))
        return Pairs(tuple(items))
    copy = list(value)
    copy[i] = _set(copy[i], rest, new)
    return copy


def _flip_encoded(text: str, bit: int) -> str | None:
    """Flip one bit of the bytes a base64/hex string carries, re-encoded the same way."""
    for decode, encode in ((bytes.fromhex, bytes.hex),
                           (lambda s: base64.b64decode(s, validate=True), lambda b: base64.b64encode(b).decode()),
                           (lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),
                            lambda b: base64.urlsafe_b64encode(b).decode().rstrip("="))):
        try:
            raw = bytearray(decode(text))  # type: ignore[operator]
        except (ValueError, binascii.Error):
            continue
        if not raw:
            continue
        raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
        return str(encode(bytes(raw)))  # type: ignore[operator]
    return None


scalars = st.one_of(st.none(), st.booleans(), st.sampled_from(EDGE_INTS), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE_STRINGS),
                    st.text(max_size=20))


T = TypeVar("T")


class Chooser(Protocol):
    """The choices a mutator makes: one interface, two engines."""

    def integer(self, lo: int, hi: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...
    def boolean(self) -> bool: ...
    def permutation(self, n: int) -> list[int]: ...
    def scalar(self) -> Any: ...
    def binary(self, max_size: int) -> bytes: ...


class HypothesisChooser:
    """Choices drawn by hypothesis (replayable, shrinkable)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def choice(self, options: Sequence[T]) -> T:
        # an index, not sampled_from: hypothesis reprs what it draws, and options may be deep
        return options[self.draw(st.integers(0, len(options) - 1))]

    def boolean(self) -> bool:
        return self.draw(st.booleans())

    def permutation(self, n: int) -> list[int]:
        return self.draw(st.permutations(range(n)))

    def scalar(self) -> Any:
        return self.draw(scalars)

    def binary(self, max_size: int) -> bytes:
        return self.draw(st.binary(max_size=max_size))


#: characters for random text: ASCII, JSON/escape specials, combining marks, RTL,
#: non-ASCII digits, astral, noncharacters, a lone surrogate
_TEXT_POOL = ('az AZ09"\\/\n\r\t\x00\x1f\x7f=+-_.:@'
              "\u00e9\u0301\u202e\u200b\ufeff\u00b2\u0661\uff10\U0001f600\uffff\ud800")
_FLOATS = [0.0, -0.0, 0.5, -1.5, 1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, 2.0**53, 1e16]


class RandomChooser:
    """Choices from ``random.Random``: the same families as hypothesis's strategies
    above, at a fraction of the cost (no shrinking)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def boolean(self) -> bool:
        return self.rng.random() < 0.5

    def permutation(self, n: int) -> list[int]:
        order = list(range(n))
        self.rng.shuffle(order)
        return order

    def _int(self) -> int:
        bits = self.rng.choice((4, 8, 16, 32, 64, 70, 200))
        v = self.rng.getrandbits(bits)
        return -v if self.rng.random() < 0.3 else v

    def _float(self) -> float:
        if self.rng.random() < 0.5:
            return self.rng.choice(_FLOATS)
        return self.rng.uniform(-1, 1) * 10.0 ** self.rng.randint(-30, 300)

    def _text(self) -> str:
        return "".join(self.rng.choice(_TEXT_POOL) for _ in range(self.rng.randint(0, 20)))

    def scalar(self) -> Any:
        kind = self.rng.randrange(7)
        if kind == 0:
            return None
        if kind == 1:
            return self.boolean()
        if kind == 2:
            return self.rng.choice(EDGE_INTS)
        if kind == 3:
            return self._int()
        if kind == 4:
            return self._float()
        if kind == 5:
            return self.rng.choice(EDGE_STRINGS)
        return self._text()

    def binary(self, max_size: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, max_size))


JSON_OPS = ["scalar", "type", "delete", "add", "dup", "reorder", "nest", "flip", "flip", "flip", "truncate",
            "extend", "empty"]
ADD_KEYS = ["x", "", "mediaType", "kind", "__proto__", "é"]
STRING_TAILS = ["=", "A", "\n", "é", "0", " ", "==", "\\"]


def mutate_json(c: Chooser, doc: Any) -> Any:
    """One structured mutation of ``doc`` (in :class:`Pairs` form)."""
    paths = _nodes(doc)
    path = c.choice(paths)
    node = _get(doc, path)
    op = c.choice(JSON_OPS)
    if op == "scalar":
        return _set(doc, path, c.scalar())
    if op == "type":
        return _set(doc, path, c.choice([[node], Pairs((("x", node),)), dump(node)[:50], 1, [], Pairs(()), None]))
    if op == "nest":
        depth = c.choice(DEEP)
        return _set(doc, path, Nest(c.choice(["list", "object"]), depth, node))
    if op == "empty":
        return _set(doc, path, c.choice(["", [], Pairs(()), 0]))
    if isinstance(node, Pairs) and op in ("delete", "add", "dup", "reorder"):
        items = list(node.items)
        if op == "delete" and items:
            del items[c.integer(0, len(items) - 1)]
        elif op == "add":
            items.insert(c.integer(0, len(items)), (c.choice(ADD_KEYS), c.scalar()))
        elif op == "dup" and items:
            k, v = items[c.integer(0, len(items) - 1)]
            alt = v if c.boolean() else c.scalar()
            items.insert(c.integer(0, len(items)), (k, alt))
        elif op == "reorder":
            items = [items[i] for i in c.permutation(len(items))]
        return _set(doc, path, Pairs(tuple(items)))
    if isinstance(node, list) and op in ("delete", "add", "dup", "reorder"):
        items = list(node)
        if op == "delete" and items:
            del items[c.integer(0, len(items) - 1)]
        elif op in ("add", "dup"):
            items.append(items[0] if items and op == "dup" else c.scalar())
        else:
            items = [items[i] for i in c.permutation(len(items))]
        return _set(doc, path, items)
    if isinstance(node, str):
        if op == "flip":
            flipped = _flip_encoded(node, c.integer(0, 8 * 4096))
            if flipped is not None:
                return _set(doc, path, flipped)
        if op == "truncate" and node:
            return _set(doc, path, node[: c.integer(0, len(node) - 1)])
        return _set(doc, path, node + c.choice(STRING_TAILS))
    if isinstance(node, int) and not isinstance(node, bool):
        ints: list[Any] = [node + 1, node - 1, -node, str(node), node * 2**64,
                           float(node) if abs(node) < 2**1000 else 0.5]
        return _set(doc, path, c.choice(ints))
    return _set(doc, path, c.scalar())


BYTE_OPS = ["bit", "truncate", "insert", "bom", "garbage", "delete"]
INSERTS = [b"\x00", b"\xff", b"\n", b"\r\n", b'"', b"\\", b"{", b"]", b"\xc3", b"=", b" "]
GARBAGE = [b"\n", b"x", b"}", b"\x00", b" {}"]


def mutate_bytes(c: Chooser, data: bytes) -> bytes:
    """One byte-level mutation."""
    if not data:
        return c.binary(64)
    op = c.choice(BYTE_OPS)
    pos = c.integer(0, len(data) - 1)
    if op == "bit":
        b = bytearray(data)
        b[pos] ^= 1 << c.integer(0, 7)
        return bytes(b)
    if op == "truncate":
        return data[:pos]
    if op == "insert":
        return data[:pos] + (c.choice(INSERTS) if c.boolean() else c.binary(8)) + data[pos:]
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "delete":
        return data[:pos] + data[pos + 1:]
    return data + c.choice(GARBAGE)


LINE_OPS = ["drop", "dup", "swap", "edit", "flip", "flip", "long"]


def text_mutants(c: Chooser, data: bytes) -> bytes:
    """Line-aware mutations for line formats (signed notes, PEM): drop, duplicate,
    swap or edit one line, or flip a bit of a base64 token."""
    lines = data.split(b"\n")
    i = c.integer(0, len(lines) - 1)
    op = c.choice(LINE_OPS)
    if op == "drop":
        del lines[i]
    elif op == "dup":
        lines.insert(i, lines[i])
    elif op == "swap" and len(lines) > 1:
        j = c.integer(0, len(lines) - 1)
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "edit":
        lines[i] = c.choice([b"", b" ", b"0", b"-1", b"\xe2\x80\x94", b"9" * 5000, "²".encode(),
                             b"\xff", lines[i] + b" ", lines[i][:-1], b"\xe2\x80\x94 x QQ=="])
    elif op == "long" and len(data) < MAX_MUTANT:
        factor = c.choice([2, 100, 20000])
        lines[i] = lines[i] * max(1, min(factor, MAX_MUTANT // max(1, len(lines[i]))))
    else:
        tokens = lines[i].split(b" ")
        j = c.integer(0, len(tokens) - 1)
        flipped = _flip_encoded(tokens[j].decode(errors="replace"), c.integer(0, 8 * 4096))
        if flipped is not None:
            tokens[j] = flipped.encode()
        lines[i] = b" ".join(tokens)
    return b"\n".join(lines)


def _parsed(data: bytes) -> Any:
    try:
        return to_pairs(json.loads(data))
    except (ValueError, RecursionError):
        return None


JSON_KINDS = ["json", "json", "json", "bytes"]
TEXT_KINDS = ["text", "text", "bytes"]
BYTE_KINDS = ["bytes"]


def mutate(c: Chooser, data: bytes, doc: Any, *, text: bool = False) -> bytes:
    """``data`` (``doc``: its parsed :class:`Pairs` form, or None when it is not JSON)
    with 1-4 mutations, JSON-aware when it is JSON."""
    for _ in range(c.integer(1, 4)):
        kind = c.choice(JSON_KINDS if doc is not None else TEXT_KINDS if text else BYTE_KINDS)
        if kind == "json" and doc is not None:
            doc = mutate_json(c, doc)
            data = dump(doc).encode("utf-8", errors="surrogatepass")
        elif kind == "text":
            data = text_mutants(c, data)
        else:
            data = mutate_bytes(c, data)
            doc = _parsed(data) if doc is not None else None
    return data


@st.composite
def mutants(draw: st.DrawFn, seeds: list[bytes], *, text: bool = False) -> bytes:
    """A seed with 1-4 mutations (the hypothesis engine)."""
    c = HypothesisChooser(draw)
    data = c.choice(seeds)
    return mutate(c, data, _parsed(data), text=text)


class RandomMutator:
    """The random engine: mutants of ``seeds`` from one ``random.Random`` (a run is
    reproducible from its seed). Seeds are parsed once, not per mutant.

    ``keep`` adds an input to the pool mutated from (at most ``pool`` of them, the
    oldest replaced): the runner keeps mutants the parser *accepted*, so later mutants
    stack changes on inputs that got past the parser's first checks, which is where the
    invariants (round trip, no malleability) have something to check."""

    def __init__(self, seeds: list[bytes], *, text: bool = False, seed: int = 0, pool: int = 64) -> None:
        self.rng = random.Random(seed)
        self.chooser = RandomChooser(self.rng)
        self.seeds = [(s, _parsed(s)) for s in seeds]
        self.text = text
        self.pool: list[tuple[bytes, Any]] = []
        self.pool_size = pool
        self._next = 0

    def __call__(self) -> bytes:
        base = self.pool if self.pool and self.rng.random() < 0.25 else self.seeds
        data, doc = base[self.rng.randrange(len(base))]
        return mutate(self.chooser, data, doc, text=self.text)

    def keep(self, data: bytes) -> None:
        if len(data) > MAX_MUTANT // 4:
            return
        item = (data, _parsed(data))
        if len(self.pool) < self.pool_size:
            self.pool.append(item)
        else:
            self.pool[self._next] = item
            self._next = (self._next + 1) % self.pool_size
