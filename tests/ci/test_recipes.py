"""The CI recipes under docs/ci/ (GitLab CI, Buildkite, CircleCI, Tekton) cannot rot:
each file is valid YAML, every ``sigstack`` command line in it (wherever the provider
keeps its scripts) names a real subcommand and only flags that subcommand's ``--help``
lists, each recipe signs and verifies keylessly by identity and with a key, and each
one hands the signer its provider's token the way docs/ci.md says."""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ci._action import ROOT
from tests.helpers import sigstack

RECIPES = ROOT / "docs" / "ci"
FILES = {"gitlab": "gitlab-ci.yml", "buildkite": "buildkite-pipeline.yml", "circleci": "circleci-config.yml",
         "tekton": "tekton-task.yml"}
_SEPARATORS = {"|", "||", "&&", ";", "&", ")", "(", "\n"}
_KEYWORDS = {"then", "do", "else", "exec", "time", "!"}


def documents(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def strings(node: Any) -> Iterator[str]:
    """Every string value in a YAML tree (scripts live under different keys per provider)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def commands(text: str) -> list[list[str]]:
    """The ``sigstack ...`` invocations in a script (``sigstack`` where the shell expects a
    command, not in prose): lines joined at ``\\``, split as the shell does, each cut at
    the next shell operator."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        if "sigstack " not in line or line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
        for i, word in enumerate(words):
            at_command = i == 0 or words[i - 1] in _SEPARATORS or words[i - 1] in _KEYWORDS
            if word == "sigstack" and at_command and i + 1 < len(words):
                cmd = [word]
                for w in words[i + 1:]:
                    if w in _SEPARATORS:
                        break
                    cmd.append(w)
                found.append(cmd)
    return found


def recipe_commands(name: str) -> list[list[str]]:
    return [c for doc in documents(RECIPES / FILES[name]) for s in strings(doc) for c in commands(s)]


@functools.cache
def help_text(subcommand: str) -> str:
    r = sigstack(subcommand, "--help")
    assert r.code == 0, f"sigstack {subcommand} --help: {r.err}"
    return r.stdout


def unknown_flags(cmd: list[str]) -> list[str]:
    text = help_text(cmd[1])
    flags = [w.split("=", 1)[0] for w in cmd[2:] if w.startswith("--")]
    return [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]


@pytest.mark.parametrize("name", list(FILES))
def test_recipe_runs_only_real_sigstack_commands_and_flags(name: str) -> None:
    cmds = recipe_commands(name)
    assert cmds, f"{FILES[name]}: no sigstack command found"
    for cmd in cmds:
        assert unknown_flags(cmd) == [], " ".join(cmd)
    # keyless: sign, then verify by identity and issuer; key-based: sign and verify with a key
    verbs = {c[1] for c in cmds}
    assert verbs & {"sign", "sign-blob"} and verbs & {"verify", "verify-blob"}, verbs
    verifies = [c for c in cmds if c[1] in ("verify", "verify-blob")]
    assert any("--certificate-identity" in c and "--certificate-oidc-issuer" in c for c in verifies), name
    assert any("--key" in c for c in verifies) and any(
        "--key" in c for c in cmds if c[1] in ("sign", "sign-blob")), name


def test_the_check_catches_a_flag_that_does_not_exist(tmp_path: Path) -> None:
    """The check above can fail: a misspelt flag and a subcommand that does not exist."""
    script = "set -e\nsigstack verify --certificate-identitty x --certificate-oidc-issuer y img | tee out\n"
    [cmd] = commands(script)
    assert cmd == ["sigstack", "verify", "--certificate-identitty", "x", "--certificate-oidc-issuer", "y", "img"]
    assert unknown_flags(cmd) == ["--certificate-identitty"]
    assert commands("# sign with sigstack and verify\necho sign with sigstack verify") == []  # prose
    r = sigstack("sign-blobz", "--help")
    assert r.code == 2 and "invalid choice: 'sign-blobz'" in r.err, r.err


def test_gitlab_job_asks_for_a_sigstore_token_in_the_variable_sigstack_reads() -> None:
    [doc] = documents(RECIPES / FILES["gitlab"])
    keyless = [job for job in doc.values() if isinstance(job, dict) and "id_tokens" in job]
    assert keyless
    for job in keyless:
        assert job["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}


def test_tekton_task_projects_a_sigstore_token_where_the_signer_reads_it() -> None:
    keyless, keyed = documents(RECIPES / FILES["tekton"])
    assert (keyless["apiVersion"], keyless["kind"]) == ("tekton.dev/v1", "Task")
    [volume] = keyless["spec"]["volumes"]
    [source] = volume["projected"]["sources"]
    token = source["serviceAccountToken"]
    assert token["audience"] == "sigstore"
    [step] = keyless["spec"]["steps"]
    [mount] = [m for m in step["volumeMounts"] if m["name"] == volume["name"]]
    path = f"{mount['mountPath']}/{token['path']}"
    [sign] = [c for c in commands(step["script"]) if c[1] == "sign"]
    assert sign[sign.index("--identity-token") + 1] == path
    # every $(params.x) the steps use is declared
    for task in (keyless, keyed):
        declared = {p["name"] for p in task["spec"]["params"]}
        used = set(re.findall(r"\$\(params\.([\w-]+)\)", yaml.safe_dump(task)))
        assert used <= declared, used - declared


def test_circleci_and_buildkite_jobs_can_get_a_token() -> None:
    """CircleCI only mints OIDC tokens for jobs that use a context; Buildkite's agent does
    for any job (sigstack asks it, or is told to with ``--oidc-provider buildkite-agent``)."""
    [doc] = documents(RECIPES / FILES["circleci"])
    jobs = doc["workflows"]["release"]["jobs"]
    assert any(isinstance(j, dict) and j.get("sign", {}).get("context") for j in jobs)
    assert any("--oidc-provider" in c and c[c.index("--oidc-provider") + 1] == "buildkite-agent"
               for c in recipe_commands("buildkite"))


#: CA configuration for the four providers' issuers, as public Fulcio types them (GitLab
#: and Buildkite use the CA's built-in templates; CircleCI's SAN template is configured)
CA_CONFIG = {
    "oidc-issuers": {
        "https://gitlab.com": {"issuer-url": "https://gitlab.com", "client-id": "sigstore", "type": "ci-provider",
                               "ci-provider": "gitlab-pipeline"},
        "https://agent.buildkite.com": {"issuer-url": "https://agent.buildkite.com", "client-id": "sigstore",
                                        "type": "ci-provider", "ci-provider": "buildkite-job"},
    },
    "meta-issuers": {
        "https://oidc.circleci.com/org/*": {"client-id": "sigstore", "type": "ci-provider",
                                            "ci-provider": "circleci-job"},
        "https://container.googleapis.com/v1/projects/*/locations/*/clusters/*": {"client-id": "sigstore",
                                                                                  "type": "kubernetes"},
    },
    "ci-issuer-metadata": {"circleci-job": {
        "default-template-values": {"api_url": "https://circleci.com/api/v2"},
        "subject-alternative-name-template": '{{.api_url}}/projects/{{(index . "oidc.circleci.com/project-id")}}'
                                             '/pipeline-definitions/'
                                             '{{(index . "oidc.circleci.com/pipeline-definition-id")}}',
    }},
}

#: a token of each provider, with the claims its documentation lists
CLAIMS: dict[str, dict[str, Any]] = {
    "GitLab CI": {
        "iss": "https://gitlab.com", "aud": "sigstore", "sub": "project_path:acme/app:ref_type:branch:ref:main",
        "namespace_id": "72", "namespace_path": "acme", "project_id": "4242", "project_path": "acme/app",
        "pipeline_id": "900", "pipeline_source": "push", "job_id": "9001", "ref": "main", "ref_type": "branch",
        "ref_protected": "true", "runner_environment": "gitlab-hosted", "sha": "a" * 40,
        "ci_config_ref_uri": "gitlab.com/acme/app//.gitlab-ci.yml@refs/heads/main", "ci_config_sha": "a" * 40,
        "project_visibility": "public"},
    "Buildkite": {
        "iss": "https://agent.buildkite.com", "aud": "sigstore",
        "sub": "organization:acme:pipeline:app:ref:refs/heads/main:commit:" + "b" * 40 + ":step:sign",
        "organization_slug": "acme", "pipeline_slug": "app", "build_number": 12,
        "job_id": "0190a0e1-0000-4000-8000-000000000001", "build_commit": "b" * 40, "build_source": "webhook",
        "runner_environment": "self-hosted"},
    "CircleCI": {
        "iss": "https://oidc.circleci.com/org/0b7e5c41-0000-4000-8000-000000000001", "aud": "sigstore",
        "sub": "org/0b7e5c41-0000-4000-8000-000000000001/project/5d2a/user/77",
        "oidc.circleci.com/project-id": "5d2a9c0e-0000-4000-8000-000000000002",
        "oidc.circleci.com/pipeline-definition-id": "7f3b1d2c-0000-4000-8000-000000000003",
        "oidc.circleci.com/vcs-origin": "github.com/acme/app", "oidc.circleci.com/vcs-ref": "refs/heads/main"},
    "Tekton (Kubernetes)": {
        "iss": "https://container.googleapis.com/v1/projects/acme/locations/europe-west1/clusters/ci",
        "aud": ["sigstore"], "sub": "system:serviceaccount:ci:release-signer",
        "kubernetes.io": {"namespace": "ci", "pod": {"name": "sign-pod", "uid": "1"},
                          "serviceaccount": {"name": "release-signer", "uid": "2"}}},
}


def documented_identities() -> dict[str, tuple[str, str]]:
    """provider -> (identity, issuer) cells of docs/ci.md's provider table (first code span)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "docs" / "ci.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in CLAIMS:
            spans = [re.findall(r"`([^`]*)`", c) for c in cells[2:]]
            rows[cells[0]] = (spans[0][0], spans[1][0] if spans[1] else "")
    return rows


def as_pattern(documented: str) -> re.Pattern[str]:
    """``<placeholder>`` matches one path segment's worth of text."""
    parts = re.split(r"<[^>]+>", documented)
    return re.compile("[^/@]+".join(map(re.escape, parts)))


@pytest.mark.parametrize("provider", list(CLAIMS))
def test_documented_identity_is_what_the_ca_certifies(provider: str) -> None:
    """docs/ci.md's table says which identity to verify; the CA's principal rules (Fulcio's
    templates) turn the provider's token into exactly that SAN and issuer."""
    from sigstack.ca.config import parse_config
    from sigstack.ca.identity import principal_from_claims

    config = parse_config(CA_CONFIG)
    claims = CLAIMS[provider]
    issuer = config.lookup(claims["iss"])
    assert issuer is not None
    principal = principal_from_claims(claims, issuer, config)
    identity, issuer_url = documented_identities()[provider]
    assert as_pattern(identity).fullmatch(principal.san), (identity, principal.san)
    if issuer_url:
        assert as_pattern(issuer_url).fullmatch(principal.issuer), (issuer_url, principal.issuer)
    assert not as_pattern(identity).fullmatch(principal.san + "/x")  # the pattern is not a prefix match
