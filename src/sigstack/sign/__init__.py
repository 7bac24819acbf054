"""Signing flows: what gets signed, by which signer, and where the result goes."""

from sigstack.sign.blob import sign_blob

__all__ = ["sign_blob"]
