"""A whole Sigstore on one machine: the development OIDC issuer, the CA with its CT
log, and the transparency log in one process, with the trust material to use them."""
