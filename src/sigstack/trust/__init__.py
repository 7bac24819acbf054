"""Trust material for keyless verification: the TUF client that fetches and caches
Sigstore's ``trusted_root.json`` and signing config (:mod:`sigstack.trust.tuf`), and
the embedded public-good TUF roots (``roots/``). Imports nothing itself: ``tuf`` is
loaded only when a TUF operation runs."""
