"""Registry credentials from Kubernetes pull secrets, as k8schain reads them.

A ``kubernetes.io/dockerconfigjson`` Secret (``.dockerconfigjson``) or a legacy
``kubernetes.io/dockercfg`` one (``.dockercfg``) gives credentials by registry host.
An authority's ``source.signaturePullSecrets`` and a pod's ``imagePullSecrets`` (and
its service account's) become a registry reader that tries them before the default
docker config.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from sigstack.errors import CredentialError, PolicyError
from sigstack.oci.auth import Credentials, from_docker_config_json
from sigstack.oci.client import RegistryReader
from sigstack.policy.models import Secret

DOCKER_KEYS = (".dockerconfigjson", ".dockercfg")


def credentials_of(secrets: Sequence[Secret]) -> dict[str, Credentials]:
    """Credentials by host from ``secrets``, the first secret naming a host winning
    (k8schain's order)."""
    out: dict[str, Credentials] = {}
    for s in secrets:
        raw = next((s.data[k] for k in DOCKER_KEYS if k in s.data), None)
        if raw is None:
            raise CredentialError(f'secret "{s.name}" in namespace "{s.namespace}" is not a docker config '
                                  "secret (no .dockerconfigjson or .dockercfg)")
        for host, creds in from_docker_config_json(raw).items():
            out.setdefault(host, creds)
    return out


def pull_secret_clients(base: RegistryReader, secrets: Sequence[Secret] | Callable[[str], Secret],
                        make: Callable[[Mapping[str, Credentials]], RegistryReader]
                        ) -> Callable[[Sequence[str]], RegistryReader]:
    """A ``ClientFor``: no secret names -> ``base``; names -> a reader (made once per
    set of names) with those secrets' credentials. ``secrets`` is the Secrets given,
    or a lookup by name."""
    made: dict[tuple[str, ...], RegistryReader] = {}
    lock = threading.Lock()

    def lookup(name: str) -> Secret:
        if callable(secrets):
            return secrets(name)
        for s in secrets:
            if s.name == name:
                return s
        raise PolicyError(f'secrets "{name}" not found')

    def client_for(names: Sequence[str]) -> RegistryReader:
        if not names:
            return base
        key = tuple(names)
        with lock:
            if key not in made:
                made[key] = make(credentials_of([lookup(n) for n in names]))
            return made[key]

    return client_for
