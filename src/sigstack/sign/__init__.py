"""Signing flows: what gets signed, by which signer, and where the result goes."""

from sigstack.sign.blob import SignedBlob, sign_blob, sign_blob_loading_key

__all__ = ["SignedBlob", "sign_blob", "sign_blob_loading_key"]
