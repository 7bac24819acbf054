"""The explorer's one search box: what a query means and how it runs on the store.

A query is one term, optionally with a time range::

    sha256:<hex>            artifact digest (a shorter hex part is a prefix)
    <index>                 log index
    <64 or 80 hex>          entry UUID / entry ID, artifact sha256, public key fingerprint
    <hex prefix>            any of those by prefix (at least 6 hex digits)
    alice@example.com       certificate identity (email or URI SAN), by prefix
    https://github.com/org/ certificate identity or OIDC issuer, by prefix
    issuer:<url>            OIDC issuer, by prefix
    after:<time> before:<time> or <time>..<time>
                            integrated time: ISO 8601 date/time (UTC unless it says)
                            or Unix seconds; ``after`` is inclusive, ``before`` not

Every lookup is one bounded index scan in the store (:meth:`Store.lookup`), so a
query costs the same on a log of a thousand entries or a million.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sigstack.errors import QueryError
from sigstack.tlog.log import Log

MAX_QUERY = 512
RESULTS = 50
_HEX = re.compile(r"[0-9a-f]+")
_HASH = re.compile(r"(sha256|sha384|sha512):([0-9a-f]*)")
_HASH_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}
MIN_HEX_PREFIX = 6


@dataclass(frozen=True)
class Query:
    text: str
    term: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass(frozen=True)
class Hit:
    index: int
    matched: str  # what the entry was found by, for the results list
    key: str = ""


def _time(text: str, *, end: bool) -> int:
    """Unix seconds of a time token; a bare date used as an end bound means the end of that day."""
    if text.isascii() and text.isdigit() and len(text) <= 19:  # not "²", not 5000 digits
        return int(text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return int((start + timedelta(days=1) if end else start).timestamp())
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{text[:40]!r} is not a time: use 2026-01-31, 2026-01-31T12:00:00Z or Unix seconds") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse(text: str) -> Query:
    text = text.strip()
    if len(text) > MAX_QUERY:
        raise QueryError(f"the query is longer than {MAX_QUERY} characters")
    term: str | None = None
    since: int | None = None
    until: int | None = None
    for token in text.split():
        low = token.lower()
        if low.startswith(("after:", "since:")):
            since = _time(token.split(":", 1)[1], end=False)
        elif low.startswith(("before:", "until:")):
            until = _time(token.split(":", 1)[1], end=False)
        elif ".." in token and not token.startswith(("http:", "https:")):
            a, b = token.split("..", 1)
            since = _time(a, end=False) if a else None
            until = _time(b, end=True) if b else None
        elif term is not None:
            raise QueryError("search for one term at a time (a time range may be added with after:/before:)")
        else:
            term = token
    if since is not None and until is not None and since >= until:
        raise QueryError("the time range is empty: its start is not before its end")
    return Query(text, term, since, until)


def describe_key(key: str) -> str:
    if _HASH.fullmatch(key):
        return "artifact hash"
    if key.startswith("issuer:"):
        return "OIDC issuer"
    if len(key) == 64 and _HEX.fullmatch(key):
        return "public key"
    if "@" in key and "://" not in key:
        return "email"
    return "identity"


def run(log: Log, query: Query, limit: int = RESULTS) -> tuple[list[Hit], bool]:
    """The entries matching ``query`` (at most ``limit``) and whether there are more."""
    store = log.store
    hits: list[Hit] = []
    want = limit + 1

    def in_span(itime: int) -> bool:
        return (query.since is None or itime >= query.since) and (query.until is None or itime < query.until)

    def keyed(key: str, prefix: bool) -> None:
        for k, idx in store.lookup(key, prefix=prefix, since=query.since, until=query.until,
                                   limit=want):
            hits.append(Hit(idx, describe_key(k), k))

    def by_leaf(leaf: bytes) -> None:
        found = store.entry_by_leaf(leaf)
        if found is not None and in_span(found.integrated_time):
            hits.append(Hit(found.index, "entry UUID"))

    term = query.term.lower() if query.term is not None else None
    if term is None:
        if query.since is None and query.until is None:
            return [], False
        hits = [Hit(idx, "time range") for _, idx in store.lookup(None, since=query.since,
                                                                      until=query.until, limit=want)]
    elif term.isascii() and term.isdigit() and len(term) <= 19:
        found = store.entry_by_index(int(term))
        if found is not None and in_span(found.integrated_time):
            hits.append(Hit(found.index, "log index"))
    elif m := _HASH.fullmatch(term):
        alg, digits = m.groups()
        if len(digits) < MIN_HEX_PREFIX and len(digits) != _HASH_HEX[alg]:
            raise QueryError(f"give at least {MIN_HEX_PREFIX} hex digits of the {alg} digest")
        keyed(term, prefix=len(digits) != _HASH_HEX[alg])
    elif term.startswith("issuer:"):
        keyed(term, prefix=True)
    elif _HEX.fullmatch(term) and len(term) <= 80:
        if len(term) == 80:
            if term[:16] == log.tree_id_hex:
                by_leaf(bytes.fromhex(term[16:]))
        elif len(term) == 64:
            by_leaf(bytes.fromhex(term))
            keyed("sha256:" + term, prefix=False)
            keyed(term, prefix=False)
        elif len(term) < MIN_HEX_PREFIX:
            raise QueryError(f"give at least {MIN_HEX_PREFIX} hex digits to search by prefix")
        else:
            if len(term) < 64:
                low = bytes.fromhex(term.ljust(64, "0"))
                high = bytes.fromhex(term.ljust(64, "f"))
                for idx in store.leaf_prefix(low, high, want):
                    found = store.entry_by_index(idx)
                    if found is not None and in_span(found.integrated_time):
                        hits.append(Hit(idx, "entry UUID"))
            keyed("sha256:" + term, prefix=True)
            keyed(term, prefix=True)
    else:
        keyed(term, prefix=True)
        if "://" in term:
            keyed("issuer:" + term, prefix=True)
    unique: dict[int, Hit] = {}
    for h in hits:  # an entry found two ways is listed once, under the first
        unique.setdefault(h.index, h)
    listed = list(unique.values())
    return listed[:limit], len(listed) > limit
