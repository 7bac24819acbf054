"""Helpers shared by the command modules.

The environment is read here, at the edge, and passed to the library as values:
cosign's ``COSIGN_REPOSITORY`` (where attachments are kept) and
``COSIGN_DOCKER_MEDIA_TYPES`` (new legacy images with Docker media types) are library
parameters (``target_repository``, ``docker_types``), so a library caller chooses them
without touching ``os.environ``.
"""

from __future__ import annotations

import os

from sigstack.cli._args import TRUE


def target_repository() -> str | None:
    """``COSIGN_REPOSITORY``, checked now (so a bad value fails before any prompt or
    request, naming the variable); None when unset or empty."""
    value = os.environ.get("COSIGN_REPOSITORY", "")
    if not value:
        return None
    from sigstack.errors import ReferenceError, RegistryError
    from sigstack.oci.reference import parse_repository

    try:
        parse_repository(value)
    except ReferenceError as exc:
        raise RegistryError(f"parsing COSIGN_REPOSITORY: {exc}") from None
    return value


def docker_types() -> bool:
    """``COSIGN_DOCKER_MEDIA_TYPES`` as cosign reads it (any Go ``strconv`` true value)."""
    return os.environ.get("COSIGN_DOCKER_MEDIA_TYPES", "").strip() in TRUE
