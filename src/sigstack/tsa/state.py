"""The TSA's state directory: its signing key and certificate chain, made on first start.

Layout (keys 0600, every step's files written together and atomically, as the CA's)::

    root.key, root.pem        self-signed root (ECDSA P-384, 10 years)
    tsa.key, tsa.pem          the timestamping leaf under it (ECDSA P-256, 10 years)
    chain.pem                 leaf then root: what ``/api/v1/timestamp/certchain`` serves

The leaf is what RFC 3161 §2.3 and every verifier (sigstore-go, rfc3161-client) insist
on: an extended key usage of exactly ``id-kp-timeStamping``, marked critical, and a
digitalSignature key usage. The root signs nothing else, so a TrustedRoot entry
``timestampAuthorities[].certChain`` is this chain as it stands.

With a key reference (``key``: a file, KMS, PKCS#11; timestamp-authority's
``--timestamp-signer``) the chain comes from ``chain`` (the leaf for that key first,
root last; timestamp-authority's ``--certificate-chain-path``), which is checked: the
leaf must hold the key and be a timestamping certificate. Without a chain a root is
made once in the state directory and certifies the key (``key-chain.pem``), which is
the same self-signed bootstrap for a key the operator keeps elsewhere.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sigstack._internal.fs import atomic_write_files
from sigstack.ca.authority import sign_builder
from sigstack.ca.state import ORGANIZATION, load_pem_chain, self_signed_root
from sigstack.errors import ConfigError
from sigstack.keys.base import PasswordProvider, Signer
from sigstack.keys.software import PrivateKeySigner

LEAF_YEARS = 10


@dataclass(frozen=True)
class TSAMaterial:
    """The signer and its chain (leaf first, root last)."""

    signer: Signer
    chain: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def timestamping_leaf(public_key: object, root: x509.Certificate, root_signer: Signer,
                      cn: str = "sigstack-tsa") -> x509.Certificate:
    """A timestamping certificate for ``public_key`` issued by ``root``."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                                 x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(root.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(now + datetime.timedelta(days=365 * LEAF_YEARS), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            root.public_key()), critical=False)  # type: ignore[arg-type]
    )
    return sign_builder(builder, root_signer)


def check_chain(chain: list[x509.Certificate], signer: Signer, where: str) -> None:
    """The chain's first certificate holds ``signer``'s key and may sign timestamps."""
    leaf = chain[0]
    if leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
            != signer.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigError(f"{where}: the first certificate is not for the timestamp signing key")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise ConfigError(f"{where}: the first certificate has no extended key usage (timeStamping)") from None
    if not eku.critical or list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        raise ConfigError(f"{where}: the first certificate's extended key usage must be timeStamping alone, "
                          "marked critical (RFC 3161 §2.3)")
    if len(chain) < 2:
        raise ConfigError(f"{where}: the chain needs the root too (leaf first, root last)")


def _check_key(signer: Signer, where: str) -> None:
    key = signer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ConfigError(f"{where}: a timestamp signing key must be ECDSA or RSA, not {type(key).__name__}")


def _load_key(path: Path) -> PrivateKeySigner:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"reading {path}: {exc}") from None
    return PrivateKeySigner(key)


def _read_chain(path: Path) -> list[x509.Certificate]:
    try:
        return load_pem_chain(path.read_bytes(), str(path))
    except OSError as exc:
        raise ConfigError(f"reading {path}: {exc.strerror or exc}") from None


def _ensure_root(state: Path) -> tuple[PrivateKeySigner, x509.Certificate]:
    if not (state / "root.key").exists():
        root_key = ec.generate_private_key(ec.SECP384R1())
        root = self_signed_root(PrivateKeySigner(root_key), "sigstack-tsa-root")
        atomic_write_files([(state / "root.key", _pem_key(root_key), 0o600), (state / "root.pem", _pem(root), 0o644)])
    return _load_key(state / "root.key"), _read_chain(state / "root.pem")[0]


def ensure_state(state: Path, key: str | None = None, chain: Path | None = None,
                 password: PasswordProvider | None = None) -> TSAMaterial:
    """Load the TSA's signer and chain from ``state`` (or ``key``/``chain``), creating what is missing."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    if key is not None:
        from sigstack.keys import load_signer

        signer = load_signer(key, password or (lambda confirm: b""))
        _check_key(signer, key)
        if chain is not None:
            certs = _read_chain(chain)
            check_chain(certs, signer, str(chain))
            return TSAMaterial(signer, tuple(certs))
        path = state / "key-chain.pem"
        if path.exists():
            certs = _read_chain(path)
            try:
                check_chain(certs, signer, str(path))
            except ConfigError:
                certs = []  # made for another key: certify this one instead
            if certs:
                return TSAMaterial(signer, tuple(certs))
        root_signer, root = _ensure_root(state)
        leaf = timestamping_leaf(signer.public_key(), root, root_signer)
        atomic_write_files([(path, _pem(leaf) + _pem(root), 0o644)])
        return TSAMaterial(signer, (leaf, root))
    if chain is not None:
        raise ConfigError("a certificate chain was given without the timestamp signing key it certifies")
    if not (state / "tsa.key").exists():
        root_signer, root = _ensure_root(state)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = timestamping_leaf(leaf_key.public_key(), root, root_signer)
        atomic_write_files([
            (state / "tsa.pem", _pem(leaf), 0o644),
            (state / "chain.pem", _pem(leaf) + _pem(root), 0o644),
            (state / "tsa.key", _pem_key(leaf_key), 0o600),
        ])
    signer = _load_key(state / "tsa.key")
    certs = _read_chain(state / "chain.pem")
    check_chain(certs, signer, str(state / "chain.pem"))
    return TSAMaterial(signer, tuple(certs))
