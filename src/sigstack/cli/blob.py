"""Blob commands: ``sign-blob`` and ``verify-blob`` (key-based, cosign-compatible)."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._args import add_bool

_NO_TLOG = (
    "This sigstack version has no transparency-log client yet: signatures are never "
    "uploaded to a log and no log evidence is checked. --tlog-upload=false is accepted "
    "for cosign compatibility; --tlog-upload=true is refused."
)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sign-blob", parents=[common], help="sign a file with a key",
        description=f"Sign FILE (or - for stdin) with --key; prints the base64 signature. {_NO_TLOG}",
    )
    p.add_argument("blob", metavar="FILE", help="the file to sign, or - for stdin")
    p.add_argument("--key", required=True, metavar="REF",
                   help="private key reference: a path, env://VAR, ...")
    p.add_argument("--output-signature", "--output", dest="output_signature", metavar="FILE",
                   help="write the signature to FILE instead of stdout")
    add_bool(p, "--b64", default=True, help="base64-encode the signature")
    add_bool(p, "--tlog-upload", default=False, help="upload to the transparency log; see above")
    p.add_argument("-y", "--yes", action="store_true", help="skip confirmation prompts")
    p.set_defaults(handler="sigstack.cli.blob:run_sign_blob")

    p = sub.add_parser(
        "verify-blob", parents=[common], help="verify a file's signature with a public key",
        description=(
            "Verify the signature of FILE with --key. Prints 'Verified OK' and exits 0, "
            f"or prints one error line and exits 1. {_NO_TLOG}"
        ),
    )
    p.add_argument("blob", metavar="FILE",
                   help="the signed file, - for stdin, or sha256:<hex> for a digest")
    p.add_argument("--key", required=True, metavar="REF", help="public key reference")
    p.add_argument("--signature", required=True, metavar="SIG",
                   help="the signature: a file path, env://VAR, or the base64 itself")
    add_bool(p, "--insecure-ignore-tlog", default=False,
             help="do not check transparency log evidence (insecure)")
    p.set_defaults(handler="sigstack.cli.blob:run_verify_blob")


def run_sign_blob(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack import keys
    from sigstack._internal.artifact import open_artifact
    from sigstack._internal.fs import atomic_write
    from sigstack.cli._io import Password, info, write_output
    from sigstack.errors import SigstackError
    from sigstack.sign import sign_blob_loading_key

    if args.tlog_upload:
        raise SigstackError(
            "--tlog-upload=true is not available: this version has no transparency-log "
            "client; pass --tlog-upload=false to sign without a log"
        )
    with open_artifact(args.blob) as f:
        raw = sign_blob_loading_key(lambda: keys.load_signer(args.key, Password()), f)
    import base64

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
    import re
    from pathlib import Path

    from sigstack import keys
    from sigstack._internal.artifact import open_artifact
    from sigstack.cli._io import info
    from sigstack.errors import VerificationError
    from sigstack.verify import verify_blob

    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the blob.")
    verifier = keys.load_verifier(args.key)
    signature = _read_signature(args.signature)
    digest = re.fullmatch(r"(sha256|sha384|sha512):([0-9a-f]+)", args.blob)
    if digest and not Path(args.blob).exists():
        if not verifier.prehash or verifier.hash_name != digest.group(1):
            raise VerificationError(
                f"a {digest.group(1)} digest cannot be checked with this key "
                f"(it signs {verifier.hash_name} digests{'' if verifier.prehash else ' of whole messages'})"
            )
        verifier.verify_digest(signature, bytes.fromhex(digest.group(2)))
    else:
        with open_artifact(args.blob) as f:
            verify_blob(verifier, signature, f)
    info("Verified OK")
    return 0
