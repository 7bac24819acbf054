"""The CA's issuer configuration, in Fulcio's configuration file format.

Fulcio reads YAML with kebab-case keys (``oidc-issuers``, ``client-id``) or JSON with
PascalCase keys (``OIDCIssuers``, ``ClientID``); both are accepted here, with the same
three sections: exact ``oidc-issuers``, wildcard ``meta-issuers`` (``*`` matches one
run of letters, digits, ``-`` and ``_``, never ``.`` or ``/``), and
``ci-issuer-metadata`` (claim templates for ``ci-provider`` issuers). Metadata for
GitHub Actions, GitLab CI, Buildkite and CircleCI (``circleci-job``) is built in, with
the values of Fulcio's public configuration, so a configuration only has to name the
issuer (for CircleCI, ``https://oidc.circleci.com/org/<org-id>``, ``type: ci-provider``,
``ci-provider: circleci-job``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigstack.ca.errors import ConfigError
from sigstack.ca.template import Template

ISSUER_TYPES = frozenset({
    "email", "username", "kubernetes", "spiffe", "uri", "ci-provider",
    # Fulcio's deprecated provider-specific types: served by the template-driven
    # ci-provider code with the matching built-in metadata.
    "github-workflow", "gitlab-pipeline", "buildkite-job",
})

# Extension template keys (YAML and JSON spellings) -> Sigstore OID arc 1.3.6.1.4.1.57264.1.<n>
EXTENSION_FIELDS: dict[str, int] = {
    "github-workflow-trigger": 2, "github-workflow-sha": 3, "github-workflow-name": 4,
    "github-workflow-repository": 5, "github-workflow-ref": 6,
    "build-signer-uri": 9, "build-signer-digest": 10, "runner-environment": 11,
    "source-repository-uri": 12, "source-repository-digest": 13, "source-repository-ref": 14,
    "source-repository-identifier": 15, "source-repository-owner-uri": 16,
    "source-repository-owner-identifier": 17, "build-config-uri": 18, "build-config-digest": 19,
    "build-trigger": 20, "run-invocation-uri": 21, "source-repository-visibility-at-signing": 22,
    "deployment-environment": 23,
}
_JSON_FIELDS = {
    "GithubWorkflowTrigger": 2, "GithubWorkflowSHA": 3, "GithubWorkflowName": 4,
    "GithubWorkflowRepository": 5, "GithubWorkflowRef": 6, "BuildSignerURI": 9, "BuildSignerDigest": 10,
    "RunnerEnvironment": 11, "SourceRepositoryURI": 12, "SourceRepositoryDigest": 13,
    "SourceRepositoryRef": 14, "SourceRepositoryIdentifier": 15, "SourceRepositoryOwnerURI": 16,
    "SourceRepositoryOwnerIdentifier": 17, "BuildConfigURI": 18, "BuildConfigDigest": 19,
    "BuildTrigger": 20, "RunInvocationURI": 21, "SourceRepositoryVisibilityAtSigning": 22,
    "DeploymentEnvironment": 23,
}


@dataclass(frozen=True)
class CIMetadata:
    defaults: Mapping[str, str]
    extensions: Mapping[int, Template]
    san: Template


@dataclass(frozen=True)
class IssuerConfig:
    issuer_url: str
    client_id: str
    type: str
    ci_provider: str = ""
    issuer_claim: str = ""
    subject_domain: str = ""
    spiffe_trust_domain: str = ""
    challenge_claim: str = ""
    skip_email_verification: bool = False
    description: str = ""
    ca_cert: str = ""  # PEM CA for the issuer's TLS certificate

    @property
    def challenge(self) -> str:
        """The claim the proof of possession signs (Fulcio's ``issuerToChallengeClaim``)."""
        if self.challenge_claim:
            return self.challenge_claim
        return "email" if self.type == "email" else "sub"


_GITHUB = {
    "default-template-values": {"url": "https://github.com", "environment": ""},
    "extension-templates": {
        "github-workflow-trigger": "event_name", "github-workflow-sha": "sha",
        "github-workflow-name": "workflow", "github-workflow-repository": "repository",
        "github-workflow-ref": "ref",
        "build-signer-uri": "{{ .url }}/{{ .job_workflow_ref }}", "build-signer-digest": "job_workflow_sha",
        "runner-environment": "runner_environment", "source-repository-uri": "{{ .url }}/{{ .repository }}",
        "source-repository-digest": "sha", "source-repository-ref": "ref",
        "source-repository-identifier": "repository_id",
        "source-repository-owner-uri": "{{ .url }}/{{ .repository_owner }}",
        "source-repository-owner-identifier": "repository_owner_id",
        "build-config-uri": "{{ .url }}/{{ .workflow_ref }}", "build-config-digest": "workflow_sha",
        "build-trigger": "event_name",
        "run-invocation-uri": "{{ .url }}/{{ .repository }}/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
        "source-repository-visibility-at-signing": "repository_visibility",
        "deployment-environment": "environment",
    },
    "subject-alternative-name-template": "{{ .url }}/{{ .job_workflow_ref }}",
}
_GITLAB = {
    "default-template-values": {"url": "https://gitlab.com", "environment": ""},
    "extension-templates": {
        "build-signer-uri": "https://{{ .ci_config_ref_uri }}", "build-signer-digest": "ci_config_sha",
        "runner-environment": "runner_environment", "source-repository-uri": "{{ .url }}/{{ .project_path }}",
        "source-repository-digest": "sha",
        "source-repository-ref": 'refs/{{if eq .ref_type "branch"}}heads/{{ else }}tags/{{end}}{{ .ref }}',
        "source-repository-identifier": "project_id",
        "source-repository-owner-uri": "{{ .url }}/{{ .namespace_path }}",
        "source-repository-owner-identifier": "namespace_id",
        "build-config-uri": "https://{{ .ci_config_ref_uri }}", "build-config-digest": "ci_config_sha",
        "build-trigger": "pipeline_source",
        "run-invocation-uri": "{{ .url }}/{{ .project_path }}/-/jobs/{{ .job_id }}",
        "source-repository-visibility-at-signing": "project_visibility",
        "deployment-environment": "environment",
    },
    "subject-alternative-name-template": "https://{{ .ci_config_ref_uri }}",
}
_BUILDKITE = {
    "default-template-values": {"url": "https://buildkite.com"},
    "extension-templates": {
        "run-invocation-uri": "{{.url}}/{{.organization_slug}}/{{.pipeline_slug}}/builds/{{.build_number}}#{{.job_id}}",
        "runner-environment": "runner_environment", "source-repository-digest": "build_commit",
        "build-trigger": "build_source",
    },
    "subject-alternative-name-template": "{{.url}}/{{.organization_slug}}/{{.pipeline_slug}}",
}
# CircleCI: claims are namespaced (``oidc.circleci.com/...``), hence ``index``; the
# runner-environment template yields the two characters ``""`` for a normal run, as
# Fulcio's template text does (its else-branch is literal text, not an empty string).
_CIRCLECI = {
    "default-template-values": {"api_url": "https://circleci.com/api/v2"},
    "extension-templates": {
        "build-config-uri": '{{.api_url}}/pipeline/{{(index . "oidc.circleci.com/pipeline-id")}}/config',
        "build-signer-uri": '{{.api_url}}/projects/{{(index . "oidc.circleci.com/project-id")}}/pipeline-definitions/'
                            '{{(index . "oidc.circleci.com/pipeline-definition-id")}}',
        "run-invocation-uri": '{{.api_url}}/workflow/{{(index . "oidc.circleci.com/workflow-id")}}/job',
        "runner-environment": '{{if eq (index . "oidc.circleci.com/ssh-rerun") "true"}}ssh-rerun{{ else }}""{{end}}',
        "source-repository-ref": '{{index . "oidc.circleci.com/vcs-ref"}}',
        "source-repository-uri": '{{index . "oidc.circleci.com/vcs-origin"}}',
    },
    "subject-alternative-name-template": (
        '{{.api_url}}/projects/{{(index . "oidc.circleci.com/project-id")}}/'
        'pipeline-definitions/{{(index . "oidc.circleci.com/pipeline-definition-id")}}'),
}
BUILTIN_METADATA: dict[str, dict[str, Any]] = {
    "github-workflow": _GITHUB, "gitlab-pipeline": _GITLAB, "buildkite-job": _BUILDKITE,
    "circleci-job": _CIRCLECI,
}


def _get(doc: Mapping[str, Any], yaml_key: str, json_key: str, default: Any = None) -> Any:
    if yaml_key in doc:
        return doc[yaml_key]
    return doc.get(json_key, default)


def _str(doc: Mapping[str, Any], yaml_key: str, json_key: str, where: str) -> str:
    value = _get(doc, yaml_key, json_key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {yaml_key} must be a string")
    return value


def _metadata(name: str, doc: Any) -> CIMetadata:
    if not isinstance(doc, Mapping):
        raise ConfigError(f"ci-issuer-metadata {name}: must be a mapping")
    defaults = _get(doc, "default-template-values", "DefaultTemplateValues", {}) or {}
    templates = _get(doc, "extension-templates", "ExtensionTemplates", {}) or {}
    san = _get(doc, "subject-alternative-name-template", "SubjectAlternativeNameTemplate", "")
    if not isinstance(defaults, Mapping) or not isinstance(templates, Mapping) or not isinstance(san, str):
        raise ConfigError(f"ci-issuer-metadata {name}: malformed")
    if not san:
        raise ConfigError(f"ci-issuer-metadata {name}: subject-alternative-name-template is required")
    exts: dict[int, Template] = {}
    for key, source in templates.items():
        arc = EXTENSION_FIELDS.get(key) or _JSON_FIELDS.get(key)
        if arc is None:
            raise ConfigError(f"ci-issuer-metadata {name}: unknown extension field {key!r}")
        if not isinstance(source, str):
            raise ConfigError(f"ci-issuer-metadata {name}: template for {key} must be a string")
        if source:
            exts[arc] = Template(source)
    return CIMetadata({str(k): str(v) for k, v in defaults.items()}, exts, Template(san))


def _issuer(key: str, doc: Any, meta: bool) -> IssuerConfig:
    where = f"{'meta-issuers' if meta else 'oidc-issuers'} {key}"
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    kind = _str(doc, "type", "Type", where)
    if kind not in ISSUER_TYPES:
        raise ConfigError(f"{where}: unsupported issuer type {kind!r}")
    url = _str(doc, "issuer-url", "IssuerURL", where) or ("" if meta else key)
    if not meta and url != key:
        raise ConfigError(f"{where}: issuer-url must equal the key")
    client_id = _str(doc, "client-id", "ClientID", where)
    if not client_id:
        raise ConfigError(f"{where}: client-id is required")
    provider = _str(doc, "ci-provider", "CIProvider", where)
    if kind in ("github-workflow", "gitlab-pipeline", "buildkite-job"):
        provider = provider or kind
    elif kind == "ci-provider" and not provider:
        raise ConfigError(f"{where}: type ci-provider needs ci-provider")
    issuer = IssuerConfig(
        issuer_url=url, client_id=client_id, type=kind, ci_provider=provider,
        issuer_claim=_str(doc, "issuer-claim", "IssuerClaim", where),
        subject_domain=_str(doc, "subject-domain", "SubjectDomain", where),
        spiffe_trust_domain=_str(doc, "spiffe-trust-domain", "SPIFFETrustDomain", where),
        challenge_claim=_str(doc, "challenge-claim", "ChallengeClaim", where),
        skip_email_verification=bool(_get(doc, "skip-email-verification", "SkipEmailVerification", False)),
        description=_str(doc, "description", "Description", where),
        ca_cert=_str(doc, "ca-cert", "CACert", where),
    )
    if kind in ("uri", "username") and not issuer.subject_domain:
        raise ConfigError(f"{where}: type {kind} needs subject-domain")
    if kind == "spiffe" and (meta or not issuer.spiffe_trust_domain):
        raise ConfigError(f"{where}: type spiffe needs spiffe-trust-domain and cannot be a meta issuer")
    if issuer.issuer_claim and kind != "email":
        raise ConfigError(f"{where}: issuer-claim is only valid for email issuers")
    return issuer


def _pattern(wildcard: str) -> re.Pattern[str]:
    return re.compile("".join("[A-Za-z0-9_-]+" if c == "*" else re.escape(c) for c in wildcard))


@dataclass
class CAConfig:
    oidc_issuers: dict[str, IssuerConfig] = field(default_factory=dict)
    meta_issuers: dict[str, IssuerConfig] = field(default_factory=dict)
    ci_metadata: dict[str, CIMetadata] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._patterns = [(_pattern(k), v) for k, v in self.meta_issuers.items()]

    def lookup(self, iss: str) -> IssuerConfig | None:
        """The configuration for a token's ``iss``: exact first, then meta issuers."""
        found = self.oidc_issuers.get(iss)
        if found is not None:
            return found
        for pattern, cfg in self._patterns:
            if pattern.fullmatch(iss):
                return IssuerConfig(**{**cfg.__dict__, "issuer_url": iss})
        return None

    def metadata(self, provider: str) -> CIMetadata:
        meta = self.ci_metadata.get(provider)
        if meta is None:
            raise ConfigError(f"no ci-issuer-metadata for CI provider {provider!r}")
        return meta

    def to_issuers(self) -> list[dict[str, Any]]:
        """``GET /api/v2/configuration``'s ``issuers`` (Fulcio's ``ToIssuers``, protojson
        names, empty fields left out as protojson does)."""
        out: list[dict[str, Any]] = []
        for key, cfg in [*self.oidc_issuers.items(), *self.meta_issuers.items()]:
            item: dict[str, Any] = ({"issuerUrl": cfg.issuer_url} if key in self.oidc_issuers
                                    else {"wildcardIssuerUrl": key})
            item["audience"] = cfg.client_id
            item["challengeClaim"] = cfg.challenge
            if cfg.spiffe_trust_domain:
                item["spiffeTrustDomain"] = cfg.spiffe_trust_domain
            item["issuerType"] = cfg.type
            if cfg.subject_domain:
                item["subjectDomain"] = cfg.subject_domain
            if cfg.skip_email_verification:
                item["skipEmailVerification"] = True
            out.append(item)
        return out

    def add(self, url: str, kind: str, client_id: str = "sigstore", ci_provider: str = "") -> None:
        """Accept one more issuer (the ``--oidc-issuer``/``--ci-issuer`` flags)."""
        issuer = _issuer(url, {"issuer-url": url, "client-id": client_id, "type": kind,
                               "ci-provider": ci_provider}, meta=False)
        self.oidc_issuers[url] = issuer
        self._check_providers()

    def _check_providers(self) -> None:
        for cfg in [*self.oidc_issuers.values(), *self.meta_issuers.values()]:
            if cfg.ci_provider and cfg.ci_provider not in self.ci_metadata:
                raise ConfigError(f"issuer {cfg.issuer_url or '(meta)'}: no ci-issuer-metadata for "
                                  f"CI provider {cfg.ci_provider!r}")


def parse_config(doc: Any) -> CAConfig:
    if not isinstance(doc, Mapping):
        raise ConfigError("the CA configuration must be a mapping")
    known = {"oidc-issuers", "OIDCIssuers", "meta-issuers", "MetaIssuers", "ci-issuer-metadata",
             "CIIssuerMetadata", "define"}
    for key in doc:
        if key not in known:
            raise ConfigError(f"unknown configuration section {key!r}")
    metadata = {name: _metadata(name, m) for name, m in BUILTIN_METADATA.items()}
    for name, m in (_get(doc, "ci-issuer-metadata", "CIIssuerMetadata", {}) or {}).items():
        metadata[str(name)] = _metadata(str(name), m)
    exact = _get(doc, "oidc-issuers", "OIDCIssuers", {}) or {}
    meta = _get(doc, "meta-issuers", "MetaIssuers", {}) or {}
    if not isinstance(exact, Mapping) or not isinstance(meta, Mapping):
        raise ConfigError("oidc-issuers and meta-issuers must be mappings")
    cfg = CAConfig({str(k): _issuer(str(k), v, False) for k, v in exact.items()},
                   {str(k): _issuer(str(k), v, True) for k, v in meta.items()}, metadata)
    cfg._check_providers()
    return cfg


def load_config(path: Path | None) -> CAConfig:
    """The configuration at ``path`` (YAML or JSON); an empty one without a path."""
    if path is None:
        return parse_config({})
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"reading CA configuration {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:  # yaml.YAMLError / ValueError: one line for the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"parsing CA configuration {path}: {first}") from None
    return parse_config(doc or {})
