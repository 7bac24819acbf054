"""The few DER operations certificates and transparency need and ``cryptography`` lacks.

Shared by the CA (building Fulcio's extensions and precertificates), the verifier and the
log explorer (reading the Sigstore extensions): UTF8String both ways, TLVs, OIDs.

An SCT for a precertificate signs the precertificate's TBSCertificate *without* its
poison extension (RFC 6962 §3.2). ``cryptography`` offers that view only for a final
certificate (``tbs_precertificate_bytes`` drops the SCT list), so the CT log, which
receives precertificates, removes the poison extension here: walk the TBSCertificate
to its ``[3]`` extensions, drop one Extension, and re-encode the enclosing lengths.
Only definite-length DER is accepted, which is all X.509 allows.
"""

from __future__ import annotations

import functools

from sigstack.errors import CTError

POISON_OID = "1.3.6.1.4.1.11129.2.4.3"
SCT_LIST_OID = "1.3.6.1.4.1.11129.2.4.2"


def encode_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(content)) + content


def utf8_string(text: str) -> bytes:
    """DER UTF8String (what Fulcio's v2 Sigstore extensions hold)."""
    return tlv(0x0C, text.encode())


def decode_utf8_string(value: bytes) -> str | None:
    """The text of a DER UTF8String (tag 0x0C, short or long definite length), or None
    when ``value`` is not exactly one."""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    n, pos = value[1], 2
    if n & 0x80:
        width = n & 0x7F
        if width == 0 or width > 4 or len(value) < 2 + width:
            return None
        n, pos = int.from_bytes(value[2 : 2 + width], "big"), 2 + width
    if pos + n != len(value):
        return None
    try:
        return value[pos:].decode()
    except UnicodeDecodeError:
        return None


def octet_string(data: bytes) -> bytes:
    return tlv(0x04, data)


def read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, content start, end) of the TLV at ``pos``."""
    if pos + 2 > len(data):
        raise CTError("truncated DER", status=400, grpc_code=3)
    tag = data[pos]
    first = data[pos + 1]
    start = pos + 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or start + n > len(data):
            raise CTError("unsupported DER length", status=400, grpc_code=3)
        length = int.from_bytes(data[start : start + n], "big")
        start += n
    end = start + length
    if end > len(data):
        raise CTError("truncated DER", status=400, grpc_code=3)
    return tag, start, end


@functools.lru_cache(maxsize=64)
def oid_der(dotted: str) -> bytes:
    """The DER TLV of an OBJECT IDENTIFIER."""
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body.extend(reversed(chunk))
    return tlv(0x06, bytes(body))


def tbs_without_extension(tbs: bytes, dotted_oid: str) -> tuple[bytes, bool]:
    """``tbs`` (a DER TBSCertificate) without the extension ``dotted_oid``; the flag says
    whether it was there."""
    tag, start, end = read(tbs, 0)
    if tag != 0x30 or end != len(tbs):
        raise CTError("malformed TBSCertificate", status=400, grpc_code=3)
    want = oid_der(dotted_oid)
    pos = start
    while pos < end:  # the top-level fields; [3] Extensions is the last one
        ftag, fstart, fend = read(tbs, pos)
        if ftag == 0xA3:
            break
        pos = fend
    else:
        return tbs, False
    stag, sstart, send = read(tbs, fstart)
    if stag != 0x30 or send != fend or fend != end:
        raise CTError("malformed certificate extensions", status=400, grpc_code=3)
    kept: list[bytes] = []
    found = False
    epos = sstart
    while epos < send:
        _, estart, eend = read(tbs, epos)
        if tbs.startswith(want, estart):
            found = True
        else:
            kept.append(tbs[epos:eend])
        epos = eend
    if not found:
        return tbs, False
    field = tlv(0xA3, tlv(0x30, b"".join(kept))) if kept else b""
    return tlv(0x30, tbs[start:pos] + field), True


def extension(dotted_oid: str, value: bytes, critical: bool = False) -> bytes:
    """An Extension: SEQUENCE { extnID, [critical TRUE], extnValue OCTET STRING }."""
    return tlv(0x30, oid_der(dotted_oid) + (b"\x01\x01\xff" if critical else b"") + octet_string(value))


def tbs_with_extension(tbs: bytes, ext: bytes) -> bytes:
    """``tbs`` with the DER Extension ``ext`` appended to its extensions (creating them
    if it had none)."""
    _, start, end = read(tbs, 0)
    pos = start
    while pos < end:
        ftag, fstart, fend = read(tbs, pos)
        if ftag == 0xA3:
            _, sstart, send = read(tbs, fstart)
            return tlv(0x30, tbs[start:pos] + tlv(0xA3, tlv(0x30, tbs[sstart:send] + ext)))
        pos = fend
    return tlv(0x30, tbs[start:end] + tlv(0xA3, tlv(0x30, ext)))


def split_certificate(cert: bytes) -> tuple[bytes, bytes]:
    """(TBSCertificate, signatureAlgorithm) of a DER Certificate."""
    _, start, _ = read(cert, 0)
    _, _, tbs_end = read(cert, start)
    _, _, alg_end = read(cert, tbs_end)
    return cert[start:tbs_end], cert[tbs_end:alg_end]


def signature_is_octet_aligned(cert: bytes) -> bool:
    """Whether a DER Certificate's signatureValue BIT STRING has no unused bits.

    cryptography takes ``03 48 01 30 45 ...`` (one unused bit) as the signature bytes
    ``30 45 ...`` and verifies it, so flipping that one byte gives a second encoding of
    the same certificate that still chains (found by the ct-chain fuzz target); Go's
    x509 right-aligns such a bit string and the signature then fails, so CT logs refuse
    it. A certificate that does not parse this far is not aligned either."""
    try:
        _, start, _ = read(cert, 0)
        _, _, tbs_end = read(cert, start)
        _, _, alg_end = read(cert, tbs_end)
        tag, sig_start, sig_end = read(cert, alg_end)
    except CTError:
        return False
    return tag == 0x03 and sig_end > sig_start and cert[sig_start] == 0


def certificate(tbs: bytes, algorithm: bytes, signature: bytes) -> bytes:
    """Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }."""
    return tlv(0x30, tbs + algorithm + tlv(0x03, b"\x00" + signature))


def extension_errors() -> tuple[type[Exception], ...]:
    """What ``cryptography`` raises when a certificate's extensions do not parse.

    It parses them lazily, on the first ``cert.extensions``, long after
    ``load_*_certificate`` succeeded: a malformed value (a SAN URI that is not IA5, a
    truncated SCT list) is a ``ValueError``, but a repeated extension is
    ``x509.DuplicateExtension`` and an unknown GeneralName type
    ``x509.UnsupportedGeneralNameType``, neither a ``ValueError`` (found by the x509
    fuzz target). Every reader of extensions of a certificate it did not make catches
    all three: ``except der.extension_errors():``."""
    from cryptography import x509

    return ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType
