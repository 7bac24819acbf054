"""Run the log service: open the store, load the key, serve the app with uvicorn."""

from __future__ import annotations

import socket

from sigstack._internal.serving import ServerOptions
from sigstack.keys.base import PasswordProvider
from sigstack.tlog.api import DEFAULT_MAX_BODY, create_app
from sigstack.tlog.log import Log
from sigstack.tlog.logkey import load_log_signer
from sigstack.tlog.store import open_store


def rekor_error(status: int, message: str) -> tuple[bytes, str]:
    """Rekor's error shape, for the rate limiter's 429."""
    import json

    return json.dumps({"code": status, "message": message}).encode(), "application/json"


def build_log(db: str, key: str, hostname: str | None = None,
              password: PasswordProvider | bytes | None = None, max_batch: int = 1024) -> Log:
    name = hostname or socket.gethostname()
    signer = load_log_signer(key, name, password)
    return Log(open_store(db), signer, name, max_batch=max_batch)


def serve(db: str, key: str, host: str = "127.0.0.1", port: int = 3000, hostname: str | None = None,
          password: PasswordProvider | bytes | None = None, max_body: int = DEFAULT_MAX_BODY,
          options: ServerOptions | None = None) -> None:
    from sigstack._internal.serving import run

    log = build_log(db, key, hostname, password)
    try:
        run(create_app(log, max_body), host, port, options, render=rekor_error)
    finally:
        log.store.close()
