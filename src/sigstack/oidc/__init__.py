"""A development OIDC issuer for testing keyless signing. NOT FOR PRODUCTION.

It mints identity tokens for whatever identity it is asked for, to anyone who can
reach it; it exists so a private Sigstore (our CA) can be exercised end to end on
one machine without a real identity provider.
"""
