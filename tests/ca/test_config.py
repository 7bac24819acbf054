"""The issuer configuration (Fulcio's file format) and the claim → identity rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sigstack.ca.config import CAConfig, load_config, parse_config
from sigstack.ca.errors import ConfigError, TokenError
from sigstack.ca.identity import Principal, principal_from_claims
from sigstack.ca.template import MissingClaim, Template

YAML = """
define:
  - &gitlab-type "gitlab-pipeline"
oidc-issuers:
  https://accounts.example.com:
    issuer-url: https://accounts.example.com
    client-id: sigstore
    type: email
  https://dex.example.com/auth:
    issuer-url: https://dex.example.com/auth
    client-id: sigstore
    type: email
    issuer-claim: $.federated_claims.connector_id
  https://gitlab.example.com:
    issuer-url: https://gitlab.example.com
    client-id: sigstore
    type: ci-provider
    ci-provider: *gitlab-type
  https://users.example.com:
    issuer-url: https://users.example.com
    client-id: sigstore
    type: username
    subject-domain: example.com
  https://uris.example.com:
    issuer-url: https://uris.example.com
    client-id: sigstore
    type: uri
    subject-domain: https://example.com
  https://spiffe.example.com:
    issuer-url: https://spiffe.example.com
    client-id: sigstore
    type: spiffe
    spiffe-trust-domain: example.com
meta-issuers:
  https://oidc.eks.*.amazonaws.com/id/*:
    client-id: sigstore
    type: kubernetes
  https://token.actions.githubusercontent.com/*:
    client-id: sigstore
    type: ci-provider
    ci-provider: github-workflow
"""


@pytest.fixture
def config(tmp_path: Path) -> CAConfig:
    path = tmp_path / "config.yaml"
    path.write_text(YAML)
    return load_config(path)


def test_lookup_exact_and_meta(config: CAConfig) -> None:
    assert config.lookup("https://accounts.example.com").type == "email"
    eks = config.lookup("https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB")
    assert eks is not None and eks.type == "kubernetes"
    assert eks.issuer_url == "https://oidc.eks.us-west-2.amazonaws.com/id/B02C93B6A2D30341AD01E1B6D48164CB"
    # '*' never spans '.' or '/'
    assert config.lookup("https://oidc.eks.a.b.amazonaws.com/id/X") is None
    assert config.lookup("https://oidc.eks.x.amazonaws.com/id/X/Y") is None
    assert config.lookup("https://token.actions.githubusercontent.com/enterprise") is not None
    assert config.lookup("https://evil.example.com") is None
    issuers = config.to_issuers()
    assert {"wildcardIssuerUrl": "https://oidc.eks.*.amazonaws.com/id/*", "audience": "sigstore",
            "challengeClaim": "sub", "issuerType": "kubernetes"} in issuers
    assert {"issuerUrl": "https://spiffe.example.com", "audience": "sigstore", "challengeClaim": "sub",
            "spiffeTrustDomain": "example.com", "issuerType": "spiffe"} in issuers
    assert {"issuerUrl": "https://users.example.com", "audience": "sigstore", "challengeClaim": "sub",
            "issuerType": "username", "subjectDomain": "example.com"} in issuers


def test_json_spelling(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"OIDCIssuers": {"https://a.example.com": {"IssuerURL": "https://a.example.com", '
                    '"ClientID": "sigstore", "Type": "email"}}, "MetaIssuers": {"https://*.example.com": '
                    '{"ClientID": "sigstore", "Type": "ci-provider", "CIProvider": "buildkite-job"}}}')
    cfg = load_config(path)
    assert cfg.lookup("https://a.example.com").client_id == "sigstore"  # type: ignore[union-attr]
    assert cfg.lookup("https://b.example.com").ci_provider == "buildkite-job"  # type: ignore[union-attr]


def _principal(config: CAConfig, iss: str, claims: dict[str, object]) -> Principal:
    issuer = config.lookup(iss)
    assert issuer is not None
    return principal_from_claims({"iss": iss, "sub": "s", **claims}, issuer, config)


def test_email_and_dex_issuer_claim(config: CAConfig) -> None:
    p = _principal(config, "https://accounts.example.com", {"email": "a@example.com", "email_verified": True})
    assert (p.name, p.san_type, p.san, p.issuer) == ("a@example.com", "email", "a@example.com",
                                                    "https://accounts.example.com")
    p = _principal(config, "https://dex.example.com/auth", {"email": "a@example.com", "email_verified": True,
                                                            "federated_claims": {"connector_id": "https://github.com/login/oauth"}})
    assert p.issuer == "https://github.com/login/oauth"
    with pytest.raises(TokenError, match=re.escape("email address is not verified")):
        _principal(config, "https://accounts.example.com", {"email": "a@example.com"})


def test_username_uri_spiffe_kubernetes(config: CAConfig) -> None:
    p = _principal(config, "https://users.example.com", {"sub": "alice"})
    assert (p.san_type, p.san, p.name) == ("username", "alice!example.com", "alice")
    p = _principal(config, "https://uris.example.com", {"sub": "https://example.com/users/alice"})
    assert (p.san_type, p.san) == ("uri", "https://example.com/users/alice")
    with pytest.raises(TokenError, match=re.escape("is not a URI in 'https://example.com'")):
        _principal(config, "https://uris.example.com", {"sub": "https://evil.com/alice"})
    p = _principal(config, "https://spiffe.example.com", {"sub": "spiffe://example.com/ns/default/sa/app"})
    assert p.san == "spiffe://example.com/ns/default/sa/app"
    with pytest.raises(TokenError, match=re.escape("not a SPIFFE ID in trust domain 'example.com'")):
        _principal(config, "https://spiffe.example.com", {"sub": "spiffe://other.com/x"})
    iss = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    p = _principal(config, iss, {"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "builder"}}})
    assert p.san == "https://kubernetes.io/namespaces/prod/serviceaccounts/builder"


def test_gitlab_templates(config: CAConfig) -> None:
    claims = {"sub": "project_path:group/proj:ref_type:branch:ref:main", "ci_config_ref_uri":
              "gitlab.example.com/group/proj//.gitlab-ci.yml@refs/heads/main", "ci_config_sha": "abc",
              "runner_environment": "gitlab-hosted", "project_path": "group/proj", "sha": "abc",
              "ref_type": "branch", "ref": "main", "project_id": 42, "namespace_path": "group",
              "namespace_id": "7", "pipeline_source": "push", "job_id": "99", "project_visibility": "private"}
    p = _principal(config, "https://gitlab.example.com", claims)
    assert p.san == "https://gitlab.example.com/group/proj//.gitlab-ci.yml@refs/heads/main"
    assert p.extensions[14] == "refs/heads/main"
    assert p.extensions[15] == "42"  # numbers render as Go prints them
    assert p.extensions[12] == "https://gitlab.com/group/proj"  # the default url, as Fulcio's template has it
    assert 23 not in p.extensions  # environment defaults to "" and empty values are left out
    assert p.extensions[24] == claims["sub"]
    p = _principal(config, "https://gitlab.example.com", {**claims, "ref_type": "tag", "ref": "v1"})
    assert p.extensions[14] == "refs/tags/v1"
    with pytest.raises(TokenError, match=re.escape("no 'job_id' claim, which the gitlab-pipeline certificate")):
        _principal(config, "https://gitlab.example.com", {k: v for k, v in claims.items() if k != "job_id"})


def test_template_subset() -> None:
    data = {"a": "1", "oidc.circleci.com/x": "y", "flag": "true"}
    assert Template("{{ .a }}/{{.a}}").render(data) == "1/1"
    assert Template('{{(index . "oidc.circleci.com/x")}}-{{ index . "a" }}').render(data) == "y-1"
    assert Template('{{if eq (index . "flag") "true"}}on{{ else }}off{{end}}').render(data) == "on"
    assert Template('{{if eq .a "2"}}two{{end}}').render(data) == ""
    assert Template("a").render(data) == "1"  # a bare claim name
    with pytest.raises(MissingClaim):
        Template("{{ .missing }}").render(data)
    with pytest.raises(ConfigError, match=re.escape("unsupported template expression")):
        Template("{{ printf .a }}")
    with pytest.raises(ConfigError, match=re.escape("missing")):
        Template('{{if eq .a "1"}}x')


@pytest.mark.parametrize(("doc", "message"), [
    ({"oidc-issuers": {"https://a": {"issuer-url": "https://a", "client-id": "sigstore", "type": "magic"}}},
     "oidc-issuers https://a: unsupported issuer type 'magic'"),
    ({"oidc-issuers": {"https://a": {"issuer-url": "https://b", "client-id": "sigstore", "type": "email"}}},
     "oidc-issuers https://a: issuer-url must equal the key"),
    ({"oidc-issuers": {"https://a": {"issuer-url": "https://a", "type": "email"}}},
     "oidc-issuers https://a: client-id is required"),
    ({"oidc-issuers": {"https://a": {"issuer-url": "https://a", "client-id": "s", "type": "ci-provider",
                                     "ci-provider": "nope"}}},
     "issuer https://a: no ci-issuer-metadata for CI provider 'nope'"),
    ({"meta-issuers": {"https://*": {"client-id": "s", "type": "spiffe", "spiffe-trust-domain": "x"}}},
     "meta-issuers https://*: type spiffe needs spiffe-trust-domain and cannot be a meta issuer"),
    ({"oidc-issuers": {"https://a": {"issuer-url": "https://a", "client-id": "s", "type": "uri"}}},
     "oidc-issuers https://a: type uri needs subject-domain"),
    ({"surprise": {}}, "unknown configuration section 'surprise'"),
])
def test_config_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    assert info.value.message == message


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("reading CA configuration")):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("oidc-issuers: [unclosed")
    with pytest.raises(ConfigError, match=re.escape(f"parsing CA configuration {bad}: ")):
        load_config(bad)
