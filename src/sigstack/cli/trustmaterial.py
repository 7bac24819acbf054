"""``sigstack trusted-root create`` and ``sigstack signing-config create`` (cosign v3's).

Each service is one repeatable flag holding ``key=value`` pairs separated by commas,
with cosign's keys: trusted root ``--fulcio url=,certificate-chain=[,start-time=,end-time=]``,
``--rekor``/``--ctfe url=,public-key=,start-time=[,end-time=]``,
``--tsa url=,certificate-chain=[,start-time=,end-time=]``; signing config
``--fulcio``/``--rekor``/``--oidc-provider``/``--tsa url=,api-version=,start-time=,operator=[,end-time=]``
with ``--rekor-config``/``--tsa-config`` ANY | ALL | EXACT:<n>. Unlike cosign there are
no defaults from the public Sigstore instance: only what is named is trusted.
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any

FLAG_HELP = "service specification: comma-separated key=value pairs (repeatable)"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tr = sub.add_parser("trusted-root", parents=[common], help="write a Sigstore trusted root")
    tsub = tr.add_subparsers(dest="trusted_root_command", metavar="COMMAND")
    p = tsub.add_parser("create", parents=[common], help="create a Sigstore trusted root (TrustedRoot v0.1 JSON)",
                        description="Create a trusted root from CA chains, log keys and TSA chains.")
    p.add_argument("--fulcio", action="append", default=[],
                   help=f"CA {FLAG_HELP}; keys url, certificate-chain (PEM file), optional start-time, end-time")
    p.add_argument("--rekor", action="append", default=[],
                   help=f"transparency log {FLAG_HELP}; keys url, public-key (PEM file), start-time, optional end-time")
    p.add_argument("--ctfe", action="append", default=[],
                   help=f"CT log {FLAG_HELP}; keys url, public-key (PEM file), start-time, optional end-time")
    p.add_argument("--tsa", action="append", default=[],
                   help=f"timestamp authority {FLAG_HELP}; keys url, certificate-chain, optional start/end-time")
    p.add_argument("--out", metavar="FILE", help="write here (default stdout)")
    p.set_defaults(handler="sigstack.cli.trustmaterial:run_trusted_root")

    sc = sub.add_parser("signing-config", parents=[common], help="write a Sigstore signing config")
    ssub = sc.add_subparsers(dest="signing_config_command", metavar="COMMAND")
    p = ssub.add_parser("create", parents=[common], help="create a Sigstore signing config (v0.2 JSON)",
                        description="Create a signing config naming the CA, OIDC, log and TSA services.")
    service_keys = "keys url, api-version, start-time, operator, optional end-time"
    for flag, what in (("--fulcio", "CA"), ("--rekor", "transparency log"), ("--oidc-provider", "OIDC provider"),
                       ("--tsa", "timestamp authority")):
        p.add_argument(flag, action="append", default=[], help=f"{what} {FLAG_HELP}; {service_keys}")
    p.add_argument("--rekor-config", help="transparency log selection: ANY, ALL or EXACT:<count> (default ANY)")
    p.add_argument("--tsa-config", help="timestamp authority selection: ANY, ALL or EXACT:<count> (default ANY)")
    p.add_argument("--out", metavar="FILE", help="write here (default stdout)")
    p.set_defaults(handler="sigstack.cli.trustmaterial:run_signing_config")


def _spec(flag: str, text: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, str]:
    from sigstack.errors import TrustDocError

    values: dict[str, str] = {}
    for part in text.split(","):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key:
            raise TrustDocError(f"{flag}: expected key=value pairs, got {part!r}")
        if key not in required and key not in optional:
            raise TrustDocError(f"{flag}: unknown key {key!r} (want {', '.join(required + optional)})")
        if key in values:
            raise TrustDocError(f"{flag}: {key} given twice")
        values[key] = value.strip()
    missing = [k for k in required if not values.get(k)]
    if missing:
        raise TrustDocError(f"{flag}: missing required key {missing[0]}")
    for key in ("start-time", "end-time"):
        if key in values:
            values[key] = _time(flag, key, values[key])
    return values


def _time(flag: str, key: str, text: str) -> str:
    from sigstack.ca.trustdoc import rfc3339
    from sigstack.errors import TrustDocError

    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise TrustDocError(f"{flag}: {key} must be an RFC 3339 time, not {text!r}") from None
    if when.tzinfo is None:
        raise TrustDocError(f"{flag}: {key} must name its time zone (e.g. 2026-01-01T00:00:00Z)")
    return rfc3339(when)


def _read(flag: str, path: str) -> bytes:
    from pathlib import Path

    from sigstack.errors import TrustDocError

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TrustDocError(f"{flag}: reading {path}: {exc.strerror or exc}") from None


def _public_key(flag: str, path: str) -> Any:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    from sigstack.errors import TrustDocError

    try:
        return serialization.load_pem_public_key(_read(flag, path))
    except (ValueError, UnsupportedAlgorithm):
        raise TrustDocError(f"{flag}: {path} is not a PEM public key") from None


def _chain(flag: str, path: str) -> Any:
    from cryptography import x509

    from sigstack.errors import TrustDocError

    try:
        certs = x509.load_pem_x509_certificates(_read(flag, path))
    except ValueError:
        raise TrustDocError(f"{flag}: {path} is not a PEM certificate chain") from None
    return certs


def _write(doc: dict[str, Any], out: str | None, output_file: str | None) -> None:
    from pathlib import Path

    from sigstack._internal.fs import atomic_write_files
    from sigstack.ca.trustdoc import dumps
    from sigstack.cli._io import write_output
    from sigstack.errors import TrustDocError

    data = dumps(doc)
    if out:
        try:
            atomic_write_files([(Path(out), data, 0o644)])
        except OSError as exc:
            raise TrustDocError(f"writing {out}: {exc.strerror or exc}") from None
    else:
        write_output(data, output_file)


def run_trusted_root(args: argparse.Namespace) -> int:
    from sigstack.ca.trustdoc import AuthoritySpec, LogSpec, trusted_root
    from sigstack.errors import TrustDocError

    cas: list[AuthoritySpec] = []
    tsas: list[AuthoritySpec] = []
    tlogs: list[LogSpec] = []
    ctlogs: list[LogSpec] = []
    for text in args.fulcio:
        v = _spec("--fulcio", text, ("url", "certificate-chain"), ("start-time", "end-time"))
        cas.append(AuthoritySpec(v["url"], _chain("--fulcio", v["certificate-chain"]),
                                 v.get("start-time"), v.get("end-time")))
    for text in args.tsa:
        v = _spec("--tsa", text, ("url", "certificate-chain"), ("start-time", "end-time"))
        tsas.append(AuthoritySpec(v["url"], _chain("--tsa", v["certificate-chain"]),
                                  v.get("start-time"), v.get("end-time")))
    for flag, texts, into in (("--rekor", args.rekor, tlogs), ("--ctfe", args.ctfe, ctlogs)):
        for text in texts:
            v = _spec(flag, text, ("url", "public-key", "start-time"), ("end-time", "origin"))
            if "origin" in v:
                raise TrustDocError(f"{flag}: origin (Rekor v2 checkpoint key IDs) is not supported yet")
            into.append(LogSpec(v["url"], _public_key(flag, v["public-key"]), v["start-time"], v.get("end-time")))
    if not (cas or tsas or tlogs or ctlogs):
        raise TrustDocError("name at least one service (--fulcio, --rekor, --ctfe or --tsa)")
    _write(trusted_root(cas, tlogs, ctlogs, tsas), args.out, args.output_file)
    return 0


def run_signing_config(args: argparse.Namespace) -> int:
    from sigstack.ca.trustdoc import ServiceSpec, selector, signing_config
    from sigstack.errors import TrustDocError

    def services(flag: str, texts: list[str]) -> list[ServiceSpec]:
        out = []
        for text in texts:
            v = _spec(flag, text, ("url", "api-version", "start-time", "operator"), ("end-time",))
            if not v["api-version"].isdigit():
                raise TrustDocError(f"{flag}: api-version must be an integer")
            out.append(ServiceSpec(v["url"], int(v["api-version"]), v["start-time"], v["operator"],
                                   v.get("end-time")))
        return out

    cas = services("--fulcio", args.fulcio)
    rekors = services("--rekor", args.rekor)
    oidcs = services("--oidc-provider", args.oidc_provider)
    tsas = services("--tsa", args.tsa)
    if not (cas or rekors or oidcs or tsas):
        raise TrustDocError("name at least one service (--fulcio, --rekor, --oidc-provider or --tsa)")
    for value in (args.rekor_config, args.tsa_config):
        if value is not None:
            selector(value)
    _write(signing_config(cas, oidcs, rekors, tsas, args.rekor_config, args.tsa_config), args.out,
           args.output_file)
    return 0
