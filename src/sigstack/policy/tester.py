"""policy-controller's ``policy-tester`` as a library call: one image against the
policies of one document, offline but for the registry.

Semantics as ``cmd/tester``: the policies are validated first (an invalid one is
``CIP is invalid: ...`` and nothing is verified); no digest is required (tags are
resolved); no matching policy denies (``<image> is uncovered by policy``); the
matching policies are checked in turn and the first error ends the run; warnings
(``mode: warn``, policy warnings) are collected and reported only beside an error,
exactly as the tester prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sigstack.errors import PolicyError, SigstackError
from sigstack.oci.client import RegistryReader
from sigstack.policy import fielderror as fe
from sigstack.policy.engine import ClientFor, Engine, KeylessVerifier, Resource, Settings, compile_policies
from sigstack.policy.models import PolicyDocuments, TrustRoot, parse_documents


@dataclass(frozen=True)
class TestResult:
    """``errors`` empty: the image passed (the tester prints nothing and exits 0)."""

    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_json(self) -> bytes:
        """The tester's line: ``{"errors":[...],"warnings":[...]}`` (Go's omitempty)."""
        from sigstack.payload import gojson

        out: dict[str, Any] = {}
        if self.errors:
            out["errors"] = list(self.errors)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return gojson.dumps(out)


def load_documents(text: str, source_field: str = "path") -> PolicyDocuments:
    """Parse and validate, wording a failure as the tester's ``CIP is invalid: ...``."""
    try:
        return parse_documents(text)
    except PolicyError as exc:
        err = fe.invalid_value(exc.message, source_field).via_index("policies", 0)
        raise PolicyError(f"CIP is invalid: {fe.render([err])}") from None


def resource_from(obj: Mapping[str, Any]) -> Resource:
    """A Kubernetes object (``--resource``) as the tester reads it."""
    for k in ("metadata", "spec", "kind", "apiVersion"):
        if k not in obj:
            raise PolicyError(f"kubernetes resource is missing {k} key")
    meta = obj["metadata"] if isinstance(obj["metadata"], dict) else {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    return Resource(kind=str(obj["kind"]), api_version=str(obj["apiVersion"]),
                    namespace=str(meta.get("namespace") or ""), labels=labels, spec=obj["spec"],
                    object_meta=obj["metadata"],
                    type_meta={"kind": obj["kind"], "apiVersion": obj["apiVersion"]})


def run(docs: PolicyDocuments, image: str, client_for: ClientFor, *, resource: Resource | None = None,
        trust_root: TrustRoot | None = None, enable_oci11: bool = False,
        keyless: KeylessVerifier | None = None) -> TestResult:
    """``policy-tester -policy ... -image IMAGE``: the errors and warnings it prints."""
    from sigstack.oci.reference import parse_reference

    parse_reference(image)  # the tester's log.Fatal(err) on a bad reference
    warnings = [f"policy 0: {w}" for w in docs.warnings]
    roots = [*docs.trust_roots, *([trust_root] if trust_root is not None else [])]
    compiled = compile_policies(docs)
    engine = Engine(compiled, Settings(no_match_policy="deny", enable_oci11=enable_oci11), trust_roots=roots,
                    keyless=keyless)
    resource = resource or Resource()
    try:
        found = engine.matching(parse_reference(image).name, resource)
    except SigstackError as exc:
        return TestResult((exc.message,), tuple(warnings))
    if not found:
        return TestResult((f"{image} is uncovered by policy",), tuple(warnings))
    ref = parse_reference(image)
    for p in found:
        outcome = engine.evaluate_policy(p, ref, client_for, resource)
        if outcome.result is not None:
            continue
        for err in outcome.errors:
            text = fe.render([err]).strip("\n")
            if err.level == fe.WARNING:
                warnings.append(text)
            else:
                return TestResult((text,), tuple(warnings))
    return TestResult((), tuple(warnings))


def fixed_client(client: RegistryReader) -> ClientFor:
    """Every authority reads with ``client`` (no per-authority pull secrets)."""
    return lambda _secrets: client
