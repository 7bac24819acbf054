"""``pkcs11:`` key references against a real SoftHSM2 token (no double here).

The token lives in a temporary directory (``SOFTHSM2_CONF``); its keys are made by
OpenSC's ``pkcs11-tool``. Signatures made through the token are checked with the
exported public key by sigstack and by the real ``cosign verify-blob``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sigstack import keys
from sigstack.errors import KeyLoadError, KeyRefError, PasswordError
from sigstack.keys.pkcs11 import Pkcs11Uri, list_key_uris, list_tokens
from tests.helpers import sigstack

from .conftest import Token, assert_openssl_verifies, cosign_verify_blob


@pytest.mark.parametrize(("label", "kind"), [("p256", "secp256r1"), ("p384", "secp384r1"), ("rsa2048", "rsa")])
def test_sign_blob_through_token_verified_by_sigstack_and_real_cosign(
    softhsm: Token, tmp_path: Path, cosign: str, label: str, kind: str
) -> None:
    blob = tmp_path / "artifact.tar"
    blob.write_bytes(b"some release bytes\n" * 1000)
    uri = softhsm.uri(label)
    pub = sigstack("public-key", "--key", uri, "--outfile", str(tmp_path / "token.pub"),
                  env=softhsm.env, cwd=tmp_path, offline="flags", inherit="none")
    assert pub.code == 0, pub.err
    exported = keys.load_verifier(str(tmp_path / "token.pub")).public_key()
    if kind == "rsa":
        assert isinstance(exported, rsa.RSAPublicKey)
    else:
        assert isinstance(exported, ec.EllipticCurvePublicKey) and exported.curve.name == kind
    signed = sigstack("sign-blob", "--key", uri, str(blob), env=softhsm.env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    sig = signed.out.strip()
    if kind == "secp384r1":
        # cosign v3.1.3 verify-blob --key always hashes with SHA-256, so it rejects
        # P-384 signatures, its own sign-blob's included (which use SHA-384, as we
        # do); OpenSSL is the independent check for this curve.
        assert_openssl_verifies(tmp_path / "token.pub", sig, blob, "sha384")
    else:
        r = cosign_verify_blob(cosign, str(tmp_path / "token.pub"), sig, blob)
        assert r.returncode == 0, r.stderr.decode()
    (tmp_path / "sig").write_bytes(sig)
    for key in (str(tmp_path / "token.pub"), uri):
        ok = sigstack("verify-blob", "--key", key, "--signature", "sig", str(blob), env=softhsm.env, cwd=tmp_path, offline="flags", inherit="none")
        assert ok.code == 0, ok.err
    # and a signature over other bytes is refused
    tampered = tmp_path / "tampered"
    tampered.write_bytes(b"other")
    bad = sigstack("verify-blob", "--key", uri, "--signature", "sig", str(tampered), env=softhsm.env, cwd=tmp_path, offline="flags", inherit="none")
    assert bad.code == 1


def test_env_vars_and_id_selection(softhsm: Token, tmp_path: Path) -> None:
    """module-path and PIN from COSIGN_PKCS11_MODULE_PATH / COSIGN_PKCS11_PIN, key chosen by id."""
    env = {**softhsm.env, "COSIGN_PKCS11_MODULE_PATH": softhsm.module, "COSIGN_PKCS11_PIN": softhsm.pin}
    uri = f"pkcs11:slot-id={softhsm.slot};id=%01"
    blob = tmp_path / "b"
    blob.write_bytes(b"x")
    signed = sigstack("sign-blob", "--key", uri, str(blob), env=env, cwd=tmp_path, offline="flags", inherit="none")
    assert signed.code == 0, signed.err
    keys.load_verifier(softhsm.uri("p256")).verify(base64.b64decode(signed.out), b"x")


def test_list_tokens_and_key_uris(softhsm: Token, tmp_path: Path) -> None:
    r = sigstack("pkcs11-tool", "list-tokens", "--module-path", softhsm.module, env=softhsm.env, offline="flags", inherit="none")
    assert r.code == 0, r.err
    out = r.out.decode()
    assert out.startswith(f"\nListing tokens of PKCS11 module '{softhsm.module}'\nToken in slot {softhsm.slot}\n"
                          f"\tLabel: {softhsm.label}\n\tManufacturer: SoftHSM project\n\tModel: SoftHSM v2\n")
    r = sigstack("pkcs11-tool", "list-keys-uris", "--module-path", softhsm.module, "--slot-id", str(softhsm.slot),
                "--pin", softhsm.pin, env=softhsm.env, offline="flags", inherit="none")
    assert r.code == 0, r.err
    out = r.out.decode()
    assert f"Listing URIs of keys in slot '{softhsm.slot}' of PKCS11 module '{softhsm.module}'" in out
    expected = (f"pkcs11:token=sigstack%20test;slot-id={softhsm.slot};id=%01;object=p256"
                f"?module-path={softhsm.module}&pin-value={softhsm.pin}")
    assert f"\tLabel: p256\n\tID: 01\n\tURI: {expected}\n" in out
    # every listed URI is directly usable
    infos = list_key_uris(softhsm.module, softhsm.slot, softhsm.pin)
    assert sorted(i.label for i in infos) == ["p256", "p384", "rsa2048"]
    for info in infos:
        signer = keys.load_signer(info.uri)
        keys.load_verifier(info.uri).verify(signer.sign(b"m"), b"m")
    assert any(t.label == softhsm.label for t in list_tokens(softhsm.module))


def test_uri_round_trip() -> None:
    uri = Pkcs11Uri.parse("pkcs11:token=My%20Token;slot-id=7;id=%0a%ff;object=a%3Bb?module-path=/m.so&pin-value=1%262")
    assert uri == Pkcs11Uri(token="My Token", slot_id=7, object="a;b", id=b"\x0a\xff", module_path="/m.so",
                            pin="1&2")
    assert Pkcs11Uri.parse(uri.construct()) == uri


def test_generate_is_refused(softhsm: Token, tmp_path: Path) -> None:
    r = sigstack("generate-key-pair", softhsm.uri("new"), env=softhsm.env, cwd=tmp_path, offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.startswith("Error: generate-key-pair cannot create keys in a PKCS#11 token;")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("pkcs11:object=p256?module-path=/x.so",
         "invalid PKCS#11 URI 'pkcs11:object=p256?module-path=/x.so': one of token, serial or slot-id is required"),
        ("pkcs11:token=t?module-path=/x.so",
         "invalid PKCS#11 URI 'pkcs11:token=t?module-path=/x.so': one of object or id is required"),
        ("pkcs11:token=t;slot-id=abc;object=k",
         "invalid PKCS#11 URI 'pkcs11:token=t;slot-id=abc;object=k': slot-id must be a decimal number"),
        ("pkcs11:token=t;label=k", "invalid PKCS#11 URI 'pkcs11:token=t;label=k': unknown attribute 'label'"),
        ("pkcs11:token=t;object", "invalid PKCS#11 URI 'pkcs11:token=t;object': attribute 'object' is not name=value"),
        ("pkcs11:token=t;token=u;object=k",
         "invalid PKCS#11 URI 'pkcs11:token=t;token=u;object=k': attribute 'token' given twice"),
        ("pkcs11:token=t;object=k", "no PKCS#11 module: add module-path=... to the URI or set COSIGN_PKCS11_MODULE_PATH"),
        ("pkcs11:token=t;object=k?module-path=libsofthsm2.so",
         "the PKCS#11 module path must be absolute: 'libsofthsm2.so'"),
        ("pkcs11:token=t;object=k?module-path=/nonexistent/lib.so", "PKCS#11 module /nonexistent/lib.so not found"),
    ],
)
def test_malformed_uris(tmp_path: Path, uri: str, message: str) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("COSIGN_PKCS11")}
    r = sigstack("sign-blob", "--key", uri, "-", env=env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip() == f"Error: {message}"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong-pin", "PKCS#11 login to token 'sigstack test' failed: incorrect PIN"),
        ("no-pin", "PKCS#11 token 'sigstack test' needs a PIN: add pin-value=... to the URI or set COSIGN_PKCS11_PIN"),
        ("no-token", "PKCS#11: no token with label 'absent'"),
        ("no-slot", "PKCS#11: no token with slot-id 424242"),
        ("no-key", "PKCS#11: no private key with label 'absent' in token 'sigstack test'"),
    ],
)
def test_token_failures(softhsm: Token, tmp_path: Path, case: str, message: str) -> None:
    uri = {
        "wrong-pin": softhsm.uri("p256").replace(f"pin-value={softhsm.pin}", "pin-value=0000"),
        "no-pin": softhsm.uri("p256").replace(f"&pin-value={softhsm.pin}", ""),
        "no-token": softhsm.uri("p256").replace("token=sigstack%20test", "token=absent"),
        "no-slot": f"pkcs11:slot-id=424242;object=p256?module-path={softhsm.module}&pin-value={softhsm.pin}",
        "no-key": softhsm.uri("absent"),
    }[case]
    env = {k: v for k, v in softhsm.env.items() if not k.startswith("COSIGN_PKCS11")}
    r = sigstack("sign-blob", "--key", uri, "-", env=env, cwd=tmp_path, input=b"x", offline="flags", inherit="none")
    assert r.code == 1
    assert r.err.strip() == f"Error: {message}"


def test_library_errors_are_typed(softhsm: Token) -> None:
    with pytest.raises(PasswordError):
        keys.load_signer(softhsm.uri("p256").replace(f"pin-value={softhsm.pin}", "pin-value=9999"))
    with pytest.raises(KeyRefError):
        keys.load_signer("pkcs11:token=x")
    with pytest.raises(KeyLoadError, match="no private key"):
        keys.load_signer(softhsm.uri("nope"))
