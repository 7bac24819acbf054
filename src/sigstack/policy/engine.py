"""Evaluating images against ClusterImagePolicies, as policy-controller does.

``pkg/webhook/validator.go`` is the reference: every policy whose globs (and
``match``) select the image must pass; a policy passes when **one** of its
authorities passes and then its CIP-level ``policy`` (if any) accepts the
authorities' matches; the errors of a failing policy are every authority's error,
each a knative field error at the current field (so it prints as ``"<message>: "``),
downgraded to warnings under ``mode: warn``. The error strings are policy-controller's
and cosign's, byte for byte, because kubectl shows them and people grep for them.

Where this goes past policy-controller (its open issues), the difference is named:
``key.secretRef`` is read in any namespace (#307); ``key.kms`` loads any sigstack key
reference; ``signatureFormat: bundle`` works with key authorities too (cosign v3's
default format; #1958, #1899); a namespaced ``ImagePolicy`` covers only workloads in
its namespace (#810, #298); results are deterministic (policies in name order, not
Go's random map order).

Keyless authorities go through one seam, :class:`KeylessVerifier` (a TrustedRoot and
identity policies in, verified signatures out; implemented by
:func:`sigstack.policy.keyless.verify_keyless`, which the CLI and servers pass in);
an engine built without one fails keyless authorities with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sigstack.errors import PolicyError, RegistryError, SigstackError, VerificationError
from sigstack.keys.base import Verifier as KeyVerifier
from sigstack.oci.client import RegistryReader
from sigstack.oci.reference import Reference, parse_reference
from sigstack.policy import fielderror as fe
from sigstack.policy import rego
from sigstack.policy.fielderror import FieldError
from sigstack.policy.glob import matches
from sigstack.policy.models import (
    Authority,
    ClusterImagePolicy,
    KeyRef,
    Policy,
    PolicyDocuments,
    Secret,
    TrustRoot,
)

NO_MATCH_POLICIES = ("deny", "allow", "warn")
TRUST_ROOT_RESYNC = 24 * 3600.0  # policy-controller's --trustroot-resync-period default
TRUST_ROOT_RETRY = 60.0  # at most one refresh per minute per TrustRoot after a failed verification


# ---- inputs ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """``config-policy-controller``: ``no-match-policy``, ``enable-oci11``,
    ``fail-on-empty-authorities``."""

    no_match_policy: str = "deny"
    enable_oci11: bool = False
    fail_on_empty_authorities: bool = True
    max_workers: int = 4

    def __post_init__(self) -> None:
        if self.no_match_policy not in NO_MATCH_POLICIES:
            raise PolicyError(f'unsupported noMatchPolicy: "{self.no_match_policy}"')


@dataclass(frozen=True)
class Resource:
    """What the image is deployed by: the kind and labels ``match`` selects on, the
    namespace (for ImagePolicies and pull secrets), and what ``includeSpec``,
    ``includeObjectMeta`` and ``includeTypeMeta`` hand the CIP-level policy."""

    kind: str = ""
    api_version: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    spec: Any = None
    object_meta: Any = None
    type_meta: Any = None


#: reads a Secret by (namespace, name); the admission server reads the Kubernetes API
SecretSource = Callable[[str, str], Secret]


class KeylessVerifier(Protocol):
    """The keyless seam: verify ``ref``'s signatures (``attestations=False``) or
    attestation envelopes (``True``) against ``trusted_root`` (a TrustedRoot JSON
    document; None: the public-good root) and the authority's identities (dicts with
    ``issuer``/``subject``/``issuerRegExp``/``subjectRegExp``). Returns, per verified
    item, ``(signed payload, {"subject", "issuer", githubWorkflow*})``; ``oci11``
    (``enable-oci11``) also reads OCI 1.1 referrers; raises
    :class:`~sigstack.errors.VerificationError` worded as cosign's. ``timestamp_root``
    (an ``rfc3161timestamp`` authority's TrustedRoot JSON) names the TSAs whose signed
    timestamps then give the signature's time, the log not being consulted."""

    def __call__(self, client: RegistryReader, ref: Reference, *, trusted_root: bytes | None,
                 identities: Sequence[Mapping[str, str]], attestations: bool,
                 target_repository: str | None, tag_prefix: str, insecure_ignore_sct: bool,
                 bundles: bool, oci11: bool = False,
                 timestamp_root: bytes | None = None) -> list[tuple[bytes, dict[str, str]]]: ...


#: a registry reader for an authority: given its ``signaturePullSecrets`` (empty: the pod's)
ClientFor = Callable[[Sequence[str]], RegistryReader]


# ---- compiled policies ------------------------------------------------------------------

@dataclass(frozen=True)
class CompiledAuthority:
    spec: Authority
    verifier: KeyVerifier | None = None
    problem: str | None = None  # why the key could not be loaded (reported when evaluated)


@dataclass(frozen=True)
class CompiledPolicy:
    spec: ClusterImagePolicy
    authorities: tuple[CompiledAuthority, ...]
    policy_text: str | None = None
    problem: str | None = None  # why a configMapRef/remote policy could not be read (fails the policy)

    @property
    def name(self) -> str:
        return self.spec.key


#: a ``configMapRef``/``remote`` policy's text, given the namespace to read a ConfigMap in
#: when the reference names none (:class:`sigstack.policy.inline.PolicySources`)
PolicyResolver = Callable[[Policy, str], str]


def _secret_key(secret: Secret) -> bytes:
    if len(secret.data) != 1:
        raise PolicyError(f"secret {secret.name!r} in namespace {secret.namespace!r} must have exactly one "
                          f"data entry (the public key), it has {len(secret.data)}")
    return next(iter(secret.data.values()))


def _load_key(key: KeyRef, secrets: SecretSource | None, default_ns: str) -> KeyVerifier:
    from sigstack.keys.software import PublicKeyVerifier

    if key.data:
        from sigstack.keys.pem import load_public_key_pem

        return PublicKeyVerifier(load_public_key_pem(key.data.encode()))
    if key.secret_ref is not None:
        if secrets is None:
            raise PolicyError(f"key.secretRef {key.secret_ref.name}: no Secret source (give the Secret with the "
                              "policies, or run in a cluster)")
        ns = key.secret_ref.namespace or default_ns
        from sigstack.keys.pem import load_public_key_pem

        return PublicKeyVerifier(load_public_key_pem(_secret_key(secrets(ns, key.secret_ref.name))))
    from sigstack.keys.refs import load_verifier

    return load_verifier(key.kms)


def compile_policies(docs: PolicyDocuments, secrets: SecretSource | None = None,
                     controller_namespace: str = "cosign-system",
                     resolve_policy: PolicyResolver | None = None) -> list[CompiledPolicy]:
    """Load every authority's key once (failures kept, to be reported when the
    authority is evaluated, as policy-controller reports a key it could not load).

    With ``resolve_policy`` (the webhook), ``configMapRef`` and ``remote`` policies, at
    the CIP level and on attestations, are read into ``data`` as policy-controller's
    reconciler inlines them; the policy's resourceVersion then carries a digest of the
    texts, so an edited ConfigMap is never answered from the decision cache. A text
    that cannot be read fails the policy closed (``problem``). Without it (``policy
    test``), only ``data`` counts, as in policy-tester."""
    given = {(s.namespace, s.name): s for s in docs.secrets}

    def secret(ns: str, name: str) -> Secret:
        if (ns, name) in given:
            return given[(ns, name)]
        if secrets is None:
            raise PolicyError(f'secrets "{name}" not found in namespace "{ns}"')
        return secrets(ns, name)

    out = []
    seen: set[str] = set()
    for cip in docs.policies:
        if cip.key in seen:
            continue  # policy-tester: duplicate policy named ..., skipping
        seen.add(cip.key)
        auths = []
        for a in cip.authorities:
            if a.key is None:
                auths.append(CompiledAuthority(a))
                continue
            try:
                auths.append(CompiledAuthority(a, _load_key(a.key, secret, cip.namespace or controller_namespace)))
            except SigstackError as exc:
                auths.append(CompiledAuthority(a, problem=exc.message))
        problem = None
        if resolve_policy is not None:
            try:
                inlined = _inline_policies(cip, resolve_policy, cip.namespace or controller_namespace)
            except SigstackError as exc:
                problem = exc.message
            else:
                if inlined is not cip:
                    cip = inlined
                    auths = [replace(c, spec=a) for c, a in zip(auths, cip.authorities, strict=True)]
        text = cip.policy.data if cip.policy is not None else None
        out.append(CompiledPolicy(cip, tuple(auths), text, problem))
    return out


def _inline_policies(cip: ClusterImagePolicy, resolve: PolicyResolver, namespace: str) -> ClusterImagePolicy:
    """``inlinePolicies``: ``cip`` with every configMapRef/remote policy's text in ``data``."""
    texts: list[str] = []

    def inline(p: Policy | None) -> Policy | None:
        if p is None or (p.config_map_ref is None and p.remote is None):
            return p
        text = resolve(p, namespace)
        texts.append(text)
        return replace(p, data=text, config_map_ref=None, remote=None)

    authorities = tuple(replace(a, attestations=tuple(replace(w, policy=inline(w.policy)) for w in a.attestations))
                        for a in cip.authorities)
    policy = inline(cip.policy)
    if not texts:
        return cip
    digest = hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]
    return replace(cip, authorities=authorities, policy=policy, resource_version=f"{cip.resource_version}+{digest}")


# ---- results -----------------------------------------------------------------------------

@dataclass
class PolicyOutcome:
    """One policy's verdict for one image: ``result`` (the CIP-level policy's input)
    when it passed, else ``errors`` (field errors; warnings under ``mode: warn``)."""

    policy: CompiledPolicy
    result: dict[str, Any] | None
    errors: list[FieldError]
    transient: bool = False  # a registry failure decided it: not cached


@dataclass(frozen=True)
class Verdict:
    """An image against all policies: ``outcomes`` of the matching ones; ``no_match``
    is the no-match error (a warning under ``warn``) when none matched."""

    image: str
    outcomes: tuple[PolicyOutcome, ...]
    no_match: FieldError | None = None
    match_error: str | None = None

    @property
    def allowed(self) -> bool:
        if self.match_error is not None:
            return False
        if self.no_match is not None:
            return self.no_match.level == fe.WARNING
        return all(o.result is not None or all(e.level == fe.WARNING for e in o.errors) for o in self.outcomes)


def _field(message: str, warn: bool) -> FieldError:
    return FieldError(message, ("",), "", fe.WARNING if warn else fe.ERROR)


# ---- the engine ----------------------------------------------------------------------------

class Engine:
    """Compiled policies plus settings; :meth:`evaluate` is one image's verdict."""

    def __init__(self, policies: Sequence[CompiledPolicy], settings: Settings | None = None, *,
                 trust_roots: Sequence[TrustRoot] = (), keyless: KeylessVerifier | None = None,
                 trust_root_resync: float = TRUST_ROOT_RESYNC, trust_root_retry: float = TRUST_ROOT_RETRY,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.policies = sorted(policies, key=lambda p: p.name)
        self.settings = settings or Settings()
        self.trust_roots = {t.name: t for t in trust_roots}
        self.keyless = keyless
        # TrustRoots read through TUF, by name: (trusted root, monotonic time read); read again
        # every trust_root_resync seconds (policy-controller's trustroot-resync-period), and
        # after a failed keyless verification at most every trust_root_retry seconds
        self._tuf_roots: dict[str, tuple[bytes, float]] = {}
        self._tuf_retried: dict[str, float] = {}
        self._tuf_lock = threading.Lock()
        self.trust_root_resync = trust_root_resync
        self.trust_root_retry = trust_root_retry
        self._clock = clock or time.monotonic

    # -- matching

    def matching(self, image: str, resource: Resource) -> list[CompiledPolicy]:
        """``GetMatchingPolicies``: globs, then ``match`` on kind/version/labels; an
        ImagePolicy only for its own namespace. A bad glob or reference is a
        :class:`PolicyError` (policy-controller returns the last one)."""
        out = []
        last: PolicyError | None = None
        resource_name, group, version = _resource_of(resource)
        for p in self.policies:
            cip = p.spec
            if cip.namespace is not None and cip.namespace != resource.namespace:
                continue
            if cip.match:
                found = False
                for m in cip.match:
                    if m.resource != resource_name or (m.version != version and m.version != "*") or m.group != group:
                        continue
                    if m.selector is not None and not m.selector.matches(resource.labels):
                        continue
                    found = True
                    break
                if not found:
                    continue
            for g in cip.images:
                try:
                    if matches(g, image):
                        out.append(p)
                        break
                except SigstackError as exc:
                    last = PolicyError(exc.message)
        if last is not None:
            raise last
        return out

    # -- evaluation

    def evaluate(self, image: str, client_for: ClientFor, resource: Resource | None = None,
                 cache: DecisionCache | None = None) -> Verdict:
        """Every matching policy's outcome for ``image`` (a reference as written;
        policy-controller's tester accepts tags, the webhook requires digests first)."""
        resource = resource or Resource()
        try:
            ref = parse_reference(image)
            found = self.matching(ref.name, resource)  # GetMatchingPolicies(ref.Name(), ...)
        except SigstackError as exc:
            return Verdict(image, (), match_error=exc.message)
        if not found:
            nm = self.settings.no_match_policy
            if nm == "allow":
                return Verdict(image, ())
            return Verdict(image, (), no_match=FieldError("no matching policies", ("image",), image,
                                                           fe.WARNING if nm == "warn" else fe.ERROR))
        outcomes = []
        for p in found:
            key = (ref.name, p.name, p.spec.uid, p.spec.resource_version, resource.namespace,
                   self._tuf_stamp(p))
            hit = cache.get(key) if cache is not None and not _uses_resource(p) else None
            if hit is None:
                hit = self.evaluate_policy(p, ref, client_for, resource)
                if cache is not None and not _uses_resource(p) and not _transient(hit):
                    cache.put(key, hit)
            outcomes.append(hit)
        return Verdict(image, tuple(outcomes))

    def evaluate_policy(self, p: CompiledPolicy, ref: Reference, client_for: ClientFor,
                        resource: Resource) -> PolicyOutcome:
        """``ValidatePolicy``: one authority suffices, then the CIP-level policy."""
        warn = p.spec.mode == "warn"
        if p.problem is not None:  # its policy text could not be read: fail closed, and retry next load
            return PolicyOutcome(p, None, [_field(p.problem, warn)], transient=True)
        errors: list[FieldError] = []
        matches_: dict[str, Any] = {}
        transient = False
        for auth in p.authorities:
            try:
                match = self._authority(auth, ref, client_for, resource)
            except RegistryError as exc:  # fail closed, and do not cache: the registry may come back
                transient = True
                errors.append(_field(f"{auth.spec.name}: registry unavailable: {exc.message}", warn))
                continue
            except SigstackError as exc:
                # only a verdict about the image is cached; a missing Secret or an API
                # failure is about the environment, and may be fixed a second later; nor is a
                # keyless failure against a TUF TrustRoot, which a rotation may fix (the next
                # admission reads the root again, at most every trust_root_retry seconds)
                transient = transient or not isinstance(exc, VerificationError) or self._tuf_backed(auth.spec)
                errors.append(_field(exc.message, warn))
                continue
            matches_[auth.spec.name] = match
        if not matches_:
            return PolicyOutcome(p, None, errors, transient)
        result: dict[str, Any] = {"authorityMatches": matches_}
        if p.spec.policy is not None:
            cp = p.spec.policy
            if cp.fetch_config_file:
                try:
                    result["config"] = _configs(client_for(()), ref)
                except SigstackError as exc:
                    return PolicyOutcome(p, None, [*errors, _field(exc.message, warn)])
            if cp.include_spec and resource.spec is not None:
                result["spec"] = resource.spec
            if cp.include_object_meta and resource.object_meta is not None:
                result["metadata"] = resource.object_meta
            if cp.include_type_meta and resource.type_meta is not None:
                result["typemeta"] = resource.type_meta
            # a configMapRef/remote text is in data once inlined; in policy test it stays
            # empty, as policy-tester evaluates it
            text = p.policy_text if p.policy_text is not None else cp.data
            out = rego.evaluate("ClusterImagePolicy", cp.type, text, result)
            if out.error is not None or out.warning is not None:
                return PolicyOutcome(p, None, [*errors, _field(out.error or out.warning or "", warn)])
        return PolicyOutcome(p, result, errors)

    # -- one authority

    def _authority(self, auth: CompiledAuthority, ref: Reference, client_for: ClientFor,
                   resource: Resource) -> dict[str, Any]:
        a = auth.spec
        if a.static is not None:
            if a.static.action == "fail":
                raise VerificationError(f"disallowed by static policy: {a.static.message}")
            return {"static": True}
        source = a.sources[0] if a.sources else None
        client = client_for(source.signature_pull_secrets if source else ())
        target = source.oci if source and source.oci else None
        prefix = source.tag_prefix if source else ""
        bundles = a.signature_format == "bundle"  # with a key too: past policy-controller (#1958)
        if a.keyless is not None:
            return self._keyless(a, ref, client, target, prefix, bundles)
        if auth.verifier is None:
            raise VerificationError(f"there are no public keys for authority {a.name}"
                                    + (f" ({auth.problem})" if auth.problem else ""))
        log = self._log_policy(a)
        verifier: KeyVerifier = auth.verifier
        if a.rfc3161_trust_root_ref is not None:
            from sigstack.verify.timestamp import TimestampedKey

            what = "attestation" if a.attestations else "signature"
            tsa_root = self._timestamp_root(a, f"{what} key validation failed for authority {a.name} for {ref.name}")
            # policy-controller: the signed timestamps give the time, the log is not consulted
            verifier, log = TimestampedKey(auth.verifier, tsa_root, required=True), _NO_LOG.get()
        if a.attestations:
            try:
                verified = verified_attestations(client, verifier, ref, log=log, target_repository=target,
                                                 tag_prefix=prefix, bundles=bundles,
                                                 workers=self.settings.max_workers,
                                                 oci11=self.settings.enable_oci11)
            except VerificationError as exc:
                raise VerificationError(f"attestation key validation failed for authority {a.name} for "
                                        f"{ref.name}: {exc.message}") from None
            return {"attestations": self._check_attestations(a, [(raw, {}) for raw in verified])}
        from sigstack.verify.image import ImageVerifyOptions, verify_image

        opts = ImageVerifyOptions(check_reference=False, target_repository=target, tag_prefix=prefix,
                                  max_workers=self.settings.max_workers, bundles=bundles,
                                  experimental_oci11=self.settings.enable_oci11, log=log)
        try:
            found = verify_image(client, verifier, ref, opts)
        except VerificationError as exc:
            raise VerificationError(f"signature key validation failed for authority {a.name} for {ref.name}: "
                                    f"{exc.message}") from None
        return {"signatures": [{"id": hashlib.sha256(s.payload).hexdigest()} for s in found.signatures]}

    def _keyless(self, a: Authority, ref: Reference, client: RegistryReader, target: str | None, prefix: str,
                 bundles: bool) -> dict[str, Any]:
        k = a.keyless
        assert k is not None
        what = "attestation" if a.attestations else "signature"
        if self.keyless is None:
            raise VerificationError(f"{what} keyless validation failed for authority {a.name} for {ref.name}: "
                                    "keyless verification is not connected to this policy engine")
        root = None
        if k.trust_root_ref:
            root = self._trusted_root_json(k.trust_root_ref)
        ids = [{"issuer": i.issuer, "subject": i.subject, "issuerRegExp": i.issuer_regexp,
                "subjectRegExp": i.subject_regexp} for i in k.identities]
        extra: dict[str, Any] = {}
        if a.rfc3161_trust_root_ref is not None:
            self._timestamp_root(a, f"{what} keyless validation failed for authority {a.name} for {ref.name}")
            extra["timestamp_root"] = self._trusted_root_json(a.rfc3161_trust_root_ref)

        def verify(trusted_root: bytes | None) -> list[tuple[bytes, dict[str, str]]]:
            assert self.keyless is not None
            return self.keyless(client, ref, trusted_root=trusted_root, identities=ids,
                                attestations=bool(a.attestations), target_repository=target, tag_prefix=prefix,
                                insecure_ignore_sct=k.insecure_ignore_sct, bundles=bundles,
                                oci11=self.settings.enable_oci11, **extra)

        try:
            try:
                found = verify(root)
            except VerificationError:
                # a TUF TrustRoot may have rotated (a new CA or log key): read it again, bounded,
                # and verify once more only if it changed
                fresh = self._refresh_trust_root(k.trust_root_ref, root) if k.trust_root_ref else None
                if fresh is None:
                    raise
                found = verify(fresh)
        except VerificationError as exc:
            raise VerificationError(f"{what} keyless validation failed for authority {a.name} for {ref.name}: "
                                    f"{exc.message}") from None
        if a.attestations:
            return {"attestations": self._check_attestations(a, found)}
        return {"signatures": [{"id": hashlib.sha256(payload).hexdigest(), **claims} for payload, claims in found]}

    def _check_attestations(self, a: Authority, verified: Sequence[tuple[bytes, dict[str, str]]]) -> dict[str, Any]:
        """Each wanted attestation needs one verified statement of its predicate type
        that its policy accepts (``ValidatePolicyAttestationsForAuthority``)."""
        from sigstack.payload import intoto

        out: dict[str, Any] = {}
        checked_types: dict[str, None] = {}
        for wanted in a.attestations:
            try:
                uri = intoto.predicate_uri(wanted.predicate_type)
            except SigstackError:
                uri = wanted.predicate_type
            first_error: str | None = None
            passed = []
            for payload, claims in verified:
                try:
                    statement = json.loads(payload)
                    got = str(statement.get("predicateType") or "")
                except (ValueError, AttributeError):
                    first_error = first_error or "unmarshal in-toto statement: invalid JSON"
                    continue
                if got:
                    checked_types[got] = None
                if got != uri:
                    continue
                if wanted.policy is not None:
                    outcome = rego.evaluate(wanted.name, wanted.policy.type, wanted.policy.data, statement)
                    if outcome.error is not None or outcome.warning is not None:
                        first_error = first_error or outcome.error or outcome.warning
                        continue
                passed.append({"id": hashlib.sha256(payload).hexdigest(), **claims,
                               "predicateType": wanted.predicate_type,
                               "digest": "sha256:" + hashlib.sha256(payload).hexdigest()})
            if not passed:
                if first_error is not None:
                    raise VerificationError(first_error)
                joined = ",".join(checked_types)
                raise VerificationError(f"no matching attestations with type {wanted.predicate_type}, checked the "
                                        f"following predicateTypes: {_go_quote(joined)}")
            out[wanted.name] = passed
        return out

    # -- logs and trust roots

    def _log_policy(self, a: Authority) -> Any:
        from sigstack.verify.evidence import LogPolicy

        if a.ctlog is None:
            # policy-controller: no ctlog and no keyless -> the log is not consulted
            return _NO_LOG.get()
        from sigstack.bundle.trustroot import parse_trusted_root
        from sigstack.tlog.client import RekorClient

        if not a.ctlog.trust_root_ref:
            raise PolicyError(f"authority {a.name}: ctlog needs a trustRootRef naming the log's key "
                              "(sigstack trusts no log by default)")
        root = self._trusted_root_json(a.ctlog.trust_root_ref)
        logs = parse_trusted_root(root)
        url = a.ctlog.url or logs[0].base_url
        return LogPolicy(trusted_logs=[t.verifier for t in logs], client=RekorClient(url))

    def _timestamp_root(self, a: Authority, prefix: str) -> Any:
        """The TrustedRoot an ``rfc3161timestamp`` authority names, which must list a TSA:
        without one policy-controller has no TSA roots, and cosign refuses the timestamp
        with ``no TSA root certificate(s) provided to verify timestamp`` (we refuse
        every signature so, since the timestamp is required here)."""
        from sigstack.bundle.trustroot import TrustedRoot

        assert a.rfc3161_trust_root_ref is not None
        root = TrustedRoot.from_json(self._trusted_root_json(a.rfc3161_trust_root_ref))
        if not root.timestamp_authorities:
            raise VerificationError(f"{prefix}: unable to verify RFC3161 timestamp bundle: no TSA root "
                                    "certificate(s) provided to verify timestamp")
        return root

    def _trusted_root_json(self, name: str) -> bytes:
        tr = self.trust_roots.get(name)
        if tr is None:
            raise PolicyError(f"trustRootRef {name} not found")
        if tr.trusted_root_json is not None:
            return tr.trusted_root_json
        if tr.sigstore_keys is not None:
            return sigstore_keys_to_trusted_root(tr.sigstore_keys)
        # TUF (remote mirror or serialized repository): read when first needed, then again
        # every trust_root_resync seconds, as policy-controller resyncs its TrustRoots
        with self._tuf_lock:
            cached = self._tuf_roots.get(name)
            if cached is not None and self._clock() - cached[1] < self.trust_root_resync:
                return cached[0]
        try:
            return self._read_tuf(name, tr)
        except PolicyError:
            if cached is None:
                raise
            return cached[0]  # the mirror is down: keep the last good root (retried after trust_root_retry)

    def _read_tuf(self, name: str, tr: TrustRoot) -> bytes:
        from sigstack.policy.trustroots import read_tuf_trust_root

        now = self._clock()
        try:
            found = read_tuf_trust_root(name, tr.remote, tr.repository)
        except SigstackError as exc:
            with self._tuf_lock:
                old = self._tuf_roots.get(name)
                if old is not None:  # try again after trust_root_retry, not at every admission
                    self._tuf_roots[name] = (old[0], now - self.trust_root_resync + self.trust_root_retry)
            raise PolicyError(f"trustRootRef {name}: {exc.message}") from None
        data = found if isinstance(found, bytes) else sigstore_keys_to_trusted_root(found)
        with self._tuf_lock:
            self._tuf_roots[name] = (data, now)
        return data

    def _tuf_backed(self, a: Authority) -> bool:
        return bool(a.keyless and a.keyless.trust_root_ref and self._tuf_backed_name(a.keyless.trust_root_ref))

    def _tuf_backed_name(self, name: str) -> bool:
        tr = self.trust_roots.get(name)
        return tr is not None and tr.trusted_root_json is None and tr.sigstore_keys is None

    def _refresh_trust_root(self, name: str, stale: bytes | None) -> bytes | None:
        """After a failed verification: the TUF TrustRoot ``name`` read again (at most
        once per ``trust_root_retry`` seconds), if that changed it; else None."""
        tr = self.trust_roots.get(name)
        if tr is None or not self._tuf_backed_name(name):
            return None
        now = self._clock()
        with self._tuf_lock:
            if now - self._tuf_retried.get(name, -1e18) < self.trust_root_retry:
                return None
            self._tuf_retried[name] = now
        try:
            fresh = self._read_tuf(name, tr)
        except PolicyError:
            return None
        return fresh if fresh != stale else None

    def _tuf_stamp(self, p: CompiledPolicy) -> str:
        """The TUF TrustRoots ``p`` uses, as a digest of their current content (read, or
        read again when the resync period has passed): part of the decision cache key, so
        a rotated root reaches cached decisions too, across policy reloads as well."""
        refs = [(a.spec.keyless.trust_root_ref if a.spec.keyless else "",
                 a.spec.ctlog.trust_root_ref if a.spec.ctlog else "") for a in p.authorities]
        names = sorted({n for pair in refs for n in pair if n and self._tuf_backed_name(n)})
        if not names:
            return ""
        parts = []
        for name in names:
            try:
                parts.append(hashlib.sha256(self._trusted_root_json(name)).hexdigest()[:16])
            except SigstackError:
                parts.append("unreadable")
        return ",".join(parts)


class _LazyNoLog:
    """One ``LogPolicy`` that skips the log, made on first use: policy-controller does
    not consult a log for a key authority without ``ctlog``; that is the policy's
    choice, so the warning ``insecure_ignore_tlog`` logs is emitted once, not per image."""

    def __init__(self) -> None:
        self._value: Any = None

    def get(self) -> Any:
        if self._value is None:
            from sigstack.verify.evidence import LogPolicy

            self._value = LogPolicy(insecure_ignore_tlog=True)
        return self._value


_NO_LOG = _LazyNoLog()


def _go_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _uses_resource(p: CompiledPolicy) -> bool:
    cp = p.spec.policy
    return cp is not None and bool(cp.include_spec or cp.include_object_meta or cp.include_type_meta)


def _transient(outcome: PolicyOutcome) -> bool:
    return outcome.transient


def _resource_of(resource: Resource) -> tuple[str, str, str]:
    """``meta.UnsafeGuessKindToResource``: Pod -> pods; group/version of apiVersion."""
    group, _, version = resource.api_version.rpartition("/")
    kind = resource.kind.lower()
    if not kind:
        return "", group, version
    if kind.endswith("s"):
        plural = kind + "es"
    elif kind.endswith("y"):
        plural = kind[:-1] + "ies"
    else:
        plural = kind + "s"
    return plural, group, version


def _configs(client: RegistryReader, ref: Reference) -> dict[str, Any]:
    """``getConfigs``: the image's config file per ``os/arch[/variant]`` (an index: each child's)."""
    from sigstack.oci.client import INDEX_TYPES

    manifest = client.get_manifest(ref)
    doc = manifest.json()
    if manifest.media_type in INDEX_TYPES or doc.get("manifests") is not None:
        out: dict[str, Any] = {}
        for child in doc.get("manifests") or []:
            out.update(_configs(client, ref.with_digest(str(child["digest"]))))
        return out
    config_desc = doc.get("config") or {}
    cfg = json.loads(client.get_blob(ref.repository, str(config_desc.get("digest"))))
    platform = "/".join(x for x in (cfg.get("os", ""), cfg.get("architecture", ""), cfg.get("variant", "")) if x)
    return {platform: cfg}


def sigstore_keys_to_trusted_root(keys: Mapping[str, Any]) -> bytes:
    """A TrustRoot's ``sigstoreKeys`` (the CRD's protobuf-shaped fields: PEM chains and
    keys, base64-encoded as Go encodes ``[]byte``) as a TrustedRoot JSON document:
    ``certificateAuthorities``, ``tLogs``, ``ctLogs`` and ``timestampAuthorities``."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from sigstack.bundle.trustroot import TRUSTED_ROOT_V01, trusted_root_for_log

    def pem_of(value: Any, what: str) -> bytes:
        text = str(value or "")
        try:
            raw = base64.b64decode(text, validate=True)
        except ValueError:
            raw = text.encode()
        if b"-----BEGIN" not in raw:
            raise PolicyError(f"the TrustRoot's {what} is not a (base64) PEM document")
        return raw

    def logs(items: Any, what: str) -> list[Any]:
        out = []
        for i, t in enumerate(items or []):
            doc = json.loads(trusted_root_for_log(pem_of(t.get("publicKey"), f"{what}[{i}].publicKey"),
                                                  str(t.get("baseURL") or t.get("baseUrl") or "")))
            out += doc["tlogs"]
        return out

    def authorities(items: Any, what: str) -> list[dict[str, Any]]:
        out = []
        for i, ca in enumerate(items or []):
            try:
                certs = x509.load_pem_x509_certificates(pem_of(ca.get("certChain"), f"{what}[{i}]"))
            except ValueError:
                raise PolicyError(f"the TrustRoot's {what}[{i}].certChain holds no certificate") from None
            subject = ca.get("subject") or {}
            out.append({"subject": {"organization": str(subject.get("organization") or ""),
                                    "commonName": str(subject.get("commonName") or "")},
                        "uri": str(ca.get("uri") or ""),
                        "certChain": {"certificates": [
                            {"rawBytes": base64.b64encode(c.public_bytes(Encoding.DER)).decode()} for c in certs]},
                        "validFor": {"start": "1970-01-01T00:00:00Z"}})
        return out

    cas = authorities(keys.get("certificateAuthorities"), "certificateAuthorities")
    # the TSAs of an rfc3161timestamp authority (leaf first, root last, as the CAs' chains)
    tsas = authorities(keys.get("timestampAuthorities"), "timestampAuthorities")
    root = {"mediaType": TRUSTED_ROOT_V01, "tlogs": logs(keys.get("tLogs") or keys.get("tlogs"), "tLogs"),
            "certificateAuthorities": cas, "ctlogs": logs(keys.get("ctLogs") or keys.get("ctlogs"), "ctLogs"),
            "timestampAuthorities": tsas}
    if not root["tlogs"] and not cas and not tsas:
        raise PolicyError("the TrustRoot's sigstoreKeys list no tLogs, no certificateAuthorities and no "
                          "timestampAuthorities")
    return json.dumps(root).encode()


# ---- attestations with a key ---------------------------------------------------------------

def verified_attestations(client: RegistryReader, verifier: KeyVerifier, ref: Reference, *, log: Any,
                          target_repository: str | None, tag_prefix: str, bundles: bool,
                          workers: int, oci11: bool = False) -> list[bytes]:
    """The in-toto statements (payload bytes) of ``ref``'s attestations whose DSSE
    signature verifies with ``verifier`` and whose subject names the image digest
    (cosign's ``VerifyImageAttestations`` with ``IntotoSubjectClaimVerifier``). The
    ``.att`` image (or, with ``bundles``, the bundle referrers; with ``oci11``, the
    in-toto referrers, the bundle referrers and the ``.att`` image) is read; none that
    verify is cosign's ``no matching attestations: <reasons>``.

    policy-controller's ``enable-oci11`` lookup returns the in-toto referrers' envelopes
    without checking their signatures; here each one is verified like any other."""
    from sigstack.bundle.models import Bundle
    from sigstack.oci.layouts import SignedEntity
    from sigstack.verify.attestation import StoredEnvelope, stored_envelopes
    from sigstack.verify.image import check_statement, parallel, resolve_subject
    from sigstack.verify.verifier import Verifier as Pipeline

    digest = resolve_subject(client, ref).digest
    entity = SignedEntity.at(client, ref.repository, digest, target_repository=target_repository,
                             tag_prefix=tag_prefix)
    pipeline = Pipeline(verifier, log)
    items = stored_envelopes(entity, bundles=bundles, oci11=oci11, workers=workers)

    def check(item: StoredEnvelope) -> bytes:
        _, env, source = item
        if isinstance(source, Bundle):
            pipeline.verify_envelope(env, bundle=source, check_content=lambda: check_statement(env, digest, {}))
        else:
            pipeline.verify_envelope(env, stored=source.data, annotations=source.annotations,
                                     check_content=lambda: check_statement(env, digest, {}))
        return env.payload

    results = parallel(items, check, workers)
    good = [r for r in results if isinstance(r, bytes)]
    if not good:
        raise VerificationError("no matching attestations: " + "\n ".join(
            r.message for r in results if isinstance(r, VerificationError)))
    return good


# ---- a decision cache ------------------------------------------------------------------------

class DecisionCache:
    """Outcomes keyed by (image, policy, policy UID, resourceVersion, namespace), as
    policy-controller caches them; bounded (least recently used goes first), thread-safe.
    A policy edit changes its resourceVersion, so stale entries are never read; outcomes
    caused by an unreachable registry are not cached."""

    def __init__(self, size: int = 10000) -> None:
        import threading
        from collections import OrderedDict

        self._items: OrderedDict[tuple[str, ...], PolicyOutcome] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, ...]) -> PolicyOutcome | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[str, ...], value: PolicyOutcome) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
