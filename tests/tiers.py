"""The fast tier's vocabulary, shared by tests/conftest.py and the helpers that start
peers and servers (kept apart from conftest so helpers can import it).

Fixture names: a test that uses one of these, directly or through another fixture, is
not in the fast tier. Name a new peer or server fixture here; a peer or server started
another way calls :func:`slow_resource` where it starts.
"""

from __future__ import annotations

import os

import pytest

#: Fixtures that run a reference tool (built by scripts/install-peers). ``peer`` is this
#: suite's name for "the reference tool chosen by a parameter" (a fixture or a
#: parametrized argument whose test calls ``request.getfixturevalue``).
PEER_FIXTURES = frozenset({"cosign", "cosign_v2", "rekor_cli", "sigstore_js", "goproxy", "peer",
                           "timestamp_server", "timestamp_cli"})

#: Fixtures that start a real server: Debian's docker-registry, ``sigstack tlog serve``,
#: PostgreSQL, moto, tinyproxy (in-process HTTP doubles and SoftHSM2 are fast and stay).
SERVER_FIXTURES = frozenset({
    "registry", "tls_registry", "tls_registry_any", "logged_in", "tls_image",
    "tlog_server", "postgres_server", "postgres", "pg_url",
    "moto_kms", "tinyproxy", "authproxy", "sigstore_stack", "tsa",
})


def slow_resource(what: str) -> None:
    """Skip the running test in the fast tier: it reached ``what`` (a peer or a server)
    without a fixture that would have classified it at collection."""
    if os.environ.get("SIGSTACK_TEST_FAST") == "1":
        pytest.skip(f"fast tier: needs {what}")
