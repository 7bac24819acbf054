"""``pkcs11-tool list-tokens`` and ``pkcs11-tool list-keys-uris``: find the
``pkcs11:`` URI of a key in a token, printed exactly as cosign prints it."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tool = sub.add_parser("pkcs11-tool", parents=[common],
                          help="list PKCS#11 tokens and the URIs of their keys")
    tool_sub = tool.add_subparsers(dest="pkcs11_command", metavar="COMMAND")
    p = tool_sub.add_parser("list-tokens", parents=[common],
                            help="list all tokens linked to a PKCS#11 module")
    p.add_argument("--module-path", required=True, metavar="PATH", help="absolute path to the PKCS#11 module")
    p.set_defaults(handler="sigstack.cli.pkcs11:run_list_tokens")
    p = tool_sub.add_parser("list-keys-uris", parents=[common],
                            help="list the pkcs11: URIs of all keys in a token")
    p.add_argument("--module-path", required=True, metavar="PATH", help="absolute path to the PKCS#11 module")
    p.add_argument("--slot-id", required=True, type=int, metavar="N", help="slot of the token")
    p.add_argument("--pin", metavar="PIN",
                   help="user PIN (else COSIGN_PKCS11_PIN, else a prompt on a terminal)")
    p.set_defaults(handler="sigstack.cli.pkcs11:run_list_keys_uris")


def run_list_tokens(args: argparse.Namespace) -> int:
    from sigstack.cli._io import write_output
    from sigstack.keys.pkcs11 import list_tokens

    tokens = list_tokens(args.module_path)
    out = [f"\nListing tokens of PKCS11 module '{args.module_path}'\n"]
    for t in tokens:
        out.append(f"Token in slot {t.slot}\n\tLabel: {t.label}\n\tManufacturer: {t.manufacturer}\n"
                   f"\tModel: {t.model}\n\tS/N: {t.serial}\n\n")
    write_output("".join(out).encode(), args.output_file)
    return 0


def run_list_keys_uris(args: argparse.Namespace) -> int:
    import getpass
    import sys

    from sigstack.cli._io import write_output
    from sigstack.keys.pkcs11 import list_key_uris

    def ask(label: str) -> str:
        if not sys.stdin.isatty():
            from sigstack.errors import PasswordError

            raise PasswordError(f"PKCS#11 token {label!r} needs a PIN: pass --pin or set COSIGN_PKCS11_PIN")
        return getpass.getpass(f"Enter PIN for PKCS11 token '{label}': ", stream=sys.stderr)

    keys = list_key_uris(args.module_path, args.slot_id, args.pin, ask)
    out = [f"\nListing URIs of keys in slot '{args.slot_id}' of PKCS11 module '{args.module_path}'\n"]
    for i, key in enumerate(keys):
        out.append(f"Object {i}\n")
        if key.label:
            out.append(f"\tLabel: {key.label}\n")
        if key.id:
            out.append(f"\tID: {key.id.hex()}\n")
        out.append(f"\tURI: {key.uri}\n")
    write_output("".join(out).encode(), args.output_file)
    return 0
