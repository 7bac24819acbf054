"""An HTTP double of the Kubernetes core/v1 Secrets API, over TLS with a bearer token.

No kube-apiserver can be installed on these machines, so the k8s:// tests talk to
this instead. It serves the real paths and JSON shapes that both the Python
``kubernetes`` client and cosign's client-go call:

* ``GET  /api/v1/namespaces/{ns}/secrets/{name}`` -> 200 Secret, or 404 Status (NotFound)
* ``POST /api/v1/namespaces/{ns}/secrets``        -> 201 Secret, or 409 Status (AlreadyExists)
* ``PUT  /api/v1/namespaces/{ns}/secrets/{name}`` -> 200, or 422 when changing an immutable Secret
* ``GET  /version`` -> the server version (client-go asks it before using ``immutable``)
* request bodies in JSON, or in the Kubernetes protobuf envelope that client-go
  (cosign) sends: ``k8s\\0`` + ``runtime.Unknown`` wrapping a ``v1.Secret``
  message, decoded here with a minimal protobuf wire reader (the fields of
  ``k8s.io/api/core/v1/generated.proto`` it needs); replies are always JSON,
  which the clients accept.
* any request without ``Authorization: Bearer <token>`` -> 401; any request in a
  namespace listed in ``forbidden`` -> 403 Status (Forbidden), as RBAC denies it.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._http import JsonHandler

_ITEM = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets/([^/?]+)(?:\?.*)?$")
_COLLECTION = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets/?(?:\?.*)?$")


def write_kubeconfig(path: Path, url: str, ca_pem: bytes, token: str, user: str, namespace: str) -> Path:
    """A kubeconfig naming the double at ``url`` (its CA as data, a bearer token), as the
    ``kubernetes`` client and cosign read it."""
    import base64

    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: double
  cluster:
    server: {url}
    certificate-authority-data: {base64.b64encode(ca_pem).decode()}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: double
  context: {{cluster: double, user: {user}, namespace: {namespace}}}
current-context: double
""")
    return path


@dataclass
class K8sState:
    token: str
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    forbidden: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, content-type
    lock: threading.Lock = field(default_factory=threading.Lock)


def status(code: int, reason: str, message: str, name: str = "") -> dict[str, Any]:
    return {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason,
        "details": {"name": name, "kind": "secrets"}, "code": code,
    }


def _wire(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one protobuf message: varints and bytes only."""
    out: list[tuple[int, int | bytes]] = []
    i = 0

    def varint() -> int:
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(buf):
        key = varint()
        num, wtype = key >> 3, key & 7
        if wtype == 0:
            out.append((num, varint()))
        elif wtype == 2:
            n = varint()
            out.append((num, buf[i : i + n]))
            i += n
        else:
            raise ValueError(f"unexpected protobuf wire type {wtype}")
    return out


def secret_from_protobuf(data: bytes) -> dict[str, Any]:
    """A v1.Secret from client-go's protobuf envelope, as the JSON dict the API would hold."""
    import base64

    if not data.startswith(b"k8s\x00"):
        raise ValueError("not a Kubernetes protobuf envelope")
    raw = next(v for n, v in _wire(data[4:]) if n == 2)
    assert isinstance(raw, bytes)
    secret: dict[str, Any] = {"metadata": {}, "data": {}}
    for num, value in _wire(raw):
        if num == 1 and isinstance(value, bytes):
            for mnum, mval in _wire(value):
                if mnum in (1, 3) and isinstance(mval, bytes):
                    secret["metadata"]["name" if mnum == 1 else "namespace"] = mval.decode()
        elif num == 2 and isinstance(value, bytes):
            entry = dict(_wire(value))
            key, val = entry.get(1, b""), entry.get(2, b"")
            assert isinstance(key, bytes) and isinstance(val, bytes)
            secret["data"][key.decode()] = base64.b64encode(val).decode()
        elif num == 3 and isinstance(value, bytes):
            secret["type"] = value.decode()
        elif num == 5:
            secret["immutable"] = bool(value)
    return secret


class K8sHandler(JsonHandler):
    state: K8sState

    def secret_body(self) -> dict[str, Any]:
        if "protobuf" in self.headers.get("Content-Type", ""):
            return secret_from_protobuf(self.body())
        body: dict[str, Any] = self.json_body()
        return body

    def _authorised(self, ns: str, name: str, verb: str) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.state.token}":
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return False
        if ns in self.state.forbidden:
            what = f'secrets "{name}" is forbidden' if name else "secrets is forbidden"
            self.send_json(403, status(403, "Forbidden", (
                f'{what}: User "system:serviceaccount:default:signer" cannot {verb} '
                f'resource "secrets" in API group "" in the namespace "{ns}"'), name))
            return False
        return True

    def _record(self) -> None:
        with self.state.lock:
            self.state.requests.append((self.command, self.path, self.headers.get("Content-Type", "")))

    def do_GET(self) -> None:
        self._record()
        if self.path == "/version":
            self.send_json(200, {
                "major": "1", "minor": "30", "gitVersion": "v1.30.0", "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22.0", "compiler": "gc",
                "platform": "linux/amd64"})
            return
        m = _ITEM.match(self.path)
        if not m:
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        ns, name = m.groups()
        if not self._authorised(ns, name, "get"):
            return
        secret = self.state.secrets.get((ns, name))
        if secret is None:
            self.send_json(404, status(404, "NotFound", f'secrets "{name}" not found', name))
            return
        self.send_json(200, secret)

    def do_POST(self) -> None:
        self._record()
        m = _COLLECTION.match(self.path)
        body = self.secret_body()
        if not m:
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        ns = m.group(1)
        name = (body.get("metadata") or {}).get("name", "")
        if not self._authorised(ns, name, "create"):
            return
        with self.state.lock:
            if (ns, name) in self.state.secrets:
                self.send_json(409, status(409, "AlreadyExists", f'secrets "{name}" already exists', name))
                return
            secret = self._stored(body, ns)
            self.state.secrets[(ns, name)] = secret
        self.send_json(201, secret)

    def do_PUT(self) -> None:
        self._record()
        m = _ITEM.match(self.path)
        body = self.secret_body()
        if not m:
            self.send_json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return
        ns, name = m.groups()
        if not self._authorised(ns, name, "update"):
            return
        with self.state.lock:
            old = self.state.secrets.get((ns, name))
            if old is None:
                self.send_json(404, status(404, "NotFound", f'secrets "{name}" not found', name))
                return
            if old.get("immutable") and old.get("data") != body.get("data"):
                self.send_json(422, status(422, "Invalid", (
                    f'Secret "{name}" is invalid: data: Forbidden: field is immutable when '
                    "`immutable` is set"), name))
                return
            secret = self._stored(body, ns)
            self.state.secrets[(ns, name)] = secret
        self.send_json(200, secret)

    @staticmethod
    def _stored(body: dict[str, Any], ns: str) -> dict[str, Any]:
        secret = copy.deepcopy(body)
        secret["kind"] = "Secret"
        secret["apiVersion"] = "v1"
        meta = secret.setdefault("metadata", {})
        meta["namespace"] = ns
        meta.setdefault("uid", str(uuid.uuid4()))
        meta["resourceVersion"] = "1"
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        secret.setdefault("type", "Opaque")
        return secret
