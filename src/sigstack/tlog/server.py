"""Run the log service: open the store, load the key, serve the app with uvicorn."""

from __future__ import annotations

import socket

from sigstack.keys.base import PasswordProvider
from sigstack.tlog.api import DEFAULT_MAX_BODY, create_app
from sigstack.tlog.log import Log
from sigstack.tlog.logkey import load_log_signer
from sigstack.tlog.store import open_store


def build_log(db: str, key: str, hostname: str | None = None,
              password: PasswordProvider | bytes | None = None, max_batch: int = 1024) -> Log:
    name = hostname or socket.gethostname()
    signer = load_log_signer(key, name, password)
    return Log(open_store(db), signer, name, max_batch=max_batch)


def serve(db: str, key: str, host: str = "127.0.0.1", port: int = 3000, hostname: str | None = None,
          password: PasswordProvider | bytes | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
    import uvicorn

    log = build_log(db, key, hostname, password)
    try:
        uvicorn.run(create_app(log, max_body), host=host, port=port, log_level="warning",
                    access_log=False, timeout_graceful_shutdown=5)
    finally:
        log.store.close()
