"""Verification: check signatures and, later, log evidence and identity policies."""

from sigstack.verify.blob import LogPolicy, decode_signature, verify_blob, verify_blob_evidence

__all__ = ["LogPolicy", "decode_signature", "verify_blob", "verify_blob_evidence"]
