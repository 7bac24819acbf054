"""Blob commands: ``sign-blob`` and ``verify-blob`` (key-based, cosign-compatible)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from sigstack.cli._args import add_bool
from sigstack.cli._common import DEFAULT_REKOR_URL, KEYLESS, keyless_verify_flags, log_client, log_policy

if TYPE_CHECKING:
    from sigstack.keys import Signer


_TLOG = (
    "As cosign does, sign-blob uploads the signature to the transparency log at --rekor-url "
    "(a hashedrekord entry) unless --tlog-upload=false, and --bundle writes a Sigstore bundle "
    "v0.3 with the log's evidence. verify-blob checks that evidence offline against the log key "
    "from --trusted-root or $SIGSTORE_REKOR_PUBLIC_KEY (from --bundle, or looked up at "
    "--rekor-url); --insecure-ignore-tlog skips it."
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    from sigstack.cli._keyless import keyless_flags

    p = sub.add_parser(
        "sign-blob", parents=[common], help="sign a file with a key or keylessly (an OIDC identity)",
        description=(f"Sign FILE (or - for stdin) with --key, or without one keylessly: an identity token "
                     f"(see --identity-token) gets a short-lived certificate from the CA at --fulcio-url for "
                     f"a fresh key. Prints the base64 signature. {_TLOG}"),
    )
    p.add_argument("blob", metavar="FILE", help="the file to sign, or - for stdin")
    p.add_argument("--key", metavar="REF",
                   help="private key reference: a path, env://VAR, ... (none: keyless)")
    p.add_argument("--output-signature", "--output", dest="output_signature", metavar="FILE",
                   help="write the signature to FILE instead of stdout")
    p.add_argument("--bundle", metavar="FILE",
                   help="write a Sigstore bundle (v0.3 JSON) with the signature and log evidence")
    add_bool(p, "--b64", default=True, help="base64-encode the signature")
    add_bool(p, "--tlog-upload", default=True, help="upload the signature to the transparency log")
    p.add_argument("--rekor-url", default=DEFAULT_REKOR_URL,
                   help=f"transparency log base URL (default {DEFAULT_REKOR_URL})")
    p.add_argument("--rfc3161-timestamp", metavar="FILE",
                   help="write the signature's RFC 3161 timestamp (from --timestamp-server-url or the signing "
                        "config's TSA) to FILE as cosign does: {\"SignedRFC3161Timestamp\": \"<base64 DER>\"}")
    p.add_argument("-y", "--yes", action="store_true", help="skip confirmation prompts")
    keyless_flags(p)
    p.set_defaults(handler="sigstack.cli.blob:run_sign_blob")

    p = sub.add_parser(
        "verify-blob", parents=[common], help="verify a file's signature (a key, or keyless: who signed)",
        description=(
            "Verify the signature of FILE with --key, or keyless. Prints 'Verified OK' and exits 0, "
            f"or prints one error line and exits 1. {_TLOG} {KEYLESS}"
        ),
    )
    p.add_argument("blob", metavar="FILE",
                   help="the signed file, - for stdin, or sha256:<hex> for a digest")
    p.add_argument("--key", metavar="REF", help="public key reference (omit for keyless verification)")
    p.add_argument("--signature", metavar="SIG",
                   help="the signature: a file path, env://VAR, or the base64 itself "
                        "(taken from --bundle when omitted)")
    p.add_argument("--bundle", metavar="FILE",
                   help="Sigstore bundle (v0.1-v0.3) or cosign legacy bundle with the log evidence")
    p.add_argument("--trusted-root", metavar="FILE",
                   help="Sigstore trusted root JSON naming the trusted transparency logs")
    p.add_argument("--rekor-url", default=DEFAULT_REKOR_URL,
                   help="log to search for the entry when no --bundle is given")
    add_bool(p, "--insecure-ignore-tlog", default=False,
             help="do not check transparency log evidence (insecure)")
    keyless_verify_flags(p)
    p.set_defaults(handler="sigstack.cli.blob:run_verify_blob")


def run_sign_blob(args: argparse.Namespace) -> int:
    import base64
    import contextlib
    from pathlib import Path

    from sigstack._internal.artifact import open_artifact
    from sigstack._internal.fs import atomic_write
    from sigstack.cli._io import Password, info, write_output
    from sigstack.cli._keyless import apply_signing_config, before_upload, keyless_signer, timestamper_for
    from sigstack.errors import UsageError
    from sigstack.sign import sign_blob_to_log

    apply_signing_config(args)
    stamp = timestamper_for(args)
    if args.rfc3161_timestamp and stamp is None:
        raise UsageError("--rfc3161-timestamp needs a timestamp authority (--timestamp-server-url, or a signing "
                         "config naming one)")
    loaded: Signer | None = None
    if args.key and args.tlog_upload:  # as cosign: the key loads before the log statement
        from sigstack import keys

        loaded = keys.load_signer(args.key, Password())
    before_upload(args, args.tlog_upload)

    def load() -> Signer:  # imports the crypto stack (or asks the CA) while the file is already being hashed
        if loaded is not None:
            return loaded
        if not args.key:
            return keyless_signer(args)
        from sigstack import keys

        return keys.load_signer(args.key, Password())

    with open_artifact(args.blob) as f, log_client(args) if args.tlog_upload else contextlib.nullcontext() as log:
        done = sign_blob_to_log(load, f, log=log, bundle=bool(args.bundle), timestamper=stamp)
    if done.entry is not None:
        info(f"tlog entry created with index: {done.entry.log_index}")
    if args.bundle and done.bundle is not None:
        atomic_write(Path(args.bundle), done.bundle.to_json(), 0o644)
        info(f"Wrote bundle to file {args.bundle}")
    if args.rfc3161_timestamp and done.timestamps:
        import json

        doc = {"SignedRFC3161Timestamp": base64.b64encode(done.timestamps[0]).decode()}  # as Go's json.Marshal
        atomic_write(Path(args.rfc3161_timestamp), json.dumps(doc, separators=(",", ":")).encode(), 0o600)
        info(f"Wrote timestamp to file {args.rfc3161_timestamp}")

    raw = done.signature
    out = base64.b64encode(raw) if args.b64 else raw
    if args.output_signature:
        atomic_write(Path(args.output_signature), out, 0o644)
        info(f"Signature wrote in the file {args.output_signature}")
    else:
        write_output(out + b"\n" if args.b64 else out, args.output_file)
    return 0


def _read_signature(value: str) -> bytes:
    """cosign's rules: a readable file, an env:// variable, else the base64 itself."""
    import os
    from pathlib import Path

    from sigstack.errors import SignatureError
    from sigstack.verify import decode_signature

    if value.startswith("env://"):
        text = os.environ.get(value[6:])
        if text is None:
            raise SignatureError(f"loading signature: env var ${value[6:]} not found")
        return decode_signature(text.encode())
    path = Path(value)
    try:
        if path.is_file():
            with path.open("rb") as f:
                return decode_signature(f.read(64 * 1024 + 1))
        if path.is_dir():
            raise SignatureError(f"reading signature {value}: is a directory")
    except PermissionError:
        raise SignatureError(f"reading signature {value}: permission denied") from None
    except OSError:
        pass  # a long base64 string can be an invalid path name
    try:
        return decode_signature(value.encode())
    except SignatureError:
        raise SignatureError(
            f"--signature {value[:40]!r} is neither a readable file nor valid base64"
        ) from None


def run_verify_blob(args: argparse.Namespace) -> int:
    import contextlib
    import re
    from pathlib import Path

    from sigstack import keys
    from sigstack._internal.artifact import open_artifact
    from sigstack.cli._common import key_material, keyless_log_policy, keyless_material
    from sigstack.cli._io import info
    from sigstack.errors import SigstackError
    from sigstack.verify import verify_blob_evidence

    verifier: Any = key_material(args, keys.load_verifier(args.key)) if args.key else keyless_material(args)
    bundle = None
    if args.bundle:
        from sigstack.bundle.models import Bundle

        try:
            data = Path(args.bundle).read_bytes()
        except OSError as exc:
            raise SigstackError(f"reading bundle {args.bundle}: {exc.strerror or exc}") from None
        bundle = Bundle.from_json(data)
    signature = _read_signature(args.signature) if args.signature else None
    lookup = not args.insecure_ignore_tlog and not args.private_infrastructure and bundle is None
    with log_client(args) if lookup else contextlib.nullcontext() as client:
        log = log_policy(args, client) if args.key else keyless_log_policy(args, client)
        if signature is None and bundle is None:
            raise SigstackError("give --signature or --bundle")
        digest_arg = re.fullmatch(r"(sha256|sha384|sha512):([0-9a-f]+)", args.blob)
        if digest_arg and not Path(args.blob).exists():
            verify_blob_evidence(verifier, log=log, signature=signature, bundle=bundle,
                                 digest=(digest_arg.group(1), bytes.fromhex(digest_arg.group(2))))
        else:
            with open_artifact(args.blob) as f:
                verify_blob_evidence(verifier, log=log, signature=signature, bundle=bundle, artifact=f)
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the blob.")
    info("Verified OK")
    return 0
