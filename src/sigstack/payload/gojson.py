"""JSON bytes as Go's ``encoding/json`` writes them.

cosign signs and stores ``encoding/json`` output, so byte-compatibility needs
Go's rules: compact, UTF-8 kept raw, and ``<``, ``>``, ``&``, U+2028, U+2029
escaped as ``\\u003c`` etc. Callers pass dicts in Go struct field order; maps
(Go ``map``) are sorted by the caller with ``sort_maps``.
"""

from __future__ import annotations

import json
from typing import Any

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def dumps(value: Any) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, esc in _ESCAPES.items():
        text = text.replace(raw, esc)
    return text.encode()
