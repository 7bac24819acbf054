"""``rfc3161timestamp`` authorities: the signature's time comes from a signed timestamp
by a TSA of the named TrustRoot (policy-controller's ``rfc3161timestamp.trustRootRef``;
the log is then not consulted, as policy-controller skips it). Images in Debian's
registry, signed with a key by sigstack and by the real cosign v3 (legacy ``.sig``
layout, the timestamp in cosign's ``rfc3161timestamp`` annotation; and a bundle
referrer), timestamped by `sigstack tsa serve`; checked with ``sigstack policy test``.

Where policy-controller would admit a signature that carries no timestamp at all
(cosign only checks timestamps that are there), sigstack denies it: an authority that
asks for signed timestamps is never satisfied without one."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_peer, sigstack
from tests.keyless._support import Served, start_served
from tests.oci.ocihelpers import Registry, fresh
from tests.policy.conftest import PW
from tests.tsa._support import TSA, start_tsa

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TSA]:
    served = start_tsa(tmp_path_factory.mktemp("tsa"))
    try:
        yield served
    finally:
        served.stop()


def trustroot(tmp: Path, name: str, tsa: TSA | None) -> Path:
    keys: dict[str, object] = {}
    if tsa is not None:
        chain = base64.b64encode(tsa.chain.read_bytes()).decode()
        keys["timestampAuthorities"] = [{"subject": {"organization": "sigstack", "commonName": "tsa"},
                                         "uri": tsa.url, "certChain": chain}]
    else:  # a TrustRoot for a CA only
        keys["certificateAuthorities"] = [{"subject": {"organization": "x", "commonName": "x"}, "uri": "https://ca",
                                           "certChain": base64.b64encode(tsa_chain_placeholder(tmp)).decode()}]
    f = tmp / f"trustroot-{name}.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot",
                                 "metadata": {"name": name}, "spec": {"sigstoreKeys": keys}}))
    return f


def tsa_chain_placeholder(tmp: Path) -> bytes:
    from sigstack.tsa.state import ensure_state

    return ensure_state(tmp / "placeholder").chain_pem()


def policy(tmp: Path, pub: Path, ref: str = "tsa", **authority: object) -> Path:
    f = tmp / "cip.yaml"
    f.write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "stamped"},
        "spec": {"images": [{"glob": "127.0.0.1*/**"}], "authorities": [{
            "key": {"data": pub.read_text()}, "rfc3161timestamp": {"trustRootRef": ref}, **authority}]}}))
    return f


def check(f: Path, roots: list[Path], image: str) -> tuple[int, object]:
    args: list[str | Path] = ["policy", "test", "--policy", f, "--image", image]
    for r in roots:
        args += ["--trustroot", r]
    r = sigstack(*args)
    assert "Traceback" not in r.err, r.err
    return r.code, json.loads(r.out) if r.out else None


def sign(registry: Registry, key: Path, *extra: str) -> str:
    image = fresh(registry)
    r = sigstack("sign", "--key", key, "--tlog-upload=false", *extra, image, env=PW)
    assert r.code == 0, r.err
    return image


def test_timestamped_signature_allowed_and_unstamped_denied(registry: Registry, keypair: tuple[Path, Path],
                                                            tsa: TSA, tmp_path: Path) -> None:
    key, pub = keypair
    roots = [trustroot(tmp_path, "tsa", tsa)]
    f = policy(tmp_path, pub)
    stamped = sign(registry, key, "--timestamp-server-url", tsa.url)
    assert check(f, roots, stamped) == (0, None)
    bare = sign(registry, key)
    code, out = check(f, roots, bare)
    assert code == 1
    assert out == {"errors": [
        f"signature key validation failed for authority authority-0 for {bare}: no matching signatures: "
        "timestamp: no RFC 3161 timestamp, and one is required: "]}
    # the same unstamped image passes a key authority that does not ask for timestamps
    plain = tmp_path / "plain.yaml"
    doc = yaml.safe_load(f.read_text())
    del doc["spec"]["authorities"][0]["rfc3161timestamp"]
    plain.write_text(yaml.safe_dump(doc))
    assert check(plain, roots, bare) == (0, None)


def test_cosign_timestamped_signature_allowed(registry: Registry, keypair: tuple[Path, Path], tsa: TSA,
                                              cosign: str, tmp_path: Path) -> None:
    key, pub = keypair
    image = fresh(registry)
    r = run_peer(cosign, "sign", "--key", key, "--use-signing-config=false", "--new-bundle-format=false",
                 "--tlog-upload=false", "--timestamp-server-url", tsa.url, "--yes", "--allow-insecure-registry",
                 image, env=PW)
    assert r.code == 0, r.err
    assert check(policy(tmp_path, pub), [trustroot(tmp_path, "tsa", tsa)], image) == (0, None)


def test_bundle_format_timestamp_allowed(registry: Registry, keypair: tuple[Path, Path], tsa: TSA,
                                         tmp_path: Path) -> None:
    key, pub = keypair
    image = sign(registry, key, "--new-bundle-format", "--timestamp-server-url", tsa.url)
    f = policy(tmp_path, pub, signatureFormat="bundle")
    assert check(f, [trustroot(tmp_path, "tsa", tsa)], image) == (0, None)


def test_a_timestamp_from_another_tsa_is_denied(registry: Registry, keypair: tuple[Path, Path], tsa: TSA,
                                                tmp_path: Path) -> None:
    key, pub = keypair
    other = start_tsa(tmp_path / "other")
    try:
        image = sign(registry, key, "--timestamp-server-url", other.url)
    finally:
        other.stop()
    code, out = check(policy(tmp_path, pub), [trustroot(tmp_path, "tsa", tsa)], image)
    assert code == 1
    assert isinstance(out, dict)
    (error,) = out["errors"]
    assert "does not verify against a timestamp authority of the trusted root" in error


def test_a_trustroot_without_tsa(registry: Registry, keypair: tuple[Path, Path], tsa: TSA, tmp_path: Path) -> None:
    key, pub = keypair
    image = sign(registry, key, "--timestamp-server-url", tsa.url)
    code, out = check(policy(tmp_path, pub, "cas-only"), [trustroot(tmp_path, "cas-only", None)], image)
    assert code == 1
    assert out == {"errors": [
        f"signature key validation failed for authority authority-0 for {image}: unable to verify RFC3161 "
        "timestamp bundle: no TSA root certificate(s) provided to verify timestamp: "]}


def test_an_unknown_trustroot_ref(registry: Registry, keypair: tuple[Path, Path], tsa: TSA, tmp_path: Path) -> None:
    key, pub = keypair
    image = sign(registry, key, "--timestamp-server-url", tsa.url)
    code, out = check(policy(tmp_path, pub, "nowhere"), [trustroot(tmp_path, "tsa", tsa)], image)
    assert (code, out) == (1, {"errors": ["trustRootRef nowhere not found: "]})


# ---- keyless: `sigstack serve` (its TSA timestamps every signature its signing config makes)


@pytest.fixture(scope="module")
def sigstore_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serve")
    served = start_served(work / "state", work)
    try:
        yield served
    finally:
        served.stop()


def keyless_policy(tmp: Path, s: Served, subject: str) -> Path:
    f = tmp / "keyless.yaml"
    f.write_text(yaml.safe_dump({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "stamped"},
        "spec": {"images": [{"glob": "127.0.0.1*/**"}], "authorities": [{
            "keyless": {"url": s.ca, "trustRootRef": "stack", "identities": [{"issuer": s.oidc, "subject": subject}]},
            "rfc3161timestamp": {"trustRootRef": "stack"}}]}}))
    return f


def stack_trustroot(tmp: Path, s: Served, without_tsa: bool = False) -> Path:
    root = json.loads(s.trusted_root.read_text())
    if without_tsa:
        root["timestampAuthorities"] = []
    f = tmp / "trustroot-stack.yaml"
    f.write_text(yaml.safe_dump({"apiVersion": "policy.sigstore.dev/v1alpha1", "kind": "TrustRoot",
                                 "metadata": {"name": "stack"}, "spec": {"trustedRoot": json.dumps(root)}}))
    return f


def test_keyless_timestamped_signature_allowed_and_unstamped_denied(registry: Registry, sigstore_stack: Served,
                                                                    tmp_path: Path) -> None:
    s = sigstore_stack
    stamped, bare = fresh(registry), fresh(registry)
    r = sigstack("sign", "--identity-token", s.token("kim@example.com"), "--signing-config", s.signing_config,
                 "--trusted-root", s.trusted_root, stamped, offline=None)
    assert r.code == 0, r.err
    # the same services named by flags, without the signing config: no TSA, no timestamp
    r = sigstack("sign", "--identity-token", s.token("kim@example.com"), "--fulcio-url", s.ca, "--rekor-url", s.tlog,
                 "--trusted-root", s.trusted_root, bare, offline=None)
    assert r.code == 0, r.err
    f, roots = keyless_policy(tmp_path, s, "kim@example.com"), [stack_trustroot(tmp_path, s)]
    assert check(f, roots, stamped) == (0, None)
    code, out = check(f, roots, bare)
    assert (code, out) == (1, {"errors": [
        f"signature keyless validation failed for authority authority-0 for {bare}: no matching signatures: "
        "timestamp: no RFC 3161 timestamp, and one is required: "]})
    code, out = check(keyless_policy(tmp_path, s, "someone@example.com"), roots, stamped)
    assert code == 1 and "none of the expected identities matched" in str(out)
    code, out = check(f, [stack_trustroot(tmp_path, s, without_tsa=True)], stamped)
    assert (code, out) == (1, {"errors": [
        f"signature keyless validation failed for authority authority-0 for {stamped}: unable to verify RFC3161 "
        "timestamp bundle: no TSA root certificate(s) provided to verify timestamp: "]})
