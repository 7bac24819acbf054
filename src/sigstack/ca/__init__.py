"""A Fulcio-compatible certificate authority and its RFC 6962 CT log.

``authority`` issues Fulcio's code-signing certificates (precertificate, SCT,
final certificate), ``tokens``/``identity``/``config`` turn an OIDC token into the
identity those certificates carry, ``ctlog`` is the certificate transparency log
built on the transparency log's Merkle store, and ``api``/``ct_api`` are their HTTP
faces. ``client`` asks a CA (ours or Fulcio) for a certificate.
"""
