"""Verify an image saved to an OCI layout directory (``verify --local-image``,
``verify-attestation --local-image``), as cosign does.

The directory is opened as a read-only registry view
(:class:`sigstack.oci.ocilayout.LayoutRegistry`) and handed to the same
:func:`~sigstack.verify.image.verify_image` / :func:`~sigstack.verify.attestation.verify_attestations`
that verify images in a registry, so every check (signature, claims, log evidence,
policies) is the one code path. Differences that follow from having no registry:

* the simple-signing payload's ``docker-reference`` is not compared with a
  repository (there is none; cosign does not compare it either);
* with nothing saved the error is :class:`NoSavedSignaturesError`, in cosign's words
  ``no signatures associated with the image saved in DIR``. (The CLI exits 1 for every
  local failure, as cosign's local path does: its errors there are plain errors, not
  the no-signatures/no-match types behind exit codes 10 and 12 for a registry.)
"""

from __future__ import annotations

import dataclasses
import os

from sigstack.errors import NoSavedSignaturesError, NoSignaturesError
from sigstack.keys.base import Verifier
from sigstack.verify.attestation import AttestationVerifyOptions, VerifiedAttestation, verify_attestations
from sigstack.verify.image import ImageVerification, ImageVerifyOptions, verify_image
from sigstack.verify.keyless import Keyless


def verify_local_image(path: str | os.PathLike[str], verifier: Verifier | Keyless,
                       options: ImageVerifyOptions | None = None) -> ImageVerification:
    from sigstack.oci.ocilayout import open_local_image

    source, ref = open_local_image(path)
    opts = dataclasses.replace(options or ImageVerifyOptions(), check_reference=False)
    try:
        return verify_image(source, verifier, ref, opts)
    except NoSignaturesError:
        raise NoSavedSignaturesError(path, "signatures") from None


def verify_local_attestations(path: str | os.PathLike[str], verifier: Verifier | Keyless,
                              options: AttestationVerifyOptions | None = None) -> list[VerifiedAttestation]:
    """:func:`~sigstack.verify.attestation.verify_attestations` over a saved directory."""
    from sigstack.oci.ocilayout import open_local_image

    source, ref = open_local_image(path)
    try:
        return verify_attestations(source, verifier, ref, options)
    except NoSignaturesError:
        raise NoSavedSignaturesError(path, "attestations") from None

