"""From verified token claims to the identity a certificate states (Fulcio's principals).

A :class:`Principal` has the value the proof of possession signs (``name``), the one
SubjectAlternativeName, the issuer recorded in the certificate, and the Sigstore
extension values by OID arc (1.3.6.1.4.1.57264.1.<arc>). The rules per issuer type
follow Fulcio's ``pkg/identity/*/principal.go``:

- email: the ``email`` claim (``email_verified`` must be true unless the issuer skips
  it), rfc822Name SAN; the recorded issuer may come from a claim path (Dex).
- username: ``sub!subject-domain`` in an OtherName SAN (type 1.3.6.1.4.1.57264.1.7).
- kubernetes: ``https://kubernetes.io/namespaces/<ns>/serviceaccounts/<name>``.
- spiffe / uri: the ``sub`` itself, which must lie in the configured trust domain /
  subject domain.
- ci-provider: SAN and extensions from the provider's claim templates; the token
  subject is carried verbatim in .24. GitHub's immutable subject format for
  repositories created since July 2026 (``repo:owner@<owner id>/repo@<repo id>:ref:...``)
  needs nothing special: Fulcio never parses ``sub`` for CI providers (every
  extension comes from its own claim), the proof of possession signs ``sub`` as is,
  and .24 records it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sigstack.ca.config import CAConfig, IssuerConfig
from sigstack.ca.errors import TokenError
from sigstack.ca.template import MissingClaim

TOKEN_SUBJECT_ARC = 24


@dataclass(frozen=True)
class Principal:
    name: str  # what the proof of possession signs
    san_type: str  # "email" | "uri" | "username"
    san: str
    issuer: str  # recorded in 1.3.6.1.4.1.57264.1.1 and .8
    extensions: Mapping[int, str] = field(default_factory=dict)


def _claim_str(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise TokenError(f"the token has no {name!r} claim")
    if not isinstance(value, str) or not value:
        raise TokenError(f"the token's {name!r} claim must be a non-empty string")
    return value


def _template_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None  # lists/objects are not template values (Go would print them oddly)


def _json_path(claims: Mapping[str, Any], path: str) -> Any:
    """``$.a.b`` over the claims (the only JSONPath form Fulcio's issuer-claim uses)."""
    if not path.startswith("$."):
        raise TokenError(f"unsupported issuer-claim path {path!r}")
    node: Any = claims
    for part in path[2:].split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise TokenError(f"the token has no claim at {path}")
        node = node[part]
    if not isinstance(node, str) or not node:
        raise TokenError(f"the claim at {path} must be a non-empty string")
    return node


def principal_from_claims(claims: Mapping[str, Any], issuer: IssuerConfig, config: CAConfig) -> Principal:
    iss = _claim_str(claims, "iss")
    sub = _claim_str(claims, "sub")
    kind = issuer.type
    challenge = issuer.challenge
    if kind == "email":
        email = _claim_str(claims, "email")
        if not issuer.skip_email_verification and claims.get("email_verified") is not True:
            raise TokenError("the token's email address is not verified (email_verified is not true)")
        recorded = _json_path(claims, issuer.issuer_claim) if issuer.issuer_claim else iss
        name = email if challenge == "email" else _claim_str(claims, challenge)
        return Principal(name, "email", email, recorded)
    name = sub if challenge == "sub" else _claim_str(claims, challenge)
    if kind == "username":
        if "!" in sub:
            raise TokenError("a username subject must not contain '!'")
        return Principal(name, "username", f"{sub}!{issuer.subject_domain}", iss)
    if kind == "kubernetes":
        k8s = claims.get("kubernetes.io")
        ns = k8s.get("namespace") if isinstance(k8s, Mapping) else None
        sa = k8s.get("serviceaccount") if isinstance(k8s, Mapping) else None
        sa_name = sa.get("name") if isinstance(sa, Mapping) else None
        if not isinstance(ns, str) or not isinstance(sa_name, str) or not ns or not sa_name:
            raise TokenError("the token has no kubernetes.io namespace and service account claims")
        return Principal(name, "uri", f"https://kubernetes.io/namespaces/{ns}/serviceaccounts/{sa_name}", iss)
    if kind == "spiffe":
        parts = urlsplit(sub)
        if parts.scheme != "spiffe" or parts.netloc != issuer.spiffe_trust_domain or not parts.path:
            raise TokenError(f"the subject {sub!r} is not a SPIFFE ID in trust domain "
                             f"{issuer.spiffe_trust_domain!r}")
        return Principal(name, "uri", sub, iss)
    if kind == "uri":
        want, got = urlsplit(issuer.subject_domain), urlsplit(sub)
        if (got.scheme, got.netloc) != (want.scheme, want.netloc):
            raise TokenError(f"the subject {sub!r} is not a URI in {issuer.subject_domain!r}")
        return Principal(name, "uri", sub, iss)
    # ci-provider (and the deprecated per-provider types)
    meta = config.metadata(issuer.ci_provider)
    data = dict(meta.defaults)
    for key, value in claims.items():
        text = _template_value(value)
        if text is not None:
            data[key] = text
    try:
        san = meta.san.render(data)
        exts = {arc: t.render(data) for arc, t in meta.extensions.items()}
    except MissingClaim as exc:
        raise TokenError(f"the token has no {exc.name!r} claim, which the {issuer.ci_provider} "
                         "certificate template needs") from None
    exts = {arc: v for arc, v in exts.items() if v}
    exts[TOKEN_SUBJECT_ARC] = sub
    if not san:
        raise TokenError("the certificate template produced an empty subject alternative name")
    return Principal(name, "uri", san, iss, exts)
