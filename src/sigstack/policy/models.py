"""policy-controller's CRDs as frozen values, parsed strictly from YAML or JSON.

``ClusterImagePolicy`` (``policy.sigstore.dev`` ``v1alpha1`` and ``v1beta1``: the
same fields), ``TrustRoot``, and sigstack's namespaced ``ImagePolicy``
(``policy.sigstack.dev/v1alpha1``: a ClusterImagePolicy that only covers workloads in
its own namespace; policy-controller#810, #298). Parsing follows policy-controller's
``pkg/policy`` (what ``policy-tester`` runs): documents split on ``\\n---\\n``, decoded
with unknown fields refused (Go's ``DisallowUnknownFields``), defaulted
(``authority-<i>`` names, ``mode: enforce``, the public Fulcio URL for a keyless
authority without one), then validated with the same knative field errors
(:mod:`sigstack.policy.fielderror`), so an invalid policy is reported in the same words.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigstack.errors import PolicyError
from sigstack.policy import fielderror as fe
from sigstack.policy.fielderror import FieldErrors

GROUP = "policy.sigstore.dev"
SIGSTACK_GROUP = "policy.sigstack.dev"
CIP_VERSIONS = (f"{GROUP}/v1alpha1", f"{GROUP}/v1beta1")
IMAGE_POLICY_VERSIONS = (f"{SIGSTACK_GROUP}/v1alpha1",)
CONTROLLER_NAMESPACE = "cosign-system"
DEFAULT_FULCIO = "https://fulcio.sigstore.dev"
VALID_MODES = ("enforce", "warn")
VALID_RESOURCES = ("replicasets", "deployments", "pods", "cronjobs", "jobs", "statefulsets", "daemonsets")
HASH_ALGORITHMS = ("sha224", "sha256", "sha384", "sha512")
SHORT_PREDICATES = ("custom", "slsaprovenance", "slsaprovenance02", "slsaprovenance1", "spdx", "spdxjson",
                    "cyclonedx", "link", "vuln", "openvex")
KMS_PREFIXES = ("awskms://", "azurekms://", "hashivault://", "gcpkms://")

_META_FIELDS = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
})


# ---- the values ------------------------------------------------------------------------

@dataclass(frozen=True)
class SecretRef:
    name: str
    namespace: str = ""


@dataclass(frozen=True)
class KeyRef:
    data: str = ""
    secret_ref: SecretRef | None = None
    kms: str = ""
    hash_algorithm: str = ""


@dataclass(frozen=True)
class Identity:
    issuer: str = ""
    subject: str = ""
    issuer_regexp: str = ""
    subject_regexp: str = ""


@dataclass(frozen=True)
class KeylessRef:
    url: str = ""
    identities: tuple[Identity, ...] = ()
    ca_cert: KeyRef | None = None
    trust_root_ref: str = ""
    insecure_ignore_sct: bool = False


@dataclass(frozen=True)
class StaticRef:
    action: str
    message: str = ""


@dataclass(frozen=True)
class Source:
    oci: str = ""
    signature_pull_secrets: tuple[str, ...] = ()
    tag_prefix: str = ""


@dataclass(frozen=True)
class TLog:
    url: str = ""
    trust_root_ref: str = ""


@dataclass(frozen=True)
class ConfigMapRef:
    name: str
    namespace: str = ""
    key: str = ""


@dataclass(frozen=True)
class RemotePolicy:
    url: str
    sha256sum: str = ""


@dataclass(frozen=True)
class Policy:
    type: str
    data: str = ""
    config_map_ref: ConfigMapRef | None = None
    remote: RemotePolicy | None = None
    fetch_config_file: bool | None = None
    include_spec: bool | None = None
    include_object_meta: bool | None = None
    include_type_meta: bool | None = None


@dataclass(frozen=True)
class Attestation:
    name: str
    predicate_type: str
    policy: Policy | None = None


@dataclass(frozen=True)
class Authority:
    name: str
    key: KeyRef | None = None
    keyless: KeylessRef | None = None
    static: StaticRef | None = None
    sources: tuple[Source, ...] = ()
    ctlog: TLog | None = None
    attestations: tuple[Attestation, ...] = ()
    rfc3161_trust_root_ref: str | None = None
    signature_format: str = ""


@dataclass(frozen=True)
class LabelSelector:
    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # key, operator, values

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes label-selector semantics (``LabelSelectorAsSelector``)."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for key, op, values in self.match_expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True)
class MatchResource:
    group: str = ""
    version: str = ""
    resource: str = ""
    selector: LabelSelector | None = None


@dataclass(frozen=True)
class ClusterImagePolicy:
    """One ClusterImagePolicy (or, with ``namespace``, a sigstack ImagePolicy)."""

    name: str
    images: tuple[str, ...]
    authorities: tuple[Authority, ...]
    policy: Policy | None = None
    mode: str = "enforce"
    match: tuple[MatchResource, ...] = ()
    uid: str = ""
    resource_version: str = ""
    namespace: str | None = None  # an ImagePolicy's namespace; None for a ClusterImagePolicy
    api_version: str = CIP_VERSIONS[0]

    @property
    def kind(self) -> str:
        return "ClusterImagePolicy" if self.namespace is None else "ImagePolicy"

    @property
    def key(self) -> str:
        """The name results and errors are reported under (namespaced ones qualified)."""
        return self.name if self.namespace is None else f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class TrustRoot:
    """A TrustRoot CRD: ``sigstore_keys`` (the CRD's ``sigstoreKeys``, as a protobuf
    TrustedRoot-shaped dict), ``trusted_root_json`` (sigstack: a TrustedRoot JSON
    document, for air gaps; policy-controller#1704, #1297), or a TUF ``remote`` /
    ``repository`` (kept as given)."""

    name: str
    sigstore_keys: Mapping[str, Any] | None = None
    trusted_root_json: bytes | None = None
    remote: Mapping[str, Any] | None = None
    repository: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Secret:
    """A Secret given next to the policies (``policy test``) or read from the cluster."""

    name: str
    namespace: str
    data: Mapping[str, bytes]
    type: str = "Opaque"


@dataclass(frozen=True)
class PolicyDocuments:
    policies: tuple[ClusterImagePolicy, ...] = ()
    trust_roots: tuple[TrustRoot, ...] = ()
    secrets: tuple[Secret, ...] = ()
    warnings: tuple[str, ...] = ()


# ---- strict decoding ---------------------------------------------------------------------

class _Decoder:
    """Go's ``encoding/json`` with ``DisallowUnknownFields``, for the few types here."""

    def obj(self, value: Any, where: str, allowed: Sequence[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise PolicyError(f"unable to unmarshal: json: cannot unmarshal {_json_type(value)} into Go "
                              f"struct field {where} of type object")
        for k in value:
            if k not in allowed:
                raise PolicyError(f'unable to unmarshal: json: unknown field "{k}"')
        return value

    def text(self, value: Any, where: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise PolicyError(f"unable to unmarshal: json: cannot unmarshal {_json_type(value)} into Go "
                              f"struct field {where} of type string")
        return value

    def flag(self, value: Any, where: str) -> bool | None:
        if value is None:
            return None
        if not isinstance(value, bool):
            raise PolicyError(f"unable to unmarshal: json: cannot unmarshal {_json_type(value)} into Go "
                              f"struct field {where} of type bool")
        return value

    def items(self, value: Any, where: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise PolicyError(f"unable to unmarshal: json: cannot unmarshal {_json_type(value)} into Go "
                              f"struct field {where} of type []")
        return value


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_D = _Decoder()


def _key(raw: Any, where: str) -> KeyRef:
    d = _D.obj(raw, where, ("data", "secretRef", "kms", "hashAlgorithm"))
    secret = None
    if d.get("secretRef") is not None:
        s = _D.obj(d["secretRef"], f"{where}.secretRef", ("name", "namespace"))
        secret = SecretRef(_D.text(s.get("name"), "SecretReference.name"),
                           _D.text(s.get("namespace"), "SecretReference.namespace"))
    return KeyRef(_D.text(d.get("data"), "KeyRef.data"), secret, _D.text(d.get("kms"), "KeyRef.kms"),
                  _D.text(d.get("hashAlgorithm"), "KeyRef.hashAlgorithm"))


def _policy(raw: Any, where: str) -> Policy:
    d = _D.obj(raw, where, ("type", "data", "remote", "configMapRef", "fetchConfigFile", "includeSpec",
                            "includeObjectMeta", "includeTypeMeta"))
    cm = remote = None
    if d.get("configMapRef") is not None:
        c = _D.obj(d["configMapRef"], "Policy.configMapRef", ("name", "namespace", "key"))
        cm = ConfigMapRef(_D.text(c.get("name"), "ConfigMapReference.name"),
                          _D.text(c.get("namespace"), "ConfigMapReference.namespace"),
                          _D.text(c.get("key"), "ConfigMapReference.key"))
    if d.get("remote") is not None:
        r = _D.obj(d["remote"], "Policy.remote", ("url", "sha256sum"))
        remote = RemotePolicy(_D.text(r.get("url"), "RemotePolicy.url"), _D.text(r.get("sha256sum"), "sha256sum"))
    return Policy(_D.text(d.get("type"), "Policy.type"), _D.text(d.get("data"), "Policy.data"), cm, remote,
                  _D.flag(d.get("fetchConfigFile"), "fetchConfigFile"), _D.flag(d.get("includeSpec"), "includeSpec"),
                  _D.flag(d.get("includeObjectMeta"), "includeObjectMeta"),
                  _D.flag(d.get("includeTypeMeta"), "includeTypeMeta"))


def _authority(raw: Any, index: int) -> Authority:
    d = _D.obj(raw, "ClusterImagePolicySpec.spec.authorities", (
        "name", "key", "keyless", "static", "source", "ctlog", "attestations", "rfc3161timestamp",
        "signatureFormat"))
    key = _key(d["key"], "Authority.key") if d.get("key") is not None else None
    keyless = None
    if d.get("keyless") is not None:
        k = _D.obj(d["keyless"], "Authority.keyless", ("url", "identities", "ca-cert", "trustRootRef",
                                                        "insecureIgnoreSCT"))
        ids = []
        for item in _D.items(k.get("identities"), "KeylessRef.identities"):
            i = _D.obj(item, "KeylessRef.identities", ("issuer", "subject", "issuerRegExp", "subjectRegExp"))
            ids.append(Identity(_D.text(i.get("issuer"), "Identity.issuer"), _D.text(i.get("subject"), "subject"),
                                _D.text(i.get("issuerRegExp"), "issuerRegExp"),
                                _D.text(i.get("subjectRegExp"), "subjectRegExp")))
        keyless = KeylessRef(_D.text(k.get("url"), "KeylessRef.url"), tuple(ids),
                             _key(k["ca-cert"], "KeylessRef.ca-cert") if k.get("ca-cert") is not None else None,
                             _D.text(k.get("trustRootRef"), "KeylessRef.trustRootRef"),
                             bool(_D.flag(k.get("insecureIgnoreSCT"), "insecureIgnoreSCT")))
    static = None
    if d.get("static") is not None:
        s = _D.obj(d["static"], "Authority.static", ("action", "message"))
        static = StaticRef(_D.text(s.get("action"), "StaticRef.action"), _D.text(s.get("message"), "message"))
    sources = []
    for item in _D.items(d.get("source"), "Authority.source"):
        s = _D.obj(item, "Authority.source", ("oci", "signaturePullSecrets", "tagPrefix"))
        secrets = tuple(_D.text(_D.obj(x, "Source.signaturePullSecrets", ("name",)).get("name"), "name")
                        for x in _D.items(s.get("signaturePullSecrets"), "Source.signaturePullSecrets"))
        sources.append(Source(_D.text(s.get("oci"), "Source.oci"), secrets, _D.text(s.get("tagPrefix"), "tagPrefix")))
    ctlog = None
    if d.get("ctlog") is not None:
        t = _D.obj(d["ctlog"], "Authority.ctlog", ("url", "trustRootRef"))
        ctlog = TLog(_D.text(t.get("url"), "TLog.url"), _D.text(t.get("trustRootRef"), "TLog.trustRootRef"))
    atts = []
    for item in _D.items(d.get("attestations"), "Authority.attestations"):
        a = _D.obj(item, "Authority.attestations", ("name", "predicateType", "policy"))
        atts.append(Attestation(_D.text(a.get("name"), "Attestation.name"),
                                _D.text(a.get("predicateType"), "Attestation.predicateType"),
                                _policy(a["policy"], "Attestation.policy") if a.get("policy") is not None else None))
    tsa = None
    if d.get("rfc3161timestamp") is not None:
        t = _D.obj(d["rfc3161timestamp"], "Authority.rfc3161timestamp", ("trustRootRef",))
        tsa = _D.text(t.get("trustRootRef"), "RFC3161Timestamp.trustRootRef")
    name = _D.text(d.get("name"), "Authority.name") or f"authority-{index}"
    if keyless is not None and key is None and static is None and not keyless.url and keyless.ca_cert is None:
        keyless = KeylessRef(DEFAULT_FULCIO, keyless.identities, None, keyless.trust_root_ref,
                             keyless.insecure_ignore_sct)
    return Authority(name, key, keyless, static, tuple(sources), ctlog, tuple(atts), tsa,
                     _D.text(d.get("signatureFormat"), "Authority.signatureFormat"))


def _selector(raw: Any) -> LabelSelector:
    d = _D.obj(raw, "MatchResource.selector", ("matchLabels", "matchExpressions"))
    labels = {str(k): _D.text(v, "LabelSelector.matchLabels") for k, v in (d.get("matchLabels") or {}).items()}
    exprs = []
    for item in _D.items(d.get("matchExpressions"), "LabelSelector.matchExpressions"):
        e = _D.obj(item, "LabelSelector.matchExpressions", ("key", "operator", "values"))
        exprs.append((_D.text(e.get("key"), "key"), _D.text(e.get("operator"), "operator"),
                      tuple(_D.text(v, "values") for v in _D.items(e.get("values"), "values"))))
    return LabelSelector(labels, tuple(exprs))


def parse_policy_object(obj: Mapping[str, Any]) -> ClusterImagePolicy:
    """One ClusterImagePolicy or ImagePolicy object (already YAML-decoded), defaulted;
    :func:`validate` says whether it is valid."""
    top = _D.obj(obj, "ClusterImagePolicy", ("apiVersion", "kind", "metadata", "spec", "status"))
    meta = _D.obj(top.get("metadata"), "ClusterImagePolicy.metadata", tuple(_META_FIELDS))
    spec = _D.obj(top.get("spec"), "ClusterImagePolicy.spec", ("images", "authorities", "policy", "mode", "match"))
    images = []
    for item in _D.items(spec.get("images"), "ClusterImagePolicySpec.spec.images"):
        g = _D.obj(item, "ClusterImagePolicySpec.spec.images", ("glob",))
        images.append(_D.text(g.get("glob"), "ImagePattern.spec.images.glob"))
    authorities = tuple(_authority(a, i) for i, a in
                        enumerate(_D.items(spec.get("authorities"), "ClusterImagePolicySpec.spec.authorities")))
    match = []
    for item in _D.items(spec.get("match"), "ClusterImagePolicySpec.spec.match"):
        m = _D.obj(item, "ClusterImagePolicySpec.spec.match", ("group", "version", "resource", "selector"))
        match.append(MatchResource(_D.text(m.get("group"), "group"), _D.text(m.get("version"), "version"),
                                   _D.text(m.get("resource"), "resource"),
                                   _selector(m["selector"]) if m.get("selector") is not None else None))
    kind = top.get("kind")
    namespace = None
    if kind == "ImagePolicy":
        namespace = _D.text(meta.get("namespace"), "ObjectMeta.namespace")
        if not namespace:
            raise PolicyError(f"ImagePolicy {meta.get('name')}: metadata.namespace is required "
                              "(an ImagePolicy covers workloads in its own namespace)")
    return ClusterImagePolicy(
        name=_D.text(meta.get("name"), "ObjectMeta.name"), images=tuple(images), authorities=authorities,
        policy=_policy(spec["policy"], "ClusterImagePolicySpec.policy") if spec.get("policy") is not None else None,
        mode=_D.text(spec.get("mode"), "ClusterImagePolicySpec.mode") or "enforce", match=tuple(match),
        uid=str(meta.get("uid") or ""), resource_version=str(meta.get("resourceVersion") or ""),
        namespace=namespace, api_version=str(top.get("apiVersion")))


# ---- validation (pkg/apis/policy/v1alpha1/clusterimagepolicy_validation.go) ----------------

def _validate_key(key: KeyRef) -> FieldErrors:
    errs = FieldErrors()
    if not key.data and not key.kms and key.secret_ref is None:
        errs.also(fe.missing_one_of("data", "kms", "secretref"))
    if key.hash_algorithm and key.hash_algorithm not in HASH_ALGORITHMS:
        errs.also(fe.invalid_value(key.hash_algorithm, "hashAlgorithm"))
    if key.data:
        if key.kms or key.secret_ref is not None:
            errs.also(fe.multiple_one_of("data", "kms", "secretref"))
        if not _is_public_key_pem(key.data):
            errs.also(fe.invalid_value(key.data, "data"))
    elif key.kms and key.secret_ref is not None:
        errs.also(fe.multiple_one_of("data", "kms", "secretref"))
    if key.kms and not key.kms.startswith(KMS_PREFIXES):
        errs.also(fe.invalid_value(key.kms, "kms", "malformed KMS format, should be prefixed by any of the "
                                   "supported providers: [awskms:// azurekms:// hashivault:// gcpkms://]"))
    return errs


def _is_public_key_pem(data: str) -> bool:
    from sigstack.keys.pem import load_public_key_pem

    try:
        load_public_key_pem(data.encode())
    except Exception:  # any parse failure: the value is invalid, as cryptoutils says
        return False
    return True


def _validate_policy(p: Policy | None, within_spec: bool) -> FieldErrors:
    errs = FieldErrors()
    if p is None:
        return errs
    if p.type not in ("cue", "rego"):
        errs.also(fe.invalid_value(p.type, "type", "only [cue,rego] are supported at the moment"))
    set_count = sum(1 for x in (p.data, p.config_map_ref, p.remote) if x)
    if set_count == 0:
        errs.also(fe.missing_field("data", "configMapRef", "remote"))
    if set_count == 3:
        errs.also(fe.multiple_one_of("data", "configMapRef", "remote"))
    if set_count >= 2:
        errs.also(fe.multiple_one_of("data", "configMapRef", "remote"))
    if p.remote is not None:
        r = FieldErrors()
        if not re.match(r"^https://[^/]+", p.remote.url):
            r.also(fe.invalid_value(p.remote.url, "url", "url valid is invalid. host and https scheme are expected"))
        if not p.remote.sha256sum:
            r.also(fe.missing_field("sha256sum"))
        errs.also(r.via("remote"))
    if p.config_map_ref is not None:
        c = FieldErrors()
        if not p.config_map_ref.name:
            c.also(fe.missing_field("name"))
        if not p.config_map_ref.key:
            c.also(fe.missing_field("key"))
        errs.also(c.via("configMapRef"))
    if not within_spec:
        for name, value in (("fetchConfigFile", p.fetch_config_file), ("includeSpec", p.include_spec),
                            ("includeObjectMeta", p.include_object_meta), ("includeTypeMeta", p.include_type_meta)):
            if value is not None:
                errs.also(fe.disallowed(name))
    return errs


def _validate_regex(rx: str, name: str) -> FieldErrors:
    try:
        re.compile(rx)
    except re.error as exc:
        return FieldErrors([fe.invalid_value(rx, name, f"regex is invalid: {exc}")])
    return FieldErrors()


def _validate_authority(a: Authority) -> FieldErrors:
    errs = FieldErrors()
    chosen = [x for x in (a.key, a.keyless, a.static) if x is not None]
    if not chosen:
        return errs.also(fe.missing_one_of("key", "keyless", "static"))
    if len(chosen) > 1:
        return errs.also(fe.multiple_one_of("key", "keyless", "static"))
    if a.key is not None:
        errs.also(_validate_key(a.key).via("key"))
    if a.keyless is not None:
        k = a.keyless
        ke = FieldErrors()
        if not k.url and k.ca_cert is None:
            ke.also(fe.missing_one_of("url", "ca-cert"))
        if k.url and k.ca_cert is not None:
            ke.also(fe.multiple_one_of("url", "ca-cert"))
        if k.ca_cert is not None:
            ke.also(_validate_key(k.ca_cert).via("ca-cert"))
        if not k.identities:
            ke.also(fe.missing_field("identities"))
        for i, ident in enumerate(k.identities):
            ie = FieldErrors()
            if ident.issuer and ident.issuer_regexp:
                ie.also(fe.multiple_one_of("issuer", "issuerRegExp"))
            if ident.subject and ident.subject_regexp:
                ie.also(fe.multiple_one_of("subject", "subjectRegExp"))
            if ident.issuer_regexp:
                ie.also(_validate_regex(ident.issuer_regexp, "issuerRegExp"))
            if ident.subject_regexp:
                ie.also(_validate_regex(ident.subject_regexp, "subjectRegExp"))
            if not ident.subject_regexp and not ident.subject:
                ie.also(fe.missing_field("subject", "subjectRegExp"))
            if not ident.issuer_regexp and not ident.issuer:
                ie.also(fe.missing_field("issuer", "issuerRegExp"))
            ke.also(ie.via_index("identities", i))
        errs.also(ke.via("keyless"))
    if a.static is not None:
        se = FieldErrors()
        if not a.static.action:
            se.also(fe.missing_field("action"))
        elif a.static.action not in ("pass", "fail"):
            se.also(fe.invalid_value(a.static.action, "action", "unsupported action"))
        errs.also(se.via("static"))
        combined = (("attestations", bool(a.attestations)), ("source", bool(a.sources)),
                    ("ctlog", a.ctlog is not None), ("rfc3161timestamp", a.rfc3161_trust_root_ref is not None))
        for what, present in combined:
            if present:
                errs.also(fe.multiple_one_of("static", what))
    if len(a.sources) > 1:
        errs.also(fe.invalid_value("source", "source", "only single source is supported"))
    else:
        for i, s in enumerate(a.sources):
            se = FieldErrors()
            if s.oci:
                from sigstack.errors import ReferenceError
                from sigstack.oci.reference import parse_repository

                try:
                    parse_repository(s.oci)
                except ReferenceError as exc:
                    se.also(fe.invalid_value(s.oci, "oci", exc.message))
            for j, name in enumerate(s.signature_pull_secrets):
                if not name:
                    se = se.also(fe.missing_field("name")).via_index("signaturePullSecrets", j)
            errs.also(se.via_index("source", i))
    for att in a.attestations:
        ae = FieldErrors()
        if not att.name:
            ae.also(fe.missing_field("name"))
        if not att.predicate_type:
            ae.also(fe.missing_field("predicateType"))
        elif att.predicate_type in SHORT_PREDICATES or not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", att.predicate_type):
            ae.also(fe.invalid_value(att.predicate_type, "predicateType",
                                     "deprecated value, please use RFC 3986 conformant values").at(fe.WARNING))
        ae.also(_validate_policy(att.policy, within_spec=False).via("policy"))
        errs.also(ae.via("attestations"))
    if a.signature_format not in ("", "legacy", "bundle"):
        errs.also(fe.invalid_value(a.signature_format, "signatureFormat", "only [legacy,bundle] are supported"))
    return errs


def validate(cip: ClusterImagePolicy, fail_on_empty_authorities: bool = True) -> FieldErrors:
    """knative's ``ClusterImagePolicy.Validate``: errors and warnings, under ``spec``."""
    from sigstack.policy.glob import compile_glob

    errs = FieldErrors()
    if not cip.images:
        errs.also(fe.missing_field("images"))
    for i, g in enumerate(cip.images):
        ge = FieldErrors()
        if not g:
            ge.also(fe.missing_field("glob"))
        else:
            try:
                compile_glob(g)
            except PolicyError as exc:
                ge.also(fe.invalid_value(g, "glob", f"glob is invalid: {exc.message}"))
        errs.also(ge.via_index("images", i))
    if not cip.authorities and fail_on_empty_authorities:
        errs.also(fe.missing_field("authorities"))
    for i, a in enumerate(cip.authorities):
        errs.also(_validate_authority(a).via_index("authorities", i))
    if cip.mode not in VALID_MODES:
        errs.also(fe.invalid_value(cip.mode, "mode", "unsupported mode"))
    for i, m in enumerate(cip.match):
        me = FieldErrors()
        if m.resource and m.resource not in VALID_RESOURCES:
            me.also(fe.invalid_value(m.resource, "resource", "unsupported resource name"))
        if m.selector is not None and not (m.resource or m.version or m.group):
            me.also(fe.invalid_value(m.resource, "selector", "selector requires a resource type to match the labels"))
        errs.also(me.via_index("match", i))
    errs.also(_validate_policy(cip.policy, within_spec=True))
    return errs.via("spec")


# ---- documents -------------------------------------------------------------------------

def _trust_root(obj: Mapping[str, Any]) -> TrustRoot:
    top = _D.obj(obj, "TrustRoot", ("apiVersion", "kind", "metadata", "spec", "status"))
    meta = _D.obj(top.get("metadata"), "TrustRoot.metadata", tuple(_META_FIELDS))
    spec = _D.obj(top.get("spec"), "TrustRoot.spec", ("remote", "repository", "sigstoreKeys", "trustedRoot"))
    name = _D.text(meta.get("name"), "ObjectMeta.name")
    given = [k for k in ("remote", "repository", "sigstoreKeys", "trustedRoot") if spec.get(k) is not None]
    if len(given) != 1:
        raise PolicyError(f"TrustRoot {name}: expected exactly one of remote, repository, sigstoreKeys or "
                          f"trustedRoot, got {', '.join(given) or 'none'}")
    trusted = None
    if spec.get("trustedRoot") is not None:
        text = _D.text(spec["trustedRoot"], "TrustRootSpec.trustedRoot")
        trusted = text.encode()
    keys = spec.get("sigstoreKeys")
    if keys is not None and not isinstance(keys, dict):
        raise PolicyError(f"TrustRoot {name}: sigstoreKeys must be an object")
    return TrustRoot(name, keys, trusted, spec.get("remote"), spec.get("repository"))


def _secret(obj: Mapping[str, Any]) -> Secret:
    meta = obj.get("metadata") or {}
    data: dict[str, bytes] = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            data[str(k)] = base64.b64decode(str(v), validate=True)
        except ValueError:
            raise PolicyError(f"Secret {meta.get('name')}: data.{k} is not base64") from None
    for k, v in (obj.get("stringData") or {}).items():
        data[str(k)] = str(v).encode()
    return Secret(str(meta.get("name") or ""), str(meta.get("namespace") or ""), data,
                  str(obj.get("type") or "Opaque"))


def _gvk(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def parse_documents(text: str) -> PolicyDocuments:
    """Every object in a multi-document YAML policy file, as policy-tester reads it
    (``pkg/policy.Validate`` and ``ParseClusterImagePolicies``): errors are
    :class:`PolicyError` with policy-controller's text; warnings are returned."""
    import yaml

    if not text:
        raise PolicyError("document is required to create policy")
    objs: list[dict[str, Any]] = []
    for i, doc in enumerate(text.split("\n---\n")):
        doc = doc.strip()
        if not doc:
            continue
        try:
            obj = yaml.safe_load(doc)
        except yaml.YAMLError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid YAML"
            raise PolicyError(f"decoding object[{i}]: error converting YAML to JSON: {first}") from None
        if not isinstance(obj, dict):
            raise PolicyError(f"decoding object[{i}]: error unmarshaling JSON: json: cannot unmarshal "
                              f"{_json_type(obj)} into Go value of type map[string]interface {{}}")
        if not obj.get("apiVersion"):
            raise PolicyError(f"missing field(s): [{i}].apiVersion")
        if not (obj.get("metadata") or {}).get("name"):
            raise PolicyError(f"missing field(s): [{i}].metadata.name")
        objs.append(obj)
    return parse_objects(objs)


def parse_objects(objs: Sequence[Mapping[str, Any]]) -> PolicyDocuments:
    """Decoded objects (from a file, or listed from the cluster's CRDs), validated."""
    policies: list[ClusterImagePolicy] = []
    roots: list[TrustRoot] = []
    secrets: list[Secret] = []
    warnings: list[str] = []
    for obj in objs:
        api, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        if (api in CIP_VERSIONS and kind == "ClusterImagePolicy") or \
                (api in IMAGE_POLICY_VERSIONS and kind == "ImagePolicy"):
            cip = parse_policy_object(obj)
            errs = validate(cip)
            if errs.filter(fe.WARNING):
                warnings.append(errs.filter(fe.WARNING).text())
            if errs.filter(fe.ERROR):  # one line: knative's line breaks become "; "
                raise PolicyError(errs.filter(fe.ERROR).text().replace("\n", "; "))
            policies.append(cip)
        elif api in (f"{GROUP}/v1alpha1", f"{SIGSTACK_GROUP}/v1alpha1") and kind == "TrustRoot":
            roots.append(_trust_root(obj))
        elif api == "v1" and kind == "Secret":
            secrets.append(_secret(obj))
        else:
            raise PolicyError(f"unknown type: {_gvk(api, kind)}")
    return PolicyDocuments(tuple(policies), tuple(roots), tuple(secrets), tuple(warnings))


def parse_trust_root(text: str) -> TrustRoot:
    """A TrustRoot resource file (``policy test --trustroot``)."""
    import yaml

    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"error converting YAML to JSON: {str(exc).strip().splitlines()[0]}") from None
    if not isinstance(obj, dict):
        raise PolicyError("the TrustRoot file does not hold an object")
    return _trust_root(obj)
