"""JSON from untrusted bytes: one exception type for every way a document can be bad.

``json.loads`` fails in several ways besides ``ValueError``: ``UnicodeDecodeError`` on
bytes that are not UTF-8 (a ``ValueError`` subclass, but callers forget), and
``RecursionError`` on deeply nested arrays or objects (``[[[[...`` a few thousand
deep, which fits easily under any size limit). The last is a ``RuntimeError``, so it
escaped every ``except ValueError`` in the parsers as a traceback. The standard
library's parser is kept (it is fast and exact); this wrapper only maps its failures.
Numbers with more than 4300 digits are refused by Python itself (``ValueError``).
"""

from __future__ import annotations

from typing import Any


class JSONDecodeFailure(ValueError):
    """The document is not JSON, not UTF-8, or nested deeper than the parser goes."""


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads`` that raises only :class:`JSONDecodeFailure` (a ``ValueError``)."""
    import json

    try:
        return json.loads(data)
    except RecursionError:
        raise JSONDecodeFailure("nested too deeply") from None
    except (ValueError, TypeError) as exc:
        raise JSONDecodeFailure(str(exc).split("\n")[0]) from None
