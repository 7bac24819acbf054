"""The flags and steps every signing command shares for keyless signing (no ``--key``).

cosign's names and defaults: ``--fulcio-url``, ``--identity-token`` (a JWT or a file),
``--oidc-issuer``, ``--oidc-client-id``, ``--oidc-client-secret-file``,
``--oidc-redirect-url``, ``--oidc-provider``, ``--oidc-disable-ambient-providers``,
``--fulcio-auth-flow`` (normal = browser, device), ``--signing-config`` (its CA, Rekor
and OIDC URLs win over the flags; its TSAs timestamp every signature, as sigstore-python
and cosign v3 use them) and ``--trusted-root`` (the issued chain and SCT are checked
before signing). ``--timestamp-server-url`` (cosign's) asks that TSA for an RFC 3161
timestamp of each signature, with a key or keyless. The token is found in cosign's order (see
:mod:`sigstack.oidc.sources`); the environment is read in :mod:`sigstack.cli._common`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from sigstack.cli._args import add_bool

if TYPE_CHECKING:
    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.keys.base import Signer
    from sigstack.sign.blob import Timestamper

DEFAULT_FULCIO_URL = "https://fulcio.sigstore.dev"
DEFAULT_OIDC_ISSUER = "https://oauth2.sigstore.dev/auth"


def keyless_flags(p: argparse.ArgumentParser, *, trusted_root: bool = True) -> None:
    p.add_argument("--fulcio-url", default=DEFAULT_FULCIO_URL,
                   help=f"certificate authority (Fulcio API v2) for keyless signing (default {DEFAULT_FULCIO_URL})")
    p.add_argument("--identity-token", metavar="TOKEN",
                   help="OIDC identity token for keyless signing, or a file holding it")
    p.add_argument("--oidc-issuer", default=None, metavar="URL",
                   help=f"OIDC issuer for the interactive login (default {DEFAULT_OIDC_ISSUER}, or the "
                        "signing config's)")
    p.add_argument("--oidc-client-id", default="sigstore", help="OIDC client ID (default sigstore)")
    p.add_argument("--oidc-client-secret-file", metavar="FILE", help="file holding the OIDC client secret")
    p.add_argument("--oidc-redirect-url", metavar="URL",
                   help="redirect URL of the browser login (default a loopback port chosen at random)")
    p.add_argument("--oidc-provider", metavar="NAME",
                   help="take the token from this ambient provider only: envvar (gitlab), github-actions, "
                        "filesystem, buildkite-agent, circleci")
    add_bool(p, "--oidc-disable-ambient-providers", default=False,
             help="never take a token from the environment (CI providers)")
    p.add_argument("--fulcio-auth-flow", choices=("normal", "device"), default=None,
                   help="interactive login: normal (browser) or device; default: browser on a terminal, "
                        "else device")
    p.add_argument("--signing-config", metavar="FILE",
                   help="SigningConfig v0.2 JSON naming the CA, Rekor log and OIDC issuer to use")
    if trusted_root:
        p.add_argument("--trusted-root", metavar="FILE",
                       help="trusted root JSON: the issued certificate chain and its SCT are checked against it")
    p.add_argument("--output-certificate", metavar="FILE", help="write the signing certificate (PEM) to FILE")
    p.add_argument("--timestamp-server-url", metavar="URL",
                   help="RFC 3161 timestamp authority endpoint (e.g. http://127.0.0.1:3004/api/v1/timestamp): "
                        "the signature's timestamp goes into the bundle (or the layer's rfc3161timestamp "
                        "annotation)")


def apply_signing_config(args: argparse.Namespace) -> None:
    """``--signing-config``: its CA and log replace ``--fulcio-url``/``--rekor-url``; its
    OIDC issuer is the default of ``--oidc-issuer``."""
    if not getattr(args, "signing_config", None):
        return
    from sigstack.bundle.trustroot import SigningConfig
    from sigstack.errors import TrustRootError
    from sigstack.sign.keyless import services_from

    try:
        with open(args.signing_config, "rb") as f:
            config = SigningConfig.from_json(f.read())
    except OSError as exc:
        raise TrustRootError(f"reading signing config {args.signing_config}: {exc.strerror or exc}") from None
    services = services_from(config)
    args.fulcio_url, args.rekor_url = services.ca_url, services.rekor_url
    if args.oidc_issuer is None and services.oidc_url:
        args.oidc_issuer = services.oidc_url
    if services.tsa_urls and getattr(args, "timestamp_server_url", None):
        from sigstack.errors import UsageError

        raise UsageError("cannot specify service URLs and use signing config (the signing config names "
                         "timestamp authorities; drop --timestamp-server-url or --signing-config)")
    args.signing_config_tsa_urls = services.tsa_urls


def timestamper_for(args: argparse.Namespace) -> Timestamper | None:
    """The timestamp authorities to ask: ``--timestamp-server-url``, else the signing
    config's ``tsaUrls`` (after :func:`apply_signing_config`); None when there are none."""
    urls: tuple[str, ...] = ((args.timestamp_server_url,) if getattr(args, "timestamp_server_url", None)
                             else getattr(args, "signing_config_tsa_urls", ()))
    if not urls:
        return None
    from sigstack.cli._common import go_duration
    from sigstack.tsa.client import timestamper

    for url in urls:
        if not url.startswith(("http://", "https://")):
            from sigstack.errors import UsageError

            raise UsageError(f"--timestamp-server-url: {url!r} is not an http(s) URL")
    return timestamper(urls, go_duration(args.timeout))


def identity_token(args: argparse.Namespace) -> str:
    """The token, in cosign's order: ``--identity-token``, ambient providers, login."""
    import sys

    from sigstack.cli._common import ambient_environment
    from sigstack.cli._io import info
    from sigstack.oidc.sources import ambient_token, read_token

    if args.identity_token:
        return read_token(args.identity_token)
    if not args.oidc_disable_ambient_providers:
        found = ambient_token(ambient_environment().providers(), "sigstore", args.oidc_provider)
        if found is not None:
            return found[1]
    elif args.oidc_provider:
        from sigstack.errors import IdentityTokenError

        raise IdentityTokenError("an OIDC provider was named but ambient providers are disabled")
    issuer = args.oidc_issuer or DEFAULT_OIDC_ISSUER
    secret = None
    if args.oidc_client_secret_file:
        from sigstack.errors import IdentityTokenError

        try:
            with open(args.oidc_client_secret_file, encoding="utf-8") as f:
                secret = f.read().strip()
        except OSError as exc:
            raise IdentityTokenError(f"reading the OIDC client secret {args.oidc_client_secret_file}: "
                                     f"{exc.strerror or exc}") from None
    flow = args.fulcio_auth_flow or ("normal" if sys.stdin.isatty() else "device")
    if flow == "device":
        from sigstack.oidc.interactive import device_flow

        if args.fulcio_auth_flow is None:
            info("Non-interactive mode detected, using device flow.")

        def show_device(url: str, code: str | None) -> None:
            info(f"Enter the verification code {code} in your browser at: {url}")

        return device_flow(issuer, args.oidc_client_id, show_device, client_secret=secret)

    from sigstack.oidc.interactive import browser_flow

    def show_browser(url: str, code: str | None) -> None:
        import webbrowser

        info(f"Your browser will now be opened to:\n{url}")
        webbrowser.open(url)

    return browser_flow(issuer, args.oidc_client_id, show_browser, client_secret=secret,
                        redirect_url=args.oidc_redirect_url)


def trusted_root_for(args: argparse.Namespace) -> TrustedRoot | None:
    path = getattr(args, "trusted_root", None)
    if not path:
        return None
    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.errors import TrustRootError

    try:
        with open(path, "rb") as f:
            return TrustedRoot.from_json(f.read())
    except OSError as exc:
        raise TrustRootError(f"reading trusted root {path}: {exc.strerror or exc}") from None


def keyless_signer(args: argparse.Namespace) -> Signer:
    """A fresh key certified by the CA for the identity token's subject."""
    from sigstack.ca.client import CAClient
    from sigstack.cli._common import go_duration
    from sigstack.sign.keyless import certify

    root = trusted_root_for(args)
    token = identity_token(args)
    with CAClient(args.fulcio_url, go_duration(args.timeout)) as ca:
        signer = certify(ca, token, trusted_root=root)
    if args.output_certificate:
        from pathlib import Path

        from sigstack._internal.fs import atomic_write
        from sigstack.cli._io import info

        atomic_write(Path(args.output_certificate), signer.verifier_pem(), 0o644)
        info(f"Wrote certificate to file {args.output_certificate}")
    return signer


def before_upload(args: argparse.Namespace, uploading: bool) -> None:
    """Ask before anything naming the signer goes to the log (cosign's rule: key or keyless).
    cosign prints its statement (and asks, without ``--yes``) once a key-based signer's key
    has loaded, so callers with a key load it first and a key that cannot load is the error
    reported; a keyless signer is asked before its identity token is used."""
    if uploading:
        from sigstack.cli._io import confirm_log_upload

        confirm_log_upload(assume_yes=args.yes)
