"""The subset of Go's ``text/template`` that Fulcio's CI-provider claim templates use.

Fulcio's ``ci-issuer-metadata`` maps token claims to certificate extensions with Go
templates: ``{{ .claim }}``, ``{{ index . "claim.with.dots" }}`` (in parentheses or
not), and ``{{if eq ARG "value"}}A{{ else }}B{{end}}``. No Python package speaks Go
templates, and a general engine would be far more than those five forms, so this is
a small evaluator of exactly them. A claim the template needs but the token lacks is
an error, as it is for Fulcio (``missingkey=error``); a construct outside the subset
is a configuration error found when the configuration is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sigstack.ca.errors import ConfigError

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_ARG = re.compile(r'\(\s*index\s+\.\s+"([^"]*)"\s*\)|index\s+\.\s+"([^"]*)"|\.([A-Za-z_][A-Za-z0-9_]*)|"([^"]*)"')


class MissingClaim(Exception):
    """A template needs a claim that is not in the token (nor in the defaults)."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class _Arg:
    claim: str | None
    literal: str | None

    def value(self, data: Mapping[str, str]) -> str:
        if self.literal is not None:
            return self.literal
        assert self.claim is not None
        if self.claim not in data:
            raise MissingClaim(self.claim)
        return data[self.claim]


def _parse_args(text: str, source: str) -> list[_Arg]:
    args: list[_Arg] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if m is None:
            raise ConfigError(f"unsupported template expression {text!r} in {source!r}")
        idx_paren, idx, field, lit = m.groups()
        if lit is not None:
            args.append(_Arg(None, lit))
        else:
            args.append(_Arg(idx_paren if idx_paren is not None else idx if idx is not None else field, None))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return args


@dataclass(frozen=True)
class _If:
    left: _Arg
    right: _Arg
    then: list[_Node]
    other: list[_Node]


# A parsed template: text pieces, values, and if/else blocks.
_Node = tuple[str, "str | _Arg | _If"]


def _parse(source: str) -> list[_Node]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(source):
        if m.start() > pos:
            tokens.append(("text", source[pos : m.start()]))
        tokens.append(("action", m.group(1)))
        pos = m.end()
    if pos < len(source):
        tokens.append(("text", source[pos:]))
    nodes, rest = _block(tokens, 0, source)
    if rest != len(tokens):
        raise ConfigError(f"unbalanced {{{{end}}}} in template {source!r}")
    return nodes


def _block(tokens: list[tuple[str, str]], i: int, source: str) -> tuple[list[_Node], int]:
    nodes: list[_Node] = []
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            nodes.append(("text", text))
            i += 1
            continue
        word = text.split(None, 1)[0] if text else ""
        if word in ("else", "end"):
            return nodes, i
        if word == "if":
            cond = text[2:].strip()
            if not cond.startswith("eq "):
                raise ConfigError(f"only 'if eq A B' conditions are supported in template {source!r}")
            args = _parse_args(cond[3:], source)
            if len(args) != 2:
                raise ConfigError(f"'eq' needs two arguments in template {source!r}")
            then, i = _block(tokens, i + 1, source)
            other: list[_Node] = []
            if i < len(tokens) and tokens[i] == ("action", "else"):
                other, i = _block(tokens, i + 1, source)
            if i >= len(tokens) or tokens[i] != ("action", "end"):
                raise ConfigError(f"missing {{{{end}}}} in template {source!r}")
            nodes.append(("if", _If(args[0], args[1], then, other)))
            i += 1
            continue
        args = _parse_args(text, source)
        if len(args) != 1:
            raise ConfigError(f"unsupported template expression {text!r} in {source!r}")
        nodes.append(("value", args[0]))
        i += 1
    return nodes, i


def _render(nodes: list[_Node], data: Mapping[str, str]) -> str:
    out: list[str] = []
    for _, payload in nodes:
        if isinstance(payload, str):
            out.append(payload)
        elif isinstance(payload, _Arg):
            out.append(payload.value(data))
        else:
            branch = payload.then if payload.left.value(data) == payload.right.value(data) else payload.other
            out.append(_render(branch, data))
    return "".join(out)


class Template:
    """A Fulcio claim template: a bare claim name, or a Go-template string."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _parse(source) if "{{" in source else None

    def render(self, data: Mapping[str, str]) -> str:
        """The value for ``data`` (claims over default template values); raises
        :class:`MissingClaim`."""
        if self._nodes is None:
            if self.source not in data:
                raise MissingClaim(self.source)
            return data[self.source]
        return _render(self._nodes, data)
