"""Signing flows: what gets signed, by which signer, and where the result goes."""

from sigstack.sign.blob import sign_blob, sign_blob_loading_key

__all__ = ["sign_blob", "sign_blob_loading_key"]
