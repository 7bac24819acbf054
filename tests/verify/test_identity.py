"""Identity policies on real Fulcio leaves (the public-good bundles) and on leaves we
mint with the extensions in question (OtherName SAN, only the raw or only the v2
issuer), with cosign's unanchored regexp semantics."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sigstack.errors import IdentityError
from sigstack.verify.identity import (
    OIDS,
    OTHERNAME_SAN_OID,
    AllOf,
    AnyOf,
    GitHubWorkflowName,
    GitHubWorkflowRef,
    GitHubWorkflowRepository,
    GitHubWorkflowSHA,
    GitHubWorkflowTrigger,
    Identity,
    IdentityRegexp,
    OIDCIssuer,
    SigstoreExtensions,
    der_utf8,
    subject_alternative_names,
)
from tests.verify._vectors import BUNDLES

GH_ID = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
GH_ISS = "https://token.actions.githubusercontent.com"


def _bundle_leaf(name: str) -> x509.Certificate:
    vm = json.loads((BUNDLES / name).read_bytes())["verificationMaterial"]
    raw = vm["certificate"] if "certificate" in vm else vm["x509CertificateChain"]["certificates"][0]
    return x509.load_der_x509_certificate(base64.b64decode(raw["rawBytes"]))


@pytest.fixture(scope="module")
def github() -> x509.Certificate:
    return _bundle_leaf("bundle_v3_github.whl.sigstore")


@pytest.fixture(scope="module")
def email() -> x509.Certificate:
    return _bundle_leaf("bundle_v3.txt.sigstore")


def mint(san: x509.GeneralName, ext: SigstoreExtensions) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
               .public_key(key.public_key()).serial_number(1).not_valid_before(now)
               .not_valid_after(now + timedelta(minutes=10))
               .add_extension(x509.SubjectAlternativeName([san]), critical=True))
    for oid, value in ext.extensions():
        builder = builder.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), value), critical=False)
    return builder.sign(key, hashes.SHA256())


def test_github_leaf_extensions(github: x509.Certificate) -> None:
    ext = SigstoreExtensions.from_certificate(github)
    assert ext.issuer == ext.issuer_v1 == ext.issuer_v2 == GH_ISS
    assert ext.github_workflow_repository == "trailofbits/rfc8785.py"
    assert ext.run_invocation_uri == "https://github.com/trailofbits/rfc8785.py/actions/runs/8351058501/attempts/1"
    assert subject_alternative_names(github) == [GH_ID]


def test_identity_exact(github: x509.Certificate, email: x509.Certificate) -> None:
    Identity(identity=GH_ID, issuer=GH_ISS).verify(github)
    Identity(identity="william@yossarian.net", issuer="https://github.com/login/oauth").verify(email)
    with pytest.raises(IdentityError, match="is the expected identity"):
        Identity(identity=GH_ID + "x", issuer=GH_ISS).verify(github)
    with pytest.raises(IdentityError, match=r"OIDC issuer .* does not match"):
        Identity(identity=GH_ID, issuer="https://accounts.google.com").verify(github)


def test_regexp_is_unanchored_like_cosign(github: x509.Certificate) -> None:
    # Go's MatchString searches: a fragment matches anywhere ...
    IdentityRegexp(identity_regexp="trailofbits/rfc8785", issuer=GH_ISS).verify(github)
    IdentityRegexp(identity_regexp=r"@refs/tags/v\d", issuer_regexp="githubusercontent").verify(github)
    # ... and only an explicit anchor anchors
    with pytest.raises(IdentityError, match="matches the regexp"):
        IdentityRegexp(identity_regexp="^trailofbits", issuer=GH_ISS).verify(github)
    with pytest.raises(IdentityError, match="does not match the regexp"):
        IdentityRegexp(identity_regexp=".*", issuer_regexp="^githubusercontent").verify(github)
    with pytest.raises(IdentityError, match="malformed identity regexp"):
        IdentityRegexp(identity_regexp="(", issuer=GH_ISS).verify(github)


def test_github_claims(github: x509.Certificate) -> None:
    AllOf([
        Identity(identity=GH_ID, issuer=GH_ISS),
        GitHubWorkflowTrigger("release"),
        GitHubWorkflowSHA("d8b4a6445f38c48b9137a8099706d9b8073146e4"),
        GitHubWorkflowName("release"),
        GitHubWorkflowRepository("trailofbits/rfc8785.py"),
        GitHubWorkflowRef("refs/tags/v0.1.2"),
    ]).verify(github)
    with pytest.raises(IdentityError, match="expected GitHub Workflow Ref 'refs/heads/main' not found"):
        GitHubWorkflowRef("refs/heads/main").verify(github)


def test_composition(github: x509.Certificate) -> None:
    with pytest.raises(IdentityError, match="empty AllOf"):
        AllOf([]).verify(github)
    with pytest.raises(IdentityError, match="empty AnyOf"):
        AnyOf([]).verify(github)
    AnyOf([Identity(identity="someone@example.com", issuer=GH_ISS), OIDCIssuer(GH_ISS)]).verify(github)
    with pytest.raises(IdentityError, match="none of the expected identities matched"):
        AnyOf([OIDCIssuer("https://a.example"), OIDCIssuer("https://b.example")]).verify(github)


def test_issuer_from_v2_else_raw() -> None:
    san = x509.RFC822Name("a@example.com")
    only_raw = mint(san, SigstoreExtensions(issuer_v1="https://raw.example"))
    only_v2 = mint(san, SigstoreExtensions(issuer_v2="https://v2.example"))
    both = mint(san, SigstoreExtensions(issuer_v1="https://raw.example", issuer_v2="https://v2.example"))
    Identity(identity="a@example.com", issuer="https://raw.example").verify(only_raw)
    Identity(identity="a@example.com", issuer="https://v2.example").verify(only_v2)
    Identity(identity="a@example.com", issuer="https://v2.example").verify(both)  # cosign prefers .8
    with pytest.raises(IdentityError):
        OIDCIssuer("https://raw.example").verify(both)


def test_v2_github_claims_when_raw_ones_absent() -> None:
    ext = SigstoreExtensions(issuer_v2=GH_ISS, build_trigger="push", source_repository_digest="abc",
                             source_repository_ref="refs/heads/main",
                             source_repository_uri="https://github.com/o/r")
    cert = mint(x509.UniformResourceIdentifier("https://github.com/o/r/.github/workflows/w.yml@refs/heads/main"), ext)
    AllOf([GitHubWorkflowTrigger("push"), GitHubWorkflowSHA("abc"), GitHubWorkflowRef("refs/heads/main"),
           GitHubWorkflowRepository("o/r")]).verify(cert)


def test_othername_san() -> None:
    ext = SigstoreExtensions(issuer_v1="https://u.example", issuer_v2="https://u.example")
    cert = mint(x509.OtherName(x509.ObjectIdentifier(OTHERNAME_SAN_OID), der_utf8("alice!u.example")), ext)
    assert subject_alternative_names(cert) == ["alice!u.example"]
    Identity(identity="alice!u.example", issuer="https://u.example").verify(cert)


def test_extensions_encode_as_fulcio(github: x509.Certificate) -> None:
    """Raw bytes for .1-.6, DER UTF8String after: our encoding of the GitHub leaf's
    values is byte-identical to the real Fulcio certificate's."""
    ext = SigstoreExtensions.from_certificate(github)
    real = {e.oid.dotted_string: e.value.value for e in github.extensions
            if isinstance(e.value, x509.UnrecognizedExtension) and e.oid.dotted_string in OIDS.values()}
    assert dict(ext.extensions()) == real
    assert SigstoreExtensions.from_certificate(mint(x509.RFC822Name("a@b"), ext)) == ext


def test_long_values_and_bad_encodings() -> None:
    long = "x" * 300
    assert SigstoreExtensions.from_certificate(
        mint(x509.RFC822Name("a@b"), SigstoreExtensions(build_config_uri=long))).build_config_uri == long
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(x509.Name([]))
            .public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + timedelta(minutes=1))
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier(OIDS["issuer_v2"]), b"raw, not DER"),
                           critical=False)
            .sign(key, hashes.SHA256()))
    with pytest.raises(IdentityError, match="not a DER UTF8String"):
        OIDCIssuer("raw, not DER").verify(cert)
