"""The log explorer: server-rendered pages for people, served beside the Rekor API.

``/`` searches (the query is in the URL so a search can be linked), ``/entry/<id>``
shows one entry and ``/log`` the tree. Pages are plain HTML from Jinja2 templates with
autoescaping on (entry bodies are attacker-controlled) and a Content-Security-Policy
that allows only this server's own scripts; they work without JavaScript. With it,
the browser checks what the server claims (inclusion proofs, checkpoint signatures,
consistency between checkpoints) itself, with WebCrypto (static/merkle.js), so the
explorer does not ask to be trusted about its own log.
"""

from __future__ import annotations

from sigstack.tlog.explorer.views import explorer_routes

__all__ = ["explorer_routes"]
