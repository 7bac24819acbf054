"""Keyless signing in a GitHub Actions job, without GitHub: the action's steps install
sigstack (and the ``cosign`` alias) from this checkout, then a job's environment is set
up as the runner does for ``permissions: id-token: write`` (``GITHUB_ACTIONS``,
``ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN`` pointing at the token-request endpoint of
``sigstack serve``'s development issuer, and the ``GITHUB_*`` variables of the workflow
run its tokens describe). With no ``--identity-token``, the installed commands fetch the
ambient token themselves, sign a blob and an image in a real registry (Debian
``docker-registry``) against the served CA and log, and verify both by the workflow
identity; a wrong workflow is refused with one error line. The real cosign checks both
signatures too."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.oidc.issuer import GitHubWorkflow
from tests.ci._action import install, tool_env
from tests.conftest import GOBIN
from tests.helpers import Result, assert_clean_error
from tests.keyless._support import Served, start_served
from tests.oci.ocihelpers import Registry, fresh, start_registry

pytestmark = [pytest.mark.slow, pytest.mark.interop]

#: the workflow run the dev issuer's GitHub tokens describe (``sigstack serve``'s defaults)
RUN = GitHubWorkflow()
SERVER = "https://github.com"
WORKFLOW_REF = f"{RUN.repository}/{RUN.workflow_path}@{RUN.ref}"
IDENTITY = f"{SERVER}/{WORKFLOW_REF}"


@pytest.fixture(scope="module")
def sigstore_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    served = start_served(work / "state", work)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


def job_env(bindir: Path, s: Served) -> dict[str, str]:
    """What a job step sees after the action ran, with ``id-token: write``."""
    request = (s.dir / "oidc" / "actions-request-token").read_text().strip()
    return {**tool_env(bindir),
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": SERVER,
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{s.oidc}/github/actions-token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request,
            "GITHUB_REPOSITORY": RUN.repository, "GITHUB_REPOSITORY_ID": RUN.repository_id,
            "GITHUB_REPOSITORY_OWNER": RUN.repository.split("/")[0],
            "GITHUB_REPOSITORY_OWNER_ID": RUN.repository_owner_id, "GITHUB_REF": RUN.ref,
            "GITHUB_REF_NAME": RUN.ref.rsplit("/", 1)[-1], "GITHUB_SHA": RUN.sha,
            "GITHUB_WORKFLOW": "Release", "GITHUB_WORKFLOW_REF": WORKFLOW_REF, "GITHUB_WORKFLOW_SHA": RUN.sha,
            "GITHUB_EVENT_NAME": RUN.event_name, "GITHUB_RUN_ID": RUN.run_id,
            "GITHUB_RUN_ATTEMPT": RUN.run_attempt, "GITHUB_ACTOR": RUN.actor, "RUNNER_ENVIRONMENT": "github-hosted"}


def certificate_identity(bundle: Path) -> tuple[str, str]:
    """(URI SAN, OIDC issuer extension) of a bundle's signing certificate."""
    from cryptography import x509

    material = json.loads(bundle.read_text())["verificationMaterial"]
    raw = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    cert = x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))
    [san] = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.UniformResourceIdentifier)
    ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")).value
    assert isinstance(ext, x509.UnrecognizedExtension)
    return san, ext.value[2:].decode()  # a DER UTF8String: tag, length, text


def step(env: dict[str, str], cwd: Path, *args: str | Path) -> Result:
    proc = subprocess.run([str(a) for a in args], env=env, cwd=cwd, capture_output=True, timeout=180)
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def ok(r: Result) -> Result:
    assert r.code == 0, r.err
    return r


def test_action_signs_keylessly_with_the_ambient_github_token(tmp_path: Path, sigstore_stack: Served,
                                                              registry: Registry) -> None:
    s = sigstore_stack
    runner, bindir = install(tmp_path, **{"cosign-alias": "true"})
    work = runner.workdir
    env = job_env(bindir, s)
    assert not any(k.startswith(("COSIGN_", "SIGSTORE_")) for k in env)  # the token comes from the endpoint
    by_workflow = ("--certificate-identity", IDENTITY, "--certificate-oidc-issuer", f"{s.oidc}/github")
    claims = ("--certificate-github-workflow-repository", env["GITHUB_REPOSITORY"],
              "--certificate-github-workflow-ref", env["GITHUB_REF"],
              "--certificate-github-workflow-sha", env["GITHUB_SHA"],
              "--certificate-github-workflow-trigger", env["GITHUB_EVENT_NAME"])
    trust = ("--trusted-root", str(s.trusted_root))

    # a blob, with sigstack, verified with the cosign alias
    (work / "dist.tar.gz").write_bytes(b"release artifact\n" * 64)
    ok(step(env, work, "sigstack", "sign-blob", "--yes", "--signing-config", s.signing_config,
            "--bundle", "dist.sigstore.json", "dist.tar.gz"))
    san, issuer = certificate_identity(work / "dist.sigstore.json")
    assert (san, issuer) == (IDENTITY, f"{s.oidc}/github")
    out = ok(step(env, work, "cosign", "verify-blob", "--bundle", "dist.sigstore.json", *trust, *by_workflow,
                  *claims, "dist.tar.gz"))
    assert "Verified OK" in out.err + out.stdout

    # an image, with the alias (as the seed's `cosign sign {}@${DIGEST}` step), verified with sigstack
    image = fresh(registry)
    ok(step(env, work, "cosign", "sign", "--yes", "--signing-config", s.signing_config, *trust, image))
    out = ok(step(env, work, "sigstack", "verify", *trust, *by_workflow, *claims, image))
    [verified] = json.loads(out.stdout)
    assert verified["critical"]["image"]["docker-manifest-digest"] == image.split("@", 1)[1]

    # another workflow of the same repository is not this one
    other = f"{SERVER}/{RUN.repository}/.github/workflows/other.yml@{RUN.ref}"
    wrong = ("--certificate-identity", other, "--certificate-oidc-issuer", f"{s.oidc}/github")
    assert_clean_error(step(env, work, "sigstack", "verify-blob", "--bundle", "dist.sigstore.json", *trust, *wrong,
                            "dist.tar.gz"), other, code=1)
    assert_clean_error(step(env, work, "cosign", "verify", *trust, *wrong, image), other, code=12)

    # the real cosign agrees, when it is built (scripts/install-peers)
    cosign = GOBIN / "cosign"
    if not cosign.exists():
        return
    real_env = {k: v for k, v in env.items() if k not in ("ACTIONS_ID_TOKEN_REQUEST_URL",
                                                          "ACTIONS_ID_TOKEN_REQUEST_TOKEN")}
    r = step(real_env, work, cosign, "verify-blob", "--bundle", "dist.sigstore.json", *trust, *by_workflow, *claims,
             "dist.tar.gz")
    assert r.code == 0 and "Verified OK" in r.err, r.err
    r = step(real_env, work, cosign, "verify", "--new-bundle-format=false", *trust, *by_workflow, *claims, image)
    assert r.code == 0, r.err
    r = step(real_env, work, cosign, "verify", "--new-bundle-format=false", *trust, *wrong, image)
    assert r.code == 12 and "none of the expected identities matched" in r.err, r.err  # cosign: no matching signatures
