"""Per-client rate limiting for the servers: a token bucket per client address, as ASGI
middleware in front of the app.

Rekor and Fulcio leave rate limiting to the proxy in front of them (an ingress that
answers 429 with ``Retry-After``); sigstack's servers run without one, so each can
limit itself: a bucket of ``burst`` tokens per client address, refilled at ``rate``
tokens a second, one token per request. A request finding the bucket empty gets 429
with ``Retry-After`` (whole seconds until a token is back, at least 1) and a one-line
message in the server's own error shape. Off unless asked for (``rate`` 0), so tests
and benchmarks that hammer one server from one address are not throttled.

The client address is the one uvicorn puts in the ASGI scope (the peer, or the
``X-Forwarded-For`` address when the peer is a trusted proxy: uvicorn's
``forwarded_allow_ips``). The table of buckets is bounded (least recently seen client
evicted first), so a client cycling through addresses cannot grow memory without end.
Written by hand: the ASGI rate-limit libraries (slowapi, asgi-ratelimit) bring a
storage layer (limits, redis) and decorators per route for a dozen lines of arithmetic.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: (status, message) -> (body, content type) of the 429 answer
Render = Callable[[int, str], tuple[bytes, str]]


def plain(status: int, message: str) -> tuple[bytes, str]:
    return (message + "\n").encode(), "text/plain; charset=utf-8"


class TokenBuckets:
    """``burst`` tokens per key, refilled at ``rate`` a second; thread-safe."""

    def __init__(self, rate: float, burst: int, max_clients: int = 65536,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate, self.burst, self.max_clients, self.clock = rate, max(1, burst), max_clients, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when ``key`` may go ahead (a token taken), else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, when = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            return wait


class RateLimit:
    """ASGI middleware: ``app`` behind :class:`TokenBuckets` keyed by client address;
    ``exempt`` paths (health probes) are never limited."""

    def __init__(self, app: Any, rate: float, burst: int, render: Render = plain,
                 exempt: tuple[str, ...] = ("/healthz",)) -> None:
        self.app, self.render, self.exempt = app, render, exempt
        self.buckets = TokenBuckets(rate, burst)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(str(client[0]) if client else "")
        if not wait:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body, content_type = self.render(429, f"rate limit exceeded for this client: retry after {retry} s")
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", content_type.encode()), (b"retry-after", str(retry).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
