"""Step 5 of keyless verification: who signed — identity policies over a Fulcio leaf.

Policies are small objects with ``verify(cert) -> None`` that raise
:class:`~sigstack.errors.IdentityError` with the reason, composable with
:class:`AllOf` / :class:`AnyOf` (sigstore-python's ``sigstore.verify.policy`` shape):

- :class:`Identity` ``(identity=, issuer=)`` — a SAN equals ``identity`` and the OIDC
  issuer equals ``issuer``; :class:`IdentityRegexp` ``(identity_regexp=, issuer=,
  issuer_regexp=)`` — cosign's ``--certificate-identity-regexp`` /
  ``--certificate-oidc-issuer-regexp``.
- :class:`OIDCIssuer`, :class:`GitHubWorkflowTrigger`, ``…SHA``, ``…Name``,
  ``…Repository``, ``…Ref`` — one extension each (cosign's
  ``--certificate-github-workflow-*``).

**Regexp anchoring.** cosign compiles the patterns with Go's ``regexp.Compile`` and
tests them with ``MatchString`` (``CheckCertificatePolicy`` in
``pkg/cosign/verify.go``), which searches: the pattern is *not* anchored unless it
anchors itself. We do the same (:func:`re.search`), so ``--certificate-identity-regexp
'@example.com'`` matches as in cosign, and users who mean a whole match write
``^…$`` as cosign's docs tell them. (Go's RE2 and Python's ``re`` differ in exotic
syntax only; a pattern ``re`` cannot compile is an IdentityError naming it.)

**Which SANs.** As cosign's ``getSubjectAlternateNames``: DNS names, emails, IP
addresses, URIs and the Fulcio username OtherName (1.3.6.1.4.1.57264.1.7, a UTF8String
``user!domain``).

**Which issuer.** As cosign's ``CertExtensions.GetIssuer``: the DER-encoded v2
extension 1.3.6.1.4.1.57264.1.8 when present, else the deprecated raw one (…1.1).
The GitHub claims read the deprecated raw extensions …1.2–1.6 as cosign does, and
fall back to their v2 equivalents (…1.20 trigger, …1.13 SHA, …1.14 ref; a v2 repository
/ workflow-name is derived from …1.12 / …1.18) when a newer CA omits the raw ones.

:class:`SigstoreExtensions` is the parsed view of all Sigstore OIDs of a certificate
(``from_certificate``); the CA code (issue 12) can build certificates from the same
table (:data:`OIDS`, :func:`der_utf8`).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from sigstack._internal import der
from sigstack.errors import IdentityError

if TYPE_CHECKING:
    from cryptography import x509

_ROOT = "1.3.6.1.4.1.57264.1."
#: Sigstore extension OIDs by field name (``docs/oid-info.md`` of Fulcio). .1-.6 hold
#: raw UTF-8 bytes; .8 and later hold a DER UTF8String.
OIDS: dict[str, str] = {
    "issuer_v1": _ROOT + "1",
    "github_workflow_trigger": _ROOT + "2",
    "github_workflow_sha": _ROOT + "3",
    "github_workflow_name": _ROOT + "4",
    "github_workflow_repository": _ROOT + "5",
    "github_workflow_ref": _ROOT + "6",
    "issuer_v2": _ROOT + "8",
    "build_signer_uri": _ROOT + "9",
    "build_signer_digest": _ROOT + "10",
    "runner_environment": _ROOT + "11",
    "source_repository_uri": _ROOT + "12",
    "source_repository_digest": _ROOT + "13",
    "source_repository_ref": _ROOT + "14",
    "source_repository_identifier": _ROOT + "15",
    "source_repository_owner_uri": _ROOT + "16",
    "source_repository_owner_identifier": _ROOT + "17",
    "build_config_uri": _ROOT + "18",
    "build_config_digest": _ROOT + "19",
    "build_trigger": _ROOT + "20",
    "run_invocation_uri": _ROOT + "21",
    "source_repository_visibility_at_signing": _ROOT + "22",
    "deployment_environment": _ROOT + "23",
    "token_subject": _ROOT + "24",
}
OTHERNAME_SAN_OID = _ROOT + "7"
_RAW = frozenset(_ROOT + str(i) for i in range(1, 7))


def der_utf8(text: str) -> bytes:
    """DER UTF8String (tag 0x0C): the encoding of the v2 extensions (…1.8 and later)."""
    return der.utf8_string(text)


@dataclass(frozen=True)
class SigstoreExtensions:
    """Every Sigstore OID extension of a certificate, decoded (None when absent)."""

    issuer_v1: str | None = None
    github_workflow_trigger: str | None = None
    github_workflow_sha: str | None = None
    github_workflow_name: str | None = None
    github_workflow_repository: str | None = None
    github_workflow_ref: str | None = None
    issuer_v2: str | None = None
    build_signer_uri: str | None = None
    build_signer_digest: str | None = None
    runner_environment: str | None = None
    source_repository_uri: str | None = None
    source_repository_digest: str | None = None
    source_repository_ref: str | None = None
    source_repository_identifier: str | None = None
    source_repository_owner_uri: str | None = None
    source_repository_owner_identifier: str | None = None
    build_config_uri: str | None = None
    build_config_digest: str | None = None
    build_trigger: str | None = None
    run_invocation_uri: str | None = None
    source_repository_visibility_at_signing: str | None = None
    deployment_environment: str | None = None
    token_subject: str | None = None

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> SigstoreExtensions:
        from cryptography import x509

        by_oid = {oid: name for name, oid in OIDS.items()}
        values: dict[str, str] = {}
        try:
            extensions = list(cert.extensions)
        except der.extension_errors() as exc:
            raise IdentityError(f"identity: the certificate's extensions cannot be parsed: {_line(exc)}") from None
        for ext in extensions:
            name = by_oid.get(ext.oid.dotted_string)
            if name is None or not isinstance(ext.value, x509.UnrecognizedExtension):
                continue
            raw = ext.value.value
            if ext.oid.dotted_string in _RAW:
                try:
                    values[name] = raw.decode()
                except UnicodeDecodeError:
                    raise IdentityError(f"identity: certificate extension {ext.oid.dotted_string} is not UTF-8"
                                        ) from None
            else:
                text = der.decode_utf8_string(raw)
                if text is None:
                    raise IdentityError(
                        f"identity: certificate extension {ext.oid.dotted_string} is not a DER UTF8String")
                values[name] = text
        return cls(**values)

    def extensions(self) -> list[tuple[str, bytes]]:
        """(dotted OID, extension value bytes) for every field set, in OID order:
        what a CA writes (raw bytes for …1.1-1.6, DER UTF8String after)."""
        out = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            oid = OIDS[f.name]
            out.append((oid, value.encode() if oid in _RAW else der_utf8(value)))
        return sorted(out, key=lambda kv: int(kv[0].rsplit(".", 1)[1]))

    @property
    def issuer(self) -> str | None:
        """The OIDC issuer as cosign reads it: v2 (…1.8) first, else the raw …1.1."""
        return self.issuer_v2 if self.issuer_v2 is not None else self.issuer_v1

    def workflow_trigger(self) -> str | None:
        return self.github_workflow_trigger if self.github_workflow_trigger is not None else self.build_trigger

    def workflow_sha(self) -> str | None:
        return self.github_workflow_sha if self.github_workflow_sha is not None else self.source_repository_digest

    def workflow_ref(self) -> str | None:
        return self.github_workflow_ref if self.github_workflow_ref is not None else self.source_repository_ref

    def workflow_repository(self) -> str | None:
        if self.github_workflow_repository is not None:
            return self.github_workflow_repository
        uri = self.source_repository_uri
        prefix = "https://github.com/"
        return uri[len(prefix):] if uri and uri.startswith(prefix) else None

    def workflow_name(self) -> str | None:
        return self.github_workflow_name


def subject_alternative_names(cert: x509.Certificate) -> list[str]:
    """The SANs cosign matches identities against (DNS, email, IP, URI, OtherName .7)."""
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except der.extension_errors() as exc:
        raise IdentityError(f"identity: the certificate's extensions cannot be parsed: {_line(exc)}") from None
    out: list[str] = []
    out += san.get_values_for_type(x509.DNSName)
    out += san.get_values_for_type(x509.RFC822Name)
    out += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    out += san.get_values_for_type(x509.UniformResourceIdentifier)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == OTHERNAME_SAN_OID:
            text = der.decode_utf8_string(other.value)
            if text is not None:
                out.append(text)
    return out


def _line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _extensions(cert: x509.Certificate) -> SigstoreExtensions:
    return SigstoreExtensions.from_certificate(cert)


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise IdentityError(f"identity: malformed {what} regexp {pattern!r}: {exc}") from None


class Policy(ABC):
    """An identity policy: ``verify(cert)`` returns None or raises IdentityError."""

    @abstractmethod
    def verify(self, cert: x509.Certificate) -> None:
        """Raise IdentityError (with the reason) unless ``cert`` satisfies the policy."""


@dataclass(frozen=True)
class OIDCIssuer(Policy):
    """The certificate's OIDC issuer (…1.8, else …1.1) equals ``issuer``."""

    issuer: str

    def verify(self, cert: x509.Certificate) -> None:
        found = _extensions(cert).issuer
        if found != self.issuer:
            raise IdentityError(
                f"identity: certificate OIDC issuer {found!r} does not match the expected {self.issuer!r}")


@dataclass(frozen=True)
class Identity(Policy):
    """A SAN equals ``identity`` and the OIDC issuer equals ``issuer``
    (``--certificate-identity`` + ``--certificate-oidc-issuer``)."""

    identity: str
    issuer: str

    def verify(self, cert: x509.Certificate) -> None:
        OIDCIssuer(self.issuer).verify(cert)
        sans = subject_alternative_names(cert)
        if self.identity not in sans:
            raise IdentityError(
                f"identity: none of the certificate's subject alternative names {sans} "
                f"is the expected identity {self.identity!r}")


@dataclass(frozen=True)
class IdentityRegexp(Policy):
    """A SAN matches ``identity_regexp`` (searched, unanchored, as cosign) and the
    issuer equals ``issuer`` or matches ``issuer_regexp``; either side may be omitted
    (None), as in a cosign ``Identity`` with only one constraint."""

    identity_regexp: str | None = None
    identity: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None

    def verify(self, cert: x509.Certificate) -> None:
        ext = _extensions(cert)
        found = ext.issuer or ""
        if self.issuer_regexp is not None:
            if not _compile(self.issuer_regexp, "issuer").search(found):
                raise IdentityError(
                    f"identity: certificate OIDC issuer {found!r} does not match the regexp {self.issuer_regexp!r}")
        elif self.issuer is not None and found != self.issuer:
            raise IdentityError(
                f"identity: certificate OIDC issuer {found!r} does not match the expected {self.issuer!r}")
        sans = subject_alternative_names(cert)
        if self.identity_regexp is not None:
            rx = _compile(self.identity_regexp, "identity")
            if not any(rx.search(s) for s in sans):
                raise IdentityError(
                    f"identity: none of the certificate's subject alternative names {sans} "
                    f"matches the regexp {self.identity_regexp!r}")
        elif self.identity is not None and self.identity not in sans:
            raise IdentityError(
                f"identity: none of the certificate's subject alternative names {sans} "
                f"is the expected identity {self.identity!r}")


@dataclass(frozen=True)
class _ClaimPolicy(Policy):
    value: str
    _label = ""

    @abstractmethod
    def _found(self, ext: SigstoreExtensions) -> str | None:
        """The certificate's value of the claim this policy checks."""

    def verify(self, cert: x509.Certificate) -> None:
        found = self._found(_extensions(cert))
        if found != self.value:
            # cosign: "expected GitHub Workflow Trigger not found in certificate"
            raise IdentityError(f"identity: expected {self._label} {self.value!r} not found in certificate "
                                f"(it has {found!r})")


class GitHubWorkflowTrigger(_ClaimPolicy):
    _label = "GitHub Workflow Trigger"

    def _found(self, ext: SigstoreExtensions) -> str | None:
        return ext.workflow_trigger()


class GitHubWorkflowSHA(_ClaimPolicy):
    _label = "GitHub Workflow SHA"

    def _found(self, ext: SigstoreExtensions) -> str | None:
        return ext.workflow_sha()


class GitHubWorkflowName(_ClaimPolicy):
    _label = "GitHub Workflow Name"

    def _found(self, ext: SigstoreExtensions) -> str | None:
        return ext.workflow_name()


class GitHubWorkflowRepository(_ClaimPolicy):
    _label = "GitHub Workflow Repository"

    def _found(self, ext: SigstoreExtensions) -> str | None:
        return ext.workflow_repository()


class GitHubWorkflowRef(_ClaimPolicy):
    _label = "GitHub Workflow Ref"

    def _found(self, ext: SigstoreExtensions) -> str | None:
        return ext.workflow_ref()


class AllOf(Policy):
    """Every child policy holds. An empty AllOf fails: a policy that checks nothing
    must never pass by accident (as sigstore-python)."""

    def __init__(self, children: Sequence[Policy]) -> None:
        self.children = tuple(children)

    def verify(self, cert: x509.Certificate) -> None:
        if not self.children:
            raise IdentityError("identity: an empty AllOf policy checks nothing and never passes")
        for child in self.children:
            child.verify(cert)


class AnyOf(Policy):
    """At least one child policy holds (cosign: any of several ``Identity`` entries)."""

    def __init__(self, children: Sequence[Policy]) -> None:
        self.children = tuple(children)

    def verify(self, cert: x509.Certificate) -> None:
        reasons = []
        for child in self.children:
            try:
                child.verify(cert)
                return
            except IdentityError as exc:
                reasons.append(exc.message.removeprefix("identity: "))
        if not reasons:
            raise IdentityError("identity: an empty AnyOf policy never passes")
        raise IdentityError("identity: none of the expected identities matched what was in the certificate: "
                            + "; ".join(reasons))
