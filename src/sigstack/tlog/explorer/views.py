"""The explorer's pages (Starlette handlers over :class:`~sigstack.tlog.log.Log`)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from cryptography import x509
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from sigstack.errors import QueryError, SigstackError
from sigstack.tlog.explorer import query as q
from sigstack.tlog.identity import Identity, identity
from sigstack.tlog.log import Log
from sigstack.tlog.store.base import StoredEntry

T = TypeVar("T")
logger = logging.getLogger("sigstack.tlog")
RECENT = 20
CHART_POINTS = 48
_ID = re.compile(r"[0-9a-fA-F]{64}|[0-9a-fA-F]{80}")
#: only this server's own scripts, styles and images; entries can never inject any
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sigstack.tlog.explorer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["utc"] = utc
    return env


def utc(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


@dataclass(frozen=True)
class Key:
    """A verifier found in an entry body."""

    label: str  # "certificate" or "public key"
    fingerprint: str  # the search index's key for it
    identity: Identity | None
    pem: str


@dataclass(frozen=True)
class Decoded:
    kind: str
    api_version: str
    pretty: str
    hashes: list[tuple[str, str]]  # (where, alg:hex)
    keys: list[Key]


def _walk_hashes(value: Any, path: str, out: list[tuple[str, str]], depth: int = 0) -> None:
    if depth > 12 or len(out) >= 32:
        return
    if isinstance(value, dict):
        alg, val = value.get("algorithm"), value.get("value")
        if isinstance(alg, str) and isinstance(val, str) and len(val) <= 256:
            out.append((path or "hash", f"{alg}:{val}"))
        for k, v in value.items():
            _walk_hashes(v, f"{path}.{k}" if path else str(k), out, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk_hashes(v, f"{path}[{i}]", out, depth + 1)


def _pems(value: Any, depth: int = 0) -> list[bytes]:
    if depth > 12:
        return []
    if isinstance(value, str) and value.startswith("LS0tLS1CRUdJTi"):
        try:
            return [base64.b64decode(value, validate=True)]
        except (binascii.Error, ValueError):
            return []
    if isinstance(value, dict):
        return [p for v in value.values() for p in _pems(v, depth + 1)]
    if isinstance(value, list):
        return [p for v in value for p in _pems(v, depth + 1)]
    return []


def decode(body: bytes) -> Decoded:
    """What the entry page shows of a body; tolerant of anything (bodies are untrusted)."""
    from sigstack.errors import BadEntryError
    from sigstack.tlog.entries._common import parse_verifier

    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Decoded("?", "?", body.decode("utf-8", "replace"), [], [])
    if not isinstance(doc, dict):
        return Decoded("?", "?", json.dumps(doc, indent=2), [], [])
    hashes: list[tuple[str, str]] = []
    _walk_hashes(doc.get("spec"), "spec", hashes)
    keys: list[Key] = []
    for pem in list(dict.fromkeys(_pems(doc)))[:16]:
        try:
            v = parse_verifier(pem)
        except (BadEntryError, SigstackError):
            continue
        ident = None
        if b"CERTIFICATE" in pem[:40]:
            try:
                ident = identity(x509.load_pem_x509_certificate(pem))
            except (ValueError, x509.InvalidVersion):
                continue
        keys.append(Key("certificate" if ident else "public key", v.fingerprint, ident,
                        v.canonical_pem.decode("ascii", "replace")))
    return Decoded(str(doc.get("kind", "?")), str(doc.get("apiVersion", "?")), json.dumps(doc, indent=2),
                   hashes, keys)


def key_info(log: Log) -> dict[str, str]:
    """The log key as the browser imports it (SPKI DER, WebCrypto algorithm)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    from sigstack.tlog.checkpoint import public_key_der

    pub = log.signer.public_key
    info = {"spki": base64.b64encode(public_key_der(pub)).decode(), "logID": log.signer.log_id.hex()}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        curve = {"secp256r1": ("P-256", "SHA-256"), "secp384r1": ("P-384", "SHA-384"),
                 "secp521r1": ("P-521", "SHA-512")}.get(pub.curve.name, ("", ""))
        info.update(alg="ECDSA", curve=curve[0], hash=curve[1])
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        info.update(alg="Ed25519")
    else:
        info.update(alg="unsupported")
    return info


def chart(log: Log, size: int) -> dict[str, Any] | None:
    """Tree size over time from ~48 entries spread over the log (the integrated time of
    entry i is when the tree reached i + 1), scaled into an SVG polyline."""
    if size == 0:
        return None
    picks = sorted({(size - 1) * i // (CHART_POINTS - 1) for i in range(CHART_POINTS)})
    found = log.store.entries_at(picks)
    pts = [(found[i].integrated_time, i + 1) for i in picks if i in found]
    now = max(int(time.time()), pts[-1][0]) if pts else int(time.time())
    pts.append((now, size))
    t0, t1 = pts[0][0], max(pts[-1][0], pts[0][0] + 1)
    w, h, pad = 640, 200, 40
    steps: list[tuple[int, int]] = []
    for t, n in pts:  # the size holds until the next entry: a step line
        if steps:
            steps.append((t, steps[-1][1]))
        steps.append((t, n))
    coords = " ".join(
        f"{pad + (t - t0) * (w - 2 * pad) / (t1 - t0):.1f},{h - pad - n * (h - 2 * pad) / size:.1f}"
        for t, n in steps)
    return {"points": coords, "w": w, "h": h, "pad": pad, "start": utc(t0), "end": utc(t1), "size": size}


def explorer_routes(log: Log) -> list[BaseRoute]:
    env = _env()

    async def read(fn: Callable[..., T], *args: Any) -> T:
        if log.store.threaded_reads:
            return await run_in_threadpool(fn, *args)
        return fn(*args)

    def page(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = env.get_template(name).render(origin=log.origin, **ctx)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def summary(e: StoredEntry, matched: str = "", key: str = "") -> dict[str, Any]:
        d = decode(e.body)
        ident = next((k.identity for k in d.keys if k.identity), None)
        who = (ident.emails or ident.uris or (ident.subject,))[0] if ident else \
            (f"key {d.keys[0].fingerprint[:16]}…" if d.keys else "")
        return {"index": e.index, "uuid": log.entry_id(e.leaf_hash), "time": utc(e.integrated_time),
                "kind": d.kind, "hash": d.hashes[0][1] if d.hashes else "", "who": who,
                "matched": matched, "key": key}

    async def index(request: Request) -> Response:
        text = request.query_params.get("q", "")
        head = log.head
        if not text.strip():
            start = max(0, head.size - RECENT)
            rows = await read(log.store.entries_at, list(range(start, head.size)))
            recent = [summary(rows[i]) for i in sorted(rows, reverse=True)]
            return page("index.html", q="", results=None, recent=recent, more=False, error=None,
                        size=head.size)
        try:
            parsed = q.parse(text)
            hits, more = await read(q.run, log, parsed)
        except QueryError as exc:
            return page("index.html", 400, q=text, results=None, recent=[], more=False, error=exc.message,
                        size=head.size)
        rows = await read(log.store.entries_at, [h.index for h in hits])
        results = [summary(rows[h.index], h.matched, h.key) for h in hits if h.index in rows]
        return page("index.html", q=text, results=results, recent=[], more=more, error=None, size=head.size)

    async def entry(request: Request) -> Response:
        ident = request.path_params["id"]
        if ident.isascii() and ident.isdigit() and len(ident) <= 19:
            stored = await read(log.store.entry_by_index, int(ident))
            if stored is not None:
                return RedirectResponse(f"/entry/{log.entry_id(stored.leaf_hash)}", 303)
        elif _ID.fullmatch(ident):
            stored = await read(log.find, ident)
        else:
            return page("error.html", 400, message="an entry is named by its UUID (64 or 80 hex digits) "
                                                   "or its log index")
        if stored is None:
            return page("error.html", 404, message="no such entry in this log")
        doc = await read(log.log_entry, stored)
        (entry_id, value), = doc.items()
        proof = value["verification"]["inclusionProof"]
        data = {
            "body": value["body"], "logIndex": stored.index, "integratedTime": stored.integrated_time,
            "logID": value["logID"], "set": value["verification"]["signedEntryTimestamp"],
            "proof": {"logIndex": proof["logIndex"], "treeSize": proof["treeSize"], "rootHash": proof["rootHash"],
                      "hashes": proof["hashes"], "checkpoint": proof["checkpoint"]},
            "key": key_info(log),
        }
        return page("entry.html", id=entry_id, e=stored, d=decode(stored.body), time=utc(stored.integrated_time),
                    proof=proof, data=data)

    async def log_page(request: Request) -> Response:
        head = log.head
        start = max(0, head.size - RECENT)
        rows = await read(log.store.entries_at, list(range(start, head.size)))
        recent = [summary(rows[i]) for i in sorted(rows, reverse=True)]
        data = {"checkpoint": head.checkpoint, "size": head.size, "rootHash": head.root.hex(),
                "origin": log.origin, "key": key_info(log)}
        return page("log.html", head=head, chart=await read(chart, log, head.size), recent=recent, data=data,
                    key=data["key"], pem=log.signer.signer.public_key_pem().decode(), tree_id=log.store.tree_id)

    def guarded(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """One error line on a page for any failure, never a traceback (the log has it)."""
        async def handler(request: Request) -> Response:
            try:
                response: Response = await fn(request)
                return response
            except SigstackError as exc:
                return page("error.html", 500, message=exc.message)
            except Exception as exc:
                logger.exception("unexpected error serving %s", request.url.path)
                return page("error.html", 500, message=f"internal error ({type(exc).__name__})")

        return handler

    from importlib.resources import files

    static = StaticFiles(directory=str(files("sigstack.tlog.explorer") / "static"))
    return [
        Route("/", guarded(index), methods=["GET"]),
        Route("/entry/{id}", guarded(entry), methods=["GET"]),
        Route("/log", guarded(log_page), methods=["GET"]),
        Mount("/static", static, name="static"),
    ]
