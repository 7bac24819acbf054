"""Argument helpers that give argparse cosign's (Go pflag/viper) conventions.

* Boolean flags take ``--flag``, ``--flag=true`` and ``--flag=false`` but never a
  separate value, as in Go; argparse has no such flag type, so we register the
  ``=value`` spellings as hidden aliases.
* Every long flag ``--foo-bar`` may also come from ``COSIGN_FOO_BAR`` (cosign 3.1's
  viper binding); an explicit flag wins.
* A flag cosign marks deprecated prints pflag's notice when it is typed, and not when
  it comes from the environment (viper sets it without going through pflag).
"""

from __future__ import annotations

import argparse
import os

TYPE_CHECKING = False  # not typing's: every command parses through here, typing is ~5 ms
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

TRUE = ("1", "t", "true", "TRUE", "True", "T")
FALSE = ("0", "f", "false", "FALSE", "False", "F")


def parse_bool(text: str) -> bool:
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


class _StoreBool(argparse.Action):
    def __init__(self, option_strings: list[str], dest: str, value: bool, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kw)
        self.value = value

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, self.value)


def add_bool(parser: argparse.ArgumentParser, *names: str, default: bool, help: str) -> None:
    """A Go-style boolean flag."""
    long = next(n for n in names if n.startswith("--"))
    dest = long[2:].replace("-", "_")
    parser.add_argument(*names, dest=dest, action=_StoreBool, value=True, default=default,
                        help=f"{help} (default {str(default).lower()})")
    for text in TRUE + FALSE:
        parser.add_argument(f"{long}={text}", dest=dest, action=_StoreBool,
                            value=text in TRUE, help=argparse.SUPPRESS)


class _DeprecatedStore(argparse._StoreAction):
    """argparse's own store action, plus pflag's deprecation notice (see :func:`add_deprecated`)."""

    def __init__(self, option_strings: list[str], dest: str, deprecation: str = "", **kw: Any) -> None:
        super().__init__(option_strings, dest, **kw)
        self.deprecation = deprecation
        self.from_env = False  # set by env_arguments when the value is the environment's

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if not self.from_env:
            import sys

            print(f"Flag {self.option_strings[0]} has been deprecated, {self.deprecation}", file=sys.stderr)
        super().__call__(parser, namespace, values, option_string)


def add_deprecated(parser: argparse.ArgumentParser, name: str, deprecation: str, **kw: Any) -> None:
    """A value flag cosign has deprecated (pflag's ``MarkDeprecated``): typed, it prints
    ``Flag NAME has been deprecated, DEPRECATION`` on stderr, as cosign does. Unlike
    pflag it stays in ``--help``: the flag still works and should be discoverable."""
    parser.add_argument(name, action=_DeprecatedStore, deprecation=deprecation, **kw)


def env_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """Command-line tokens for flags not given in ``argv`` but set as ``COSIGN_<FLAG>``.

    They are added before parsing, so required flags (``--key``) can come from the
    environment too, and values go through the same validation as typed ones.
    """
    given = {token.split("=", 1)[0] for token in argv if token.startswith("-")}
    extra: list[str] = []
    for action in parser._actions:  # argparse offers no public iterator over actions
        longs = [o for o in action.option_strings if o.startswith("--") and "=" not in o]
        if not longs or action.dest in ("help", "version") or action.help == argparse.SUPPRESS:
            continue
        if any(o in given for o in action.option_strings):
            continue
        env = os.environ.get("COSIGN_" + longs[0][2:].replace("-", "_").upper())
        if env is None:
            continue
        if isinstance(action, _StoreBool):
            extra.append(f"{longs[0]}={env}")
        elif isinstance(action, _DeprecatedStore):
            action.from_env = True
            extra.append(f"{longs[0]}={env}")
        elif isinstance(action, argparse._AppendAction):
            for value in (v for v in env.split(",") if v):
                extra += [longs[0], value]
        elif action.nargs == 0:
            if env in TRUE:
                extra.append(longs[0])
        else:
            extra.append(f"{longs[0]}={env}")
    return extra
