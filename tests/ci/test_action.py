"""The GitHub Action (action.yml) and the example workflow, without GitHub: lint both
(actionlint, which also runs shellcheck on the workflow's scripts; shellcheck on the
action's own scripts), then run the action's install steps on this machine from this
checkout and sign and verify a blob, key-based, with what it installed (``sigstack``
and the ``cosign`` alias), checking the signature with the real cosign too."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.ci._action import ROOT, Runner, base_python, clean_env, install, load_action, run_scripts, tool_env
from tests.conftest import peer

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck is not installed (Debian package 'shellcheck'; scripts/bootstrap installs it)")
    return found


def test_actionlint_passes_the_example_workflows() -> None:
    assert WORKFLOWS, "no example workflow under .github/workflows"
    _shellcheck()  # actionlint runs it on every run: script when it is on PATH
    proc = subprocess.run([peer("actionlint"), "-no-color", *map(str, WORKFLOWS)], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The lint above can fail: a typo in an expression and an unquoted variable are found."""
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    text = WORKFLOWS[0].read_text().replace("steps.build.outputs.digest", "steps.biuld.outputs.digest", 1)
    wf.write_text(text.replace('"{}@${DIGEST}"', "{}@$DIGEST $UNSET_WORD"))
    proc = subprocess.run([peer("actionlint"), "-no-color", str(wf)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 1
    assert 'property "biuld" is not defined' in proc.stdout


def test_shellcheck_passes_the_action_scripts(tmp_path: Path) -> None:
    scripts = run_scripts(load_action())
    assert [sid for sid, _ in scripts] == ["resolve", "install"]
    for sid, body in scripts:
        # inputs reach scripts only through env: (no ${{ }} inside a script: no injection)
        assert "${{" not in body, sid
        path = tmp_path / f"{sid}.sh"
        path.write_text("#!/usr/bin/env bash\n" + body)
        proc = subprocess.run([_shellcheck(), "-s", "bash", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{sid}:\n{proc.stdout}"


def _resolve(tmp_path: Path, **inputs: str) -> dict[str, str]:
    runner = Runner(tmp_path, {"install-dir": "$HOME/.sigstack", **inputs},
                    {"action_path": str(ROOT), "action_repository": "acme/sigstack", "action_ref": "main"},
                    {**clean_env(), "HOME": "/home/runner", "GITHUB_SERVER_URL": "file://" + str(tmp_path)})
    runner.run(load_action(), only=("resolve",))
    return runner.outputs["resolve"]


def test_release_input_picks_pypi_a_git_ref_or_the_actions_own_source(tmp_path: Path) -> None:
    out = _resolve(tmp_path, **{"sigstack-release": "v0.1.0", "extras": "aws,gcp"})
    assert out["spec"] == "sigstack[aws,gcp]==0.1.0"
    assert out["install-dir"] == "/home/runner/.sigstack"  # $HOME in the input is expanded
    assert out["cache-key"].startswith("sigstack-Linux-X64-py3.") and out["cache-key"].endswith("-0.1.0[aws,gcp]")
    # a git ref of the action's repository; a branch that resolves to nothing is not cached
    out = _resolve(tmp_path, **{"sigstack-release": "main"})
    assert out["spec"] == f"sigstack @ git+file://{tmp_path}/acme/sigstack@main"
    assert out["cache-key"] == ""
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert _resolve(tmp_path, **{"sigstack-release": sha})["cache-key"].endswith(sha)
    out = _resolve(tmp_path)
    assert out["spec"] == str(ROOT)


def test_bad_extras_input_fails_with_one_error(tmp_path: Path) -> None:
    github = {"action_path": str(ROOT), "action_repository": "a/b", "action_ref": "v1"}
    runner = Runner(tmp_path, {"extras": "aws; rm -rf /"}, github, clean_env())
    with pytest.raises(AssertionError) as info:
        runner.run(load_action(), only=("resolve",))
    assert "::error::extras must be comma-separated names such as aws,gcp" in str(info.value)


@pytest.mark.slow
def test_action_installs_sigstack_and_the_cosign_alias_then_signs(tmp_path: Path) -> None:
    runner, bindir = install(tmp_path, **{"cosign-alias": "true"})
    work, action, github, inputs = runner.workdir, load_action(), runner.github, dict(runner.inputs)
    assert runner.skipped == ["actions/cache@v4"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert runner.outputs["resolve"]["cache-key"].endswith(head)
    assert runner.path_entries() == [str(bindir)]
    assert runner.outputs["install"]["sigstack-path"] == str(bindir / "sigstack")

    env = tool_env(bindir)
    env["COSIGN_PASSWORD"] = "ci-secret"

    def run(*args: str, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(args), env={**env, **(extra or {})}, cwd=work, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, f"{args}: {proc.stdout}{proc.stderr}"
        return proc

    assert shutil.which("sigstack", path=env["PATH"]) == str(bindir / "sigstack")
    version = run("sigstack", "version").stdout
    assert f"GitCommit:      {head}" in version and "GitVersion:     v" in version
    # existing cosign steps, unchanged: generate-key-pair, then the key from a "secret"
    run("cosign", "generate-key-pair")
    secret = {"COSIGN_PRIVATE_KEY": (work / "cosign.key").read_text()}
    (work / "artifact.tar").write_bytes(b"release artifact\n" * 100)
    run("sigstack", "sign-blob", "--yes", "--key", "env://COSIGN_PRIVATE_KEY", "--tlog-upload=false",
        "--output-signature", "artifact.sig", "artifact.tar", extra=secret)
    run("cosign", "sign-blob", "--yes", "--key", "env://COSIGN_PRIVATE_KEY", "--tlog-upload=false",
        "--output-signature", "alias.sig", "artifact.tar", extra=secret)
    for sig in ("artifact.sig", "alias.sig"):
        out = run("cosign", "verify-blob", "--key", "cosign.pub", "--signature", sig, "--insecure-ignore-tlog",
                  "artifact.tar")
        assert "Verified OK" in out.stderr + out.stdout
        real = subprocess.run([peer("cosign"), "verify-blob", "--key", "cosign.pub", "--signature", sig,
                               "--insecure-ignore-tlog=true", "artifact.tar"], cwd=work, capture_output=True,
                              text=True, env={**env, "PATH": env["PATH"]})
        assert real.returncode == 0 and "Verified OK" in real.stderr, real.stderr

    # a second run (the cached virtualenv restored) reuses the install
    again = Runner(work, dict(inputs), github, clean_env())
    again.run(action)
    assert "using the cached install" in again.logs[-1]
    # and without the alias input the cosign command is taken away again
    again = Runner(work, {**inputs, "cosign-alias": "false"}, github, clean_env())
    again.run(action)
    assert not (bindir / "cosign").exists() and (bindir / "sigstack").exists()


@pytest.mark.slow
def test_action_fetched_as_a_source_archive_knows_its_commit(tmp_path: Path) -> None:
    """The runner downloads an action as a source archive, without .git: the install
    still pins the cache to the commit (the ref, a SHA here) and bakes it into the build."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    action_dir = tmp_path / "_actions" / "sigstack" / head
    action_dir.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(action_dir)], input=archive, check=True)
    assert not (action_dir / ".git").exists()
    work = tmp_path / "runner"
    work.mkdir()
    runner = Runner(work, {"install-dir": str(tmp_path / "tools"), "python": base_python()},
                    {"action_path": str(action_dir), "action_repository": "sigstack/sigstack", "action_ref": head},
                    clean_env())
    runner.run(load_action())
    assert runner.outputs["resolve"]["cache-key"].endswith("-" + head)
    out = subprocess.run([str(tmp_path / "tools" / "bin" / "sigstack"), "version", "--json"], capture_output=True,
                         text=True, env=clean_env(), check=True).stdout
    info = json.loads(out)
    assert (info["gitCommit"], info["gitTreeState"]) == (head, "clean")
    assert not (tmp_path / "tools" / "bin" / "cosign").exists()  # no alias unless asked
