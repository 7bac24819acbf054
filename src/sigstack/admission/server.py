"""The webhook over HTTPS: a Starlette app served by uvicorn.

``POST /validations`` and ``POST /mutations`` take an AdmissionReview v1 (the paths
policy-controller's webhook configurations name), ``GET /healthz`` answers ``ok``
once the policies are loaded. Decisions run on worker threads (registry reads block),
never on the event loop.

Bad requests get an HTTP status and a one-line message, never a traceback: a body
over ``max_body`` bytes is 413, a body that is not JSON or not an AdmissionReview
request is 400, another method is 405; a kind the webhook does not handle is an
AdmissionReview answer refusing it (HTTP 200, as kube-apiserver expects).
"""

from __future__ import annotations

from typing import Any

from sigstack._internal import safejson
from sigstack.admission.webhook import Admission, BadReview

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def create_app(admission: Admission, max_body: int = DEFAULT_MAX_BODY) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def read_json(request: Request) -> Any:
        length = request.headers.get("content-length")
        # ASCII digits only: "²".isdigit() holds and int() refuses it (a 500)
        if length is not None and length.isascii() and length.isdigit() and int(length) > max_body:
            raise _TooLarge()
        chunks = bytearray()
        async for chunk in request.stream():
            chunks += chunk
            if len(chunks) > max_body:
                raise _TooLarge()
        try:  # safejson: json.loads raises RecursionError on deep nests, keeps lone surrogates
            return safejson.loads(chunks)
        except ValueError as exc:
            raise BadReview(f"the request body is not JSON: {exc}") from None

    def handler(mutating: bool) -> Any:
        async def handle(request: Request) -> Response:
            try:
                body = await read_json(request)
                answer = await run_in_threadpool(admission.review, body, mutating=mutating)
            except _TooLarge:
                return PlainTextResponse(f"request body over the {max_body}-byte limit\n", status_code=413)
            except BadReview as exc:
                return PlainTextResponse(f"{exc.message}\n", status_code=400)
            return JSONResponse(answer)

        return handle

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    return Starlette(routes=[
        Route("/validations", handler(False), methods=["POST"]),
        Route("/mutations", handler(True), methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])


class _TooLarge(Exception):
    pass


def serve(app: Any, host: str, port: int, cert: str, key: str, *, tls13_only: bool = False,
          client_ca: str | None = None) -> None:
    """Serve ``app`` over HTTPS until interrupted (TLS 1.2+, or 1.3 only)."""
    import ssl

    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", ssl_certfile=cert, ssl_keyfile=key,
                            ssl_ca_certs=client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE)
    server = uvicorn.Server(config)
    config.load()
    if tls13_only and config.ssl is not None:
        config.ssl.minimum_version = ssl.TLSVersion.TLSv1_3
    server.run()
