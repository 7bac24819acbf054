"""Cloud and server KMS backends: ``awskms://``, ``gcpkms://``, ``azurekms://``, ``hashivault://``.

Each module exposes ``BACKEND`` (a :class:`sigstack.keys.refs.KeyBackend`). The
private key never leaves the service: signing sends the digest, verification
uses the public key fetched from the service.
"""
