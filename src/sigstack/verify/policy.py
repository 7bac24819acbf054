"""Attestation policies, as ``cosign verify-attestation --policy`` evaluates them.

Rego files are evaluated with a real engine (``regopy``, the rego-cpp bindings):
query ``data.signature.allow`` with the in-toto statement as ``input``; the result
must be ``true``. CUE has no Python engine, so ``.cue`` files are refused with a
clear message instead of being half-checked.

rego-cpp writes its parse diagnostics straight to the process's stdout (file
descriptor 1), which would corrupt our command output; evaluation therefore runs
with fd 1 pointed at /dev/null for its duration.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sigstack._internal.quiet import quiet_stdout
from sigstack.errors import MissingExtraError, PolicyError


def _rego_message(exc: Exception) -> str:
    m = re.search(r"errormsg \d+:([^)\n]*)", str(exc))
    return m.group(1).strip() if m else str(exc).strip().splitlines()[0]


def load_policy(path: str) -> tuple[str, str]:
    """(kind, text) of a policy file; only ``.rego`` and ``.cue`` are policies."""
    suffix = Path(path).suffix
    if suffix not in (".rego", ".cue"):
        raise PolicyError("invalid policy format, expected .cue or .rego")
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"reading policy {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if suffix == ".cue":
        raise PolicyError(f"policy {path}: CUE policies are not supported by sigstack; "
                          "write the policy in Rego (.rego) instead")
    return suffix[1:], text


def evaluate_rego(name: str, text: str, statement: Any) -> str | None:
    """None when ``data.signature.allow`` is true for ``statement``; else the reason."""
    try:
        import regopy
    except ImportError:
        raise MissingExtraError("Rego policies", "policy") from None
    interp = regopy.Interpreter()
    try:
        with quiet_stdout():
            interp.add_module(Path(name).stem or "policy", text)
            interp.set_input(regopy.Input(statement))
            out = interp.query("data.signature.allow")
    except regopy.RegoError as exc:
        raise PolicyError(f"policy {name}: invalid Rego: {_rego_message(exc)}") from None
    rendered = str(out)
    if rendered == "undefined":
        return "data.signature.allow is undefined"
    try:
        values = json.loads(rendered).get("expressions") or []
    except (ValueError, AttributeError):
        return f"unexpected policy result {rendered}"
    if values == [True]:
        return None
    return f"policy is not compliant for query 'data.signature.allow' (result {json.dumps(values)})"
