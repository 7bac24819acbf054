"""An RFC 6962 certificate transparency log on the transparency log's Merkle store.

The log keeps MerkleTreeLeaf structures (timestamped entries) in the same
:class:`~sigstack.tlog.store.Store` the Rekor-compatible log uses, so proofs, crash
safety (one transaction per batch, ``synchronous=FULL``) and PostgreSQL support come
for free. A submission is answered with its SCT only after the batch holding it is
durable, which is what lets the CA promise that no certificate exists whose
precertificate is not in the log.

The store's entry body is ``u32 len ‖ MerkleTreeLeaf ‖ extra_data`` (the chain that
``get-entries`` returns), the leaf hash is RFC 6962's hash of the MerkleTreeLeaf.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack._internal import der
from sigstack.ca import sct
from sigstack.ca.errors import CTError
from sigstack.errors import LogError
from sigstack.keys.base import Signer
from sigstack.tlog import merkle
from sigstack.tlog.batch import BatchWriter
from sigstack.tlog.store.base import NewEntry, Store

PRECERT_SIGNING_EKU = "1.3.6.1.4.1.11129.2.4.4"
MAX_GET_ENTRIES = 256


def _bad(message: str) -> CTError:
    return CTError(message, status=400, grpc_code=3)


def spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)


def sig_alg_for(signer: Signer) -> int:
    key = signer.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return sct.SIG_ECDSA
    if isinstance(key, rsa.RSAPublicKey):
        return sct.SIG_RSA
    if isinstance(key, ed25519.Ed25519PublicKey):
        return sct.SIG_ED25519
    raise CTError("unsupported CT log key type")


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    timestamp: int
    root: bytes
    signature: bytes  # DigitallySigned

    def to_json(self) -> dict[str, object]:
        import base64

        return {"tree_size": self.tree_size, "timestamp": self.timestamp,
                "sha256_root_hash": base64.b64encode(self.root).decode(),
                "tree_head_signature": base64.b64encode(self.signature).decode()}


@dataclass(frozen=True)
class LoggedEntry:
    leaf_input: bytes
    extra_data: bytes


def split_body(body: bytes) -> LoggedEntry:
    (n,) = struct.unpack(">I", body[:4])
    return LoggedEntry(body[4 : 4 + n], body[4 + n :])


class CTLog:
    """Validates submissions, appends them in durable batches, signs SCTs and STHs."""

    def __init__(self, store: Store, signer: Signer, roots: Sequence[x509.Certificate],
                 max_batch: int = 512) -> None:
        self.store = store
        self.signer = signer
        self.sig_alg = sig_alg_for(signer)
        self.public_key_der = signer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.log_id = sct.issuer_key_hash(self.public_key_der)  # SHA-256 of the DER key
        self.roots = list(roots)
        self._root_der = {r.public_bytes(serialization.Encoding.DER) for r in self.roots}
        self._writer: BatchWriter[NewEntry, None] = BatchWriter(
            self._append, lambda exc: exc if isinstance(exc, CTError) else CTError(f"storing CT entries: {exc}"),
            max_batch=max_batch, name="ct-writer")
        self._sth = self._sign_sth(*store.head)
        self._issuer_hashes: dict[x509.Certificate, bytes] = {}
        # (child DER, parent DER) links between CA certificates already verified: the same
        # intermediate-under-root signature (P-384: ~1 ms) need not be checked per request
        self._verified_links: set[tuple[bytes, bytes]] = set()

    # -- lifecycle ----------------------------------------------------------------
    async def start(self) -> None:
        await self._writer.start()

    async def stop(self) -> None:
        await self._writer.stop()

    # -- submissions --------------------------------------------------------------
    def check_chain(self, chain: Sequence[bytes], precert: bool) -> list[x509.Certificate]:
        """Parse and check a submitted chain: each certificate issued by the next, the
        last one an accepted root or issued by one; a precertificate must carry the
        critical poison extension, an ordinary certificate must not."""
        if not chain:
            raise _bad("empty certificate chain")
        certs: list[x509.Certificate] = []
        for i, raw in enumerate(chain):
            try:
                certs.append(x509.load_der_x509_certificate(raw))
            except (ValueError, x509.InvalidVersion):  # version past v3: not a ValueError (fuzz)
                raise _bad(f"chain certificate {i} is not a DER X.509 certificate") from None
            if not der.signature_is_octet_aligned(raw):  # another encoding of a certificate (fuzz)
                raise _bad(f"chain certificate {i} has a signature that is not a whole number of bytes")
        leaf = certs[0]
        try:
            poison = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier(der.POISON_OID))
        except x509.ExtensionNotFound:
            poison = None
        except der.extension_errors():
            raise _bad("the leaf certificate has malformed extensions") from None
        if precert and (poison is None or not poison.critical):
            raise _bad("add-pre-chain needs a precertificate with the critical CT poison extension")
        if not precert and poison is not None:
            raise _bad("add-chain got a precertificate; submit it with add-pre-chain")
        if precert and len(certs) < 2:
            raise _bad("a precertificate chain must include the issuer")
        for i, (child, parent) in enumerate(itertools.pairwise(certs)):
            link = (chain[i], chain[i + 1])
            if i and link in self._verified_links:  # CA certificates above the leaf: checked before
                continue
            try:
                child.verify_directly_issued_by(parent)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):  # odd curves: the last
                raise _bad("chain certificates do not verify one another") from None
            if i and len(self._verified_links) < 1024:
                self._verified_links.add(link)
        last = certs[-1]
        if last.public_bytes(serialization.Encoding.DER) not in self._root_der:
            for root in self.roots:
                try:
                    last.verify_directly_issued_by(root)
                    certs.append(root)
                    break
                except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):  # odd curves: the last
                    continue
            else:
                raise _bad("the chain does not end at a root this log accepts")
        if precert:
            eku = _eku(certs[1])
            if PRECERT_SIGNING_EKU in eku:
                raise _bad("precertificates signed by a precertificate signing certificate are not accepted")
        return certs

    def _entry(self, certs: list[x509.Certificate], chain: Sequence[bytes], precert: bool,
               timestamp: int, tbs: bytes | None = None) -> tuple[bytes, bytes]:
        """(signed/leaf bytes, extra_data) of a checked chain."""
        if precert:
            if tbs is None:
                tbs, _ = der.tbs_without_extension(certs[0].tbs_certificate_bytes, der.POISON_OID)
            issuer_hash = self._issuer_hashes.get(certs[1])
            if issuer_hash is None:
                issuer_hash = self._issuer_hashes[certs[1]] = sct.issuer_key_hash(spki_der(certs[1]))
            entry = sct.signed_entry(sct.PRECERT_ENTRY, tbs, issuer_hash)
            rest = b"".join(sct.u24(c) for c in chain[1:])
            extra = sct.u24(chain[0]) + sct.u24(rest)
            kind = sct.PRECERT_ENTRY
        else:
            entry = sct.signed_entry(sct.X509_ENTRY, chain[0])
            extra = sct.u24(b"".join(sct.u24(c) for c in chain[1:]))
            kind = sct.X509_ENTRY
        return sct.timestamped_entry(timestamp, kind, entry), extra

    async def add_chain(self, chain: Sequence[bytes], precert: bool) -> sct.SCT:
        """Check, durably append and timestamp a (pre)certificate chain (DER)."""
        certs = self.check_chain(chain, precert)
        return await self.add_checked(certs, chain, precert)

    async def add_checked(self, certs: list[x509.Certificate], chain: Sequence[bytes], precert: bool,
                          tbs: bytes | None = None) -> sct.SCT:
        """Append a chain the caller has already checked (the CA's own precertificates);
        ``tbs`` is the precertificate's TBS without the poison, if the caller has it."""
        if not self._writer.running:
            raise CTError("the CT log is not running")
        timestamp = int(time.time() * 1000)
        leaf, extra = self._entry(certs, chain, precert, timestamp, tbs)
        signature = self.signer.sign(leaf)  # the signed input is the leaf's bytes (see sct)
        body = struct.pack(">I", len(leaf)) + leaf + extra
        await self._writer.submit(NewEntry(merkle.leaf_hash(leaf), body, ()))
        return sct.SCT(self.log_id, timestamp, signature, self.sig_alg)

    def _append(self, entries: list[NewEntry]) -> list[None]:
        try:
            self.store.append(entries, int(time.time()))
        except LogError as exc:
            raise CTError(exc.message) from None
        self._sth = self._sign_sth(*self.store.head)
        return [None] * len(entries)

    # -- tree heads and reads -----------------------------------------------------
    def _sign_sth(self, size: int, root: bytes) -> SignedTreeHead:
        timestamp = int(time.time() * 1000)
        data = struct.pack(">BBQQ", 0, 1, timestamp, size) + root
        return SignedTreeHead(size, timestamp, root, sct.digitally_signed(self.signer.sign(data), self.sig_alg))

    @property
    def sth(self) -> SignedTreeHead:
        """The newest durable head: another server on the same database may have
        appended since this one last did."""
        size, root = self.store.refresh_head()
        if size != self._sth.tree_size:
            self._sth = self._sign_sth(size, root)
        return self._sth

    def entries(self, start: int, end: int) -> list[LoggedEntry]:
        size = self.sth.tree_size
        if start < 0 or end < start:
            raise _bad("start and end must satisfy 0 <= start <= end")
        if start >= size:
            raise _bad(f"start {start} is beyond the tree size {size}")
        end = min(end, size - 1, start + MAX_GET_ENTRIES - 1)
        return [split_body(b) for b in self.store.entries_range(start, end + 1)]

    def proof_by_hash(self, leaf_hash: bytes, tree_size: int) -> tuple[int, list[bytes]]:
        if len(leaf_hash) != merkle.HASH_SIZE:
            raise _bad("hash must be a 32-byte SHA-256 leaf hash")
        current = self.sth.tree_size
        if not 0 < tree_size <= current:
            raise _bad(f"tree_size must be between 1 and the current tree size {current}")
        entry = self.store.entry_by_leaf(leaf_hash)
        if entry is None or entry.index >= tree_size:
            raise CTError(f"no leaf with that hash in a tree of size {tree_size}", status=404, grpc_code=5)
        return entry.index, self.store.inclusion_proof(entry.index, tree_size)

    def consistency(self, first: int, second: int) -> list[bytes]:
        current = self.sth.tree_size
        if not 0 < first <= second <= current:
            raise _bad(f"need 0 < first <= second <= tree size {current}")
        return self.store.consistency_proof(first, second)


def _eku(cert: x509.Certificate) -> set[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return set()
    except der.extension_errors():
        return set()
    return {o.dotted_string for o in ext.value}
