"""Image globs as policy-controller matches them (``pkg/apis/glob``).

``*`` alone is ``index.docker.io/library/*`` and ``*/*`` is ``index.docker.io/*/*``;
``**`` matches anything, ``*`` anything but ``/``; the whole string must match. The
glob is tried against the normalised reference name (ggcr's ``Name()``: registry,
repository, and ``:tag`` or ``@digest``), then against the text as written. So a
bare repository glob (``ghcr.io/org/img``) matches nothing: users write
``ghcr.io/org/img*`` or ``ghcr.io/org/**``.
"""

from __future__ import annotations

import functools
import re

from sigstack.errors import PolicyError
from sigstack.oci.reference import parse_reference

_VALID = re.compile(r"^[a-zA-Z0-9\-_:/*.@]+$")


@functools.lru_cache(maxsize=1024)
def compile_glob(glob: str) -> re.Pattern[str]:
    """The regular expression for ``glob``; an invalid glob is a :class:`PolicyError`
    worded as policy-controller's (``invalid glob "..."``)."""
    if glob == "*/*":
        glob = "index.docker.io/*/*"
    elif glob == "*":
        glob = "index.docker.io/library/*"
    if not _VALID.match(glob):
        raise PolicyError(f"invalid glob {_go_quote(glob)}")
    rx = glob.replace(".", r"\.").replace("**", "#").replace("*", "[^/]*").replace("#", ".*")
    return re.compile(rx)  # used with fullmatch: Go's ^...$ (no newline before $)


def matches(glob: str, image: str) -> bool:
    """Whether ``image`` (a reference as written) is selected by ``glob``."""
    rx = compile_glob(glob)
    name = parse_reference(image).name
    return bool(rx.fullmatch(name)) or (name != image and bool(rx.fullmatch(image)))


def _go_quote(text: str) -> str:
    """Go's ``%q`` for the printable ASCII text globs are made of."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
