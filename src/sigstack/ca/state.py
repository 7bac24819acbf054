"""The CA's state directory: its keys and certificates, made on first start.

Layout (keys 0600, everything written atomically, all files of one step together)::

    root.key, root.pem                 self-signed root (ECDSA P-384, 10 years)
    intermediate.key, intermediate.pem issuing CA under the root (ECDSA P-256)
    chain.pem                          intermediate then root (what Fulcio's trust bundle lists)
    ct.key, ct.pub, ct.db              the CT log's key (ECDSA P-256) and its SQLite store

The intermediate is P-256 rather than the P-384 Fulcio's guide recommends because it
signs two certificates per request (precertificate and final) and P-256 signing is
several times cheaper; verifiers accept either. With ``--ca-key REF`` the issuing key
comes from a key reference instead (file, KMS, PKCS#11) and its certificate chain from
``--ca-chain`` (issuing certificate first); without a chain a self-signed root
certificate for that key is made once and kept as ``ca-key-root.pem``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sigstack._internal.fs import atomic_write_files
from sigstack.ca.authority import sign_builder
from sigstack.ca.errors import ConfigError
from sigstack.keys.base import PasswordProvider, Signer
from sigstack.keys.software import PrivateKeySigner

ORGANIZATION = "sigstack"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey | object,
                path_length: int | None, years: int, eku: bool) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(minutes=5)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key)  # type: ignore[arg-type]
         .serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=365 * years))
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
         .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key), critical=False))  # type: ignore[arg-type]
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    return b


def self_signed_root(signer: Signer, cn: str = "sigstack-root") -> x509.Certificate:
    return sign_builder(_ca_builder(_name(cn), _name(cn), signer.public_key(), 1, 10, False), signer)


def load_pem_chain(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except (ValueError, x509.InvalidVersion):  # a version byte past v3 is not a ValueError
        raise ConfigError(f"{where} is not a PEM certificate chain") from None
    if not certs:
        raise ConfigError(f"{where} holds no certificates")
    return certs


@dataclass
class CAMaterial:
    signer: Signer
    chain: list[x509.Certificate]  # issuing certificate first, root last
    ct_signer: Signer
    ct_db: Path

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]


def _load_key(path: Path) -> PrivateKeySigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"reading {path}: {exc}") from None
    return PrivateKeySigner(key)


def ensure_ct_key(state: Path) -> PrivateKeySigner:
    key_path = state / "ct.key"
    if not key_path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        atomic_write_files([(key_path, _pem_key(key), 0o600), (state / "ct.pub", pub, 0o644)])
    return _load_key(key_path)


def ensure_state(state: Path, ca_key: str | None = None, ca_chain: Path | None = None,
                 password: PasswordProvider | None = None) -> CAMaterial:
    """Load the CA's material from ``state``, creating what is missing."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    ct_signer = ensure_ct_key(state)
    if ca_key is not None:
        from sigstack.keys import load_signer

        signer = load_signer(ca_key, password or (lambda confirm: b""))
        if ca_chain is not None:
            try:
                chain = load_pem_chain(ca_chain.read_bytes(), str(ca_chain))
            except OSError as exc:
                raise ConfigError(f"reading {ca_chain}: {exc.strerror or exc}") from None
        else:
            root_path = state / "ca-key-root.pem"
            if not root_path.exists():
                atomic_write_files([(root_path, _pem(self_signed_root(signer)), 0o644)])
            chain = load_pem_chain(root_path.read_bytes(), str(root_path))
        return CAMaterial(signer, chain, ct_signer, state / "ct.db")
    if not (state / "intermediate.key").exists():
        root_key = ec.generate_private_key(ec.SECP384R1())
        root = self_signed_root(PrivateKeySigner(root_key))
        inter_key = ec.generate_private_key(ec.SECP256R1())
        inter = sign_builder(
            _ca_builder(_name("sigstack-intermediate"), root.subject, inter_key.public_key(), 0, 5, True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                           critical=False),
            PrivateKeySigner(root_key))
        atomic_write_files([
            (state / "root.key", _pem_key(root_key), 0o600),
            (state / "root.pem", _pem(root), 0o644),
            (state / "intermediate.pem", _pem(inter), 0o644),
            (state / "chain.pem", _pem(inter) + _pem(root), 0o644),
            (state / "intermediate.key", _pem_key(inter_key), 0o600),
        ])
    signer = _load_key(state / "intermediate.key")
    chain = load_pem_chain((state / "chain.pem").read_bytes(), str(state / "chain.pem"))
    return CAMaterial(signer, chain, ct_signer, state / "ct.db")
