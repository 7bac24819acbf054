"""Key commands: ``generate-key-pair``, ``import-key-pair``, ``public-key``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "generate-key-pair", parents=[common],
        help="generate an ECDSA P-256 key pair (cosign format)",
        description=(
            "Generate an ECDSA P-256 key pair. The private key is encrypted with a password "
            "taken from COSIGN_PASSWORD if set (even empty), else prompted on a terminal, "
            "else read from stdin. With KEY_REF (k8s://ns/name ...) or --kms the key is "
            "created in that backend and only the public key is written locally."
        ),
    )
    p.add_argument("key_ref", nargs="?", metavar="KEY_REF",
                   help="store the key pair in this backend instead of files")
    p.add_argument("--kms", metavar="URI", help="create the key in this KMS (awskms://, gcpkms:// ...)")
    p.add_argument("--output-key-prefix", default="cosign", metavar="P",
                   help="write P.key and P.pub (default cosign)")
    p.set_defaults(handler="sigstack.cli.keys:run_generate")

    p = sub.add_parser(
        "import-key-pair", parents=[common],
        help="import an RSA, ECDSA or Ed25519 PEM private key into cosign's format",
    )
    p.add_argument("--key", "-k", required=True, metavar="FILE",
                   help="unencrypted PEM private key (PKCS#1, SEC1 or PKCS#8)")
    p.add_argument("-o", "--output-key-prefix", default="import-cosign", metavar="P",
                   help="write P.key and P.pub (default import-cosign)")
    p.add_argument("-y", "--yes", action="store_true", help="overwrite existing files without asking")
    p.set_defaults(handler="sigstack.cli.keys:run_import")

    p = sub.add_parser("public-key", parents=[common],
                       help="print the public key of a private key reference")
    p.add_argument("--key", required=True, metavar="REF", help="private key reference")
    p.add_argument("--outfile", metavar="FILE", help="write the PEM to FILE instead of stdout")
    p.set_defaults(handler="sigstack.cli.keys:run_public_key")


def run_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack import keys
    from sigstack._internal.fs import atomic_write
    from sigstack.cli._io import Password, confirm_overwrite, info
    from sigstack.keys.pair import key_pair_paths

    ref = args.kms or args.key_ref
    if ref:
        pub = Path("cosign.pub")
        confirm_overwrite([pub])  # before the backend creates anything remote
        generated = keys.generate_at(ref, Password())
        atomic_write(pub, generated.public_pem, 0o644)
        for line in generated.messages:
            info(line)
        info(f"Public key written to {pub}")
        return 0
    key_path, pub_path = key_pair_paths(args.output_key_prefix)
    confirm_overwrite([key_path, pub_path])
    pair = keys.generate_key_pair(Password()(True))
    keys.write_key_pair(pair, args.output_key_prefix)
    info(f"Private key written to {key_path}")
    info(f"Public key written to {pub_path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from sigstack import keys
    from sigstack._internal.artifact import open_artifact
    from sigstack.cli._io import Password, confirm_overwrite, info
    from sigstack.keys.pair import key_pair_paths

    with open_artifact(args.key) as f:
        pem = f.read(1 << 20)
    from sigstack.keys.pem import load_import_private_key

    private_key = load_import_private_key(pem)  # fail on a bad key before asking anything
    key_path, pub_path = key_pair_paths(args.output_key_prefix)
    confirm_overwrite([key_path, pub_path], assume_yes=args.yes)
    pair = keys.KeyPair.from_private_key(private_key, Password()(True))
    keys.write_key_pair(pair, args.output_key_prefix)
    info(f"Private key written to {key_path}")
    info(f"Public key written to {pub_path}")
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    from sigstack import keys
    from sigstack.cli._io import Password, info, write_output

    pem = keys.load_signer(args.key, Password()).public_key_pem()
    if args.outfile:
        from pathlib import Path

        from sigstack._internal.fs import atomic_write

        atomic_write(Path(args.outfile), pem, 0o644)
        info(f"Public key written to {args.outfile}")
    else:
        write_output(pem, args.output_file)
    return 0
