"""Entry point: build the parser, dispatch, and turn errors into exit codes.

Each command module registers its sub-commands with a ``handler`` named as a
string (``module:function``); the handler module is imported only when that
command runs, keeping start-up to argparse alone. Only the module that owns the
command being run registers its parsers (building all ~30 sub-parsers costs
~25 ms, a tenth of a whole ``verify``); ``--version`` registers none, and only
``--help`` and unknown commands get them all.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sigstack._version import __version__

TYPE_CHECKING = False  # not typing's: importing typing is ~5 ms of every start-up
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from sigstack.errors import SigstackError

# Command modules and the top-level commands each registers; a new command group is
# one line here (tests/cli/test_main.py checks the names against what is registered).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "sigstack.cli.keys": ("generate-key-pair", "import-key-pair", "public-key"),
    "sigstack.cli.blob": ("sign-blob", "verify-blob"),
    "sigstack.cli.pkcs11": ("pkcs11-tool",),
    "sigstack.cli.image": ("sign", "verify", "login", "triangulate", "tree"),
    "sigstack.cli.attest": ("attest", "attest-blob", "verify-attestation", "verify-blob-attestation"),
    "sigstack.cli.attach": ("attach", "download", "clean", "copy"),
    "sigstack.cli.tlog": ("tlog",),
    "sigstack.cli.saveload": ("save", "load"),
    "sigstack.cli.trust": ("initialize",),
    "sigstack.cli.ca": ("ca", "ct"),
    "sigstack.cli.tsa": ("tsa",),
    "sigstack.cli.oidc": ("oidc",),
    "sigstack.cli.trustmaterial": ("trusted-root", "signing-config"),
    "sigstack.cli.serve": ("serve",),
    "sigstack.cli.policy": ("policy",),
    "sigstack.cli.admission": ("admission",),
    "sigstack.cli.gatekeeper": ("gatekeeper",),
}
# Top-level options that take a value, so the command name can be found before parsing.
_VALUE_OPTIONS = frozenset({"--output-file", "-t", "--timeout"})


def command_name(argv: Sequence[str]) -> str | None:
    """The first positional token of ``argv`` (the command), or None."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token == "--":
            return None
        elif token in _VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def asks_version(argv: Sequence[str]) -> bool:
    """Whether argparse will stop at a top-level ``--version`` (no command, and no help
    flag before it): then no sub-parser is needed to answer."""
    for token in argv:
        if token == "--":
            return False
        if token in ("-h", "--help"):
            return False
        if token == "--version":
            return True
    return False


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; with ``command``, only the module owning it registers (all
    of them when no module claims it, so argparse reports unknown commands)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-d", "--verbose", action="store_true",
                        help="show debug output and full tracebacks on errors")
    common.add_argument("--output-file", metavar="FILE",
                        help="write the command's output to FILE instead of stdout")
    common.add_argument("-t", "--timeout", default="3m",
                        help="timeout for network operations, e.g. 30s, 3m (default 3m)")

    parser = argparse.ArgumentParser(
        prog="sigstack",
        description="Sign and verify software artifacts; a cosign-compatible Sigstore stack.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"sigstack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    version = sub.add_parser("version", parents=[common], help="print the version")
    version.add_argument("--json", action="store_true", help="print the version as JSON")
    version.set_defaults(handler="sigstack.cli.main:run_version")
    owners = [m for m, names in COMMAND_MODULES.items() if command in names]
    target = _OnlyCommand(sub, command) if owners else sub
    for name in owners or ([] if command == "version" else COMMAND_MODULES):
        importlib.import_module(name).register(target, common)
    return parser


class _OnlyCommand:
    """The sub-parsers action, seen by a module's ``register`` when one command runs:
    the other commands of that module get a parser that ignores what is added to it
    (each real one costs ~1.5 ms of ``add_argument`` calls)."""

    def __init__(self, sub: Any, command: str | None) -> None:
        self._sub = sub
        self._command = command

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        return self._sub.add_parser(name, **kwargs) if name == self._command else _Ignored()


class _Ignored:
    """Accepts any parser-building call and ignores it."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self


def run_version(args: argparse.Namespace) -> int:
    from sigstack.cli._io import write_output
    from sigstack.version import render, render_json, version_info

    info = version_info()
    write_output((render_json(info) if args.json else render(info)).encode(), args.output_file)
    return 0


def _with_env_flags(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` plus the flags that come from ``COSIGN_<FLAG>`` for the chosen command."""
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for i, token in enumerate(argv):
                if token == "--":
                    break
                if token in action.choices:
                    sub: argparse.ArgumentParser = action.choices[token]
                    rest = argv[i + 1 :]
                    if _has_sub(sub):  # nested groups (``tlog get``): descend to the leaf
                        return [*argv[: i + 1], *_with_env_flags(sub, rest)]
                    from sigstack.cli._args import env_arguments

                    return [*argv[: i + 1], *env_arguments(sub, rest), *rest]
    return argv


def _has_sub(parser: argparse.ArgumentParser) -> bool:
    return any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # httpx's package __init__ imports its own command-line client when click is
    # installed (dev tools pull it in), and with it rich and pygments: ~35 ms of a
    # ~0.1 s command. httpx falls back cleanly when that module cannot be imported,
    # and nothing here uses it.
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    command = command_name(argv)
    # ``version`` registers no command module: the top-level --version needs none either.
    parser = build_parser("version" if command is None and asks_version(argv) else command)
    args = parser.parse_args(_with_env_flags(parser, argv))
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 1
    module, _, func = args.handler.partition(":")
    from sigstack.errors import SigstackError

    try:
        handler = getattr(importlib.import_module(module), func)
        code: int = handler(args)
        return code
    except SigstackError as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"Error: {render(exc)}", file=sys.stderr)
        return exit_code_for(exc, args)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the edge: never show a traceback unless asked
        if args.verbose:
            import traceback

            traceback.print_exc()
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"Error: unexpected {type(exc).__name__}: {text} (run with --verbose for details)",
              file=sys.stderr)
        return 1


#: How the CLI words a library error's ``hint`` (see ``sigstack.errors.HINTS``): the
#: library names the option, the CLI names its flag.
HINT_TEXT = {
    "timeout": " (-t/--timeout)",
    "keyless_not_key": "; verify it with --certificate-identity and --certificate-oidc-issuer instead of --key",
    "insecure_ignore_tlog_skip": " (pass --insecure-ignore-tlog to skip the log check)",
    "insecure_ignore_tlog_accept": "; pass --insecure-ignore-tlog to accept it without",
    "insecure_ignore_tlog_alone": "; pass --insecure-ignore-tlog to check the signature alone",
    "trusted_logs": ": pass --trusted-root or set SIGSTORE_REKOR_PUBLIC_KEY (or --insecure-ignore-tlog to "
                    "skip the log check)",
    "no_tlog_upload": "; pass --tlog-upload=false",
    "no_tlog_upload_or_bundle": "; pass --tlog-upload=false and no --bundle",
    "registry_ca": "; pass --registry-cacert FILE with its CA (or --allow-insecure-registry to skip the check)",
    "registry_http": " (a plain-HTTP registry needs --allow-http-registry)",
    "check_reference": " (--check-reference=false accepts signatures made for another repository, e.g. a "
                       "mirror)",
}


def render_hint(exc: BaseException) -> str:
    hint = getattr(exc, "hint", None)
    return HINT_TEXT.get(hint, "") if isinstance(hint, str) else ""


def render(exc: SigstackError) -> str:
    """The one ``Error:`` line's text: the message with its hint in flag terms (each
    cause's, for an error that gathers the reasons of several signatures)."""
    from sigstack.errors import NoMatchingSignaturesError

    if isinstance(exc, NoMatchingSignaturesError):
        return "no matching signatures: " + "\n ".join(c.message + render_hint(c) for c in exc.causes)
    return exc.message + render_hint(exc)


def exit_code_for(exc: BaseException, args: argparse.Namespace | None = None) -> int:
    """The exit code for a library error, decided here from its type as cosign decides
    it: image verification has 10 (no signatures), 11 (image not found) and 12 (none
    matched); everything else is 1. Verifying a saved directory (``--local-image``)
    always exits 1, as cosign's local path does."""
    from sigstack.errors import NoMatchingSignaturesError, NoSignaturesError, TagNotFoundError

    if args is not None and getattr(args, "local_image", False):
        return 1
    for kind, code in ((NoSignaturesError, 10), (TagNotFoundError, 11), (NoMatchingSignaturesError, 12)):
        if isinstance(exc, kind):
            return code
    return 1


def entry() -> None:
    """Console-script entry point."""
    code = main()
    if command_name(sys.argv[1:]) == "tlog":  # servers: the ordinary, thorough shutdown
        sys.exit(code)
    exit_now(code)


def exit_now(code: int) -> None:
    """End the process without the interpreter's teardown.

    Freeing every module and object at exit takes ~20 ms here, a seventh of a whole
    ``verify``, and a command has nothing left to release: files are written
    atomically and closed, registry and log connections are closed by their ``with``
    blocks, and worker threads are joined. atexit handlers still run (they are the
    documented way for libraries to finish work) and both streams are flushed.
    """
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            code = code or 1
    os._exit(code)


if __name__ == "__main__":
    entry()
