"""Attestation and CIP-level policies, evaluated as policy-controller evaluates them
(cosign v3.0.5 ``pkg/policy/eval.go`` and ``pkg/cosign/rego``).

Rego: the module is ``sigstore.rego``, the query ``isCompliant = data.sigstore.isCompliant``;
the rule may be ``true``, or a set/list of ``{result, warning, error}`` objects (the
first failing one names the error; a passing one with a warning is a warning). The
engine is ``regopy`` (rego-cpp): it renders a partial set rule written in Rego v0
(``isCompliant[response] { ... }``) as an object keyed by the serialised elements,
which is turned back into the list OPA would give.

CUE has no Python engine: a CUE policy is refused with a clear message instead of
being half-checked (an error, so the image is denied, never silently admitted). The
one CUE text decided without an engine is the empty one (a ``configMapRef`` policy in
``policy test``): it is the open struct, which every JSON object unifies with, so it
accepts, as policy-tester's CUE does. An empty Rego module is OPA's parse error.

rego-cpp writes parse diagnostics to file descriptor 1; evaluation runs with fd 1 on
/dev/null, under a process-wide lock (the redirection is per process, and servers
evaluate on many threads).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from sigstack._internal.quiet import quiet_stdout
from sigstack.errors import MissingExtraError

QUERY = "isCompliant = data.sigstore.isCompliant"
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Outcome:
    """``error`` denies; ``warning`` alone is a warning (both None: compliant)."""

    error: str | None = None
    warning: str | None = None


def _results(binding: Any) -> list[Any] | None:
    if isinstance(binding, list):
        return binding
    if isinstance(binding, dict) and binding and all(v is True for v in binding.values()):
        out = []
        for k in binding:
            try:
                out.append(json.loads(k))
            except ValueError:
                return None
        return out
    return None


def evaluate_rego(text: str, document: Any) -> Outcome:
    """cosign's ``ValidateJSONWithModuleInput`` over ``document``; an error message
    without the ``failed evaluating ...`` prefix, which :func:`evaluate` adds."""
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return Outcome(error="1 error occurred: sigstore.rego:0: rego_parse_error: empty module")  # OPA's words
    try:
        import regopy
    except ImportError:
        raise MissingExtraError("Rego policies", "policy") from None
    with _LOCK:
        interp = regopy.Interpreter()
        try:
            with quiet_stdout():
                interp.add_module("sigstore.rego", text)
                interp.set_input(regopy.Input(document))
                out = str(interp.query(QUERY))
        except regopy.RegoError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid Rego"
            return Outcome(error=f"1 error occurred: sigstore.rego: {first}")
    failed = Outcome(error=f"policy is not compliant for query '{QUERY}'")
    if out == "undefined" or out.startswith("{\"errors\""):
        return failed
    try:
        binding = json.loads(out).get("bindings", {}).get("isCompliant")
    except (ValueError, AttributeError):
        return failed
    if binding is True:
        return Outcome()
    results = _results(binding)
    if results is None:
        return failed
    error: str | None = f'policy is not compliant for query "{QUERY}"'
    warning: str | None = None
    for r in results:
        if not isinstance(r, dict):
            return Outcome(error=f"policy is not compliant for query '{QUERY}' due to parsing errors: "
                                 "json: cannot unmarshal into Go value of type rego.CosignRuleResult")
        if r.get("result") is True:
            if not r.get("warning"):
                return Outcome()
            return Outcome(warning=f"warning: {r['warning']}")
        warning = str(r.get("warning") or "")
        error = f"policy is not compliant for query '{QUERY}' with errors: {r.get('error') or ''}"
    return Outcome(error=error, warning=warning or None)


def evaluate(name: str, policy_type: str, text: str, document: Any) -> Outcome:
    """``EvaluatePolicyAgainstJSON(name, type, body, json)``, with its error wording."""
    if policy_type == "rego":
        out = evaluate_rego(text, document)
        if out.error is not None:
            return Outcome(error=f"failed evaluating rego policy for type {name}: {out.error}", warning=out.warning)
        return out
    if policy_type == "cue":
        if not text.strip():  # an empty CUE document is the open struct: every JSON object unifies with it
            return Outcome()
        return Outcome(error=f"failed evaluating cue policy for {name}: sigstack has no CUE evaluator; "
                             "write this policy in Rego (type: rego)")
    return Outcome(error=f"sorry Type {policy_type} is not supported yet")
