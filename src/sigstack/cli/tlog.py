"""``sigstack tlog``: run the transparency log and query/verify it."""

from __future__ import annotations

import argparse
from typing import Any

from sigstack.cli._common import go_duration, server_flags


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    tlog = sub.add_parser("tlog", parents=[common], help="transparency log: serve, get, search, verify")
    tsub = tlog.add_subparsers(dest="tlog_command", metavar="COMMAND")

    p = tsub.add_parser("serve", parents=[common], help="run a Rekor v1 compatible log server",
                        description="Serve the log's Rekor v1 REST API and tlog-tiles endpoints.")
    p.add_argument("--db", default="tlog.db",
                   help="database: a SQLite file path (default tlog.db) or a postgresql:// URL")
    p.add_argument("--key", required=True, metavar="FILE",
                   help="log signing key: PEM private key (ECDSA or Ed25519) or a sigstack key reference")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    p.add_argument("--hostname", help="log name in checkpoints (default: this machine's hostname)")
    p.add_argument("--max-body", type=int, default=4 << 20, help="largest accepted request, bytes")
    server_flags(p, tls=True)
    p.set_defaults(handler="sigstack.cli.tlog:run_serve")

    def client(name: str, help: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = tsub.add_parser(name, parents=[common], help=help, description=help)
        c.add_argument("--rekor-url", default="https://rekor.sigstore.dev", help="log base URL")
        return c

    p = client("get", "fetch an entry and verify its proof offline against the log key")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--log-index", type=int, help="entry index")
    g.add_argument("--uuid", help="entry UUID (64 hex) or entry ID (80 hex)")
    p.add_argument("--public-key", metavar="FILE",
                   help="log public key PEM (default: $SIGSTORE_REKOR_PUBLIC_KEY, else fetched, insecure)")
    p.set_defaults(handler="sigstack.cli.tlog:run_get")

    p = client("search", "list entry IDs by artifact hash, public key or email")
    p.add_argument("--sha", help="artifact digest: sha256:<hex> or <hex>")
    p.add_argument("--public-key", metavar="FILE", help="a signer's public key or certificate PEM")
    p.add_argument("--email", help="an email address from a certificate")
    p.set_defaults(handler="sigstack.cli.tlog:run_search")

    p = client("verify", "verify the log's current signed checkpoint against the log key")
    p.add_argument("--public-key", metavar="FILE", help="log public key PEM")
    p.set_defaults(handler="sigstack.cli.tlog:run_consistency")

    p = client("consistency", "check the log's new checkpoint extends a saved one, and save it")
    p.add_argument("--public-key", metavar="FILE", help="log public key PEM")
    p.add_argument("--state", required=True, metavar="FILE",
                   help="saved checkpoint file; created on first use, updated after each check")
    p.set_defaults(handler="sigstack.cli.tlog:run_consistency")

    p = tsub.add_parser("trusted-root", parents=[common],
                        help="print a Sigstore trusted root that names a log (for verify-blob/cosign)")
    p.add_argument("--public-key", required=True, metavar="FILE", help="the log's public key PEM")
    p.add_argument("--url", required=True, help="the log's base URL")
    p.set_defaults(handler="sigstack.cli.tlog:run_trusted_root")


def run_trusted_root(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack.bundle.trustroot import trusted_root_for_log
    from sigstack.cli._io import write_output
    from sigstack.errors import KeyLoadError

    try:
        pem = Path(args.public_key).read_bytes()
    except OSError as exc:
        raise KeyLoadError(f"reading log public key {args.public_key}: {exc.strerror or exc}") from None
    write_output(trusted_root_for_log(pem, args.url), args.output_file)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from sigstack.cli._common import server_options
    from sigstack.cli._io import Password, info
    from sigstack.tlog.server import serve

    options = server_options(args)
    scheme = "https" if options.tls_cert else "http"
    info(f"sigstack tlog listening on {scheme}://{args.host}:{args.port} (database {args.db})")
    serve(args.db, args.key, args.host, args.port, args.hostname, Password(), args.max_body, options)
    return 0


def _verifier(args: argparse.Namespace, client: Any) -> Any:
    """``--public-key``, else ``$SIGSTORE_REKOR_PUBLIC_KEY``, else the key the log serves."""
    from sigstack.cli._common import rekor_public_key
    from sigstack.tlog.client import log_verifier

    return log_verifier(args.public_key or rekor_public_key(), client)


def run_get(args: argparse.Namespace) -> int:
    import json

    from sigstack.cli._io import info, write_output
    from sigstack.tlog.client import RekorClient
    from sigstack.tlog.entry import verify_entry

    with RekorClient(args.rekor_url, go_duration(args.timeout)) as client:
        entry = client.get(log_index=args.log_index, uuid=args.uuid)
        checkpoint = verify_entry(entry, _verifier(args, client))
    info(f"Verified inclusion of entry {entry.log_index} in tree size {checkpoint.size}")
    doc = {"UUID": entry.entry_id, "LogIndex": entry.log_index, "IntegratedTime": entry.integrated_time,
           "LogID": entry.log_id.hex(), "Body": json.loads(entry.body)}
    write_output(json.dumps(doc, indent=2).encode() + b"\n", args.output_file)
    return 0


def run_search(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack.cli._io import write_output
    from sigstack.errors import SigstackError
    from sigstack.tlog.client import RekorClient

    if not (args.sha or args.public_key or args.email):
        raise SigstackError("give --sha, --public-key or --email")
    pem = Path(args.public_key).read_bytes() if args.public_key else None
    with RekorClient(args.rekor_url, go_duration(args.timeout)) as client:
        ids = client.search(sha=args.sha, public_key_pem=pem, email=args.email)
    write_output("".join(i + "\n" for i in ids).encode(), args.output_file)
    return 0


def run_consistency(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sigstack.cli._io import info
    from sigstack.tlog.client import RekorClient, check_log_consistency

    state = Path(args.state) if getattr(args, "state", None) else None
    with RekorClient(args.rekor_url, go_duration(args.timeout)) as client:
        old, new = check_log_consistency(client, _verifier(args, client), state)
    if old is None:
        info(f"Verified checkpoint: tree size {new.size}, root {new.root_hash.hex()}")
    else:
        info(f"Verified consistency from tree size {old.size} to {new.size}, root {new.root_hash.hex()}")
    return 0
