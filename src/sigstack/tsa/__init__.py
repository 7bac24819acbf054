"""An RFC 3161 timestamp authority compatible with sigstore/timestamp-authority's API,
and the client that asks one for a signed timestamp of a signature."""
