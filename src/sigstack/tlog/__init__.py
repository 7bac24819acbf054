"""The transparency log: a Rekor v1 compatible service (``api``), its storage
(``store``), entry types (``entries``), Merkle proofs (``merkle``), signed
checkpoints (``checkpoint``) and the client that uploads and verifies (``client``).
"""
