"""``k8s://NAMESPACE/NAME``: a key pair kept in a Kubernetes Secret, as cosign keeps it.

The Secret's data keys are ``cosign.key`` (the encrypted PEM of
:mod:`sigstack.keys.encrypted`), ``cosign.pub`` and ``cosign.password``. Signing
decrypts ``cosign.key`` with the stored password; verifying uses ``cosign.pub``.
``generate`` creates an immutable Secret. Unlike cosign (which updates an existing
Secret in place) we refuse to replace one: the old private key would be lost and,
the Secret being immutable, the API server would reject the update anyway.

The cluster is reached with the official ``kubernetes`` client: the kubeconfig's
current context (``KUBECONFIG`` or ``~/.kube/config``), else the in-cluster
service-account config, the same order as cosign's client.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from sigstack.errors import KeyLoadError, KeyRefError
from sigstack.keys._remote import require
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.encrypted import decrypt_private_key
from sigstack.keys.pair import generate_key_pair
from sigstack.keys.pem import load_public_key_pem
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier

_REF_RE = re.compile(r"^k8s://([^/]+)/([^/]+)$")
_FORMAT_ERROR = "kubernetes specification should be in the format k8s://<namespace>/<secret>"

KEY_FIELD = "cosign.key"
PUB_FIELD = "cosign.pub"
PASSWORD_FIELD = "cosign.password"


class SecretNotFound(KeyLoadError):
    """The named Secret does not exist (HTTP 404)."""


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str

    @classmethod
    def parse(cls, ref: str) -> SecretRef:
        m = _REF_RE.match(ref)
        if m is None:
            raise KeyRefError(_FORMAT_ERROR)
        return cls(m.group(1), m.group(2))


def _core_api() -> Any:
    require("kubernetes", "k8s", "k8s:// key references")
    from kubernetes import client, config

    # Read KUBECONFIG now: the client library captures it once, at import time.
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        api_client = config.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call, unused-ignore]
    except Exception as kube_exc:  # missing or malformed kubeconfig: try in-cluster next
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call, unused-ignore]
        except Exception:
            text = str(kube_exc).strip()
            first = text.splitlines()[0] if text else type(kube_exc).__name__
            raise KeyLoadError(
                f"kubernetes: no usable kubeconfig ({first}) and not running inside a cluster"
            ) from None
        api_client = client.ApiClient(cfg)
    return client.CoreV1Api(api_client)


def _api_error(exc: Any, sref: SecretRef, action: str) -> KeyLoadError:
    """One line from an ApiException: the Status message the API server sent."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(exc.body or "{}").get("message", "")
    detail = message or f"HTTP {exc.status} {exc.reason}"
    return KeyLoadError(f"kubernetes: {action} secret {sref.name} in namespace {sref.namespace}: {detail}")


def _call(sref: SecretRef, action: str, fn: Any, *args: Any, **kw: Any) -> Any:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return fn(*args, **kw)
    except ApiException as exc:
        if exc.status == 404 and action == "reading":
            raise SecretNotFound(
                f"kubernetes: secret {sref.name} not found in namespace {sref.namespace}"
            ) from None
        if exc.status == 409:
            raise _already_exists(sref) from None
        raise _api_error(exc, sref, action) from None
    except HTTPError as exc:
        raise KeyLoadError(f"kubernetes: cannot reach the API server: {exc}") from None


def read_secret(ref: str) -> tuple[SecretRef, dict[str, bytes]]:
    sref = SecretRef.parse(ref)
    secret = _call(sref, "reading", _core_api().read_namespaced_secret, sref.name, sref.namespace)
    data: dict[str, bytes] = {}
    for key, value in (secret.data or {}).items():
        try:
            data[key] = base64.b64decode(value, validate=True)
        except ValueError:
            raise KeyLoadError(f"kubernetes: secret {sref.name} field {key} is not valid base64") from None
    return sref, data


def _field(sref: SecretRef, data: dict[str, bytes], key: str) -> bytes:
    if key not in data:
        raise KeyLoadError(
            f"kubernetes: secret {sref.name} in namespace {sref.namespace} has no {key!r} field; "
            "was it made by generate-key-pair k8s://...?"
        )
    return data[key]


class KubernetesBackend:
    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        sref, data = read_secret(ref)
        pem = _field(sref, data, KEY_FIELD)
        pw = _field(sref, data, PASSWORD_FIELD)
        return PrivateKeySigner(decrypt_private_key(pem, pw))

    def verifier(self, ref: str) -> Verifier:
        sref, data = read_secret(ref)
        return PublicKeyVerifier(load_public_key_pem(_field(sref, data, PUB_FIELD)))

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        sref = SecretRef.parse(ref)
        api = _core_api()  # first: it names the missing extra
        from kubernetes import client

        try:  # fail before asking for a password when the Secret is already there
            _call(sref, "reading", api.read_namespaced_secret, sref.name, sref.namespace)
        except SecretNotFound:
            pass
        else:
            raise _already_exists(sref)
        pw = password(True)
        pair = generate_key_pair(pw)
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=sref.name, namespace=sref.namespace),
            immutable=True,
            data={
                KEY_FIELD: base64.b64encode(pair.private_pem).decode(),
                PUB_FIELD: base64.b64encode(pair.public_pem).decode(),
                PASSWORD_FIELD: base64.b64encode(pw).decode(),
            },
        )
        created = _call(sref, "creating", api.create_namespaced_secret, sref.namespace, body)
        name = created.metadata.name if created.metadata else sref.name
        namespace = created.metadata.namespace if created.metadata else sref.namespace
        return GeneratedKey(
            public_pem=pair.public_pem,
            messages=(f"Successfully created secret {name} in namespace {namespace}",),
        )


def _already_exists(sref: SecretRef) -> KeyLoadError:
    return KeyLoadError(
        f"kubernetes: secret {sref.name} already exists in namespace {sref.namespace}; "
        f"refusing to replace it (delete it first: kubectl delete secret -n {sref.namespace} {sref.name})"
    )


BACKEND = KubernetesBackend()


def core_api() -> Any:
    """The ``CoreV1Api`` of the current kubeconfig context, else the in-cluster config
    (the admission webhook reads pull secrets and service accounts with it)."""
    return _core_api()
