"""Every crash the fuzzers found, as a plain test (docs/reliability.md lists them).

Each was an exception other than SigstackError escaping a parser at a trust boundary
(a traceback for the user, a 500 for a server), or an invariant the fuzzer checks.
"""

from __future__ import annotations

import base64
import json

import pytest

from sigstack import errors
from sigstack._internal import safejson
from sigstack.bundle.models import Bundle
from sigstack.bundle.trustroot import TrustedRoot
from sigstack.keys import encrypted, pem
from sigstack.oci import layout
from sigstack.oci.client import Manifest, sha256_digest
from sigstack.payload import dsse, intoto, simplesigning
from sigstack.tlog.checkpoint import Checkpoint
from sigstack.tlog.entries import canonicalize
from tests.fuzz.targets import VECTORS

ROOT = base64.b64encode(b"\x01" * 32).decode()


@pytest.mark.parametrize("size", ["²", "١٢", "9" * 5000, "007", "-1", " 1", "1" * 21])
def test_checkpoint_tree_size_is_ascii_digits(size: str) -> None:
    """``str.isdigit`` holds for "²", which ``int()`` refuses; 5000 digits exceed int()'s
    limit: both were ValueError tracebacks out of Checkpoint.parse_text."""
    with pytest.raises(errors.ProofError, match="bad tree size"):
        Checkpoint.parse_text(f"origin\n{size}\n{ROOT}\n".encode())


def test_checkpoint_root_hash_must_be_canonical_base64() -> None:
    """AQE...AQG= decodes to the same 32 bytes as AQE...AQE=: two texts for one
    checkpoint (found by the canonical round-trip invariant)."""
    assert Checkpoint.parse_text(f"o\n7\n{ROOT}\n".encode()).text() == f"o\n7\n{ROOT}\n".encode()
    odd = ROOT[:-2] + "G="
    assert base64.b64decode(odd) == b"\x01" * 32
    with pytest.raises(errors.ProofError, match="canonical"):
        Checkpoint.parse_text(f"o\n7\n{odd}\n".encode())


@pytest.mark.parametrize("value", ["true", "3560221606225943461888", '"x"', "{}"])
def test_index_children_needs_a_manifests_list(value: str) -> None:
    data = ('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":'
            + value + "}").encode()
    m = Manifest(data, "application/vnd.oci.image.index.v1+json", sha256_digest(data))
    if value == "{}":  # an empty object is falsy: no children, as before
        assert layout.index_children(m) == []
        return
    with pytest.raises(errors.RegistryError, match="no manifests list"):
        layout.index_children(m)


#: a P-256 key whose curve OID was mutated to 1.2.840.10045.3.1.23 (found by the keys target)
UNKNOWN_CURVE = (b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI\nKoZIzj0DARcDQgAERmI/XnTWtblwafD31CJhQL1sPEX7\n"
                 b"00YCEU/dJ/qOVis6kxo1/Ls+lalKDehaL/OOV5TZBBBLkK3N0bDlxh+bgA==\n-----END PUBLIC KEY-----\n")


def test_public_key_with_unknown_curve() -> None:
    """cryptography raises UnsupportedAlgorithm (not a ValueError) for it."""
    with pytest.raises(errors.UnsupportedKeyError, match="unsupported public key"):
        pem.load_public_key_pem(UNKNOWN_CURVE)


def test_rekor_proposed_entry_with_unknown_curve() -> None:
    spec = {"data": {"hash": {"algorithm": "sha256", "value": "ab" * 32}},
            "signature": {"content": "QQ==", "publicKey": {"content": base64.b64encode(UNKNOWN_CURVE).decode()}}}
    with pytest.raises(errors.BadEntryError, match="invalid public key"):
        canonicalize({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": spec})


def _bundle(**message_signature: object) -> bytes:
    doc = json.loads((VECTORS / "conformance/bundle-verify/happy-path-v0.3/bundle.sigstore.json").read_bytes())
    doc["messageSignature"].update(message_signature)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("algorithm", [{"x": 1}, ["SHA2_256"], 7, None])
def test_bundle_message_digest_algorithm_of_another_type(algorithm: object) -> None:
    """A dict or list as the algorithm was ``TypeError: unhashable type``."""
    data = _bundle(messageDigest={"algorithm": algorithm, "digest": "QQ=="})
    with pytest.raises(errors.BundleError, match="unsupported messageDigest algorithm"):
        Bundle.from_json(data)


@pytest.mark.parametrize("index", ["²", "9" * 5000, "-1", "1e3", 1.5, True, 10**30])
def test_bundle_log_index_is_a_bounded_ascii_integer(index: object) -> None:
    doc = json.loads(_bundle())
    doc["verificationMaterial"]["tlogEntries"][0]["logIndex"] = index
    with pytest.raises(errors.BundleError, match="logIndex must be a non-negative integer"):
        Bundle.from_json(json.dumps(doc).encode())


DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


@pytest.mark.parametrize("data", [DEEP, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize("parse,error", [
    (Bundle.from_json, errors.BundleError),
    (TrustedRoot.from_json, errors.TrustRootError),
    (dsse.parse, errors.VerificationError),
    (intoto.parse, errors.VerificationError),
    (simplesigning.parse, errors.VerificationError),
    (lambda d: encrypted.decrypt(d, b"pw"), errors.KeyLoadError),
    (lambda d: Manifest(d, "application/json", sha256_digest(d)).json(), errors.RegistryError),
], ids=["bundle", "trustroot", "dsse", "intoto", "simplesigning", "cosign-key", "manifest"])
def test_deeply_nested_json_is_one_clean_error(parse, error, data: bytes) -> None:
    """json.loads raises RecursionError (a RuntimeError) past ~1000 levels: it escaped
    every ``except ValueError`` as a traceback (safejson maps it)."""
    with pytest.raises(error):
        parse(data)


def test_safejson_maps_every_failure_to_value_error() -> None:
    for bad in (DEEP, b"\xff", b"1" * 5000, b"{", b""):
        with pytest.raises(ValueError):
            safejson.loads(bad)
    assert safejson.loads(b'{"a":[1,2]}') == {"a": [1, 2]}


def test_ct_chain_with_an_issuer_key_on_an_unknown_curve() -> None:
    """The issuer's key is parsed lazily, in verify_directly_issued_by, which raises
    UnsupportedAlgorithm for an unknown curve: a 500 from add-chain before."""
    from tests.fuzz.targets import _ct_material

    log, seeds, _ = _ct_material()
    chain = [base64.b64decode(c) for c in json.loads(seeds[0])["chain"]]
    p256 = bytes.fromhex("06082a8648ce3d030107")
    assert p256 in chain[1]
    mid = chain[1].replace(p256, bytes.fromhex("06082a8648ce3d030117"))
    with pytest.raises(errors.CTError, match="do not verify one another"):
        log.check_chain([chain[0], mid], False)


def _tlog_bundle(**entry: object) -> bytes:
    doc = json.loads(_bundle())
    doc["verificationMaterial"]["tlogEntries"][0].update(entry)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("body", [b"\xff\x00", b"[1]", b'{"kind":"x"}'])
def test_bundle_log_entry_body_must_be_a_rekor_entry(body: bytes) -> None:
    """A bit flip in canonicalizedBody parsed, then Bundle.to_json raised ProofError
    (the serialise/parse invariant): the body is now checked at parse time."""
    with pytest.raises(errors.BundleError, match="canonicalizedBody is not a Rekor entry"):
        Bundle.from_json(_tlog_bundle(canonicalizedBody=base64.b64encode(body).decode()))


def test_bundle_empty_signed_entry_timestamp_is_none() -> None:
    """``"signedEntryTimestamp": ""`` parsed to b"" and came back as no SET."""
    b = Bundle.from_json(_tlog_bundle(inclusionPromise={"signedEntryTimestamp": ""}))
    assert b.tlog_entries[0].signed_entry_timestamp is None
    assert Bundle.from_json(b.to_json()) == b


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    """``"payloadType":"\\ud800"`` parsed to a str that cannot be UTF-8 encoded: PAE
    and to_json raised UnicodeEncodeError. Go's encoding/json (cosign, Rekor) reads each
    lone surrogate escape as U+FFFD, and so does safejson now."""
    env = dsse.parse(b'{"payload":"e30=","payloadType":"a\\ud800b","signatures":[{"sig":"QQ=="}]}')
    assert env.payload_type == "a\ufffdb"
    assert dsse.parse(env.to_json()) == env
    assert dsse.pae(env.payload_type, env.payload).startswith(b"DSSEv1 5 a\xef\xbf\xbdb ")
    assert safejson.loads(b'["\\ud83d\\ude00", "\\udc00", {"\\ud800": 1}]') == ["\U0001f600", "\ufffd", {"\ufffd": 1}]


def test_log_response_with_an_empty_set() -> None:
    """``"signedEntryTimestamp": ""`` parsed as "no SET", so verify_entry skipped the one
    signature over integratedTime: the fuzzer's mutant set it to 0 and still verified."""
    from sigstack.errors import LogClientError
    from sigstack.tlog.entry import TlogEntry
    from tests.fuzz.targets import _entry_seeds

    doc = json.loads(_entry_seeds()[0])
    ((_, v),) = doc.items()
    assert TlogEntry.from_response(doc).signed_entry_timestamp
    v["verification"]["signedEntryTimestamp"] = ""
    v["integratedTime"] = 0
    with pytest.raises(LogClientError, match="no signed entry timestamp"):
        TlogEntry.from_response(doc)


@pytest.mark.parametrize("junk", ["::", " ", "\n", "!", "\u00e9"])
def test_rekor_dsse_signature_with_characters_outside_base64(junk: str) -> None:
    """The URL-safe fallback decoder skipped characters outside its alphabet, so
    ``"MEQ" + junk + "CI..."`` verified as the same signature: one DSSE signature had
    endless spellings, each a new log entry (go-securesystemslib decodes strictly)."""
    from sigstack.tlog.entries._common import dsse_b64
    from tests.fuzz.targets import _proposed_material

    proposed = json.loads(_proposed_material()[0][1])
    env = json.loads(proposed["spec"]["proposedContent"]["envelope"])
    sig = env["signatures"][0]["sig"]
    assert canonicalize(proposed).body
    env["signatures"][0]["sig"] = sig[:10] + junk + sig[10:]
    proposed["spec"]["proposedContent"]["envelope"] = json.dumps(env)
    with pytest.raises(errors.BadEntryError, match="not valid base64"):
        canonicalize(proposed)
    assert dsse_b64(sig.replace("+", "-").replace("/", "_").rstrip("="), "sig") == base64.b64decode(sig)


def _version_4(der: bytes) -> bytes:
    v3 = bytes.fromhex("a003020102")
    assert v3 in der
    return der.replace(v3, bytes.fromhex("a003020103"), 1)


def test_certificate_with_an_unknown_version() -> None:
    """cryptography raises x509.InvalidVersion (not a ValueError) for a version past v3:
    a 500 from the CT log's add-chain and from the transparency log's entry parser."""
    from cryptography import x509

    from tests.fuzz.targets import _ct_material

    log, seeds, _ = _ct_material()
    chain = [base64.b64decode(c) for c in json.loads(seeds[0])["chain"]]
    with pytest.raises(x509.InvalidVersion):
        x509.load_der_x509_certificate(_version_4(chain[0]))
    with pytest.raises(errors.CTError, match=r"not a DER X\.509 certificate"):
        log.check_chain([_version_4(chain[0]), chain[1]], False)
    pem_text = pem.encode_pem("CERTIFICATE", _version_4(chain[0]))
    spec = {"data": {"hash": {"algorithm": "sha256", "value": "ab" * 32}},
            "signature": {"content": "QQ==", "publicKey": {"content": base64.b64encode(pem_text).decode()}}}
    with pytest.raises(errors.BadEntryError, match="invalid public key or certificate"):
        canonicalize({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": spec})


@pytest.mark.parametrize("body", [b"[" * 100_000, b"not json", b"[]"])
def test_log_response_body_must_be_a_rekor_entry(body: bytes) -> None:
    """As for bundles (finding 9): readers of the body after parsing may count on it."""
    from sigstack.errors import LogClientError
    from sigstack.tlog.entry import TlogEntry
    from tests.fuzz.targets import _entry_seeds

    doc = json.loads(_entry_seeds()[0])
    ((_, v),) = doc.items()
    v["body"] = base64.b64encode(body).decode()
    with pytest.raises(LogClientError, match="not a Rekor entry"):
        TlogEntry.from_response(doc)


def test_pem_with_many_begin_lines_is_linear() -> None:
    """The PEM regex backtracked from every BEGIN line without its END to the end of the
    input: 16,000 such lines (430 kB, a key file under the 1 MiB bound) took 35 s, a
    1 MiB one minutes (found by the keys target). 40,000 of them now parse at once."""
    data = b"-----BEGIN PUBLIC KEY-----\n" * 40_000
    assert pem.pem_type(data) is None
    with pytest.raises(errors.KeyLoadError, match="no PEM block found"):
        pem.load_public_key_pem(data)
    with pytest.raises(errors.KeyLoadError, match="no PEM block found"):
        pem.pem_body(data + b"-----END PRIVATE KEY-----", "PUBLIC KEY")


@pytest.mark.parametrize("data,block", [
    (b"-----BEGIN A-----\nxx-----END A-----", (b"A", b"xx")),
    (b"-----BEGIN A-----\r\nxx-----END A-----END A-----", (b"A", b"xx")),
    (b"-----BEGIN A-----\n-----BEGIN B-----\nb-----END B-----", (b"B", b"b")),  # A has no END
    (b"-----BEGIN A-----\nA-----END A B-----\n-----END A-----", (b"A", b"A-----END A B-----\n")),
    (b"-----BEGIN A-----\n-----END A-----END A-----", (b"A", b"")),
    (b"-----END A-----\n-----BEGIN A-----\n", None),
    (b"-----BEGIN a-----\nx-----END a-----", None),
])
def test_pem_first_block_is_what_the_regex_found(data: bytes, block: tuple[bytes, bytes] | None) -> None:
    """The linear block finder matches ``-----BEGIN (L)-----\\r?\\n(.*?)-----END \\1-----``."""
    assert pem._first_block(data) == block


# ---- the admission webhook and the Gatekeeper provider, through their ASGI apps ------

def _review(**obj: object) -> dict[str, object]:
    from tests.fuzz.targets import _admission_seeds

    doc = json.loads(next(s for s in _admission_seeds() if b'"Deployment"' in s))
    doc["request"]["object"].update(obj)
    return doc


@pytest.mark.parametrize("path", ["/validations", "/mutations", "/verify", "/resolve"])
@pytest.mark.parametrize("body,line", [(b"[" * 100_000, "nested too deeply"), (b'{"a": 1} x', "Extra data")])
def test_webhook_body_nested_too_deeply_is_a_400(path: str, body: bytes, line: str) -> None:
    """Both servers read the body with json.loads: RecursionError is no ValueError, so a
    deep nest was a 500 (found by the admission and gatekeeper targets)."""
    from tests.fuzz.targets import _admission_app, _post, _provider_app

    app = _admission_app() if path in ("/validations", "/mutations") else _provider_app()
    status, answer = _post(app, path, body)
    assert status == 400 and answer.startswith(b"the request body is not JSON: ") and line.encode() in answer
    assert answer.count(b"\n") == 1


@pytest.mark.parametrize("change,problem", [
    ({"metadata": "x"}, "metadata must be an object"),
    ({"metadata": {"labels": ["app"]}}, "metadata.labels must be a map of strings"),
    ({"metadata": {"labels": {"app": 1}}}, "metadata.labels must be a map of strings"),
    ({"spec": []}, "spec must be an object"),
    ({"spec": {"template": "x"}}, "spec.template must be an object"),
    ({"spec": {"template": {"spec": {"containers": 7}}}}, "spec.template.spec.containers must be a list of objects"),
    ({"spec": {"template": {"spec": {"containers": {"a": {"image": "x"}}}}}},
     "spec.template.spec.containers must be a list of objects"),
    ({"spec": {"template": {"spec": {"initContainers": [{"image": 5}]}}}},
     "spec.template.spec.initContainers[0].image must be a string"),
    ({"spec": {"template": {"spec": {"imagePullSecrets": 7}}}},
     "spec.template.spec.imagePullSecrets must be a list of objects"),
    ({"spec": {"template": {"spec": {"serviceAccountName": ["a"]}}}},
     "spec.template.spec.serviceAccountName must be a string"),
])
@pytest.mark.parametrize("path", ["/validations", "/mutations"])
def test_webhook_object_of_the_wrong_shape_is_denied(change: dict[str, object], problem: str, path: str) -> None:
    """An object that is not its Kubernetes type was an AttributeError/TypeError (a 500)
    in the skip checks, the labels and the container walk; policy-controller's typed
    decoding denies it: so do we (found by the admission target)."""
    from tests.fuzz.targets import _admission_app, _post

    doc = _review(**change)
    status, answer = _post(_admission_app(), path, json.dumps(doc).encode())
    assert status == 200
    resp = json.loads(answer)["response"]
    assert resp["uid"] == doc["request"]["uid"] and resp["allowed"] is False  # type: ignore[index]
    assert resp["status"]["message"] == f"cannot decode incoming new object: {problem}"


def test_webhook_old_object_of_the_wrong_shape_is_denied() -> None:
    """The scale-down check reads the old object's spec (an AttributeError when a list)."""
    from tests.fuzz.targets import _admission_app, _post

    doc = _review()
    doc["request"].update(operation="UPDATE", oldObject={"spec": ["x"]})  # type: ignore[attr-defined]
    status, answer = _post(_admission_app(), "/validations", json.dumps(doc).encode())
    resp = json.loads(answer)["response"]
    assert status == 200 and resp["allowed"] is False
    assert resp["status"]["message"] == "cannot decode incoming old object: spec must be an object"


def test_webhook_null_fields_are_absent_not_malformed() -> None:
    """``null`` is absent, as in Go: such an object is checked as usual (denied here only
    because nothing is signed in the fuzz registry)."""
    from tests.fuzz.targets import _admission_app, _post

    doc = _review(metadata={"labels": None, "name": "web"})
    status, answer = _post(_admission_app(), "/validations", json.dumps(doc).encode())
    message = json.loads(answer)["response"]["status"]["message"]
    assert status == 200 and message.startswith("validation failed: failed policy: signed: ")


def test_webhook_content_length_with_a_unicode_digit() -> None:
    """``"²".isdigit()`` holds and ``int("²")`` raises: a 500 before the body was read
    (the same class as findings 2 and 12, found reviewing the server)."""
    from tests.fuzz.targets import _admission_app, _post

    doc = _review()
    status, answer = _post(_admission_app(), "/validations", json.dumps(doc).encode(),
                           {b"content-length": "²".encode("latin-1")})
    assert status == 200 and json.loads(answer)["response"]["allowed"] is False


def test_provider_key_with_a_lone_surrogate() -> None:
    """A ``"\\ud800"`` key was kept as a lone surrogate and the response could not be
    encoded (UnicodeEncodeError, a 500): safejson reads it as U+FFFD (finding 11's class,
    found by the gatekeeper target)."""
    from tests.fuzz.targets import _post, _provider_app

    body = (b'{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest",'
            b'"request":{"keys":["\\ud800"]}}')
    for path in ("/verify", "/resolve"):
        status, answer = _post(_provider_app(), path, body)
        items = json.loads(answer)["response"]["items"]
        assert status == 200 and [i["key"] for i in items] == ["\ufffd"] and "error" in items[0]


@pytest.mark.parametrize("body", [b'{"chain": ' + b"[" * 100_000, b"\xff", b'{"chain": "QQ=="}', b"[]"])
def test_ct_add_chain_body_is_a_400(body: bytes) -> None:
    """The CT API read add-chain bodies with json.loads: a deep nest was a RecursionError,
    answered 500 "internal error (RecursionError)" (found by the ct-chain target once it
    read bodies as the API does)."""
    from sigstack.ca.ct_api import parse_chain_body
    from sigstack.ca.errors import CAError

    with pytest.raises(CAError, match=r'body must be \{"chain"') as info:
        parse_chain_body(body)
    assert info.value.status == 400


def test_dev_issuer_token_body_nested_too_deeply() -> None:
    """The development issuer's POST /token (JSON) had the same json.loads (found
    reviewing the other servers for the ct-chain finding)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from sigstack.oidc.api import create_app
    from sigstack.oidc.issuer import DevIssuer
    from tests.fuzz.targets import _post

    app = create_app(DevIssuer("http://127.0.0.1:1", rsa.generate_private_key(65537, 2048)))
    status, answer = _post(app, "/token", b"[" * 60_000)  # under the issuer's 64 KiB body limit
    assert status == 400 and b"not valid JSON" in answer


# ---- certificates whose extensions do not parse -------------------------------------------

def _cert_with(*extensions: object) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    for e in extensions:
        b = b.add_extension(e, critical=False)  # type: ignore[arg-type]
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _bad_extension_certs() -> dict[str, bytes]:
    from cryptography import x509

    san = x509.SubjectAlternativeName([x509.RFC822Name("a@example.com")])
    # two SANs: made with OID 2.5.29.99 for the second (the builder refuses a repeat), renamed in the DER
    twice = _cert_with(san, x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.99"), san.public_bytes()))
    return {
        "duplicate": twice.replace(b"\x06\x03\x55\x1d\x63", b"\x06\x03\x55\x1d\x11"),  # DuplicateExtension
        "malformed": _cert_with(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.17"),
                                                           b"\x30\x03\x86\x01\xff")),  # ValueError
        "x400": _cert_with(x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.17"),
                                                      b"\x30\x04\xa3\x02\x30\x00")),  # UnsupportedGeneralNameType
    }


@pytest.mark.parametrize("kind", ["duplicate", "malformed", "x400"])
def test_certificate_extensions_that_do_not_parse(kind: str) -> None:
    """cryptography parses extensions on first access, and a repeated extension or an
    x400Address SAN raises DuplicateExtension / UnsupportedGeneralNameType, which are
    not ValueErrors: tracebacks out of the identity checks, the SCT and chain checks,
    and a 500 from the log for an uploaded certificate (found by the x509 target)."""
    from cryptography import x509

    from sigstack.ca.ctlog import _eku
    from sigstack.tlog.entries._common import parse_verifier
    from sigstack.tlog.identity import identity
    from sigstack.verify.certificate import check_code_signing_leaf
    from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names

    der = _bad_extension_certs()[kind]
    cert = x509.load_der_x509_certificate(der)  # loads: the extensions are parsed later
    with pytest.raises(errors.IdentityError, match="extensions cannot be parsed"):
        SigstoreExtensions.from_certificate(cert)
    with pytest.raises(errors.IdentityError, match="extensions cannot be parsed"):
        subject_alternative_names(cert)
    with pytest.raises(errors.CertificateChainError, match="extensions cannot be parsed"):
        check_code_signing_leaf(cert)
    shown = identity(cert)  # the log's index and explorer show it without its extensions
    assert shown.emails == () and shown.extensions == ()
    assert _eku(cert) == set()
    parse_verifier.cache_clear()
    with pytest.raises(errors.BadEntryError, match="invalid public key or certificate"):
        parse_verifier(pem.encode_pem("CERTIFICATE", der))


@pytest.mark.parametrize("kind", ["duplicate", "x400"])
def test_ct_chain_leaf_with_extensions_that_do_not_parse(kind: str) -> None:
    from tests.fuzz.targets import _ct_material

    log, seeds, _ = _ct_material()
    issuer = base64.b64decode(json.loads(seeds[0])["chain"][1])
    with pytest.raises(errors.CTError, match="malformed extensions"):
        log.check_chain([_bad_extension_certs()[kind], issuer], False)


@pytest.mark.parametrize("kind", ["duplicate", "x400"])
def test_sct_issuer_with_extensions_that_do_not_parse(kind: str) -> None:
    from cryptography import x509

    from sigstack.verify.sct import issuer_of

    good = x509.load_der_x509_certificate(_cert_with())
    bad = x509.load_der_x509_certificate(_bad_extension_certs()[kind])
    with pytest.raises(errors.SCTError, match="malformed extensions"):
        issuer_of([good, bad])


# ---- registry answers (the client over tests/fuzz/targets.py's scripted registry) --------

def _registry(**parts: object) -> object:
    """The fuzz target's RegistryClient answering the seed registry with ``parts`` replaced."""
    from tests.fuzz.targets import _registry_client, _registry_seeds

    doc = {**json.loads(_registry_seeds()[0]), **parts}
    client, state = _registry_client()
    state.update(doc=doc, raw=json.dumps(doc).encode(), pages=0)
    client._challenge.clear()
    client._auth.clear()
    return client


def _app_ref() -> object:
    from sigstack.oci.reference import parse_reference
    from tests.fuzz.targets import REGISTRY_REF

    return parse_reference(REGISTRY_REF)


@pytest.mark.parametrize("token", ["tok\u00e9", "tok\r\nX-Injected: 1", "tok\x00"])
def test_registry_token_that_is_not_printable_ascii(token: str) -> None:
    """A token goes into the Authorization header as it is: httpx raised
    UnicodeEncodeError for "toké" (found by the registry target)."""
    client = _registry(token={"token": token})
    with pytest.raises(errors.AuthError, match="not printable ASCII"):
        client.get_manifest(_app_ref())  # type: ignore[attr-defined]


@pytest.mark.parametrize("token", [
    pytest.param("DEEP", id="nested-too-deeply"),
    pytest.param("HUGE", id="over-1-MiB"),
])
def test_registry_token_answer_is_bounded(token: str) -> None:
    """The token answer was read whole with ``resp.json()``: unbounded in size, and a
    deep nest was a RecursionError (found reviewing the token fetch for the finding above)."""
    from tests.fuzz.targets import _registry_client

    client = _registry()
    _, state = _registry_client()
    body = b"[" * 100_000 if token == "DEEP" else b'{"token": "' + b"a" * (2 << 20) + b'"}'
    doc = {k: v for k, v in state["doc"].items() if k != "token"}
    state.update(doc=doc, raw=body)  # a part the document lacks is answered with the raw body
    with pytest.raises(errors.AuthError, match="returned no token" if token == "DEEP" else "over the 1048576-byte"):
        client.get_manifest(_app_ref())  # type: ignore[attr-defined]


@pytest.mark.parametrize("tags", [7, True, "v1", [1, 2], {"a": "b"}])
def test_registry_tag_list_must_be_a_list_of_strings(tags: object) -> None:
    """``"tags": 7`` was a TypeError out of list_tags; a string was listed as its
    characters (found by the registry target)."""
    client = _registry(tags={"name": "app", "tags": tags})
    with pytest.raises(errors.RegistryError, match="tags is not a list of strings"):
        client.list_tags(_app_ref().repository)  # type: ignore[attr-defined]


@pytest.mark.parametrize("realm", ["https:/'auth.example/token", "/token", "ftp://auth.example/t", "https://",
                                   "http://[::1/t"])
def test_registry_realm_must_be_an_http_url(realm: str) -> None:
    """The challenge's realm went to httpx as it came: ``https:/'auth.example/token``
    (no host) raised ValueError from httpx's cookie jar under the fuzz registry's
    transport (found by the registry target); now refused before any request."""
    client = _registry(challenge=f'Bearer realm="{realm}",service="registry.example"')
    with pytest.raises(errors.AuthError, match="realm is not an http"):
        client.get_manifest(_app_ref())  # type: ignore[attr-defined]


@pytest.mark.parametrize("link,error", [
    ('</v2/app/tags/list?last=v\x7f>; rel="next"', "not a valid URL"),
    ('<https://elsewhere.example/v2/app/tags/list>; rel="next"', "is not on the registry"),
    ('<//elsewhere.example/v2/app/tags/list>; rel="next"', "is not on the registry"),
])
def test_registry_tag_list_next_page(link: str, error: str) -> None:
    """The next page of a tag list went to httpx as the registry wrote it: a DEL in it
    raised httpx.InvalidURL, which is no HTTPError (found by the registry target); an
    absolute link was glued after the registry's URL. Now a page is a path on the
    registry, or an absolute URL on it."""
    client = _registry(link=link)
    with pytest.raises(errors.RegistryError, match=error):
        client.list_tags(_app_ref().repository)  # type: ignore[attr-defined]


def test_registry_tag_list_next_page_absolute_on_the_registry() -> None:
    client = _registry(link='<https://registry.example/v2/app/tags/list?last=latest>; rel="next"')
    assert client.list_tags(_app_ref().repository) == ["v1", "v2", "latest"] * 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("error,detail", [
    ({"errors": 1.5}, "unexpected status code 404 Not Found"),
    ({"errors": "BLOB_UNKNOWN"}, "unexpected status code 404 Not Found"),
    ([{"code": "X"}], "unexpected status code 404 Not Found"),
    ({"errors": [{"code": "BLOB_UNKNOWN", "message": "m" * 100_000}]}, "unexpected status code 404 Not Found"),
    ({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}, "BLOB_UNKNOWN: blob unknown"),
])
def test_registry_error_body(error: object, detail: str) -> None:
    """``"errors": 1.5`` in an error answer was a TypeError (found by the registry target
    in the final run); the body was read whole before being cut to 64 KiB."""
    client = _registry(error=error)
    with pytest.raises(errors.NotFoundError) as info:
        client.get_blob(_app_ref().repository, "sha256:" + "a" * 64)  # type: ignore[attr-defined]
    assert info.value.message.endswith(": " + detail)


@pytest.mark.parametrize("digest", ["sha256:" + "0" * 64 + "==", "sha256:" + "0" * 63, "sha256:../../x",
                                    "sha256:" + "A" * 64])
def test_registry_head_digest_must_be_well_formed(digest: str) -> None:
    """HEAD took any ``Docker-Content-Digest`` starting ``sha256:`` as a tag's digest (it
    names the .sig/.att tags and later URLs); ggcr parses it (found by the registry
    target's invariant). A malformed one now falls back to GET, which checks the content."""
    client = _registry(digest=digest)
    with pytest.raises(errors.DigestMismatchError):
        client.head_manifest(_app_ref())  # type: ignore[attr-defined]


def test_registry_head_digest_well_formed_is_taken() -> None:
    client = _registry(digest="sha256:" + "0" * 64)
    assert client.head_manifest(_app_ref()).digest == "sha256:" + "0" * 64  # type: ignore[attr-defined]


def _unused_bit(cert_der: bytes) -> bytes:
    """``cert_der`` with its signature BIT STRING saying one unused bit."""
    from sigstack._internal import der

    _, start, _ = der.read(cert_der, 0)
    _, _, tbs_end = der.read(cert_der, start)
    _, _, alg_end = der.read(cert_der, tbs_end)
    _, sig_start, _ = der.read(cert_der, alg_end)
    return cert_der[:sig_start] + b"\x01" + cert_der[sig_start + 1:]


def test_ct_chain_certificate_whose_signature_has_unused_bits(tmp_path: object) -> None:
    """cryptography verifies a certificate whose signature BIT STRING says one unused bit
    (when the last bit is 0): a second encoding of the same certificate, which the CT
    log accepted and would have logged as another chain (found by the ct-chain target's
    invariant in the final run). Go's x509 fails such a signature; so do we, at the door."""
    import datetime
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from sigstack._internal import der
    from sigstack.ca.ctlog import CTLog
    from sigstack.keys.software import PrivateKeySigner
    from sigstack.tlog.store import open_store

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")])

    def make(serial: int, subject: x509.Name, ca: bool) -> bytes:
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(name).public_key(key.public_key())
             .serial_number(serial).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    root = next(d for d in (make(1, name, True) for _ in range(64)) if d[-1] % 2 == 0)  # last bit 0: 1 in 2
    leaf = make(2, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]), False)
    variant = _unused_bit(root)
    root_cert = x509.load_der_x509_certificate(root)
    x509.load_der_x509_certificate(variant).verify_directly_issued_by(root_cert)  # what cryptography accepts
    assert der.signature_is_octet_aligned(root) and not der.signature_is_octet_aligned(variant)
    log = CTLog(open_store(str(Path(str(tmp_path)) / "ct.db")), PrivateKeySigner(ec.generate_private_key(
        ec.SECP256R1())), [root_cert])
    assert len(log.check_chain([leaf, root], False)) == 2
    with pytest.raises(errors.CTError, match="chain certificate 1 has a signature that is not a whole number"):
        log.check_chain([leaf, variant], False)


def _names_that_do_not_parse() -> dict[str, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    unique = x509.Name([x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00\x01", _type=_ASN1Type.BitString)])
    plain = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zz")])

    def cert(subject: x509.Name) -> bytes:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
                .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
                .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))

    return {
        # a BIT STRING attribute under the CN OID: TypeError from cryptography's Name
        "bitstring-cn": cert(unique).replace(b"\x06\x03\x55\x04\x2d", b"\x06\x03\x55\x04\x03"),
        # a CN in a string type X.509 has no use for (tag 27, GeneralString): ValueError
        "general-string": cert(plain).replace(b"\x0c\x02zz", b"\x1b\x02zz"),
    }


@pytest.mark.parametrize("kind", ["bitstring-cn", "general-string"])
def test_certificate_names_that_do_not_parse(kind: str) -> None:
    """cryptography parses names on first access too: a BIT STRING attribute under
    another OID is a TypeError, a CN of tag 27 a ValueError, out of the log's identity
    index and the root check of a layer's chain (found by the x509 target in the final run)."""
    from cryptography import x509

    from sigstack.tlog.identity import identity
    from sigstack.verify.certificate import is_self_signed

    cert = x509.load_der_x509_certificate(_names_that_do_not_parse()[kind])
    with pytest.raises((TypeError, ValueError)):
        cert.subject  # noqa: B018  (what cryptography does)
    assert identity(cert).subject == "(unreadable name)"
    assert is_self_signed(cert) is False


def test_signing_certificate_with_an_unknown_version() -> None:
    """load_certificate (bundles, layers) caught ValueError only, not x509.InvalidVersion
    (finding 15's class, found again by the x509 target in the final run)."""
    from sigstack.verify.keyless import load_certificate
    from tests.fuzz.targets import _x509_material

    leaf = base64.b64decode(json.loads(_x509_material()[0][0])["certificate"])
    with pytest.raises(errors.CertificateChainError, match="cannot be parsed"):
        load_certificate(_version_4(leaf))


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf"])
@pytest.mark.parametrize("value", ["STRING", True])
def test_token_numeric_dates_must_be_numbers(claim: str, value: object) -> None:
    """PyJWT takes ``"exp": "1896128962"`` through int(); go-oidc (Fulcio) refuses a
    NumericDate that is not a JSON number (found by the jwt-claims target, signing the
    mutated claims with the issuer's key)."""
    from tests.fuzz.targets import _jwt_claims_run, _jwt_claims_seeds

    doc = json.loads(_jwt_claims_seeds()[0])
    now = doc["claims"]["iat"]
    doc["claims"][claim] = str(now + 10**8 if claim == "exp" else now - 5) if value == "STRING" else value
    # "exp": true is 1 to PyJWT: long expired, refused before the type check
    expected = "has expired" if (claim, value) == ("exp", True) else f"the token's {claim} claim is not a number"
    with pytest.raises(errors.TokenError, match=expected):
        _jwt_claims_run(json.dumps(doc).encode())
    _jwt_claims_run(_jwt_claims_seeds()[0])  # the seed itself is accepted
