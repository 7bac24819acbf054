"""``pkcs11:`` key references (RFC 7512 URIs): sign with a key held in a hardware
token or HSM through its PKCS#11 module, using ``python-pkcs11``.

The URI selects the module (``module-path`` query attribute, else
``COSIGN_PKCS11_MODULE_PATH``), the token (``token`` label, ``serial`` or
``slot-id``), the key (``object`` label and/or ``id``) and the PIN (``pin-value``,
else ``COSIGN_PKCS11_PIN``). The library never prompts: when the token needs a
login and no PIN is given, the error names the variable to set.

Two hand-written pieces, because PKCS#11 works one level lower than
``cryptography``: ECDSA tokens return the raw ``r || s`` signature, which we
re-encode as the ASN.1 DER cosign expects; and the ``CKM_RSA_PKCS`` mechanism
signs a caller-built ``DigestInfo``, so we prepend the fixed DER prefix of the
digest algorithm (RFC 8017 §9.2 note 1) to the digest we were handed. Signing
the digest (not the message) keeps one streaming hash, as for every backend.

URI parsing is also ours: no maintained Python package implements RFC 7512, and
the grammar we need is ``pkcs11:`` + ``;``-separated path attributes + ``?`` +
``&``-separated query attributes, each percent-decoded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sigstack.errors import KeyLoadError, KeyRefError, PasswordError, UnsupportedKeyError
from sigstack.keys._remote import RemoteSigner, require
from sigstack.keys.base import PasswordProvider, Signer, Verifier
from sigstack.keys.refs import GeneratedKey
from sigstack.keys.software import PublicKeyVerifier

MODULE_ENV = "COSIGN_PKCS11_MODULE_PATH"
PIN_ENV = "COSIGN_PKCS11_PIN"

_PATH_ATTRS = {
    "token", "manufacturer", "serial", "model", "library-manufacturer", "library-description",
    "library-version", "object", "type", "id", "slot-description", "slot-manufacturer", "slot-id",
}
_QUERY_ATTRS = {"pin-source", "pin-value", "module-name", "module-path"}

# DER of DigestInfo's AlgorithmIdentifier and the OCTET STRING header (RFC 8017 §9.2)
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


@dataclass(frozen=True)
class Pkcs11Uri:
    """The attributes of a ``pkcs11:`` URI that select a module, token, key and PIN."""

    token: str | None = None
    serial: str | None = None
    slot_id: int | None = None
    object: str | None = None
    id: bytes | None = None
    module_path: str | None = None
    pin: str | None = None

    @classmethod
    def parse(cls, uri: str) -> Pkcs11Uri:
        if not uri.startswith("pkcs11:"):
            raise KeyRefError(f"not a PKCS#11 URI: {uri!r}")
        path, _, query = uri[len("pkcs11:") :].partition("?")
        attrs: dict[str, str] = {}
        raw_id: bytes | None = None
        for part, sep, known in ((path, ";", _PATH_ATTRS), (query, "&", _QUERY_ATTRS)):
            for item in filter(None, part.split(sep)):
                name, eq, value = item.partition("=")
                if not eq or not name:
                    raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: attribute {item!r} is not name=value")
                if name not in known and not name.startswith("x-"):
                    raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: unknown attribute {name!r}")
                if name in attrs:
                    raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: attribute {name!r} given twice")
                attrs[name] = unquote(value, errors="strict") if name != "id" else value
                if name == "id":
                    raw_id = unquote_to_bytes(value)
        slot: int | None = None
        if "slot-id" in attrs:
            try:
                slot = int(attrs["slot-id"], 10)
            except ValueError:
                raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: slot-id must be a decimal number") from None
        parsed = cls(
            token=attrs.get("token"), serial=attrs.get("serial"), slot_id=slot, object=attrs.get("object"),
            id=raw_id, module_path=attrs.get("module-path"), pin=attrs.get("pin-value"),
        )
        if parsed.token is None and parsed.serial is None and parsed.slot_id is None:
            raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: one of token, serial or slot-id is required")
        if parsed.object is None and parsed.id is None:
            raise KeyRefError(f"invalid PKCS#11 URI {uri!r}: one of object or id is required")
        return parsed

    def construct(self) -> str:
        """The URI in cosign's attribute order (``list-keys-uris`` output)."""
        path = []
        if self.token is not None:
            path.append(f"token={quote(self.token, safe='')}")
        if self.slot_id is not None:
            path.append(f"slot-id={self.slot_id}")
        if self.id:
            path.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        if self.object is not None:
            path.append(f"object={quote(self.object, safe='')}")
        query = []
        if self.module_path:
            query.append(f"module-path={quote(self.module_path, safe='/')}")
        if self.pin:
            query.append(f"pin-value={quote(self.pin, safe='')}")
        return "pkcs11:" + ";".join(path) + ("?" + "&".join(query) if query else "")

    def describe_key(self) -> str:
        parts = []
        if self.object is not None:
            parts.append(f"label {self.object!r}")
        if self.id is not None:
            parts.append(f"id {self.id.hex()}")
        return " and ".join(parts)


def _lib(module_path: str | None) -> Any:
    pkcs11 = require("pkcs11", "pkcs11", "pkcs11: key references")
    path = module_path or os.environ.get(MODULE_ENV)
    if not path:
        raise KeyRefError(f"no PKCS#11 module: add module-path=... to the URI or set {MODULE_ENV}")
    if not os.path.isabs(path):
        raise KeyRefError(f"the PKCS#11 module path must be absolute: {path!r}")
    if not os.path.isfile(path):
        raise KeyLoadError(f"PKCS#11 module {path} not found")
    try:
        return pkcs11.lib(path)
    except Exception as exc:  # AlreadyInitialized, dlopen errors, C_Initialize failures
        raise KeyLoadError(f"loading PKCS#11 module {path}: {_text(exc)}") from None


def _token(lib: Any, uri: Pkcs11Uri) -> Any:
    from pkcs11.exceptions import MultipleTokensReturned, NoSuchToken

    what = _token_words(uri)
    try:
        if uri.slot_id is not None:
            slots = [s for s in lib.get_slots(token_present=True) if s.slot_id == uri.slot_id]
            if not slots:
                raise NoSuchToken()
            token = slots[0].get_token()
            if (uri.token is not None and token.label != uri.token) or (
                uri.serial is not None and _serial(token) != uri.serial
            ):
                raise NoSuchToken()
            return token
        kw: dict[str, Any] = {}
        if uri.token is not None:
            kw["token_label"] = uri.token
        if uri.serial is not None:
            kw["token_serial"] = uri.serial.encode()
        return lib.get_token(**kw)
    except NoSuchToken:
        raise KeyLoadError(f"PKCS#11: no token with {what}") from None
    except MultipleTokensReturned:
        raise KeyRefError(f"PKCS#11: several tokens match {what}; add slot-id or serial to the URI") from None


def _token_words(uri: Pkcs11Uri) -> str:
    words = []
    if uri.token is not None:
        words.append(f"label {uri.token!r}")
    if uri.serial is not None:
        words.append(f"serial {uri.serial!r}")
    if uri.slot_id is not None:
        words.append(f"slot-id {uri.slot_id}")
    return " and ".join(words)


def _serial(token: Any) -> str:
    serial = token.serial
    return serial.decode(errors="replace").strip() if isinstance(serial, bytes) else str(serial).strip()


def _pin_for(token: Any, pin: str | None, ask: Callable[[str], str] | None = None) -> str | None:
    from pkcs11 import TokenFlag

    if pin is None:
        pin = os.environ.get(PIN_ENV)
    if pin is None and token.flags & TokenFlag.LOGIN_REQUIRED and ask is not None:
        pin = ask(token.label)
    if pin is None and token.flags & TokenFlag.LOGIN_REQUIRED:
        raise PasswordError(
            f"PKCS#11 token {token.label!r} needs a PIN: add pin-value=... to the URI or set {PIN_ENV}"
        )
    return pin


@contextmanager
def _session(token: Any, pin: str | None) -> Iterator[Any]:
    from pkcs11.exceptions import PinIncorrect, PinInvalid, PinLenRange, PinLocked

    try:
        session = token.open(user_pin=pin) if pin is not None else token.open()
    except (PinIncorrect, PinInvalid, PinLenRange):
        raise PasswordError(f"PKCS#11 login to token {token.label!r} failed: incorrect PIN") from None
    except PinLocked:
        raise PasswordError(f"PKCS#11 token {token.label!r} is locked after too many wrong PINs") from None
    except Exception as exc:
        raise KeyLoadError(f"PKCS#11: opening a session on token {token.label!r}: {_text(exc)}") from None
    try:
        yield session
    finally:
        session.close()


def _find(session: Any, uri: Pkcs11Uri, object_class: Any) -> Any:
    from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey

    kw: dict[str, Any] = {"object_class": object_class}
    if uri.object is not None:
        kw["label"] = uri.object
    if uri.id is not None:
        kw["id"] = uri.id
    try:
        return session.get_key(**kw)
    except NoSuchKey:
        return None
    except MultipleObjectsReturned:
        raise KeyRefError(
            f"PKCS#11: several keys match {uri.describe_key()}; add id=... to the URI") from None


def _public_key(session: Any, uri: Pkcs11Uri, private: Any) -> PublicKeyTypes:
    """The public key: a public-key object with the same label/id, else a certificate."""
    from pkcs11 import Attribute, KeyType, ObjectClass

    pub = _find(session, uri, ObjectClass.PUBLIC_KEY)
    if pub is not None:
        if pub.key_type == KeyType.EC:
            from pkcs11.util.ec import encode_ec_public_key

            der = encode_ec_public_key(pub)
        elif pub.key_type == KeyType.RSA:
            from pkcs11.util.rsa import encode_rsa_public_key

            der = encode_rsa_public_key(pub)
        else:
            raise UnsupportedKeyError(f"PKCS#11 key {uri.describe_key()} is neither ECDSA nor RSA")
        return serialization.load_der_public_key(der)
    cert_attrs: dict[Any, Any] = {Attribute.CLASS: ObjectClass.CERTIFICATE}
    if uri.id is not None:
        cert_attrs[Attribute.ID] = uri.id
    elif uri.object is not None:
        cert_attrs[Attribute.LABEL] = uri.object
    for cert in session.get_objects(cert_attrs):
        from cryptography import x509

        return x509.load_der_x509_certificate(cert[Attribute.VALUE]).public_key()
    raise KeyLoadError(
        f"PKCS#11: no public key or certificate next to private key {uri.describe_key()}; "
        "store the public key in the token with the same id"
    )


class Pkcs11Backend:
    def _open(self, ref: str) -> tuple[Pkcs11Uri, Any, str | None]:
        uri = Pkcs11Uri.parse(ref)
        token = _token(_lib(uri.module_path), uri)
        return uri, token, _pin_for(token, uri.pin)

    def signer(self, ref: str, password: PasswordProvider) -> Signer:
        uri, token, pin = self._open(ref)  # first: it names the missing extra
        from pkcs11 import KeyType, ObjectClass

        with _session(token, pin) as session:
            private = _find(session, uri, ObjectClass.PRIVATE_KEY)
            if private is None:
                raise KeyLoadError(
                    f"PKCS#11: no private key with {uri.describe_key()} in token {token.label!r}")
            key_type = private.key_type
            if key_type not in (KeyType.EC, KeyType.RSA):
                raise UnsupportedKeyError(f"PKCS#11 key {uri.describe_key()} is neither ECDSA nor RSA")
            public = _public_key(session, uri, private)

        def sign(digest: bytes, hash_name: str) -> bytes:
            from pkcs11 import Mechanism

            with _session(token, pin) as s:
                key = _find(s, uri, ObjectClass.PRIVATE_KEY)
                if key is None:
                    raise KeyLoadError(f"PKCS#11: the private key {uri.describe_key()} disappeared")
                try:
                    if key_type == KeyType.EC:
                        raw = key.sign(digest, mechanism=Mechanism.ECDSA)
                        half = len(raw) // 2
                        return encode_dss_signature(
                            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
                    info = _DIGEST_INFO[hash_name] + digest
                    signature: bytes = key.sign(info, mechanism=Mechanism.RSA_PKCS)
                    return signature
                except Exception as exc:
                    raise KeyLoadError(
                        f"PKCS#11: signing with key {uri.describe_key()}: {_text(exc)}") from None

        return RemoteSigner(public, sign)

    def verifier(self, ref: str) -> Verifier:
        uri, token, pin = self._open(ref)  # first: it names the missing extra
        from pkcs11 import ObjectClass

        with _session(token, pin) as session:
            private = _find(session, uri, ObjectClass.PRIVATE_KEY)
            return PublicKeyVerifier(_public_key(session, uri, private))

    def generate(self, ref: str, password: PasswordProvider) -> GeneratedKey:
        raise KeyRefError(
            "generate-key-pair cannot create keys in a PKCS#11 token; create one with the token's "
            "tools (e.g. pkcs11-tool --keypairgen --key-type EC:prime256v1) and use its pkcs11: URI"
        )


@dataclass(frozen=True)
class TokenInfo:
    slot: int
    label: str
    manufacturer: str
    model: str
    serial: str


@dataclass(frozen=True)
class KeyInfo:
    label: str
    id: bytes
    uri: str


def list_tokens(module_path: str) -> list[TokenInfo]:
    """Tokens present in the module's slots (``pkcs11-tool list-tokens``)."""
    lib = _lib(module_path)
    tokens = []
    for slot in lib.get_slots(token_present=True):
        try:
            token = slot.get_token()
        except Exception:  # a slot whose token vanished or is unreadable: skip it, as cosign does
            continue
        tokens.append(
            TokenInfo(slot.slot_id, token.label, token.manufacturer_id, token.model, _serial(token)))
    return tokens


def list_key_uris(
    module_path: str, slot_id: int, pin: str | None, ask_pin: Callable[[str], str] | None = None
) -> list[KeyInfo]:
    """Private keys in ``slot_id`` with their URIs (``list-keys-uris``).

    ``ask_pin`` (given the token label) is called when the token needs a login and
    neither ``pin`` nor ``COSIGN_PKCS11_PIN`` provides one; the CLI prompts there.
    """
    lib = _lib(module_path)  # first: it names the missing extra
    from pkcs11 import Attribute, ObjectClass

    token = _token(lib, Pkcs11Uri(slot_id=slot_id, object=""))
    pin = _pin_for(token, pin, ask_pin)
    keys = []
    with _session(token, pin) as session:
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}):
            label = obj[Attribute.LABEL] or ""
            key_id = bytes(obj[Attribute.ID] or b"")
            if not label and not key_id:
                continue
            uri = Pkcs11Uri(token=token.label, slot_id=slot_id, object=label or None, id=key_id or None,
                            module_path=module_path, pin=pin)
            keys.append(KeyInfo(label, key_id, uri.construct()))
    return keys


def _text(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


BACKEND = Pkcs11Backend()
