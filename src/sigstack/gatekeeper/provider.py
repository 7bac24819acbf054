"""Gatekeeper external data: ``ProviderRequest`` in, ``ProviderResponse`` out.

The wire format is ``externaldata.gatekeeper.sh/v1beta1`` (the v1alpha1 shapes are the
same, and answered in the version asked): ``{"request": {"keys": [...]}}`` in,
``{"response": {"idempotent": true, "items": [{"key", "value", "error"}],
"systemError": ""}}`` out. Two providers share the engine:

* **verify** (``/verify``): each key is an image; its value is
  ``{"digest", "policies", "warnings"}`` when every matching policy passes, else its
  ``error`` is why (policy-controller's messages). A ConstraintTemplate denies on
  ``error``.
* **resolve** (``/resolve``): each key is an image; its value is the digest reference
  ``<repository>@<digest>`` (an ``Assign`` mutation rewrites tags with it), or an error.

Gatekeeper caches each key's result, errors included, for three minutes. A failure
that may pass by itself (a registry timeout, an unreachable API) must not be cached
as a denial, so it is reported as the response's ``systemError`` instead: Gatekeeper
then fails the request (per its ``failurePolicy``) without caching the keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sigstack.errors import RegistryError, SigstackError
from sigstack.oci.client import RegistryReader
from sigstack.oci.reference import Reference, parse_reference
from sigstack.policy import fielderror as fe
from sigstack.policy.engine import DecisionCache, Engine, Resource, Verdict

VERSIONS = ("externaldata.gatekeeper.sh/v1beta1", "externaldata.gatekeeper.sh/v1alpha1")
MAX_KEYS = 1000


class BadProviderRequest(SigstackError):
    """Not a ProviderRequest (HTTP 400)."""


def parse_request(body: Any) -> tuple[str, list[str]]:
    """(apiVersion, keys) of a ProviderRequest."""
    if not isinstance(body, dict):
        raise BadProviderRequest("the request body is not a JSON object")
    version = body.get("apiVersion")
    if version not in VERSIONS or body.get("kind") != "ProviderRequest":
        raise BadProviderRequest(f"expected an {VERSIONS[0]} ProviderRequest, got apiVersion {version!r} "
                                 f"kind {body.get('kind')!r}")
    req = body.get("request")
    keys = req.get("keys") if isinstance(req, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BadProviderRequest("request.keys must be a list of strings")
    if len(keys) > MAX_KEYS:
        raise BadProviderRequest(f"too many keys: {len(keys)} (at most {MAX_KEYS})")
    return str(version), keys


def response(version: str, items: Sequence[dict[str, Any]], system_error: str = "") -> dict[str, Any]:
    return {"apiVersion": version, "kind": "ProviderResponse",
            "response": {"idempotent": True, "items": list(items), "systemError": system_error}}


def verdict_error(verdict: Verdict) -> str | None:
    """Why ``verdict`` denies, in one line (None: it admits)."""
    if verdict.match_error is not None:
        return verdict.match_error
    if verdict.no_match is not None:
        return None if verdict.no_match.level == fe.WARNING else f"no matching policies: {verdict.image}"
    parts = []
    for o in verdict.outcomes:
        if o.result is None:
            errs = [e.message for e in o.errors if e.level == fe.ERROR]
            if errs or not o.errors:
                parts.append(f"failed policy: {o.policy.name}: " + ("; ".join(errs) or "failed to process policy"))
    return "; ".join(parts) or None


def _warnings(verdict: Verdict) -> list[str]:
    out = []
    if verdict.no_match is not None and verdict.no_match.level == fe.WARNING:
        out.append(f"no matching policies: {verdict.image}")
    for o in verdict.outcomes:
        out += [f"failed policy: {o.policy.name}: {e.message}" for e in o.errors if e.level == fe.WARNING]
    return out


class Provider:
    """Both providers over one engine (``engine()`` gives the current one: policies reload)."""

    def __init__(self, engine: Any, client: RegistryReader, cache: DecisionCache | None = None) -> None:
        self._engine = engine
        self.client = client
        self.cache = cache if cache is not None else DecisionCache()

    def engine(self) -> Engine:
        e: Engine = self._engine() if callable(self._engine) else self._engine
        return e

    def _digest(self, key: str) -> tuple[Reference, str] | dict[str, Any] | str:
        """The key's reference and digest (a tag is resolved); else its per-key error item,
        or the system error (a transient registry failure, which Gatekeeper must not cache)."""
        try:
            ref = parse_reference(key)
            return ref, ref.digest or self.client.get_manifest(ref).descriptor().digest
        except RegistryError as exc:
            if exc.status == 404:
                return {"key": key, "error": f"image not found: {exc.message}"}
            return f"{key}: registry unavailable: {exc.message}"
        except SigstackError as exc:
            return {"key": key, "error": exc.message}

    def verify(self, body: Any) -> dict[str, Any]:
        version, keys = parse_request(body)
        engine = self.engine()
        items: list[dict[str, Any]] = []
        for key in keys:
            found = self._digest(key)
            if isinstance(found, str):
                return response(version, [], found)
            if isinstance(found, dict):
                items.append(found)
                continue
            ref, digest = found
            # by digest: a tag may move, and the cache is keyed by the reference
            verdict = engine.evaluate(f"{ref.repository.name}@{digest}", lambda _names: self.client, Resource(),
                                      self.cache)
            if any(o.transient for o in verdict.outcomes):
                reasons = "; ".join(e.message for o in verdict.outcomes if o.transient for e in o.errors)
                return response(version, [], f"{key}: {reasons}")
            error = verdict_error(verdict)
            if error is not None:
                items.append({"key": key, "error": error})
            else:
                names = [o.policy.name for o in verdict.outcomes]
                items.append({"key": key, "value": {"digest": digest, "policies": names,
                                                    "warnings": _warnings(verdict)}})
        return response(version, items)

    def resolve(self, body: Any) -> dict[str, Any]:
        version, keys = parse_request(body)
        items: list[dict[str, Any]] = []
        for key in keys:
            found = self._digest(key)
            if isinstance(found, str):
                return response(version, [], found)
            if isinstance(found, dict):
                items.append(found)
                continue
            ref, digest = found
            items.append({"key": key, "value": f"{ref.repository.name}@{digest}"})
        return response(version, items)
