"""``k8s://`` key references against an HTTP double of the Kubernetes Secrets API.

No kube-apiserver can be installed on these machines: the API server here is the
TLS double in ``_k8s_double.py`` (real paths and JSON, bearer token from a
temporary kubeconfig). The sigstack side uses the official ``kubernetes`` client;
the cross-checks run the real cosign (client-go) against the same double.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sigstack import keys
from sigstack.errors import KeyLoadError, KeyRefError
from tests.helpers import sigstack

from .conftest import Kube, cosign_sign_blob, cosign_verify_blob


def _generate(kube: Kube, ref: str, cwd: Path, password: str = "s3cret") -> tuple[int, str]:
    r = sigstack("generate-key-pair", ref, env={**kube.env, "COSIGN_PASSWORD": password}, cwd=cwd, offline="flags", inherit="none")
    return r.code, r.err


def test_generate_creates_immutable_secret_and_prints_what_cosign_prints(kube: Kube, tmp_path: Path) -> None:
    code, err = _generate(kube, "k8s://team/signing", tmp_path)
    assert code == 0, err
    assert err.splitlines() == [
        "Successfully created secret signing in namespace team",
        "Public key written to cosign.pub",
    ]
    secret = kube.state.secrets[("team", "signing")]
    assert secret["immutable"] is True
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert set(data) == {"cosign.key", "cosign.pub", "cosign.password"}
    assert data["cosign.password"] == b"s3cret"
    assert data["cosign.key"].startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    assert (tmp_path / "cosign.pub").read_bytes() == data["cosign.pub"]


def test_sign_with_stored_password_verify_with_secret_and_real_cosign(
    kube: Kube, tmp_path: Path, cosign: str
) -> None:
    assert _generate(kube, "k8s://team/signing", tmp_path)[0] == 0
    blob = tmp_path / "artifact.txt"
    blob.write_bytes(b"release 1.0\n")
    env = {k: v for k, v in kube.env.items() if k != "COSIGN_PASSWORD"}
    signed = sigstack("sign-blob", "--key", "k8s://team/signing", str(blob), env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    sig = signed.out.strip()
    (tmp_path / "artifact.sig").write_bytes(sig)
    ok = sigstack("verify-blob", "--key", "k8s://team/signing", "--signature", "artifact.sig",
                 str(blob), env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert ok.code == 0, ok.err
    assert "Verified OK" in ok.err
    # the real cosign, with the public key we wrote and with the Secret itself
    assert cosign_verify_blob(cosign, str(tmp_path / "cosign.pub"), sig, blob).returncode == 0
    r = cosign_verify_blob(cosign, "k8s://team/signing", sig, blob, env=kube.env)
    assert r.returncode == 0, r.stderr.decode()


def test_secret_made_by_real_cosign_is_usable_by_sigstack(kube: Kube, tmp_path: Path, cosign: str) -> None:
    import subprocess

    r = subprocess.run([cosign, "generate-key-pair", "k8s://ops/from-cosign"],
                       env={**kube.env, "COSIGN_PASSWORD": "pw"}, cwd=tmp_path, capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert ("ops", "from-cosign") in kube.state.secrets
    signer = keys.load_signer("k8s://ops/from-cosign", None)  # the stored password is used
    verifier = keys.load_verifier("k8s://ops/from-cosign")
    sig = signer.sign(b"payload")
    verifier.verify(sig, b"payload")
    assert verifier.public_key_pem() == (tmp_path / "cosign.pub").read_bytes()


def test_secret_made_by_sigstack_is_usable_by_real_cosign(kube: Kube, tmp_path: Path, cosign: str) -> None:
    assert _generate(kube, "k8s://ops/from-sigstack", tmp_path)[0] == 0
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\x01binary")
    sig = cosign_sign_blob(cosign, "k8s://ops/from-sigstack", blob, kube.env)
    keys.load_verifier("k8s://ops/from-sigstack").verify(base64.b64decode(sig), blob.read_bytes())


def test_existing_secret_is_not_overwritten(kube: Kube, tmp_path: Path) -> None:
    assert _generate(kube, "k8s://team/signing", tmp_path)[0] == 0
    before = dict(kube.state.secrets[("team", "signing")]["data"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, err = _generate(kube, "k8s://team/signing", elsewhere)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "Error: kubernetes: secret signing already exists in namespace team; refusing to replace it "
        "(delete it first: kubectl delete secret -n team signing)"
    )
    assert kube.state.secrets[("team", "signing")]["data"] == before
    assert kube.state.requests[-1][0] == "GET"  # refused before creating anything
    assert not (elsewhere / "cosign.pub").exists()


def test_create_conflict_after_check_is_reported(kube: Kube) -> None:
    """A Secret created between our GET and POST (HTTP 409) gives the same clear error."""
    from sigstack.keys import k8s

    real = k8s._call

    def racing(sref, action, fn, *args, **kw):  # type: ignore[no-untyped-def]
        if action == "creating":
            kube.state.secrets[(sref.namespace, sref.name)] = {"metadata": {"name": sref.name}}
        return real(sref, action, fn, *args, **kw)

    k8s._call = racing
    try:
        with pytest.raises(KeyLoadError, match="already exists in namespace team; refusing"):
            keys.generate_at("k8s://team/racy", b"pw")
    finally:
        k8s._call = real


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("k8s://", "kubernetes specification should be in the format k8s://<namespace>/<secret>"),
        ("k8s://onlyname", "kubernetes specification should be in the format k8s://<namespace>/<secret>"),
        ("k8s://a/b/c", "kubernetes specification should be in the format k8s://<namespace>/<secret>"),
        ("k8s:///name", "kubernetes specification should be in the format k8s://<namespace>/<secret>"),
    ],
)
def test_malformed_refs(kube: Kube, tmp_path: Path, ref: str, message: str) -> None:
    r = sigstack("sign-blob", "--key", ref, "-", env=kube.env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip() == f"Error: {message}"
    with pytest.raises(KeyRefError, match="should be in the format"):
        keys.load_verifier(ref)


def _put(kube: Kube, ns: str, name: str, data: dict[str, bytes]) -> None:
    kube.state.secrets[(ns, name)] = {
        "kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
        "data": {k: base64.b64encode(v).decode() for k, v in data.items()},
    }


@pytest.mark.parametrize(
    ("command", "stored", "message"),
    [
        ("sign-blob", {"cosign.pub": b"x", "cosign.password": b"p"},
         "Error: kubernetes: secret partial in namespace ns has no 'cosign.key' field; "
         "was it made by generate-key-pair k8s://...?"),
        ("sign-blob", {"cosign.key": b"x", "cosign.pub": b"x"},
         "Error: kubernetes: secret partial in namespace ns has no 'cosign.password' field; "
         "was it made by generate-key-pair k8s://...?"),
        ("verify-blob", {"cosign.key": b"x", "cosign.password": b"p"},
         "Error: kubernetes: secret partial in namespace ns has no 'cosign.pub' field; "
         "was it made by generate-key-pair k8s://...?"),
        ("sign-blob", {}, "Error: kubernetes: secret partial in namespace ns has no 'cosign.key' field; "
         "was it made by generate-key-pair k8s://...?"),
    ],
)
def test_missing_secret_fields(kube: Kube, tmp_path: Path, command: str, stored: dict[str, bytes],
                               message: str) -> None:
    _put(kube, "ns", "partial", stored)
    args = ["--signature", "c2ln"] if command == "verify-blob" else []
    r = sigstack(command, "--key", "k8s://ns/partial", *args, "-", env=kube.env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip() == message


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "Error: kubernetes: secret nothing not found in namespace ns"),
        ("forbidden", 'Error: kubernetes: reading secret nothing in namespace locked: secrets "nothing" is '
         'forbidden: User "system:serviceaccount:default:signer" cannot get resource "secrets" in API '
         'group "" in the namespace "locked"'),
        ("bad-token", "Error: kubernetes: reading secret nothing in namespace ns: Unauthorized"),
        ("no-kubeconfig", "Error: kubernetes: no usable kubeconfig"),
    ],
)
def test_api_failures(kube: Kube, tmp_path: Path, case: str, message: str) -> None:
    env = dict(kube.env)
    ns = "ns"
    if case == "forbidden":
        kube.state.forbidden.add("locked")
        ns = "locked"
    elif case == "bad-token":
        kube.state.token = "rotated"
    elif case == "no-kubeconfig":
        env["KUBECONFIG"] = str(tmp_path / "absent")
    r = sigstack("verify-blob", "--key", f"k8s://{ns}/nothing", "--signature", "c2ln", "-",
                env=env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip().startswith(message), r.err
    assert "Traceback" not in r.err


def test_generate_forbidden_namespace(kube: Kube, tmp_path: Path) -> None:
    kube.state.forbidden.add("prod")
    code, err = _generate(kube, "k8s://prod/signing", tmp_path)
    assert code == 1
    assert err.strip().startswith(
        'Error: kubernetes: reading secret signing in namespace prod: secrets "signing" is forbidden')
    assert not (tmp_path / "cosign.pub").exists()
