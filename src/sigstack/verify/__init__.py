"""Verification: check signatures and, later, log evidence and identity policies."""

from sigstack.verify.blob import decode_signature, verify_blob

__all__ = ["decode_signature", "verify_blob"]
