"""sigstack: sign and verify software artifacts, compatible with cosign, Rekor and Fulcio.

The public API is deliberately small and re-exported here lazily (PEP 562
``__getattr__``), so that ``import sigstack`` -- which every CLI start pays -- costs
almost nothing; the heavy imports happen only when a name is used. docs/api.md shows
each of these names at work (its examples are run by the test suite).

Example::

    import sigstack
    signer = sigstack.load_signer("cosign.key", password=lambda confirm: b"pw")
    sig = sigstack.sign_blob(signer, open("artifact", "rb"))
    sigstack.verify_blob(sigstack.load_verifier("cosign.pub"), sig, open("artifact", "rb"))
"""

from __future__ import annotations

from sigstack._version import __version__

# Not ``typing.TYPE_CHECKING``: importing typing is ~5 ms of every CLI start, and type
# checkers treat any constant of this name the same way.
TYPE_CHECKING = False

_LAZY = {
    # errors
    "SigstackError": "sigstack.errors",
    "VerificationError": "sigstack.errors",
    # keys
    "Signer": "sigstack.keys",
    "Verifier": "sigstack.keys",
    "load_signer": "sigstack.keys",
    "load_verifier": "sigstack.keys",
    "generate_key_pair": "sigstack.keys",
    "import_key_pair": "sigstack.keys",
    # blobs
    "sign_blob": "sigstack.sign",
    "sign_blob_to_log": "sigstack.sign",
    "verify_blob": "sigstack.verify",
    "verify_blob_evidence": "sigstack.verify",
    # the verification pipeline and the log
    "LogPolicy": "sigstack.verify.evidence",
    "trusted_log_keys": "sigstack.verify.evidence",
    "Bundle": "sigstack.bundle.models",
    "RekorClient": "sigstack.tlog.client",
    # images and attestations
    "RegistryClient": "sigstack.oci.client",
    "RegistryOptions": "sigstack.oci.client",
    "parse_reference": "sigstack.oci.reference",
    "ImageSignOptions": "sigstack.sign.image",
    "sign_image": "sigstack.sign.image",
    "AttestOptions": "sigstack.sign.attest",
    "attest_image": "sigstack.sign.attest",
    "ImageVerifyOptions": "sigstack.verify.image",
    "verify_image": "sigstack.verify.image",
    "AttestationVerifyOptions": "sigstack.verify.attestation",
    "verify_attestations": "sigstack.verify.attestation",
}

__all__ = [
    "AttestOptions",
    "AttestationVerifyOptions",
    "Bundle",
    "ImageSignOptions",
    "ImageVerifyOptions",
    "LogPolicy",
    "RegistryClient",
    "RegistryOptions",
    "RekorClient",
    "Signer",
    "SigstackError",
    "VerificationError",
    "Verifier",
    "__version__",
    "attest_image",
    "generate_key_pair",
    "import_key_pair",
    "load_signer",
    "load_verifier",
    "parse_reference",
    "sign_blob",
    "sign_blob_to_log",
    "sign_image",
    "trusted_log_keys",
    "verify_attestations",
    "verify_blob",
    "verify_blob_evidence",
    "verify_image",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from typing import Any

    from sigstack.bundle.models import Bundle
    from sigstack.errors import SigstackError, VerificationError
    from sigstack.keys import (
        Signer,
        Verifier,
        generate_key_pair,
        import_key_pair,
        load_signer,
        load_verifier,
    )
    from sigstack.oci.client import RegistryClient, RegistryOptions
    from sigstack.oci.reference import parse_reference
    from sigstack.sign import sign_blob, sign_blob_to_log
    from sigstack.sign.attest import AttestOptions, attest_image
    from sigstack.sign.image import ImageSignOptions, sign_image
    from sigstack.tlog.client import RekorClient
    from sigstack.verify import verify_blob, verify_blob_evidence
    from sigstack.verify.attestation import AttestationVerifyOptions, verify_attestations
    from sigstack.verify.evidence import LogPolicy, trusted_log_keys
    from sigstack.verify.image import ImageVerifyOptions, verify_image


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sigstack' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
