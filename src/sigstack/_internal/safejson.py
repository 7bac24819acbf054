"""JSON from untrusted bytes: one exception type for every way a document can be bad.

``json.loads`` fails in several ways besides ``ValueError``: ``UnicodeDecodeError`` on
bytes that are not UTF-8 (a ``ValueError`` subclass, but callers forget), and
``RecursionError`` on deeply nested arrays or objects (``[[[[...`` a few thousand
deep, which fits easily under any size limit). The last is a ``RuntimeError``, so it
escaped every ``except ValueError`` in the parsers as a traceback. The standard
library's parser is kept (it is fast and exact); this wrapper only maps its failures.
Numbers with more than 4300 digits are refused by Python itself (``ValueError``).

A ``\\ud800`` escape without its pair decodes to a lone surrogate, a ``str`` that
cannot be encoded as UTF-8: every later ``.encode()`` (DSSE's PAE, re-serialising)
raised ``UnicodeEncodeError``. Go's encoding/json, which cosign and Rekor use, turns
each such escape into U+FFFD; so do we, so both sides see the same strings.
"""

from __future__ import annotations

import re
from typing import Any


class JSONDecodeFailure(ValueError):
    """The document is not JSON, not UTF-8, or nested deeper than the parser goes."""


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` that raises only :class:`JSONDecodeFailure` (a ``ValueError``)."""
    import json

    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONDecodeFailure("nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise JSONDecodeFailure(str(exc).split("\n")[0]) from None
    probe = data if isinstance(data, str) else bytes(data)
    if _SURROGATE_ESCAPE.search(probe.encode("utf-8", "surrogatepass") if isinstance(probe, str) else probe):
        value = _replace_lone_surrogates(value)
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _fix(text: str) -> str:
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)


def _replace_lone_surrogates(value: Any) -> Any:
    """The document with every lone surrogate as U+FFFD (iterative: it may be deep)."""
    if isinstance(value, str):
        return _fix(value)
    root = [value]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        parent, key = stack.pop()
        v = parent[key]
        if isinstance(v, str):
            parent[key] = _fix(v)
        elif isinstance(v, list):
            stack.extend((v, i) for i in range(len(v)))
        elif isinstance(v, dict):
            fixed = {_fix(k): item for k, item in v.items()}
            parent[key] = fixed
            stack.extend((fixed, k) for k in fixed)
    return root[0]
