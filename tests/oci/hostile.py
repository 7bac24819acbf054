"""A tiny HTTP double of a (misbehaving) registry, for cases no real registry
produces on demand: content not matching its digest, oversized manifests,
redirect loops, 403s, 429/503 storms, endless or trickling bodies, and the bearer-token challenge flow of the
distribution token-auth spec. It is a double, not a registry: each test installs
the exact responses it needs with ``route``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: a body that is not bytes is an iterable of chunks, sent as they come (a registry that
#: streams forever or trickles), without a Content-Length
Response = tuple[int, dict[str, str], "bytes | Iterable[bytes]"]
Handler = Callable[[BaseHTTPRequestHandler], Response]


class HostileRegistry:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.hits: dict[str, int] = {}
        routes, hits = self.routes, self.hits

        class H(BaseHTTPRequestHandler):
            def _go(self) -> None:
                key = (self.command, self.path.split("?")[0])
                hits[key[1]] = hits.get(key[1], 0) + 1
                handler = routes.get(key) or routes.get((self.command, "*"))
                if handler is None:
                    status, headers, body = 404, {"Content-Type": "application/json"}, \
                        b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}'
                else:
                    status, headers, body = handler(self)
                if status == 0:  # hang up without an answer (a dropped connection)
                    self.close_connection = True
                    return
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not isinstance(body, bytes):  # a stream: no length, the body ends when we hang up
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        for chunk in body:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                    except OSError:  # the client gave up, as it should
                        pass
                    return
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _go

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.route("GET", "/v2/", lambda _: (200, {}, b"{}"))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bearer(self, user: str, password: str, repo: str) -> str:
        """Protect the API with a bearer challenge; returns the token it will accept."""
        token = "tok-" + base64.b64encode(f"{user}:{repo}".encode()).decode()
        realm = f"http://{self.host}/token"
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        def token_endpoint(req: BaseHTTPRequestHandler) -> Response:
            if req.headers.get("Authorization") != expected:
                return 401, {}, b'{"errors":[{"code":"UNAUTHORIZED"}]}'
            if f"scope=repository%3A{repo.replace('/', '%2F')}%3Apull" not in req.path:
                return 403, {}, b""
            return 200, {"Content-Type": "application/json"}, json.dumps({"token": token}).encode()

        self.route("GET", "/token", token_endpoint)
        challenge = f'Bearer realm="{realm}",service="hostile",scope="repository:{repo}:pull"'
        self.route("GET", "/v2/", lambda req: (401, {"WWW-Authenticate": challenge}, b"{}"))
        return token
