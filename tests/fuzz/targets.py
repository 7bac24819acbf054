"""The fuzz targets: a parser at a trust boundary, its valid seeds, and its invariants.

Each target's ``run(data)`` parses one mutant. It may reject it with a
:class:`~sigstack.errors.SigstackError` (the one way bad input may end); any other
exception, or an :class:`AssertionError` from an invariant, is a finding. Invariants go
beyond "no crash":

* **no malleability**: when a mutant still verifies (a checkpoint signature, a log
  entry's SET + inclusion proof + checkpoint, a DSSE signature, a CT chain), every
  signed part is byte-identical to the seed's;
* **stable models**: parse(serialise(parse(x))) == parse(x), and for canonical
  formats (checkpoint text, simple-signing payloads, DSSE JSON, canonical Rekor bodies)
  the serialised bytes are the input bytes.

Seeds are the shared public vectors (sigstore-conformance bundles, public-good trusted
roots, cosign key files) and objects made here with fresh keys (DSSE envelopes, signed
notes, OCI manifests and layout directories, Rekor proposed entries, JWTs, CT chains).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import dataclasses
import datetime
import functools
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigstack.errors import SigstackError

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"


@dataclass
class Target:
    name: str
    what: str  # the parser(s), for the report
    seeds: Callable[[], list[bytes]]
    run: Callable[[bytes], None]
    text: bool = False  # line-format seeds (signed notes, PEM)
    invariants: str = ""
    stats: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.stats[key] = self.stats.get(key, 0) + 1


def attempt(target: Target, data: bytes) -> None:
    """Run one mutant: SigstackError is a clean rejection, anything else a finding."""
    try:
        target.run(data)
    except SigstackError:
        target.count("rejected")
    else:
        target.count("accepted")


# ---- shared material -------------------------------------------------------------------

@functools.cache
def _ec_key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def _trusted_logs() -> list[Any]:
    """Rekor v1 keys of the public-good roots, as verifiers."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.keys.software import PublicKeyVerifier

    out = []
    for p in [VECTORS / "bundles/trust/production.trusted_root.json",
              VECTORS / "bundles/trust/staging.trusted_root.json"]:
        for log in TrustedRoot.from_json(p.read_bytes()).tlogs:
            try:
                out.append(PublicKeyVerifier(load_der_public_key(log.public_key_raw)))
            except (ValueError, SigstackError):
                continue
    return out


def _bundle_files() -> list[Path]:
    conf = sorted((VECTORS / "conformance/bundle-verify").glob("*/bundle.sigstore.json"))
    return [*sorted((VECTORS / "bundles").glob("*.sigstore")), *conf]


def _signed_parts(entry: Any) -> tuple[Any, ...]:
    """What a verified log entry's signatures and proof cover (the note text, not the
    note: extra signature lines by other keys are legal and ignored)."""
    from sigstack.tlog.checkpoint import SignedNote

    p = entry.inclusion_proof
    # integratedTime and the entry's logIndex are signed only by the SET: without one they
    # are no signed part (and must not be used as verified: docs/reliability.md, findings
    # 13 and 33). The proof's own index is what the inclusion proof binds (on a sharded
    # log it differs from the global logIndex).
    signed = bool(entry.signed_entry_timestamp)
    time = entry.integrated_time if signed else None
    index = entry.log_index if signed else None
    return (index, entry.log_id, time, entry.body, p.log_index, p.tree_size,
            p.root_hash, p.hashes, SignedNote.parse(p.checkpoint).text)


def _verifies(entry: Any) -> bool:
    from sigstack.tlog.entry import verify_entry

    for v in _trusted_logs():
        try:
            verify_entry(entry, v)
            return True
        except SigstackError:
            continue
    return False


@functools.cache
def _reference_entries() -> set[tuple[Any, ...]]:
    """Signed parts of every seed log entry that verifies with a public-good key."""
    from sigstack.bundle.models import Bundle

    found = set()
    for p in _bundle_files():
        try:
            b = Bundle.from_json(p.read_bytes())
        except SigstackError:
            continue
        for e in b.tlog_entries:
            if e.inclusion_proof is not None and _verifies(e):
                found.add(_signed_parts(e))
                found.add(_signed_parts(dataclasses.replace(e, signed_entry_timestamp=None)))
    return found


def _check_entry_not_malleable(entry: Any) -> None:
    if entry.inclusion_proof is not None and _verifies(entry):
        assert _signed_parts(entry) in _reference_entries(), "a changed log entry still verifies"


# ---- bundles ---------------------------------------------------------------------------

def _bundle_seeds() -> list[bytes]:
    return [p.read_bytes() for p in _bundle_files()]


def _bundle_run(data: bytes) -> None:
    from sigstack.bundle.models import Bundle

    b = Bundle.from_json(data)
    if b.media_type.endswith(("v0.2+json", "v0.3+json", "v0.3")):  # v0.1 and legacy forms differ
        assert Bundle.from_json(b.to_json()) == b, "bundle model does not survive serialise/parse"
    for e in b.tlog_entries:
        _check_entry_not_malleable(e)


# ---- DSSE / in-toto / simple signing ----------------------------------------------------

@functools.cache
def _dsse_material() -> tuple[list[bytes], Any, set[tuple[bytes, str]]]:
    from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier
    from sigstack.payload import dsse, intoto

    signer = PrivateKeySigner(_ec_key())
    statements = [intoto.statement("https://slsa.dev/provenance/v1", {"builder": {"id": "x"}},
                                   "sha256:" + "ab" * 32, name="registry.example/app"),
                  intoto.statement("https://cyclonedx.org/bom", {"components": [1, "é", None]},
                                   "sha256:" + "cd" * 32)]
    envs = [dsse.sign(signer, s) for s in statements]
    signed = {(e.payload, e.payload_type) for e in envs}
    return [e.to_json() for e in envs], PublicKeyVerifier(signer.public_key()), signed


def _dsse_run(data: bytes) -> None:
    from sigstack.payload import dsse

    env = dsse.parse(data)
    assert dsse.parse(env.to_json()) == env
    seeds, verifier, signed = _dsse_material()
    if data in seeds:
        assert env.to_json() == data, "DSSE JSON is not reproduced byte for byte"
    if env.signatures:
        try:
            dsse.verify(verifier, env)
        except SigstackError:
            return
        assert (env.payload, env.payload_type) in signed, "a changed DSSE envelope still verifies"


def _intoto_seeds() -> list[bytes]:
    from sigstack.payload import dsse

    return [dsse.parse(s).payload for s in _dsse_material()[0]]


def _intoto_run(data: bytes) -> None:
    from sigstack.payload import intoto

    st = intoto.parse(data)
    assert isinstance(st.predicate_type, str) and all(isinstance(s, dict) for s in st.subjects)


def _simple_seeds() -> list[bytes]:
    from sigstack.payload import simplesigning

    return [simplesigning.make("registry.example/app", "sha256:" + "ab" * 32),
            simplesigning.make("127.0.0.1:5000/a/b", "sha256:" + "01" * 32, {"n": "1", "é": "😀"})]


def _simple_run(data: bytes) -> None:
    from sigstack.payload import simplesigning

    p = simplesigning.parse(data)
    assert isinstance(p.docker_reference, str) and isinstance(p.digest, str)
    if data in _simple_seeds():
        assert simplesigning.make(p.docker_reference, p.digest, p.optional) == data


# ---- trusted root ------------------------------------------------------------------------

def _trustroot_seeds() -> list[bytes]:
    return [(VECTORS / "bundles/trust" / n).read_bytes()
            for n in ("production.trusted_root.json", "staging.trusted_root.json")]


def _trustroot_run(data: bytes) -> None:
    from sigstack.bundle.trustroot import TrustedRoot

    tr = TrustedRoot.from_json(data)
    assert TrustedRoot.from_json(tr.to_json()).to_json() == tr.to_json()


# ---- checkpoints / signed notes ---------------------------------------------------------

@functools.cache
def _note_material() -> tuple[list[bytes], Any, set[bytes]]:
    from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier
    from sigstack.tlog.checkpoint import Checkpoint, LogSigner

    signer = LogSigner(PrivateKeySigner(_ec_key()), "log.example")
    cps = [Checkpoint("log.example - 1234", 7, b"\x01" * 32),
           Checkpoint("log.example - 1234", 0, hashlib.sha256(b"").digest(), ("ext one", "ext two"))]
    notes = [signer.sign_checkpoint(c).encode() for c in cps]
    # a second signature line by another key: legal, ignored by verifiers of this key
    other = LogSigner(PrivateKeySigner(_ec_key.__wrapped__()), "witness.example")
    notes.append(notes[0] + other.sign_checkpoint(cps[0]).encode().split(b"\n\n", 1)[1])
    return notes, PublicKeyVerifier(signer.public_key), {c.text() for c in cps}


def _note_run(data: bytes) -> None:
    from sigstack.tlog.checkpoint import Checkpoint, SignedNote, verify_checkpoint

    note = SignedNote.parse(data)
    _, verifier, texts = _note_material()
    try:
        cp = Checkpoint.parse_text(note.text)
        assert cp.text() == note.text, "checkpoint text is not reproduced byte for byte"
    except SigstackError:
        pass
    try:
        verify_checkpoint(data, verifier)
    except SigstackError:
        return
    assert note.text in texts, "a changed checkpoint still verifies"


# ---- Rekor v1 log entries (responses) ---------------------------------------------------

def _entry_seeds() -> list[bytes]:
    from sigstack.bundle.models import Bundle

    out = []
    for p in _bundle_files()[:12]:
        try:
            b = Bundle.from_json(p.read_bytes())
        except SigstackError:
            continue
        for e in b.tlog_entries:
            if e.inclusion_proof is None or e.signed_entry_timestamp is None:
                continue
            pr = e.inclusion_proof
            out.append(json.dumps({hashlib.sha256(e.body).hexdigest(): {
                "body": base64.b64encode(e.body).decode(), "integratedTime": e.integrated_time,
                "logID": e.log_id.hex(), "logIndex": e.log_index,
                "verification": {"inclusionProof": {
                    "checkpoint": pr.checkpoint, "hashes": [h.hex() for h in pr.hashes],
                    "logIndex": pr.log_index, "rootHash": pr.root_hash.hex(), "treeSize": pr.tree_size},
                    "signedEntryTimestamp": base64.b64encode(e.signed_entry_timestamp).decode()}}}).encode())
    return out


def _entry_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.tlog.entry import TlogEntry

    try:
        doc = safejson.loads(data)
    except ValueError:
        return  # the client answers a LogClientError for a body that is not JSON
    entry = TlogEntry.from_response(doc)
    _check_entry_not_malleable(entry)


# ---- Rekor proposed entries (the log's input) -------------------------------------------

@functools.cache
def _proposed_material() -> tuple[list[bytes], set[tuple[str, bytes]]]:
    from sigstack.keys.pem import public_key_to_pem
    from sigstack.keys.software import PrivateKeySigner
    from sigstack.payload import dsse, intoto

    signer = PrivateKeySigner(_ec_key())
    pem = base64.b64encode(public_key_to_pem(signer.public_key())).decode()
    digest = hashlib.sha256(b"artifact").digest()
    sig = base64.b64encode(signer.sign_digest(digest)).decode()
    hashed = {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        "signature": {"content": sig, "publicKey": {"content": pem}}}}
    env = dsse.sign(signer, intoto.statement("https://slsa.dev/provenance/v1", {}, "sha256:" + "ab" * 32))
    dsse_entry = {"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "proposedContent": {"envelope": env.to_json().decode(), "verifiers": [pem]}}}
    # the signature *bytes*: standard and URL-safe spellings of one signature are both
    # valid DSSE (and Rekor keeps the spelling it was given)
    signed = {(digest.hex(), base64.b64decode(sig)), (hashlib.sha256(env.payload).hexdigest(), env.signatures[0])}
    # the same signature with a certificate for the key (what keyless signers upload)
    with_cert = json.loads(json.dumps(hashed))
    with_cert["spec"]["signature"]["publicKey"]["content"] = base64.b64encode(_self_signed_pem()).decode()
    return [json.dumps(hashed).encode(), json.dumps(dsse_entry).encode(), json.dumps(with_cert).encode()], signed


@functools.cache
def _self_signed_pem() -> bytes:
    """A certificate for :func:`_ec_key` with an email SAN and a Fulcio issuer extension."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    from sigstack._internal import der

    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.dev")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_ec_key().public_key())
            .serial_number(7).not_valid_before(now).not_valid_after(now + datetime.timedelta(minutes=10))
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("alice@example.com")]), critical=True)
            .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"),
                                                      der.utf8_string(ISSUER)), critical=False)
            .sign(_ec_key(), hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _proposed_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.tlog.entries import canonicalize

    try:
        doc = safejson.loads(data)
    except ValueError:
        return  # the API answers 400 for a body that is not JSON
    c = canonicalize(doc)
    body = json.loads(c.body)
    assert json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == c.body
    spec = body["spec"]
    _, signed = _proposed_material()
    from sigstack.tlog.entries._common import dsse_b64

    if body["kind"] == "hashedrekord":
        key = (spec["data"]["hash"]["value"], base64.b64decode(spec["signature"]["content"]))
    else:
        key = (spec["payloadHash"]["value"], dsse_b64(spec["signatures"][0]["signature"], "sig"))
    assert key in signed, "a changed proposed entry was accepted with a signature it does not carry"


# ---- OCI manifests, indexes and layout directories --------------------------------------

def _oci_seeds() -> list[bytes]:
    from sigstack.oci import layout
    from sigstack.oci.client import OCI_INDEX

    img = layout.build_image([layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}", {layout.SIGNATURE_ANNOTATION: "QQ=="}),
                              layout.Layer(layout.DSSE_MEDIA, b"[]", {"predicateType": "x"})])
    docker = layout.build_image([layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}")], docker_types=True)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": img.media_type, "size": len(img.manifest), "digest": "sha256:" + "a" * 64,
         "platform": {"architecture": "amd64", "os": "linux"}, "artifactType": "x"}]}).encode()
    return [img.manifest, docker.manifest, index]


def _oci_run(data: bytes) -> None:
    from sigstack.oci import layout
    from sigstack.oci.client import Manifest, sha256_digest
    from sigstack.oci.layouts.referrers import _index_json  # noqa: F401  (kept importable)

    m = Manifest(data, "application/vnd.oci.image.manifest.v1+json", sha256_digest(data))
    doc = m.json()
    assert isinstance(doc, dict)
    layout.index_children(m)
    for d in layout.layer_descriptors(m):
        assert isinstance(d["digest"], str)


@functools.cache
def _layout_dir() -> Path:
    """A saved image: oci-layout, index.json, the manifest, its config and one layer."""
    from sigstack.oci import layout

    root = Path(tempfile.mkdtemp(prefix="sigstack-fuzz-layout-"))
    atexit.register(shutil.rmtree, root, True)
    img = layout.build_image([layout.Layer(layout.SIMPLESIGNING_MEDIA, b'{"a":1}')])
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    manifest = json.dumps(json.loads(img.manifest)).encode()  # the form _layout_run writes
    for data in (manifest, img.config, *[x.data for x in img.layers]):
        (blobs / hashlib.sha256(data).hexdigest()).write_bytes(data)
    (root / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    return root


def _layout_seeds() -> list[bytes]:
    """What the fuzzer mutates: index.json and the manifest (both written, the
    manifest under its new digest, so content checks are passed as an attacker would)."""
    root = _layout_dir()
    manifest = next(p for p in (root / "blobs/sha256").iterdir() if b'"schemaVersion"' in p.read_bytes())
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": manifest.stat().st_size,
         "digest": "sha256:" + manifest.name, "annotations": {"kind": "dev.cosignproject.cosign/image"}}]}
    return [json.dumps({"index": index, "manifest": json.loads(manifest.read_bytes())}).encode()]


def _layout_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.oci.layout import layer_descriptors
    from sigstack.oci.ocilayout import OciLayout

    root = _layout_dir()
    seed_digest = _layout_seeds_digest()  # before the mutant's blob is written (it is found by content)
    try:
        doc = safejson.loads(data)
        index, manifest = doc["index"], doc["manifest"]
        index_bytes = json.dumps(index).encode() if not isinstance(index, str) else index.encode()
        manifest_bytes = json.dumps(manifest).encode()
    except (ValueError, KeyError, TypeError, RecursionError):
        index_bytes, manifest_bytes = data, data
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    blob = root / "blobs/sha256" / digest
    blob.write_bytes(manifest_bytes)
    # point the index at the mutated manifest when it names one (the attacker controls both)
    index_bytes = index_bytes.replace(json.dumps(seed_digest).encode()[1:-1], digest.encode())
    (root / "index.json").write_bytes(index_bytes)
    try:
        lay = OciLayout(root)
        m = lay.entry_manifest(lay.subject())
        for d in layer_descriptors(m):
            size = d.get("size")
            lay.read_blob(str(d["digest"]), size=size if isinstance(size, int) else None)
    finally:
        if digest != seed_digest:
            blob.unlink(missing_ok=True)


@functools.cache
def _layout_seeds_digest() -> str:
    return str(json.loads(_layout_seeds()[0])["index"]["manifests"][0]["digest"]).removeprefix("sha256:")


# ---- keys and PEM -----------------------------------------------------------------------

def _key_seeds() -> list[bytes]:
    from sigstack.keys.pem import public_key_to_pem

    d = VECTORS / "cosign-keys"
    return [(d / "encrypted-sigstore.key").read_bytes(), (d / "legacy-cosign-label.key").read_bytes(),
            (d / "encrypted-sigstore.derived.pub").read_bytes(), public_key_to_pem(_ec_key().public_key()),
            *[(d / "import" / n).read_bytes() for n in ("validecp256.pem", "validrsa.pem", "ed25519key.pem")]]


def _fast_scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    """scrypt stand-in for the fuzz loop only: the KDF (cryptography's) is not the parser
    under test, and at the cosign parameters it would cap the rate at ~20 mutants/s."""
    return hashlib.sha256(password + salt + f"{n},{r},{p}".encode()).digest()


def _key_run(data: bytes) -> None:
    from sigstack.keys import encrypted, pem

    pem.pem_type(data)
    kind = pem.pem_type(data) or ""
    if "PUBLIC" in kind:
        pem.load_public_key_pem(data)
    elif "ENCRYPTED" in kind:
        real = encrypted._scrypt
        encrypted._scrypt = _fast_scrypt  # type: ignore[assignment]
        try:
            encrypted.decrypt_private_key(data, b"hello")
        finally:
            encrypted._scrypt = real  # type: ignore[assignment]
    else:
        pem.load_import_private_key(data)


# ---- JWTs at the CA ---------------------------------------------------------------------

ISSUER = "https://issuer.example"


@functools.cache
def _jwt_material() -> tuple[Any, Any]:
    import jwt

    from sigstack.ca.config import parse_config
    from sigstack.ca.tokens import JWKSCache, TokenVerifier

    key = _ec_key()

    class FixedKeys(JWKSCache):
        """The issuer's published keys without the discovery round trips (the JWKS
        fetch is HTTP, tested in tests/ca; here the token parser is the target)."""

        async def _fetch(self, issuer: str, ca_cert: str = "") -> dict[str, jwt.PyJWK]:
            return {"k1": jwt.PyJWK.from_dict({**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())),
                                               "kid": "k1", "alg": "ES256"})}

    cfg = parse_config({"oidc-issuers": {ISSUER: {"issuer-url": ISSUER, "client-id": "sigstore", "type": "email"}}})
    return TokenVerifier(cfg, FixedKeys()), key


def _jwt_seeds() -> list[bytes]:
    import jwt

    _, key = _jwt_material()
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    claims = {"iss": ISSUER, "aud": "sigstore", "sub": "alice", "email": "alice@example.com",
              "email_verified": True, "iat": now, "exp": now + 10**8}
    tok = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "k1"})
    return [tok.encode()]


def _jwt_run(data: bytes) -> None:
    verifier, _ = _jwt_material()
    try:
        token = data.decode()
    except UnicodeDecodeError:
        return  # the CA reads the token from JSON or a header: always text
    principal, _ = asyncio.run(verifier.verify(token))
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims.get("email") == principal.san == "alice@example.com", "a changed token was accepted"


def _jwt_claims_seeds() -> list[bytes]:
    """Header and claims of a token, as JSON: the run signs whatever the mutant says with
    the issuer's key, so mutated claims get past the signature to the claim checks."""
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    claims = {"iss": ISSUER, "aud": "sigstore", "sub": "alice", "email": "alice@example.com",
              "email_verified": True, "iat": now, "exp": now + 10**8}
    header = {"alg": "ES256", "kid": "k1", "typ": "JWT"}
    return [json.dumps({"header": header, "claims": claims}).encode(),
            json.dumps({"header": header, "claims": {**claims, "aud": ["other", "sigstore"], "nbf": now - 5}}).encode()]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jwt_claims_run(data: bytes) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    from sigstack._internal import safejson
    from sigstack.ca.tokens import LEEWAY

    verifier, key = _jwt_material()
    try:
        doc = safejson.loads(data)
        header, claims = doc["header"], doc["claims"]
        signing_input = (_b64url(json.dumps(header).encode("utf-8", "surrogatepass")) + "."
                         + _b64url(json.dumps(claims).encode("utf-8", "surrogatepass")))
    except (ValueError, KeyError, TypeError, RecursionError):
        return  # no header and claims to sign (the jwt target covers tokens as bytes)
    r, s_ = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    token = signing_input + "." + _b64url(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))
    principal, _ = asyncio.run(verifier.verify(token))
    # accepted: the claims are what the CA must require of a token its issuer signed
    now = datetime.datetime.now(datetime.UTC).timestamp()

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    aud = claims.get("aud")
    assert isinstance(header, dict) and header.get("alg") == "ES256", f"signed ES256, accepted as {header!r}"
    assert claims.get("iss") == ISSUER, f"accepted issuer {claims.get('iss')!r}"
    assert aud == "sigstore" or (isinstance(aud, list) and "sigstore" in aud), f"accepted audience {aud!r}"
    assert number(claims.get("exp")) and claims["exp"] > now - LEEWAY - 5, "accepted an expired token"
    assert number(claims.get("iat")) and claims["iat"] <= now + LEEWAY + 5, "accepted a token issued in the future"
    assert "nbf" not in claims or (number(claims["nbf"]) and claims["nbf"] <= now + LEEWAY + 5), "accepted before nbf"
    assert claims.get("sub") is not None, "accepted without a subject"
    assert claims.get("email_verified") is True, "accepted an unverified email"
    assert isinstance(claims.get("email"), str) and principal.san == claims["email"], "another identity than claimed"


# ---- CT submissions ---------------------------------------------------------------------

@functools.cache
def _ct_material() -> tuple[Any, list[bytes], set[bytes]]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from sigstack.ca.ctlog import CTLog
    from sigstack.keys.software import PrivateKeySigner
    from sigstack.tlog.store import open_store

    def cert(subject: str, key: Any, issuer: Any, issuer_key: Any, ca: bool, poison: bool = False) -> Any:
        now = datetime.datetime.now(datetime.UTC)
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=9))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if poison:
            b = b.add_extension(x509.PrecertPoison(), critical=True)
        return b.sign(issuer_key, hashes.SHA256())

    root_key, mid_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")])
    root = cert("root", root_key, root_name, root_key, True)
    mid = cert("mid", mid_key, root.subject, root_key, True)
    leaf = cert("leaf", leaf_key, mid.subject, mid_key, False)
    pre = cert("leaf", leaf_key, mid.subject, mid_key, False, poison=True)
    ders = [c.public_bytes(serialization.Encoding.DER) for c in (leaf, mid, root, pre)]
    tmp = Path(tempfile.mkdtemp(prefix="sigstack-fuzz-ct-"))
    atexit.register(shutil.rmtree, tmp, True)
    store = open_store(str(tmp / "ct.db"))
    log = CTLog(store, PrivateKeySigner(ec.generate_private_key(ec.SECP256R1())), [root])
    enc = [base64.b64encode(d).decode() for d in ders]
    seeds = [json.dumps({"chain": [enc[0], enc[1]], "precert": False}).encode(),
             json.dumps({"chain": [enc[3], enc[1], enc[2]], "precert": True}).encode()]
    return log, seeds, set(ders)


def _ct_run(data: bytes) -> None:
    from cryptography.hazmat.primitives import serialization

    from sigstack._internal import safejson
    from sigstack.ca.ct_api import parse_chain_body

    log, _, known = _ct_material()
    chain = parse_chain_body(data)  # the add-chain body, as the CT API reads it (a 400: CAError)
    try:  # which endpoint: add-pre-chain when the seed said so (not part of the API's body)
        precert = safejson.loads(data)["precert"] is True
    except (ValueError, KeyError, TypeError):
        precert = False
    certs = log.check_chain(chain, precert)
    for c in certs:
        assert c.public_bytes(serialization.Encoding.DER) in known, "a changed certificate chain was accepted"


# ---- X.509 signing certificates (bundles, layer annotations, log uploads) -----------------

@functools.cache
def _x509_material() -> tuple[list[bytes], set[bytes], list[Any]]:
    """Fulcio leaves (and chains) of the shared bundles, as {"certificate", "chain"}
    JSON of base64 DER (so flips land in the DER); the public-good roots."""
    from sigstack.bundle.trustroot import TrustedRoot

    seeds: list[bytes] = []
    leaves: set[bytes] = set()
    for p in _bundle_files():
        try:
            vm = json.loads(p.read_bytes()).get("verificationMaterial") or {}
        except ValueError:
            continue
        certs = ([vm["certificate"]["rawBytes"]] if isinstance(vm.get("certificate"), dict)
                 else [c["rawBytes"] for c in (vm.get("x509CertificateChain") or {}).get("certificates", [])])
        if not certs or base64.b64decode(certs[0]) in leaves:
            continue
        leaves.add(base64.b64decode(certs[0]))
        seeds.append(json.dumps({"certificate": certs[0], "chain": certs[1:]}).encode())
    roots = [TrustedRoot.from_json(s) for s in _trustroot_seeds()]
    return seeds[:24], leaves, roots


def _x509_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.errors import CertificateChainError
    from sigstack.keys.pem import encode_pem
    from sigstack.tlog.identity import body_certificates, identity
    from sigstack.verify.certificate import verify_certificate_chain
    from sigstack.verify.identity import SigstoreExtensions, subject_alternative_names
    from sigstack.verify.keyless import CERT_ANNOTATION, CHAIN_ANNOTATION, layer_certificates, load_certificate

    _, leaves, roots = _x509_material()
    try:
        doc = safejson.loads(data)
        leaf_der = base64.b64decode(doc["certificate"], validate=True)
        chain_der = [base64.b64decode(c, validate=True) for c in doc["chain"]]
    except (ValueError, KeyError, TypeError):
        return  # not the certificate's parser (the bundle target covers bundle JSON)
    leaf = load_certificate(leaf_der)
    chain = [load_certificate(c, "a certificate of the chain") for c in chain_der]
    # a legacy layer's annotations (PEM), as verify reads them
    leaf_pem = encode_pem("CERTIFICATE", leaf_der)
    layer_certificates({CERT_ANNOTATION: leaf_pem.decode(),
                        CHAIN_ANNOTATION: b"".join(encode_pem("CERTIFICATE", c) for c in chain_der).decode()})
    # an uploaded log entry's certificate, as the log's identity index reads it
    body = json.dumps({"spec": {"signature": {"publicKey": {"content": base64.b64encode(leaf_pem).decode()}}}})
    for c in body_certificates(body.encode()):
        identity(c)
    SigstoreExtensions.from_certificate(leaf)
    subject_alternative_names(leaf)
    at = leaf.not_valid_before_utc + datetime.timedelta(seconds=1)
    for root in roots:
        try:
            verify_certificate_chain(leaf, root, at, chain)
        except CertificateChainError:
            continue
        assert leaf_der in leaves, "a changed certificate chains to a public-good root"


# ---- registry responses (the HTTP client over a registry that answers the mutant) ------

REGISTRY_REF = "registry.example/app:v1"


def _registry_seeds() -> list[bytes]:
    """What one registry answers, as one document: the bearer challenge, the token
    server's answer, a manifest (and its Content-Type), a tag list page (and its Link
    header), a referrers index, an error body."""

    manifest = json.loads(_oci_seeds()[0])
    index = json.loads(_oci_seeds()[2])
    base = {"challenge": 'Bearer realm="https://auth.example/token",service="registry.example",scope="x"',
            "token": {"token": "tok", "expires_in": 300, "issued_at": "2026-12-01T00:00:00Z"},
            "manifest": manifest, "content_type": manifest["mediaType"],
            "tags": {"name": "app", "tags": ["v1", "v2", "latest"]},
            "link": '</v2/app/tags/list?n=1000&last=latest>; rel="next"',
            "referrers": index, "error": {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]}}
    access = {**base, "challenge": 'Bearer realm="https://auth.example/token"', "link": "",
              "token": {"access_token": "tok"}}
    # a registry whose Docker-Content-Digest is not the content's (HEAD trusts it for a tag)
    lying = {**base, "digest": "sha256:" + "0" * 64}
    return [json.dumps(base).encode(), json.dumps(access).encode(), json.dumps(lying).encode()]


def _part(doc: Any, key: str, raw: bytes) -> bytes:
    """One response body of the mutant (the whole mutant when it is not a document of
    parts: the client must cope with anything)."""
    try:
        value = doc[key]
        return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else json.dumps(value).encode()
    except (KeyError, TypeError, ValueError, RecursionError):
        return raw


@functools.cache
def _registry_client() -> Any:
    import httpx

    from sigstack.oci.client import RegistryClient, RegistryOptions

    state: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        doc, raw = state["doc"], state["raw"]
        path = request.url.path
        if request.url.host == "auth.example":
            return _response(200, _part(doc, "token", raw), headers={"content-type": b"application/json"})
        if request.headers.get("authorization") != "Bearer tok":
            challenge = _header(_part(doc, "challenge", raw))
            return _response(401, _part(doc, "error", raw), headers={"www-authenticate": challenge})
        if "/manifests/" in path:
            body = _part(doc, "manifest", raw)
            ctype = _header(_part(doc, "content_type", b""))
            digest = _header(_part(doc, "digest", b"")) if isinstance(doc, dict) and "digest" in doc else sha(body)
            headers = {"content-type": ctype, "docker-content-digest": digest}
            if request.method == "HEAD":
                return _response(200, b"", headers={**headers, "content-length": str(len(body))})
            return _response(200, body, headers=headers)
        if path.endswith("/tags/list"):
            state["pages"] = state.get("pages", 0) + 1
            link = _header(_part(doc, "link", b""))
            return _response(200, _part(doc, "tags", raw),
                                  headers={"link": link} if state["pages"] < 3 else {})
        if "/referrers/" in path:
            return _response(200, _part(doc, "referrers", raw),
                                  headers={"content-type": "application/vnd.oci.image.index.v1+json"})
        return _response(404, _part(doc, "error", raw))

    def _header(value: bytes) -> bytes:  # any bytes a header line can hold (no CR, LF, NUL)
        return value[:8192].replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b"")

    def _response(status: int, body: bytes, headers: dict[str, Any] | None = None) -> httpx.Response:
        # a stream, as a server's body is (content= would be read already, and the client streams)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    def sha(body: bytes) -> str:
        return "sha256:" + hashlib.sha256(body).hexdigest()

    client = RegistryClient(RegistryOptions(timeout=5.0, attempts=1, backoff=0.0))
    client._http = httpx.Client(transport=httpx.MockTransport(answer), follow_redirects=True, max_redirects=5,
                                headers=client._http.headers)
    return client, state


def _registry_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.errors import NotFoundError
    from sigstack.oci.client import Descriptor, Manifest
    from sigstack.oci.reference import parse_reference

    client, state = _registry_client()
    try:
        doc: Any = safejson.loads(data)
    except ValueError:
        doc = None
    state.update(doc=doc, raw=data, pages=0)
    client._challenge.clear()
    client._auth.clear()
    ref = parse_reference(REGISTRY_REF)
    first: SigstackError | None = None
    for call in (lambda: client.get_manifest(ref), lambda: client.head_manifest(ref),
                 lambda: client.list_tags(ref.repository),
                 lambda: client.referrers(ref.repository, "sha256:" + "a" * 64),
                 lambda: client.get_blob(ref.repository, "sha256:" + "b" * 64)):
        try:
            got = call()
        except NotFoundError as exc:  # the blob is not there (the error body is what is fuzzed)
            if not exc.message.startswith(f"GET https://registry.example/v2/app/blobs/sha256:{'b' * 64}: "):
                first = first or exc
            continue
        except SigstackError as exc:
            first = first or exc
            continue
        if isinstance(got, Manifest):
            assert got.digest == "sha256:" + hashlib.sha256(got.data).hexdigest()
        elif isinstance(got, Descriptor):  # a tag's digest, as HEAD reports it: well formed
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", got.digest), f"resolved to {got.digest!r}"
        elif isinstance(got, list):
            assert all(isinstance(t, str) for t in got)
        else:
            assert got is None or isinstance(got, dict)
    if first is not None:
        raise first


# ---- log answers to an auditor (log info + consistency proof) ---------------------------

def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 Merkle tree hash (written out here as the reference the log is checked against)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    """RFC 6962 section 2.1.2 SUBPROOF."""
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


LOG_LEAVES = [b"entry %d" % i for i in range(13)]
LOG_OLD = 5


@functools.cache
def _audit_material() -> tuple[list[bytes], bytes, Any, set[tuple[bytes, tuple[bytes, ...]]], Path]:
    """Answers of a log at sizes 13, 8 and 5 (the auditor last saw 5), signed here; what
    may verify (checkpoint text, proof); a state file."""
    from sigstack.keys.software import PrivateKeySigner, PublicKeyVerifier
    from sigstack.tlog.checkpoint import Checkpoint, LogSigner

    signer = LogSigner(PrivateKeySigner(_ec_key()), "rekor.example")
    origin = "rekor.example - 1193050959916656506"
    seeds, good = [], set()
    for size in (13, 8, LOG_OLD):
        cp = Checkpoint(origin, size, _mth(LOG_LEAVES[:size]))
        proof = _subproof(LOG_OLD, LOG_LEAVES[:size], True) if size != LOG_OLD else []
        good.add((cp.text(), tuple(proof)))
        seeds.append(json.dumps({
            "info": {"rootHash": cp.root_hash.hex(), "signedTreeHead": signer.sign_checkpoint(cp), "treeSize": size,
                     "treeID": "1193050959916656506", "inactiveShards": []},
            "proof": {"hashes": [h.hex() for h in proof], "rootHash": cp.root_hash.hex()}}).encode())
    old = signer.sign_checkpoint(Checkpoint(origin, LOG_OLD, _mth(LOG_LEAVES[:LOG_OLD]))).encode()
    tmp = Path(tempfile.mkdtemp(prefix="sigstack-fuzz-audit-"))
    atexit.register(shutil.rmtree, tmp, True)
    return seeds, old, PublicKeyVerifier(signer.public_key), good, tmp / "checkpoint"


@functools.cache
def _audit_client() -> tuple[Any, dict[str, Any]]:
    import httpx

    from sigstack.tlog.client import RekorClient

    state: dict[str, Any] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        key = {"/api/v1/log": "info", "/api/v1/log/proof": "proof"}.get(request.url.path)
        if key is None:
            return httpx.Response(404, stream=httpx.ByteStream(b'{"code":404,"message":"not found"}'))
        state.setdefault("served", {})[key] = body = _part(state["doc"], key, state["raw"])
        return httpx.Response(200, headers={"content-type": "application/json"}, stream=httpx.ByteStream(body))

    client = RekorClient("https://rekor.example", timeout=5.0)
    client._client = httpx.Client(transport=httpx.MockTransport(answer), headers=client._http.headers)
    return client, state


def _audit_run(data: bytes) -> None:
    from sigstack._internal import safejson
    from sigstack.tlog.client import check_log_consistency

    _, old, verifier, good, path = _audit_material()
    client, state = _audit_client()
    try:
        doc: Any = safejson.loads(data)
    except ValueError:
        doc = None
    state.update(doc=doc, raw=data, served={})
    path.write_bytes(old)
    before, new = check_log_consistency(client, verifier, path)
    assert before is not None and before.size == LOG_OLD
    try:
        proof = tuple(bytes.fromhex(h) for h in safejson.loads(state["served"]["proof"])["hashes"])
    except KeyError:
        proof = ()  # not asked for: the size did not change
    assert (new.text(), proof) in good, "a changed tree head or consistency proof verified"
    assert path.read_bytes() == safejson.loads(state["served"]["info"])["signedTreeHead"].encode()


# ---- the admission webhook and the Gatekeeper provider (their HTTP handlers) ------------

TESTS = Path(__file__).resolve().parents[1]
DIGEST_IMAGES = {"INIT_IMAGE": "registry.example/init@sha256:" + "1" * 64,
                 "APP_IMAGE": "registry.example/app@sha256:" + "2" * 64,
                 "SIDECAR_IMAGE": "registry.example/side@sha256:" + "3" * 64,
                 "EPHEMERAL_IMAGE": "registry.example/debug@sha256:" + "4" * 64}


class _EmptyRegistry:
    """A registry that holds nothing: every read is a 404. The fuzz loop must not touch
    the network, and with no signature anywhere no image may be admitted: that is the
    invariant the webhook and the provider are held to."""

    def __init__(self) -> None:
        from sigstack.oci.client import RegistryOptions

        self.options = RegistryOptions(timeout=1.0, attempts=1)

    def get_manifest(self, ref: Any, accept: Any = None) -> Any:
        from sigstack.errors import NotFoundError

        raise NotFoundError(f"{ref}: MANIFEST_UNKNOWN", status=404)

    def head_manifest(self, ref: Any) -> Any:
        return self.get_manifest(ref)

    def get_blob(self, repo: Any, digest: str, limit: int | None = None) -> bytes:
        from sigstack.errors import NotFoundError

        raise NotFoundError(f"{digest}: BLOB_UNKNOWN", status=404)

    def referrers(self, repo: Any, digest: str, artifact_type: str | None = None) -> Any:
        return None


class _Rejected(SigstackError):
    """The server answered 400 or 413 with its one line: a clean rejection."""


@functools.cache
def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.new_event_loop()


def _post(app: Any, path: str, body: bytes, headers: dict[bytes, bytes] | None = None) -> tuple[int, bytes]:
    """One POST through the ASGI app in process (what uvicorn hands it). An exception
    in a handler propagates out of Starlette's error middleware (after its 500)."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": list({b"content-type": b"application/json", b"content-length": str(len(body)).encode(),
                              **(headers or {})}.items()),
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8443)}
    _loop().run_until_complete(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def _answer(status: int, body: bytes) -> Any:
    if status in (400, 413):
        assert body.endswith(b"\n") and body.count(b"\n") == 1, f"not one line: {body[:200]!r}"
        raise _Rejected(body.decode(errors="replace").strip())
    assert status == 200, f"HTTP {status}: {body[:300]!r}"
    return json.loads(body)


@functools.cache
def _policy_file() -> Path:
    from sigstack.keys.pem import public_key_to_pem

    d = Path(tempfile.mkdtemp(prefix="sigstack-fuzz-policy-"))
    atexit.register(shutil.rmtree, d, True)
    pem = public_key_to_pem(_ec_key().public_key()).decode()
    (d / "policy.json").write_text(json.dumps({
        "apiVersion": "policy.sigstore.dev/v1beta1", "kind": "ClusterImagePolicy", "metadata": {"name": "signed"},
        "spec": {"images": [{"glob": "**"}], "authorities": [{"key": {"data": pem}}]}}))
    return d / "policy.json"


@functools.cache
def _admission_app() -> Any:
    from sigstack.admission.server import create_app
    from sigstack.admission.webhook import Admission, AdmissionSettings, PolicyFiles

    class Offline(Admission):
        def client(self, credentials: Any) -> Any:
            return _EmptyRegistry()

    settings = AdmissionSettings()
    return create_app(Offline(PolicyFiles([str(_policy_file())], settings, interval=1e9), settings),
                      max_body=1 << 20)


def _admission_seeds() -> list[bytes]:
    out = []
    for f in sorted((TESTS / "admission" / "data").glob("*.json")):
        text = f.read_text()
        for k, v in DIGEST_IMAGES.items():
            text = text.replace(k, v)
        out.append(text.encode())
    # a tag, for the mutating webhook (it resolves tags; nothing resolves here)
    out.append(out[0].replace(DIGEST_IMAGES["APP_IMAGE"].encode(), b"registry.example/app:v1"))
    return out


def _checked_images(doc: Any) -> list[str]:
    """The images the validating webhook must check in ``doc``, found independently of
    it: none when the request is one policy-controller lets through unchecked."""
    from sigstack.admission.workloads import POD_SPEC_PATHS, SCALABLE

    req = doc.get("request") if isinstance(doc, dict) else None
    if not isinstance(req, dict) or req.get("operation") not in ("CREATE", "UPDATE"):
        return []
    kind = req.get("kind") if isinstance(req.get("kind"), dict) else {}
    obj, old = req.get("object"), req.get("oldObject")
    if req.get("subResource") == "status" or not isinstance(obj, dict):
        return []
    meta = obj.get("metadata")
    if isinstance(meta, dict) and meta.get("deletionTimestamp"):
        return []
    group, name = str(kind.get("group") or ""), str(kind.get("kind") or "")
    if (group, name) in SCALABLE and req.get("operation") == "UPDATE" and isinstance(old, dict):
        new_n = obj.get("spec", {}).get("replicas") if isinstance(obj.get("spec"), dict) else None
        old_n = old.get("spec", {}).get("replicas") if isinstance(old.get("spec"), dict) else None
        if isinstance(new_n, int) and isinstance(old_n, int) and new_n < old_n:
            return []
    spec: Any = obj
    for part in POD_SPEC_PATHS.get((group, name), ("-",)):
        spec = spec.get(part) if isinstance(spec, dict) else None
    if not isinstance(spec, dict):
        return []
    return [c["image"] for f in ("initContainers", "containers", "ephemeralContainers")
            for c in (spec.get(f) if isinstance(spec.get(f), list) else []) if isinstance(c, dict)
            and isinstance(c.get("image"), str)]


def _admission_run(data: bytes) -> None:
    from sigstack._internal import safejson

    app = _admission_app()
    validated = _answer(*_post(app, "/validations", data))
    mutated = _answer(*_post(app, "/mutations", data))
    doc = safejson.loads(data)
    uid = doc["request"]["uid"]
    for answer in (validated, mutated):
        assert answer["apiVersion"] == "admission.k8s.io/v1" and answer["kind"] == "AdmissionReview"
        assert answer["response"]["uid"] == uid and isinstance(answer["response"]["allowed"], bool)
    v, m = validated["response"], mutated["response"]
    if not v["allowed"]:
        assert isinstance(v["status"]["message"], str) and v["status"]["message"]
    images = _checked_images(doc)
    assert not (v["allowed"] and images), f"admitted with no signature anywhere: {images}"
    assert "patch" not in m, "a patch when no tag resolves"


@functools.cache
def _provider_app() -> Any:
    from sigstack.admission.webhook import AdmissionSettings, PolicyFiles
    from sigstack.gatekeeper.provider import Provider
    from sigstack.gatekeeper.server import create_app

    engine = PolicyFiles([str(_policy_file())], AdmissionSettings(), interval=1e9).engine
    return create_app(Provider(engine, _EmptyRegistry()), max_body=1 << 20)  # type: ignore[arg-type]


def _provider_seeds() -> list[bytes]:
    text = (TESTS / "gatekeeper" / "data" / "provider-request.json").read_text()
    for k, v in {"IMAGE_SIGNED": DIGEST_IMAGES["APP_IMAGE"], "IMAGE_UNSIGNED": DIGEST_IMAGES["INIT_IMAGE"],
                 "IMAGE_TAGGED": "registry.example/app:v1"}.items():
        text = text.replace(k, v)
    return [text.encode(), text.replace("v1beta1", "v1alpha1").encode()]


def _provider_run(data: bytes) -> None:
    from sigstack._internal import safejson

    app = _provider_app()
    verified = _answer(*_post(app, "/verify", data))
    resolved = _answer(*_post(app, "/resolve", data))
    doc = safejson.loads(data)
    keys = doc["request"]["keys"]
    for answer in (verified, resolved):
        assert answer["apiVersion"] == doc["apiVersion"] and answer["kind"] == "ProviderResponse"
        resp = answer["response"]
        assert resp["idempotent"] is True and isinstance(resp["systemError"], str)
        assert [i["key"] for i in resp["items"]] == (keys if not resp["systemError"] else [])
    for item in verified["response"]["items"]:
        assert "value" not in item and isinstance(item["error"], str), f"verified with no signature: {item}"
    for item in resolved["response"]["items"]:
        if "value" in item:  # only a digest reference resolves here (the registry has no tags)
            digest = item["key"].rpartition("@")[2]
            assert "@" in item["key"] and item["value"].endswith("@" + digest), f"resolved to {item}"


# ---- TUF metadata (a mirror serving the mutant) -----------------------------------------

@functools.cache
def _tuf_material() -> tuple[dict[str, bytes], bytes, Path]:
    """A repository made with python-tuf (tests/tuf_repo.py) publishing a trusted root,
    as the files a mirror serves; the initial root; a cache directory (tmpfs if any)."""
    from tests.tuf_repo import Repo

    tmp = Path(tempfile.mkdtemp(prefix="sigstack-fuzz-tuf-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    atexit.register(shutil.rmtree, tmp, True)
    repo = Repo(tmp / "repo")
    repo.add_target("trusted_root.json", _trustroot_seeds()[0])
    repo.publish()
    files = {str(p.relative_to(repo.path)): p.read_bytes() for p in repo.path.rglob("*") if p.is_file()}
    return files, repo.initial_root(), tmp / "cache"


def _tuf_seeds() -> list[bytes]:
    files, _, _ = _tuf_material()
    return [files[n] for n in sorted(files) if n.endswith(".json") and not n.startswith("targets/")]


#: where a mutant of each role is served
_TUF_FILES = {"root": "2.root.json", "timestamp": "timestamp.json", "snapshot": "2.snapshot.json",
              "targets": "2.targets.json"}


def _tuf_run(data: bytes) -> None:
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface

    from sigstack._internal import safejson
    from sigstack.trust.tuf import TrustUpdater

    files, root, cache = _tuf_material()
    try:
        role = safejson.loads(data)["signed"]["_type"]
        name = _TUF_FILES[role] if isinstance(role, str) and role in _TUF_FILES else "timestamp.json"
    except (ValueError, KeyError, TypeError):
        name = "timestamp.json"  # the one file a client fetches with no hash or version pinned
    served = {**files, name: data}

    class Mirror(FetcherInterface):
        def _fetch(self, url: str) -> Any:
            found = served.get(url.removeprefix("mem://fuzz/"))
            if found is None:
                raise DownloadHTTPError(f"{url} is not in the repository", 404)
            return iter([found])

    shutil.rmtree(cache, ignore_errors=True)
    updater = TrustUpdater("mem://fuzz", cache, root=root, fetcher=Mirror())
    got = updater.trusted_root()
    assert got.to_json() == _tuf_trusted_root(), "a changed repository gave another trusted root"
    if name != "2.root.json" and data != files[name]:  # an accepted mutant: its signed part is the seed's
        from tuf.api.metadata import Metadata

        assert Metadata.from_bytes(data).signed.to_dict() == Metadata.from_bytes(files[name]).signed.to_dict(), (
            f"a changed {name} was accepted")
    if name == "2.root.json":
        raise AssertionError("a root version 2 was accepted (the repository has none)")


@functools.cache
def _tuf_trusted_root() -> bytes:
    from sigstack.bundle.trustroot import TrustedRoot

    return TrustedRoot.from_json(_trustroot_seeds()[0]).to_json()


TARGETS = [
    Target("bundle", "Bundle.from_json (bundle/models.py), its tlog entries through verify_entry",
           _bundle_seeds, _bundle_run,
           invariants="parse(serialise(b)) == b for v0.2/v0.3; a verifying entry equals a seed's in every "
                      "signed part"),
    Target("dsse", "dsse.parse + dsse.verify (payload/dsse.py)", lambda: _dsse_material()[0], _dsse_run,
           invariants="round trip; seed JSON reproduced byte for byte; a verifying envelope has the seed's "
                      "payload and type"),
    Target("intoto", "intoto.parse (payload/intoto.py)", _intoto_seeds, _intoto_run,
           invariants="typed fields"),
    Target("simplesigning", "simplesigning.parse (payload/simplesigning.py)", _simple_seeds, _simple_run,
           invariants="seed payloads re-made byte for byte"),
    Target("trustroot", "TrustedRoot.from_json (bundle/trustroot.py)", _trustroot_seeds, _trustroot_run,
           invariants="to_json(from_json(to_json(t))) == to_json(t)"),
    Target("checkpoint", "SignedNote.parse, Checkpoint.parse_text, verify_checkpoint (tlog/checkpoint.py)",
           lambda: _note_material()[0], _note_run, text=True,
           invariants="checkpoint text reproduced byte for byte; a verifying note has a seed's text"),
    Target("tlog-entry", "TlogEntry.from_response + verify_entry (tlog/entry.py)", _entry_seeds, _entry_run,
           invariants="a verifying entry equals a seed's in every signed part"),
    Target("rekor-proposed", "tlog.entries.canonicalize (hashedrekord, dsse)", lambda: _proposed_material()[0],
           _proposed_run,
           invariants="canonical body is JCS; an accepted entry carries a seed's digest and signature"),
    Target("oci-manifest", "Manifest.json, layer_descriptors, index_children (oci/client.py, oci/layout.py)",
           _oci_seeds, _oci_run, invariants="typed descriptors"),
    Target("oci-layout", "OciLayout: index.json, manifests, blobs (oci/ocilayout.py)", _layout_seeds, _layout_run,
           invariants="blobs read only when they match their digest"),
    Target("keys", "pem.load_public_key_pem, load_import_private_key, encrypted.decrypt_private_key (keys/)",
           _key_seeds, _key_run, text=True, invariants="no crash, one error"),
    Target("jwt", "TokenVerifier.verify (ca/tokens.py) with the issuer's key", _jwt_seeds, _jwt_run,
           invariants="an accepted token names the seed's identity"),
    Target("jwt-claims", "TokenVerifier.verify and principal_from_claims (ca/tokens.py, ca/identity.py) on header "
           "and claims the issuer's key signs as the mutant says", _jwt_claims_seeds, _jwt_claims_run,
           invariants="an accepted token was signed ES256 by the issuer, names it and the CA's audience, is "
                      "within exp/iat/nbf (with the leeway), has a subject and a verified email, which is the "
                      "certificate's identity"),
    Target("ct-chain", "the CT API's add-chain body (ca/ct_api.parse_chain_body), CTLog.check_chain (ca/ctlog.py)",
           lambda: _ct_material()[1], _ct_run,
           invariants="an accepted chain consists of the seed certificates"),
    Target("log-audit", "RekorClient.log_info + consistency, check_log_consistency (tlog/client.py, merkle.py) "
           "over a scripted log answering the mutant, against a saved checkpoint", lambda: _audit_material()[0],
           _audit_run, invariants="an accepted answer is a seed's signed tree head and its exact consistency proof; "
                                  "the saved checkpoint is the one served"),
    Target("registry", "RegistryClient over a registry answering the mutant: bearer challenge, token server, "
           "manifest (GET and HEAD), tag list pages, referrers, error bodies (oci/client.py)", _registry_seeds,
           _registry_run, invariants="a manifest's digest is its content's; a HEAD digest is well formed; tags are "
                                     "strings; referrers an object or none"),
    Target("x509", "Fulcio leaves: load_certificate, layer_certificates (PEM annotations), the log's identity "
           "index (tlog/identity.py), SigstoreExtensions, SANs, verify_certificate_chain (verify/)",
           lambda: _x509_material()[0], _x509_run,
           invariants="a certificate that chains to a public-good root is a seed leaf, byte for byte"),
    Target("admission", "the admission webhook's POST /validations and /mutations (admission/server.py, "
           "webhook.py) through its ASGI app, registry with no images", _admission_seeds, _admission_run,
           invariants="HTTP 200 (an AdmissionReview answering the request's uid) or a one-line 400/413; no "
                      "image admitted (nothing is signed); no patch (nothing resolves)"),
    Target("gatekeeper", "the Gatekeeper provider's POST /verify and /resolve (gatekeeper/) through its ASGI "
           "app, registry with no images", _provider_seeds, _provider_run,
           invariants="HTTP 200 (a ProviderResponse, one item per key, in order) or a one-line 400/413; no key "
                      "verified; only digest references resolve"),
    Target("tuf", "TrustUpdater.refresh + trusted_root (trust/tuf.py over python-tuf ngclient), a mirror "
           "serving the mutant as its role's file", _tuf_seeds, _tuf_run,
           invariants="an accepted repository gives the seed's trusted root and the mutant's signed part is "
                      "the seed's; no root version 2 accepted"),
]
BY_NAME = {t.name: t for t in TARGETS}
