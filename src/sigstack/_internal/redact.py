"""Keeping secrets out of the servers' logs.

The servers' logs (uvicorn's access log, which prints each request line with its
query string; uvicorn's and sigstack's application logs; httpx's request lines at
debug level) could carry what clients send: ``Authorization: Bearer`` and ``Basic``
credentials, OIDC identity tokens (JWTs), the GitHub Actions token-request bearer,
and tokens, codes or passwords in query strings or form bodies. :class:`RedactingFilter`
rewrites every record a handler emits, replacing such values with ``[REDACTED]``:

* anything shaped like a JWT or JWS (``eyJ...``.``...``.``...``);
* the credential after ``Bearer``/``Basic``/``token`` authorization schemes, and the
  value of an ``authorization``/``cookie`` header however it is printed;
* the value of a query, form or JSON field whose name says it is secret (token,
  secret, password, code, key, signature, credential, assertion...).

It is a filter on the *handlers* (a filter on a logger does not see records that
propagate from its children), installed by :func:`install` on every handler of the
root, ``uvicorn``, ``uvicorn.error``, ``uvicorn.access`` and ``sigstack`` loggers.
Written by hand: the logging libraries offer no redaction of this kind.
"""

from __future__ import annotations

import logging
import re

MARK = "[REDACTED]"

_NAMES = r"[\w.-]*(?:token|secret|passw(?:or)?d|pwd|code|key|sig(?:nature)?|credential|assertion|auth)[\w.-]*"
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # JWT / JWS compact serialisation (header always starts with '{"' -> eyJ)
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MARK),
    # header tuples as ASGI scopes print them: (b'authorization', b'...')
    (re.compile(r"(?i)(b?['\"](?:proxy-)?(?:authorization|cookie|x-[\w-]*token)['\"],\s*b?['\"])[^'\"]*"),
     r"\1" + MARK),
    # "Authorization: ..." / "authorization=..." as text
    (re.compile(r"(?i)\b((?:proxy-)?authorization|cookie|set-cookie)(\s*[:=]\s*)[^\r\n,;]+"), r"\1\2" + MARK),
    # credentials after an auth scheme
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + MARK),
    # name=value in query strings and form bodies
    (re.compile(r"(?i)(\b" + _NAMES + r"=)[^&\s\"'#]*"), r"\1" + MARK),
    # "name": "value" in JSON
    (re.compile(r"(?i)([\"']" + _NAMES + r"[\"']\s*:\s*[\"'])[^\"']*"), r"\1" + MARK),
]


def redact(text: str) -> str:
    """``text`` with every secret-shaped value replaced by ``[REDACTED]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # uvicorn's access formatter rebuilds the line from the record's args: keep them, redacted
        return True


class RedactingAccessFilter(RedactingFilter):
    """For uvicorn's access log, whose formatter reads ``record.args`` (client, method,
    path with query, HTTP version, status) rather than the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
            return True
        return super().filter(record)


def install(names: tuple[str, ...] = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "sigstack")) -> None:
    """Put the redacting filter on every handler of the ``names`` loggers (once)."""
    for name in names:
        for handler in logging.getLogger(name).handlers:
            kind = RedactingAccessFilter if name == "uvicorn.access" else RedactingFilter
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(kind())
    last = logging.lastResort
    if last is not None and not any(isinstance(f, RedactingFilter) for f in last.filters):
        last.addFilter(RedactingFilter())
