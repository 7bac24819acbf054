"""Container images signed through every key backend, in the real registry.

For each scheme (``k8s://``, ``pkcs11:``, ``awskms://``, ``gcpkms://``,
``azurekms://``, ``hashivault://``) ``sigstack sign --key <ref>`` signs one image
pushed to Debian's real ``docker-registry`` on 127.0.0.1; ``sigstack verify``
accepts it with the reference and with the exported public key, and the real
cosign v3 accepts it with the exported key (and, where its own clients reach the
service: Kubernetes, AWS, Azure, Vault, with the reference itself) and refuses it
with another one.

What is real and what is a double (the same as the blob tests): the registry,
SoftHSM2 and moto's KMS server are real; Kubernetes, Cloud KMS, Key Vault and
Vault are the HTTP doubles of their documented APIs in this folder, because none
of those servers can be installed here.

All schemes sign the same image (one per module), so each ``verify`` also shows
that exactly one of the stored signatures belongs to each key.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack import keys
from sigstack.oci.client import RegistryClient
from sigstack.oci.reference import parse_reference
from tests.helpers import Result, assert_clean_error, run_peer, sigstack
from tests.oci.ocihelpers import Registry, push_image

from ._vault_double import make_key

pytestmark = pytest.mark.interop

GCP_KEY = "projects/p/locations/global/keyRings/ring/cryptoKeys/images"


@dataclass
class Backend:
    ref: str
    env: dict[str, str]
    #: the environment in which the real cosign reaches the key service itself; None
    #: where it cannot (its release build has no PKCS#11; it speaks gRPC to Cloud KMS)
    cosign_env: dict[str, str] | None = None
    #: another key in the same service, which signed nothing (with ``cosign_env``)
    unused_ref: str = ""


def _k8s(request: pytest.FixtureRequest) -> Backend:
    kube = request.getfixturevalue("kube")
    ref, unused = (f"k8s://team/images-{os.urandom(4).hex()}" for _ in range(2))
    for name in (ref, unused):
        keys.generate_at(name, b"s3cret")  # cosign.password goes into the Secret
    env = {k: v for k, v in kube.env.items() if k != "COSIGN_PASSWORD"}
    return Backend(ref, env, env, unused)


def _pkcs11(request: pytest.FixtureRequest) -> Backend:
    token = request.getfixturevalue("softhsm")
    return Backend(token.uri("p256"), token.env)


def _aws(request: pytest.FixtureRequest) -> Backend:
    moto = request.getfixturevalue("moto_kms")
    key, unused = (moto.client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
                   for _ in range(2))
    moto.client.create_alias(AliasName="alias/images", TargetKeyId=key)
    return Backend("awskms:///alias/images", moto.env, moto.env, f"awskms:///{unused}")


def _gcp(request: pytest.FixtureRequest) -> Backend:
    gcp = request.getfixturevalue("gcp")
    gcp.state.add_key(GCP_KEY, "EC_SIGN_P256_SHA256")
    return Backend(f"gcpkms://{GCP_KEY}", gcp.env)


def _azure(request: pytest.FixtureRequest) -> Backend:
    azure = request.getfixturevalue("azure")
    azure.state.add_key("images", "P-256")
    azure.state.add_key("unused", "P-256")
    return Backend(f"azurekms://{azure.host}/images", azure.env,
                   {**azure.env, "SSL_CERT_FILE": azure.env["REQUESTS_CA_BUNDLE"]}, f"azurekms://{azure.host}/unused")


def _vault(request: pytest.FixtureRequest) -> Backend:
    vault = request.getfixturevalue("vault")
    for name in ("images", "unused"):
        vault.state.keys[name] = ("ecdsa-p256", make_key("ecdsa-p256"))
    return Backend("hashivault://images", vault.env, vault.env, "hashivault://unused")


SCHEMES: dict[str, Callable[[pytest.FixtureRequest], Backend]] = {
    "k8s": _k8s, "pkcs11": _pkcs11, "awskms": _aws, "gcpkms": _gcp, "azurekms": _azure, "hashivault": _vault,
}


@pytest.fixture(params=list(SCHEMES))
def backend(request: pytest.FixtureRequest) -> Backend:
    return SCHEMES[request.param](request)


@pytest.fixture(scope="module")
def image(registry: Registry) -> str:
    """One freshly pushed image (by digest) that every scheme in this module signs."""
    ref = registry.repo("keys/images") + ":v1"
    with RegistryClient() as client:
        digest = push_image(client, parse_reference(ref))
    return f"{ref.rsplit(':', 1)[0]}@{digest}"


@pytest.fixture(scope="module")
def stranger_pub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A P-256 public key that signed nothing."""
    pub = tmp_path_factory.mktemp("stranger") / "stranger.pub"
    pub.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return pub


def cosign_run(cosign: str, *args: str, env: dict[str, str] | None = None) -> Result:
    """The real cosign v3; without ``env`` it has the exported key only (no backend
    credentials in its environment)."""
    if env is None:
        return run_peer(cosign, *args)
    return run_peer(cosign, *args, env={k: v for k, v in env.items() if not k.startswith("COSIGN_")}, inherit="none")


def export_public_key(backend: Backend, cwd: Path) -> Path:
    r = sigstack("public-key", "--key", backend.ref, "--outfile", "backend.pub", env=backend.env, cwd=cwd, offline="flags", inherit="none")
    assert r.code == 0, r.err
    return cwd / "backend.pub"


def test_sign_image_through_backend_verified_by_sigstack_and_real_cosign(
    backend: Backend, image: str, stranger_pub: Path, cosign: str, tmp_path: Path
) -> None:
    pub = export_public_key(backend, tmp_path)
    for _ in range(2):  # the second time cosign's duplicate check (the remote key's public half) skips it
        signed = sigstack("sign", "--key", backend.ref, "--tlog-upload=false", image, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
        assert signed.code == 0, signed.err

    outputs = []
    for key in (backend.ref, str(pub)):
        ok = sigstack("verify", "--key", key, image, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
        assert ok.code == 0, (key, ok.err)
        outputs.append(json.loads(ok.out))
    digest = image.rsplit("@", 1)[1]
    assert outputs[0] == outputs[1]
    assert len(outputs[0]) == 1  # one signature for this key (signed twice), among every scheme's
    assert outputs[0][0]["critical"]["image"]["docker-manifest-digest"] == digest

    theirs = cosign_run(cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog", image)
    assert theirs.code == 0, theirs.err
    assert json.loads(theirs.out) == outputs[0]
    if backend.cosign_env is not None:  # cosign fetching the public key from the service itself
        direct = cosign_run(cosign, "verify", "--key", backend.ref, "--insecure-ignore-tlog", image,
                            env=backend.cosign_env)
        assert direct.code == 0, direct.err
        assert json.loads(direct.out) == outputs[0]
        unused = cosign_run(cosign, "verify", "--key", backend.unused_ref, "--insecure-ignore-tlog", image,
                            env=backend.cosign_env)
        assert unused.code == 12, unused.err
    refused = cosign_run(cosign, "verify", "--key", str(stranger_pub), "--insecure-ignore-tlog", image)
    assert refused.code == 12, refused.err
    assert "no matching signatures" in refused.err


@pytest.fixture
def predicate(tmp_path: Path) -> Path:
    p = tmp_path / "provenance.json"
    p.write_text('{"buildType":"make","builder":{"id":"https://ci.example/kms"}}')
    return p


def test_attest_through_backend_verified_by_real_cosign(
    backend: Backend, image: str, stranger_pub: Path, predicate: Path, cosign: str, tmp_path: Path
) -> None:
    pub = export_public_key(backend, tmp_path)
    r = sigstack("attest", "--key", backend.ref, "--tlog-upload=false", "--predicate", str(predicate),
                "--type", "slsaprovenance", image, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    ours = sigstack("verify-attestation", "--key", backend.ref, "--type", "slsaprovenance", image,
                   env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert ours.code == 0, ours.err
    theirs = cosign_run(cosign, "verify-attestation", "--key", str(pub), "--insecure-ignore-tlog",
                        "--type", "slsaprovenance", image)
    assert theirs.code == 0, theirs.err
    envelopes = [json.loads(line) for line in theirs.out.splitlines()]
    assert len(envelopes) == 1 and envelopes[0]["payloadType"] == "application/vnd.in-toto+json"
    refused = cosign_run(cosign, "verify-attestation", "--key", str(stranger_pub), "--insecure-ignore-tlog",
                         "--type", "slsaprovenance", image)
    assert_clean_error(refused, "no matching attestations: accepted signatures do not match threshold, Found: 0, Expected 1")


def test_bundle_signature_through_kms_verified_by_real_cosign(
    request: pytest.FixtureRequest, registry: Registry, stranger_pub: Path, cosign: str, tmp_path: Path
) -> None:
    """The Sigstore-bundle layout (DSSE statement, bundle built from the signer's public
    key) through a remote signer, on its own image so the legacy ``.sig`` is absent."""
    backend = _aws(request)
    ref = registry.repo("keys/bundle") + ":v1"
    with RegistryClient() as client:
        img = f"{ref.rsplit(':', 1)[0]}@{push_image(client, parse_reference(ref))}"
    pub = export_public_key(backend, tmp_path)
    r = sigstack("sign", "--new-bundle-format", "--key", backend.ref, "--tlog-upload=false", img,
                env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 0, r.err
    ours = sigstack("verify", "--key", backend.ref, img, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert ours.code == 0, ours.err
    theirs = cosign_run(cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog", img)
    assert theirs.code == 0, theirs.err
    assert json.loads(theirs.out) == json.loads(ours.out)
    refused = cosign_run(cosign, "verify", "--key", str(stranger_pub), "--insecure-ignore-tlog", img)
    assert_clean_error(refused, "no matching attestations: failed to verify signature: could not verify envelope: "
                                "accepted signatures do not match threshold, Found: 0, Expected 1")


def _openssl_accepts(pub: Path, signature: bytes, payload: bytes, digest: str, work: Path) -> bool:
    (work / "payload").write_bytes(payload)
    (work / "payload.sig").write_bytes(signature)
    r = subprocess.run(["openssl", "dgst", f"-{digest}", "-verify", str(pub), "-signature", str(work / "payload.sig"),
                        str(work / "payload")], capture_output=True, timeout=60)
    return r.returncode == 0  # openssl


@pytest.mark.parametrize(("scheme", "kind"), [("pkcs11", "rsa2048"), ("awskms", "RSA_3072"),
                                              ("pkcs11", "p384"), ("awskms", "ECC_NIST_P384")])
def test_other_key_types_sign_images(scheme: str, kind: str, request: pytest.FixtureRequest, image: str,
                                     cosign: str, tmp_path: Path) -> None:
    """RSA and P-384 keys behind a real token and moto. P-384 is signed over SHA-384, as
    cosign v3 signs it; cosign v3.1.3 ``verify --key`` checks every ECDSA key with SHA-256
    and so rejects P-384 image signatures, its own included. For that curve OpenSSL checks
    the signature over the payload that ``cosign download signature`` fetches."""
    if scheme == "pkcs11":
        token = request.getfixturevalue("softhsm")
        backend = Backend(token.uri(kind), token.env)
    else:
        moto = request.getfixturevalue("moto_kms")
        key = moto.client.create_key(KeySpec=kind, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        backend = Backend(f"awskms:///{key}", moto.env)
    pub = export_public_key(backend, tmp_path)
    signed = sigstack("sign", "--key", backend.ref, "--tlog-upload=false", image, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    ours = sigstack("verify", "--key", str(pub), image, env=backend.env, cwd=tmp_path, offline="flags", inherit="none")
    assert ours.code == 0, ours.err
    assert len(json.loads(ours.out)) == 1
    if "384" not in kind:
        theirs = cosign_run(cosign, "verify", "--key", str(pub), "--insecure-ignore-tlog", image)
        assert theirs.code == 0, theirs.err
        assert json.loads(theirs.out) == json.loads(ours.out)
        return
    fetched = cosign_run(cosign, "download", "signature", image)
    assert fetched.code == 0, fetched.err
    entries = [json.loads(line) for line in fetched.out.splitlines()]
    accepted = [e for e in entries if _openssl_accepts(pub, base64.b64decode(e["Base64Signature"]),
                                                       base64.b64decode(e["Payload"]), "sha384", tmp_path)]
    assert len(accepted) == 1, entries
