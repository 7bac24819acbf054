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
