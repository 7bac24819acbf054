"""Attestation commands: ``attest`` and ``verify-attestation``."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._args import add_bool
from sigstack.cli._common import (
    KEYLESS,
    TLOG,
    keyless_verify_flags,
    registry_flags,
    tlog_upload_flags,
    tlog_verify_flags,
)

_TYPES = "custom (default), slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, " \
         "cyclonedx, link, vuln, openvex, or a predicate URI"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("attest", parents=[common], help="attest a container image with a predicate",
                       description=("Sign an in-toto statement about IMAGE (DSSE) and store it in the "
                                    f".att tag (or as a bundle referrer). {TLOG} Attestations are logged as "
                                    "dsse entries, as cosign does (intoto 0.0.1 with --rekor-entry-type "
                                    "intoto, as cosign v2 can)."))
    from sigstack.cli._keyless import keyless_flags

    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--key", metavar="REF", help="private key reference (none: keyless, see --identity-token)")
    p.add_argument("--predicate", metavar="FILE", help="the predicate file (required)")
    p.add_argument("--type", default="custom", help=f"predicate type: {_TYPES}")
    tlog_upload_flags(p)
    add_bool(p, "--new-bundle-format", default=False, help="store a Sigstore bundle v0.3 referrer")
    add_bool(p, "--use-signing-config", default=False, help="accepted for cosign compatibility")
    add_bool(p, "--replace", default=False, help="replace attestations of the same predicate type")
    p.add_argument("--rekor-entry-type", default="dsse", choices=("dsse", "intoto"),
                   help="log entry kind for the attestation (cosign v2's flag; default dsse)")
    p.add_argument("-y", "--yes", action="store_true", help="skip confirmation prompts")
    keyless_flags(p)
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attest:run_attest")

    p = sub.add_parser("attest-blob", parents=[common], help="attest a file with a predicate",
                       description=("Sign an in-toto statement whose subject is FILE (its name and SHA-256) "
                                    "as a DSSE envelope, with --key or keylessly; prints the envelope, or "
                                    "writes --output-signature / --bundle. As cosign does, the envelope is "
                                    "logged as a dsse entry at --rekor-url unless --tlog-upload=false."))
    p.add_argument("blob", metavar="FILE", help="the file the statement is about")
    p.add_argument("--key", metavar="REF", help="private key reference (none: keyless, see --identity-token)")
    p.add_argument("--predicate", metavar="FILE", help="the predicate file (required)")
    p.add_argument("--type", default="custom", help=f"predicate type: {_TYPES}")
    p.add_argument("--hash", metavar="HEX", help="the file's SHA-256 (hex) instead of reading FILE")
    p.add_argument("--bundle", metavar="FILE", help="write a Sigstore bundle (v0.3 JSON) with the envelope")
    p.add_argument("--output-signature", metavar="FILE", help="write the DSSE envelope to FILE instead of stdout")
    p.add_argument("--output-attestation", metavar="FILE", help="write the in-toto statement to FILE")
    tlog_upload_flags(p)
    p.add_argument("-y", "--yes", action="store_true", help="skip confirmation prompts")
    keyless_flags(p)
    p.set_defaults(handler="sigstack.cli.attest:run_attest_blob")

    p = sub.add_parser("verify-attestation", parents=[common],
                       help="verify image attestations (a key, or keyless: who signed)",
                       description=f"Verify the attestations of IMAGE with --key, or keyless. {TLOG} {KEYLESS}")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--key", metavar="REF", help="public key reference (omit for keyless verification)")
    p.add_argument("--type", default="custom", help=f"predicate type to check: {_TYPES}")
    p.add_argument("--policy", action="append", default=[], metavar="FILE",
                   help="Rego policy file (repeatable); must set data.signature.allow")
    add_bool(p, "--check-claims", default=True, help="check the statement names the image digest")
    tlog_verify_flags(p)
    p.add_argument("-o", "--output", default="json", help="accepted for compatibility; output is text")
    p.add_argument("--max-workers", type=int, default=10, help="attestations checked concurrently")
    add_bool(p, "--local-image", default=False,
             help="IMAGE is a directory written by save (or cosign save), verified without a registry")
    keyless_verify_flags(p)
    registry_flags(p)
    p.set_defaults(handler="sigstack.cli.attest:run_verify_attestation")

    p = sub.add_parser("verify-blob-attestation", parents=[common],
                       help="verify an attestation (DSSE in-toto statement) about a file",
                       description=("Verify a DSSE attestation about FILE (or --digest) from --bundle, or from "
                                    "--signature (an envelope file, its entry looked up at --rekor-url), with "
                                    f"--key or keyless. {TLOG} {KEYLESS}"))
    p.add_argument("blob", nargs="?", metavar="FILE", help="the file the attestation is about (or --digest)")
    p.add_argument("--key", metavar="REF", help="public key reference (omit for keyless verification)")
    p.add_argument("--bundle", metavar="FILE", help="Sigstore bundle holding the DSSE envelope")
    p.add_argument("--signature", metavar="FILE", help="the DSSE envelope file (without --bundle)")
    p.add_argument("--type", default="custom", help=f"predicate type the statement must have: {_TYPES}")
    add_bool(p, "--check-claims", default=True, help="check the statement names the file's digest")
    p.add_argument("--digest", metavar="HEX", help="the file's digest, instead of the file")
    p.add_argument("--digestAlg", "--digest-alg", dest="digest_alg", default="sha256",
                   choices=("sha256", "sha384", "sha512"), help="algorithm of --digest (default sha256)")
    tlog_verify_flags(p)
    keyless_verify_flags(p)
    p.set_defaults(handler="sigstack.cli.attest:run_verify_blob_attestation")


def run_attest(args: argparse.Namespace) -> int:
    import contextlib
    from pathlib import Path

    from sigstack.cli._common import (
        TAG_WARNING,
        client_from,
        docker_types,
        load_signer_for,
        log_client,
        tag_prefix,
        target_repository,
    )
    from sigstack.cli._io import info
    from sigstack.errors import ArtifactError, SigstackError
    from sigstack.oci.layouts import target_repository as resolve_target
    from sigstack.oci.reference import parse_reference
    from sigstack.sign.attest import AttestOptions, attest_image

    if not args.predicate:
        raise SigstackError("predicate cannot be empty")
    if args.rekor_entry_type == "intoto" and args.new_bundle_format:
        raise SigstackError("--rekor-entry-type intoto cannot be used with --new-bundle-format "
                            "(a bundle's log entry must record the signature: use dsse)")
    try:
        predicate = Path(args.predicate).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"reading predicate {args.predicate}: {exc.strerror or exc}") from None
    from sigstack.cli._keyless import apply_signing_config, before_upload, keyless_signer, timestamper_for

    ref = parse_reference(args.image)
    prefix = tag_prefix(args)
    apply_signing_config(args)
    stamp = timestamper_for(args)
    if args.key:  # a key loads while the registry is asked (as cosign: before any question)
        signer = load_signer_for(args)
        if args.tlog_upload:
            signer.public_key()
        before_upload(args, args.tlog_upload)
    else:  # keyless: ask before the identity is certified, then certify
        before_upload(args, args.tlog_upload)
        signer = keyless_signer(args)
    if not ref.digest:
        info(TAG_WARNING.format(ref=args.image, verb="attest"))
    target = target_repository()
    with client_from(args) as client, log_client(args) if args.tlog_upload else contextlib.nullcontext() as log:
        info(f"Pushing attestation to: {resolve_target(ref.repository, target).name}")
        done = attest_image(client, signer, ref, predicate, args.type, AttestOptions(
            new_bundle_format=args.new_bundle_format, replace=args.replace, tag_prefix=prefix,
            target_repository=target, docker_types=docker_types(), log=log, rekor_entry_type=args.rekor_entry_type,
            timestamper=stamp))
    if done.tlog_entry is not None:
        info(f"tlog entry created with index: {done.tlog_entry.log_index}")
    return 0


def run_attest_blob(args: argparse.Namespace) -> int:
    import contextlib
    import os
    import re
    from pathlib import Path

    from sigstack._internal.artifact import open_artifact
    from sigstack._internal.digest import hash_stream
    from sigstack._internal.fs import atomic_write
    from sigstack.cli._common import log_client
    from sigstack.cli._io import Password, info, write_output
    from sigstack.cli._keyless import apply_signing_config, before_upload, keyless_signer, timestamper_for
    from sigstack.errors import ArtifactError, SigstackError
    from sigstack.sign.attest import attest_blob

    if not args.predicate:
        raise SigstackError("predicate cannot be empty")
    try:
        predicate = Path(args.predicate).read_bytes()
    except OSError as exc:
        raise ArtifactError(f"reading predicate {args.predicate}: {exc.strerror or exc}") from None
    if args.hash:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", args.hash):
            raise SigstackError("--hash must be a SHA-256 digest in hex (64 characters)")
        digest = args.hash.lower()
    else:
        with open_artifact(args.blob) as f:
            digest = hash_stream(f, "sha256").hex()
    apply_signing_config(args)
    stamp = timestamper_for(args)
    if args.key:
        from sigstack import keys

        signer = keys.load_signer(args.key, Password())
        before_upload(args, args.tlog_upload)
    else:  # keyless: ask before the identity is certified
        before_upload(args, args.tlog_upload)
        signer = keyless_signer(args)
    with log_client(args) if args.tlog_upload else contextlib.nullcontext() as log:
        done = attest_blob(signer, os.path.basename(args.blob), f"sha256:{digest}", predicate, args.type,
                           log=log, bundle=bool(args.bundle), timestamper=stamp)
    if done.tlog_entry is not None:
        info(f"tlog entry created with index: {done.tlog_entry.log_index}")
    if args.bundle and done.bundle is not None:
        atomic_write(Path(args.bundle), done.bundle.to_json(), 0o644)
        info(f"Wrote bundle to file {args.bundle}")
    if args.output_attestation:
        atomic_write(Path(args.output_attestation), done.statement, 0o644)
        info(f"Attestation written in {args.output_attestation}")
    envelope = done.envelope.to_json()
    if args.output_signature:
        atomic_write(Path(args.output_signature), envelope, 0o644)
        info(f"Signature written in {args.output_signature}")
    elif not args.bundle:
        write_output(envelope + b"\n", args.output_file)
    return 0


def run_verify_attestation(args: argparse.Namespace) -> int:
    """``verify-attestation``: each IMAGE is a registry reference, or with ``--local-image``
    a directory written by ``save`` (the same verification over a read-only view of it)."""
    import contextlib
    import dataclasses
    import sys

    from sigstack import keys
    from sigstack.cli._common import client_from, log_client, log_policy, print_header, tag_prefix, target_repository
    from sigstack.cli._io import info, write_output
    from sigstack.errors import PolicyViolation
    from sigstack.verify.attestation import AttestationVerifyOptions, verify_attestations
    from sigstack.verify.policy import load_policy

    for policy in args.policy:
        load_policy(policy)
    if args.local_image:
        refs = []
    else:
        from sigstack.oci.reference import parse_reference

        refs = [parse_reference(i) for i in args.images]
    prefix = tag_prefix(args)
    target = target_repository()
    from sigstack.cli._common import key_material, keyless_log_policy, keyless_material

    verifier: Any = key_material(args, keys.load_verifier(args.key)) if args.key else keyless_material(args)
    if args.insecure_ignore_tlog:
        info("WARNING: Skipping tlog verification is an insecure practice that lacks "
             "transparency and auditability verification for the attestation.")
    log = log_policy(args) if args.key else keyless_log_policy(args)
    out = b""
    with contextlib.nullcontext() if args.local_image else client_from(args) as client, \
            log_client(args) if log.checked and args.key else contextlib.nullcontext() as lookups:
        opts = AttestationVerifyOptions(kind=args.type, policies=args.policy, check_claims=args.check_claims,
                                        max_workers=max(1, args.max_workers),
                                        log=dataclasses.replace(log, client=lookups))
        for i, image in enumerate(args.images):
            try:
                if args.local_image:
                    from sigstack.verify.local import verify_local_attestations

                    found = verify_local_attestations(image, verifier, opts)
                else:
                    assert client is not None  # opened above for registry references
                    found = verify_attestations(client, verifier, refs[i],
                                                dataclasses.replace(opts, tag_prefix=prefix,
                                                                    target_repository=target))
            except PolicyViolation as exc:
                lines = [f"There are {len(exc.errors)} number of errors occurred during the validation:"]
                lines += [f"- {e}" for e in exc.errors]
                print("\n".join(lines), file=sys.stderr)
                raise
            print_header(image if args.local_image else refs[i].name, False, args.check_claims,
                         key=bool(args.key), tlog=log.checked)
            out += b"".join(a.envelope_json + b"\n" for a in found)
    write_output(out, args.output_file)
    return 0


def run_verify_blob_attestation(args: argparse.Namespace) -> int:
    import contextlib
    import re
    from pathlib import Path

    from sigstack.cli._common import key_material, keyless_log_policy, keyless_material, log_client, log_policy
    from sigstack.cli._io import info
    from sigstack.errors import SigstackError, UsageError
    from sigstack.verify.attestation import verify_blob_attestation

    if bool(args.blob) == bool(args.digest):
        raise UsageError("give the file the attestation is about, or --digest")
    if not (args.bundle or args.signature):
        raise UsageError("give --bundle or --signature")
    if not (args.key or args.bundle or args.certificate):  # cosign's words
        raise UsageError("provide a key with --key or --sk, a certificate to verify against with --certificate, "
                         "or a bundle with --bundle")
    material: Any
    if args.key:
        from sigstack import keys

        material = key_material(args, keys.load_verifier(args.key))
    else:
        material = keyless_material(args)

    def read(flag: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise SigstackError(f"reading {flag} {path}: {exc.strerror or exc}") from None

    bundle = envelope = None
    if args.bundle:
        from sigstack.bundle.models import Bundle

        bundle = Bundle.from_json(read("bundle", args.bundle))
    else:
        envelope = read("signature", args.signature)
    if args.digest:
        if not re.fullmatch(r"[0-9a-f]+", args.digest):
            raise UsageError("--digest must be a hex digest")
        digest = (args.digest_alg, bytes.fromhex(args.digest))
    else:
        from sigstack._internal.artifact import open_artifact
        from sigstack._internal.digest import hash_stream

        with open_artifact(args.blob) as f:
            digest = (args.digest_alg, hash_stream(f, args.digest_alg))
    # an envelope without a bundle: its entry is looked up in the log (--rekor-url), as cosign does
    lookup = bundle is None and not args.insecure_ignore_tlog and not (not args.key and args.private_infrastructure)
    with log_client(args) if lookup else contextlib.nullcontext() as client:
        log = log_policy(args, client) if args.key else keyless_log_policy(args, client)
        verify_blob_attestation(material, log=log, digest=digest, bundle=bundle, envelope_json=envelope,
                                kind=args.type, check_claims=args.check_claims)
    info("Verified OK")
    return 0
