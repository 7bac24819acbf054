"""The CLI entry: which parsers are built for a command, and that nothing is lost by it."""

from __future__ import annotations

import argparse
import importlib

import pytest

from sigstack.cli import main
from tests.helpers import sigstack


def _registered(module: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub, argparse.ArgumentParser(add_help=False))
    return set(sub.choices)


@pytest.mark.parametrize("module", sorted(main.COMMAND_MODULES))
def test_command_table_names_what_each_module_registers(module: str) -> None:
    assert _registered(module) == set(main.COMMAND_MODULES[module])


@pytest.mark.parametrize(("argv", "command"), [
    (["verify", "--key", "k", "img"], "verify"),
    (["-d", "sign", "img"], "sign"),
    (["--output-file", "out", "tree", "img"], "tree"),
    (["-t", "30s", "sign-blob", "f"], "sign-blob"),
    (["--timeout=30s", "tlog", "get"], "tlog"),
    (["--help"], None),
    ([], None),
    (["--", "sign"], None),
])
def test_command_name(argv: list[str], command: str | None) -> None:
    assert main.command_name(argv) == command


def test_only_the_running_command_is_built() -> None:
    parser = main.build_parser("verify")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == {"version", "verify"}


@pytest.mark.parametrize("command", sorted(n for names in main.COMMAND_MODULES.values() for n in names))
def test_each_command_parses_its_help_alone(command: str) -> None:
    parser = main.build_parser(command)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([command, "--help"])
    assert exc.value.code == 0


def test_top_level_help_lists_every_command() -> None:
    r = sigstack("--help")
    assert r.code == 0
    for names in main.COMMAND_MODULES.values():
        for name in names:
            assert name in r.stdout


def test_unknown_command_is_refused_with_the_full_list() -> None:
    r = sigstack("sigh", "img")
    assert r.code == 2
    assert "invalid choice: 'sigh'" in r.err and "verify-attestation" in r.err


@pytest.mark.parametrize("argv", [["--output-file", "verify", "version"], ["-t", "1m", "version"]])
def test_option_values_are_not_taken_for_commands(argv: list[str], tmp_path: object) -> None:
    r = sigstack(*argv, cwd=tmp_path)  # type: ignore[arg-type]
    assert r.code == 0, r.err
