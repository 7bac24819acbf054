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
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, eq=False, repr=False)  # identity eq/hash, no repr: mutants nest 5000 deep
class Pairs:
    """A JSON object as ordered (key, value) pairs: may hold a key twice."""

    items: tuple[tuple[str, Any], ...]

    def __repr__(self) -> str:
        return f"Pairs(<{len(self.items)} items>)"


def to_pairs(value: Any) -> Any:
    if isinstance(value, dict):
        return Pairs(tuple((str(k), to_pairs(v)) for k, v in value.items()))
    if isinstance(value, list):
        return [to_pairs(v) for v in value]
    return value


def dump(value: Any) -> str:
    """Serialise (iteratively enough for deep nests: json.dumps recurses)."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Raw):
            out.append(v.text)
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


def mutate_json(draw: st.DrawFn, doc: Any) -> Any:
    """One structured mutation of ``doc`` (in :class:`Pairs` form)."""
    paths = _nodes(doc)
    path = paths[draw(st.integers(0, len(paths) - 1))]  # indices: hypothesis reprs what it draws
    node = _get(doc, path)
    op = draw(st.sampled_from(["scalar", "type", "delete", "add", "dup", "reorder", "nest", "flip",
                               "flip", "flip", "truncate", "extend", "empty"]))
    if op == "scalar":
        return _set(doc, path, draw(scalars))
    if op == "type":
        choices = [[node], Pairs((("x", node),)), dump(node)[:50], 1, [], Pairs(()),
                   None]
        return _set(doc, path, choices[draw(st.integers(0, len(choices) - 1))])
    if op == "nest":
        depth = draw(st.sampled_from(DEEP))
        kind = draw(st.sampled_from(["list", "object"]))
        new = node
        for _ in range(depth):
            new = [new] if kind == "list" else Pairs((("a", new),))
        return _set(doc, path, new)
    if op == "empty":
        return _set(doc, path, draw(st.sampled_from(["", [], Pairs(()), 0])))
    if isinstance(node, Pairs) and op in ("delete", "add", "dup", "reorder"):
        items = list(node.items)
        if op == "delete" and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif op == "add":
            items.insert(draw(st.integers(0, len(items))), (draw(st.sampled_from(["x", "", "mediaType", "kind",
                                                                                  "__proto__", "é"])),
                                                            draw(scalars)))
        elif op == "dup" and items:
            k, v = items[draw(st.integers(0, len(items) - 1))]
            alt = v if draw(st.booleans()) else draw(scalars)
            items.insert(draw(st.integers(0, len(items))), (k, alt))
        elif op == "reorder":
            items = [items[i] for i in draw(st.permutations(range(len(items))))]
        return _set(doc, path, Pairs(tuple(items)))
    if isinstance(node, list) and op in ("delete", "add", "dup", "reorder"):
        items = list(node)
        if op == "delete" and items:
            del items[draw(st.integers(0, len(items) - 1))]
        elif op in ("add", "dup"):
            items.append(items[0] if items and op == "dup" else draw(scalars))
        else:
            items = [items[i] for i in draw(st.permutations(range(len(items))))]
        return _set(doc, path, items)
    if isinstance(node, str):
        if op == "flip":
            flipped = _flip_encoded(node, draw(st.integers(0, 8 * 4096)))
            if flipped is not None:
                return _set(doc, path, flipped)
        if op == "truncate" and node:
            return _set(doc, path, node[: draw(st.integers(0, len(node) - 1))])
        return _set(doc, path, node + draw(st.sampled_from(["=", "A", "\n", "é", "0", " ", "==", "\\"])))
    if isinstance(node, int) and not isinstance(node, bool):
        ints: list[Any] = [node + 1, node - 1, -node, str(node), node * 2**64,
                           float(node) if abs(node) < 2**1000 else 0.5]
        return _set(doc, path, ints[draw(st.integers(0, len(ints) - 1))])
    return _set(doc, path, draw(scalars))


def mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """One byte-level mutation."""
    if not data:
        return draw(st.binary(max_size=64))
    op = draw(st.sampled_from(["bit", "truncate", "insert", "bom", "garbage", "delete"]))
    pos = draw(st.integers(0, len(data) - 1))
    if op == "bit":
        b = bytearray(data)
        b[pos] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    if op == "truncate":
        return data[:pos]
    if op == "insert":
        return data[:pos] + draw(st.sampled_from([b"\x00", b"\xff", b"\n", b"\r\n", b'"', b"\\", b"{", b"]",
                                                   b"\xc3", b"=", b" "]) | st.binary(max_size=8)) + data[pos:]
    if op == "bom":
        return b"\xef\xbb\xbf" + data
    if op == "delete":
        return data[:pos] + data[pos + 1:]
    return data + draw(st.sampled_from([b"\n", b"x", b"}", b"\x00", b" {}"]))


def text_mutants(draw: st.DrawFn, data: bytes) -> bytes:
    """Line-aware mutations for line formats (signed notes, PEM): drop, duplicate,
    swap or edit one line, or flip a bit of a base64 token."""
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    op = draw(st.sampled_from(["drop", "dup", "swap", "edit", "flip", "flip", "long"]))
    if op == "drop":
        del lines[i]
    elif op == "dup":
        lines.insert(i, lines[i])
    elif op == "swap" and len(lines) > 1:
        j = draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "edit":
        lines[i] = draw(st.sampled_from([b"", b" ", b"0", b"-1", b"\xe2\x80\x94", b"9" * 5000, "²".encode(),
                                         b"\xff", lines[i] + b" ", lines[i][:-1], b"\xe2\x80\x94 x QQ=="]))
    elif op == "long" and len(data) < MAX_MUTANT:
        factor = draw(st.sampled_from([2, 100, 20000]))
        lines[i] = lines[i] * max(1, min(factor, MAX_MUTANT // max(1, len(lines[i]))))
    else:
        tokens = lines[i].split(b" ")
        j = draw(st.integers(0, len(tokens) - 1))
        flipped = _flip_encoded(tokens[j].decode(errors="replace"), draw(st.integers(0, 8 * 4096)))
        if flipped is not None:
            tokens[j] = flipped.encode()
        lines[i] = b" ".join(tokens)
    return b"\n".join(lines)


@st.composite
def mutants(draw: st.DrawFn, seeds: list[bytes], *, text: bool = False) -> bytes:
    """A seed with 1-4 mutations (JSON-aware when the seed is JSON)."""
    data = draw(st.sampled_from(seeds))
    try:
        doc: Any = to_pairs(json.loads(data))
    except ValueError:
        doc = None
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["json", "json", "json", "bytes"] if doc is not None
                                    else (["text", "text", "bytes"] if text else ["bytes"])))
        if kind == "json" and doc is not None:
            doc = mutate_json(draw, doc)
            data = dump(doc).encode("utf-8", errors="surrogatepass")
        elif kind == "text":
            data = text_mutants(draw, data)
        else:
            data = mutate_bytes(draw, data)
            try:
                doc = to_pairs(json.loads(data)) if doc is not None else None
            except (ValueError, RecursionError):
                doc = None
    return data
