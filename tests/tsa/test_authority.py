"""The timestamp authority's answers, in process: each response is parsed by
``rfc3161-client`` (the parser sigstore-python uses) and by asn1crypto, and verified by
``sigstack.verify.timestamp`` against a TrustedRoot listing the TSA, the way a bundle's
timestamps are checked. Requests are built with rfc3161-client (as sigstore-python and
our client build them) or, for what it cannot express (a policy, a critical extension,
SHA-1), with asn1crypto."""

from __future__ import annotations

import datetime
import hashlib
import os
import stat
from pathlib import Path

import pytest
from asn1crypto import algos, cms, tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from rfc3161_client import PKIStatus, TimestampRequestBuilder, decode_timestamp_response
from rfc3161_client.base import HashAlgorithm

from sigstack.bundle.trustroot import CertificateAuthority, TimeRange, TrustedRoot
from sigstack.errors import (
    TSA_DIGEST_LENGTH,
    TSA_FAILED,
    TSA_UNACCEPTED_EXTENSION,
    TSA_UNACCEPTED_POLICY,
    TSA_WEAK_HASH,
    ConfigError,
    TimestampError,
    TimestampRequestError,
)
from sigstack.tsa.authority import (
    SIGSTORE_POLICY,
    TimestampAuthority,
    TimestampRequest,
    parse_der_request,
    parse_json_request,
)
from sigstack.tsa.state import TSAMaterial, ensure_state
from sigstack.verify.timestamp import verify_timestamps

SIG = b"the signature bytes a bundle's timestamp covers"
PINNED = datetime.datetime(2026, 6, 1, 12, 0, 0, 654321, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> TSAMaterial:
    return ensure_state(tmp_path_factory.mktemp("tsa"))


def root_for(material: TSAMaterial) -> TrustedRoot:
    ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in material.chain)
    tsa = CertificateAuthority(certificates=ders,
                               valid_for=TimeRange(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)))
    return TrustedRoot("application/vnd.dev.sigstore.trustedroot+json;version=0.1", timestamp_authorities=(tsa,))


def request(*, cert: bool = True, hash_algorithm: HashAlgorithm = HashAlgorithm.SHA256) -> bytes:
    return (TimestampRequestBuilder().hash_algorithm(hash_algorithm).data(SIG).nonce(nonce=True)
            .cert_request(cert_request=cert).build().as_bytes())


def granted(material: TSAMaterial, der_request: bytes, clock: datetime.datetime = PINNED) -> bytes:
    return TimestampAuthority(material, clock=lambda: clock).respond(parse_der_request(der_request))


def test_response_echoes_the_request(material: TSAMaterial) -> None:
    req_der = request()
    nonce = tsp.TimeStampReq.load(req_der)["nonce"].native
    resp = decode_timestamp_response(granted(material, req_der))
    assert PKIStatus(resp.status) == PKIStatus.GRANTED
    info = resp.tst_info
    assert info.version == 1
    assert info.policy.dotted_string == SIGSTORE_POLICY == "1.3.6.1.4.1.57264.2"
    assert info.nonce == nonce
    assert info.message_imprint.message == hashlib.sha256(SIG).digest()
    # whole seconds: Go's encoding/asn1 (cosign) refuses fractions it would not write back
    assert info.gen_time.replace(tzinfo=datetime.UTC) == PINNED.replace(microsecond=0)
    token = tsp.TimeStampResp.load(granted(material, req_der))["time_stamp_token"]
    tst = token["content"]["encap_content_info"]["content"].parsed
    assert tst["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst["ordering"].native is False
    # the TSA names itself (the leaf's subject), as timestamp-authority does
    assert tst["tsa"].chosen.native == {"organization_name": "sigstack", "common_name": "sigstack-tsa"}
    assert 0 < tst["serial_number"].native < 1 << 159


def test_serials_are_unique(material: TSAMaterial) -> None:
    serials = {decode_timestamp_response(granted(material, request())).tst_info.serial_number for _ in range(20)}
    assert len(serials) == 20


@pytest.mark.parametrize("cert", [True, False])
def test_cert_req_is_honoured(material: TSAMaterial, cert: bool) -> None:
    resp = decode_timestamp_response(granted(material, request(cert=cert)))
    leaf = material.leaf.public_bytes(serialization.Encoding.DER)
    assert list(resp.signed_data.certificates) == ([leaf] if cert else [])


@pytest.mark.parametrize("cert", [True, False])
@pytest.mark.parametrize("alg", [HashAlgorithm.SHA256, HashAlgorithm.SHA512])
def test_verified_by_sigstack_and_rfc3161_client(material: TSAMaterial, cert: bool, alg: HashAlgorithm) -> None:
    der = granted(material, request(cert=cert, hash_algorithm=alg), clock=datetime.datetime.now(datetime.UTC))
    times = verify_timestamps(SIG, [der], root_for(material))
    assert len(times) == 1
    from rfc3161_client import VerifierBuilder

    verifier = (VerifierBuilder().tsa_certificate(material.chain[0]).add_root_certificate(material.chain[-1])
                .build())
    assert verifier.verify_message(decode_timestamp_response(der), SIG)


def test_a_timestamp_over_another_signature_is_refused(material: TSAMaterial) -> None:
    der = granted(material, request(), clock=datetime.datetime.now(datetime.UTC))
    with pytest.raises(TimestampError, match="does not verify against a timestamp authority"):
        verify_timestamps(b"another signature", [der], root_for(material))


def test_another_tsa_does_not_vouch(material: TSAMaterial, tmp_path: Path) -> None:
    der = granted(material, request(), clock=datetime.datetime.now(datetime.UTC))
    with pytest.raises(TimestampError, match="does not verify"):
        verify_timestamps(SIG, [der], root_for(ensure_state(tmp_path)))


def test_signed_attributes(material: TSAMaterial) -> None:
    """content type id-ct-TSTInfo, messageDigest of the eContent, signingTime, and ESS
    signingCertificateV2 naming the leaf (SHA-256 of it, its issuer and serial)."""
    token = tsp.TimeStampResp.load(granted(material, request()))["time_stamp_token"]
    signed = token["content"]
    assert signed["encap_content_info"]["content_type"].native == "tst_info"
    (info,) = signed["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in info["signed_attrs"]}
    assert attrs["content_type"].native == "tst_info"
    econtent = signed["encap_content_info"]["content"].contents
    assert attrs["message_digest"].native == hashlib.sha256(econtent).digest()
    assert attrs["signing_time"].native == PINNED.replace(microsecond=0)
    (ess,) = attrs["signing_certificate_v2"]["certs"]
    leaf = material.leaf
    assert ess["cert_hash"].native == hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).digest()
    assert ess["issuer_serial"]["serial_number"].native == leaf.serial_number
    assert info["sid"].chosen["serial_number"].native == leaf.serial_number
    assert info["signature_algorithm"]["algorithm"].native == "sha256_ecdsa"
    # the signature is over the DER SET OF the attributes (sorted, as DER requires)
    encoded = [a.dump() for a in info["signed_attrs"]]
    assert encoded == sorted(encoded)
    key = leaf.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    from cryptography.hazmat.primitives import hashes

    key.verify(info["signature"].native, cms.CMSAttributes(list(info["signed_attrs"])).dump(),
               ec.ECDSA(hashes.SHA256()))


def test_generated_chain_is_a_timestamping_chain(material: TSAMaterial) -> None:
    leaf, root = material.chain
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.issuer == root.subject == root.issuer
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_state_is_made_once_with_private_keys_0600(tmp_path: Path) -> None:
    first = ensure_state(tmp_path / "s")
    for name in ("root.key", "tsa.key"):
        assert stat.S_IMODE(os.stat(tmp_path / "s" / name).st_mode) == 0o600
    again = ensure_state(tmp_path / "s")
    assert again.chain == first.chain
    assert (tmp_path / "s" / "chain.pem").read_bytes() == first.chain_pem()


@pytest.fixture(scope="module")
def cosign_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import sigstack

    d = tmp_path_factory.mktemp("key")
    r = sigstack("generate-key-pair", env={"COSIGN_PASSWORD": "pw"}, cwd=d)
    assert r.code == 0, r.err
    return d / "cosign.key"


def test_a_key_reference_gets_a_chain_made_for_it(tmp_path: Path, cosign_key: Path) -> None:
    m = ensure_state(tmp_path, str(cosign_key), password=lambda confirm: b"pw")
    assert (tmp_path / "key-chain.pem").exists() and not (tmp_path / "tsa.key").exists()
    der = TimestampAuthority(m).respond(parse_der_request(request()))
    assert verify_timestamps(SIG, [der], root_for(m))
    assert ensure_state(tmp_path, str(cosign_key), password=lambda confirm: b"pw").chain == m.chain


def test_a_given_chain_must_certify_the_key_for_timestamping(tmp_path: Path, cosign_key: Path) -> None:
    other = ensure_state(tmp_path / "other")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(other.chain_pem())
    with pytest.raises(ConfigError, match="the first certificate is not for the timestamp signing key"):
        ensure_state(tmp_path / "s", str(cosign_key), chain, password=lambda confirm: b"pw")
    ok = ensure_state(tmp_path / "k", str(cosign_key), password=lambda confirm: b"pw")
    chain.write_bytes(ok.chain_pem())
    assert ensure_state(tmp_path / "s", str(cosign_key), chain, password=lambda confirm: b"pw").chain == ok.chain
    chain.write_bytes(ok.chain[0].public_bytes(serialization.Encoding.PEM))
    with pytest.raises(ConfigError, match="needs the root too"):
        ensure_state(tmp_path / "s", str(cosign_key), chain, password=lambda confirm: b"pw")


def test_a_code_signing_leaf_is_refused(tmp_path: Path) -> None:
    from sigstack.ca.state import ensure_state as ensure_ca_state
    from sigstack.tsa.state import check_chain

    ca = ensure_ca_state(tmp_path / "ca")  # its intermediate has the code-signing EKU
    with pytest.raises(ConfigError, match="must be timeStamping alone, marked critical"):
        check_chain(ca.chain, ca.signer, "chain.pem")


# ---- refusals ---------------------------------------------------------------------------


def asn1_request(hash_name: str = "sha256", digest: bytes | None = None, **fields: object) -> bytes:
    return tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {"hash_algorithm": algos.DigestAlgorithm({"algorithm": hash_name}),
                            "hashed_message": digest if digest is not None else hashlib.new(hash_name, SIG).digest()},
        **fields,
    }).dump()


@pytest.mark.parametrize("der,sentence,reason", [
    (b"", TSA_FAILED, "not a DER TimeStampReq"),
    (b"\x30\x03\x02\x01", TSA_FAILED, "not a DER TimeStampReq"),
    (b"not asn.1 at all", TSA_FAILED, "not a DER TimeStampReq"),
    (b"\x30" + b"\x82\xff\xff" + b"\x00" * 20000, TSA_FAILED, "larger than 10240 bytes"),
    (asn1_request("sha1"), TSA_WEAK_HASH, "sha1 must not be used"),
    (asn1_request("md5"), TSA_WEAK_HASH, "md5 must not be used"),
    (asn1_request("sha256", b"\x00" * 31), TSA_DIGEST_LENGTH, "expected 32 bytes, got 31 bytes"),
    (asn1_request("sha512", b"\x00" * 32), TSA_DIGEST_LENGTH, "expected 64 bytes, got 32 bytes"),
    (asn1_request(req_policy="1.2.3.4"), TSA_UNACCEPTED_POLICY, "the TSA's policy is 1.3.6.1.4.1.57264.2, not 1.2.3.4"),
    (asn1_request(extensions=[{"extn_id": "1.2.3.4.5", "critical": True, "extn_value": b"\x05\x00"}]),
     TSA_UNACCEPTED_EXTENSION, "1.2.3.4.5"),
    (asn1_request(extensions=[{"extn_id": "1.2.3.4.6", "critical": False, "extn_value": b"\x05\x00"}]),
     TSA_UNACCEPTED_EXTENSION, "1.2.3.4.6"),
])
def test_bad_requests_are_refused(material: TSAMaterial, der: bytes, sentence: str, reason: str) -> None:
    with pytest.raises(TimestampRequestError) as info:
        TimestampAuthority(material).respond(parse_der_request(der))
    assert info.value.message.startswith(sentence + ": ")
    assert reason in info.value.message
    assert info.value.status == 400


def test_our_own_policy_asked_by_name_and_a_negative_nonce_are_granted(material: TSAMaterial) -> None:
    """As timestamp-authority: the TSA's policy may be named; any INTEGER nonce is echoed."""
    der = TimestampAuthority(material).respond(parse_der_request(asn1_request(req_policy=SIGSTORE_POLICY, nonce=-5)))
    tst = tsp.TimeStampResp.load(der)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert (tst["policy"].native, tst["nonce"].native) == (SIGSTORE_POLICY, -5)


def test_json_request_form(material: TSAMaterial) -> None:
    import base64

    req = parse_json_request({"artifactHash": base64.b64encode(hashlib.sha384(SIG).digest()).decode(),
                              "hashAlgorithm": "sha384", "certificates": True, "nonce": 42})
    assert req == TimestampRequest("sha384", hashlib.sha384(SIG).digest(), 42, True, None)
    resp = decode_timestamp_response(TimestampAuthority(material).respond(req))
    assert resp.tst_info.nonce == 42 and len(resp.signed_data.certificates) == 1


@pytest.mark.parametrize("doc,reason", [
    ([], "must be an object"),
    ({}, "artifactHash (base64) and hashAlgorithm must be strings"),
    ({"artifactHash": "!!!"}, "artifactHash is not base64"),
    ({"artifactHash": "AAAA"}, "expected 32 bytes, got 3 bytes"),
    ({"artifactHash": "AAAA", "hashAlgorithm": "sha1"}, "sha1 must not be used"),
    ({"artifactHash": "A" * 43 + "=", "nonce": "1"}, "nonce must be a non-negative integer"),
    ({"artifactHash": "A" * 43 + "=", "certificates": "yes"}, "certificates must be true or false"),
    ({"artifactHash": "A" * 43 + "=", "tsaPolicyOID": "policy"}, "tsaPolicyOID must be a dotted object identifier"),
    ({"artifactHash": "A" * 43 + "=", "extra": 1}, "unknown field 'extra'"),
])
def test_bad_json_requests_are_refused(doc: object, reason: str) -> None:
    with pytest.raises(TimestampRequestError, match=None) as info:
        parse_json_request(doc)
    assert reason in info.value.message, info.value.message


@pytest.mark.parametrize("kind", ["rsa-2048", "p384"])
def test_rsa_and_p384_signers(tmp_path: Path, kind: str) -> None:
    """Other key types sign too: RSA PKCS#1 v1.5 with SHA-256, ECDSA P-384 with SHA-384
    (the digest and signature algorithms of the signer info follow the key)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sigstack.keys.software import PrivateKeySigner
    from sigstack.tsa.state import timestamping_leaf

    root = ensure_state(tmp_path)  # its root certifies the new key
    root_key = serialization.load_pem_private_key((tmp_path / "root.key").read_bytes(), None)
    key = rsa.generate_private_key(65537, 2048) if kind == "rsa-2048" else ec.generate_private_key(ec.SECP384R1())
    signer = PrivateKeySigner(key)
    leaf = timestamping_leaf(key.public_key(), root.chain[-1], PrivateKeySigner(root_key))
    material = TSAMaterial(signer, (leaf, root.chain[-1]))
    der = granted(material, request(), clock=datetime.datetime.now(datetime.UTC))
    assert verify_timestamps(SIG, [der], root_for(material))
    (info,) = tsp.TimeStampResp.load(der)["time_stamp_token"]["content"]["signer_infos"]
    expected = "sha256_rsa" if kind == "rsa-2048" else "sha384_ecdsa"
    assert info["signature_algorithm"]["algorithm"].native == expected


@pytest.mark.parametrize("cert", [True, False])
def test_openssl_verifies(material: TSAMaterial, tmp_path: Path, cert: bool) -> None:
    """OpenSSL's ``ts -verify`` (scripts/apt-packages.txt) as a fourth, independent verifier."""
    import subprocess

    der = granted(material, request(cert=cert), clock=datetime.datetime.now(datetime.UTC))
    (tmp_path / "resp.tsr").write_bytes(der)
    (tmp_path / "data").write_bytes(SIG)
    (tmp_path / "root.pem").write_bytes(material.chain[-1].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(material.leaf.public_bytes(serialization.Encoding.PEM))
    r = subprocess.run(["openssl", "ts", "-verify", "-in", "resp.tsr", "-data", "data", "-CAfile", "root.pem",
                        "-untrusted", "leaf.pem"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Verification: OK" in r.stdout, r.stdout + r.stderr
