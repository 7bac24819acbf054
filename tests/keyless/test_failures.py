"""Every way keyless signing can fail is one ``Error:`` line and exit 1: a token that is
not a JWT, one the CA refuses (expired, wrong audience, unknown issuer, forged, email
not verified), an ambient provider that fails, an unreachable issuer or CA, a CA whose
chain or SCT the trusted root does not vouch for; and the upload prompt refuses without
a terminal, for keyless and key-based uploads alike."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.helpers import assert_clean_error, sigstack
from tests.keyless._support import Served


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    art = tmp_path / "a.txt"
    art.write_text("x\n")
    return art


def keyless(s: Served, art: Path, *extra: str, env: dict[str, str] | None = None, yes: bool = True):  # type: ignore[no-untyped-def]
    return sigstack("sign-blob", "--signing-config", s.signing_config, "--trusted-root", s.trusted_root,
                    "--oidc-disable-ambient-providers", *extra, art, env=env, offline=None, yes=yes, timeout=60)


def forged(s: Served) -> str:
    from sigstack.oidc.issuer import DevIssuer

    return DevIssuer(s.oidc, rsa.generate_private_key(65537, 2048)).mint(None, "alice@example.com")


def unknown_issuer(s: Served) -> str:
    from sigstack.oidc.issuer import DevIssuer, load_or_create_key

    return DevIssuer("http://127.0.0.1:1", load_or_create_key(s.dir / "oidc")).mint(None, "alice@example.com")


REFUSED = "Error: the CA refused the certificate request (HTTP 400): There was an error processing the identity token"
CASES = {
    "not-a-jwt": (lambda s: "not-a-token", "Error: the identity token is not a JWT"),
    "expired": (lambda s: s.token(now=int(time.time()) - 3600), REFUSED),
    "wrong-audience": (lambda s: s.token(audience="someone-else"), REFUSED),
    "unknown-issuer": (unknown_issuer, REFUSED),
    "forged": (forged, REFUSED),
    "email-unverified": (lambda s: s.token(extra={"email_verified": False}), REFUSED),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_token_is_one_error_line(sigstore_stack: Served, artifact: Path, case: str) -> None:
    make, message = CASES[case]
    r = keyless(sigstore_stack, artifact, "--identity-token", make(sigstore_stack))
    assert_clean_error(r, message)


def test_ambient_provider_failure(sigstore_stack: Served, artifact: Path) -> None:
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{sigstore_stack.oidc}/github/actions-token?api-version=2.0",
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "not-the-request-token"}
    r = sigstack("sign-blob", "--signing-config", sigstore_stack.signing_config, artifact, env=env, offline=None)
    assert_clean_error(r, "Error: GitHub Actions token request failed: HTTP 401")


def test_named_provider_absent(sigstore_stack: Served, artifact: Path) -> None:
    r = sigstack("sign-blob", "--signing-config", sigstore_stack.signing_config, "--oidc-provider", "circleci",
                 artifact, offline=None, unset=("CIRCLECI",))
    assert_clean_error(r, "Error: the OIDC provider 'circleci' is not available in this environment")


def test_unreachable_issuer_for_login(sigstore_stack: Served, artifact: Path) -> None:
    r = keyless(sigstore_stack, artifact, "--oidc-issuer", "http://127.0.0.1:9")
    assert_clean_error(r, "Error: OIDC discovery at http://127.0.0.1:9/.well-known/openid-configuration failed")


def test_unreachable_ca(sigstore_stack: Served, artifact: Path) -> None:
    r = sigstack("sign-blob", "--identity-token", sigstore_stack.token(), "--fulcio-url", "http://127.0.0.1:9",
                 "--rekor-url", sigstore_stack.tlog, artifact, offline=None)
    assert_clean_error(r, "Error: cannot reach the CA at http://127.0.0.1:9")


@pytest.mark.parametrize(("drop", "message"), [
    ("certificateAuthorities", "Error: certificate chain: no certificate authority of the trusted root"),
    ("ctlogs", "Error: SCT"),
])
def test_trusted_root_must_vouch_for_the_certificate(sigstore_stack: Served, artifact: Path, tmp_path: Path,
                                                     drop: str, message: str) -> None:
    doc = json.loads(sigstore_stack.trusted_root.read_text())
    doc[drop] = []
    root = tmp_path / "root.json"
    root.write_text(json.dumps(doc))
    r = sigstack("sign-blob", "--identity-token", sigstore_stack.token(), "--signing-config",
                 sigstore_stack.signing_config, "--trusted-root", root, "--bundle", tmp_path / "b.json", artifact,
                 offline=None)
    assert_clean_error(r, message)
    assert not (tmp_path / "b.json").exists()


def test_prompt_refuses_without_terminal_keyless(sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    r = keyless(sigstore_stack, artifact, "--identity-token", sigstore_stack.token(), "--bundle",
                tmp_path / "b.json", yes=False)
    assert "Are you sure you would like to continue? [y/N]" in r.err
    assert "By typing 'y', you attest" in r.err
    assert_clean_error(r, "Error: no terminal to confirm the upload to the transparency log on (pass --yes")
    assert not (tmp_path / "b.json").exists()


def test_prompt_refuses_without_terminal_with_a_key(sigstore_stack: Served, artifact: Path, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    assert sigstack("generate-key-pair", cwd=keys, env={"COSIGN_PASSWORD": ""}).code == 0
    r = sigstack("sign-blob", "--key", keys / "cosign.key", "--rekor-url", sigstore_stack.tlog, artifact,
                 env={"COSIGN_PASSWORD": ""}, offline=None, yes=False)
    assert_clean_error(r, "Error: no terminal to confirm the upload")
    ok = sigstack("sign-blob", "--key", keys / "cosign.key", "--tlog-upload=false", artifact,
                  env={"COSIGN_PASSWORD": ""}, offline=None, yes=False)
    assert ok.code == 0, ok.err  # nothing is published: nothing to ask
    assert "Are you sure" not in ok.err
