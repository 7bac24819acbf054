"""Fixtures for the Gatekeeper provider tests: the registry, a key pair and TLS
material (shared with tests/admission)."""

from tests.admission.conftest import keypair, registry, tls

__all__ = ["keypair", "registry", "tls"]
