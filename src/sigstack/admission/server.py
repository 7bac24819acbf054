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
from sigstack._internal.serving import ServerOptions
from sigstack.admission.webhook import Admission, BadReview

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def create_app(admission: Admission, max_body: int = DEFAULT_MAX_BODY) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse, Response
    from starlette.routing import Route

    async def read_json(request: Request) -> Any:
        from sigstack._internal.serving import BodyTooLarge, ClientGone, read_body

        try:
            raw = await read_body(request, max_body)
        except BodyTooLarge:
            raise _TooLarge() from None
        except ClientGone:
            raise BadReview("the client closed the connection before sending the whole body") from None
        try:  # safejson: json.loads raises RecursionError on deep nests, keeps lone surrogates
            return safejson.loads(raw)
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
          client_ca: str | None = None, options: ServerOptions | None = None) -> None:
    """Serve ``app`` over HTTPS until interrupted (TLS 1.2+, or 1.3 only), with the
    shared TLS context, slow-client timeout and rate limit (:mod:`sigstack._internal.serving`)."""
    import dataclasses

    from sigstack._internal.serving import run

    options = dataclasses.replace(options or ServerOptions(), tls_cert=cert, tls_key=key, client_ca=client_ca,
                                  tls13_only=tls13_only)
    run(app, host, port, options)
