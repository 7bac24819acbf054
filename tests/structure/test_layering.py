"""The package's shape, checked: dependencies point one way and nothing heavy leaks in.

``cli -> sign/verify -> oci/tlog/ca/bundle/payload -> keys -> errors`` (docs/architecture.md):
every ``import sigstack.X`` in the sources (module level, inside functions, and under
TYPE_CHECKING alike) is read with :mod:`ast`, mapped to its subpackage, and checked
against the layer ranks below; subpackages of one layer may use each other, but
without a cycle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sigstack"

#: lower numbers are lower layers; an import may only point to the same or a lower rank
RANK = {
    "errors": 0, "_version": 0, "_build_info": 0, "_internal": 0,
    "keys": 1,
    "payload": 2, "bundle": 2, "tlog": 2, "oci": 2, "ca": 2, "oidc": 2, "trust": 2, "tsa": 2,
    "sign": 3, "verify": 3, "policy": 3, "admission": 3, "gatekeeper": 3, "stack": 3,
    "cli": 4, "__main__": 4, "__init__": 4, "version": 4,
}
SERVERS = {"sigstack.tlog.api", "sigstack.tlog.server", "sigstack.tlog.store"}


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "sigstack":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _edges() -> dict[tuple[str, str], list[str]]:
    """(from subpackage, to subpackage) -> the files that import so."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        src = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                dst = _subpackage(name)
                if dst is not None and dst != src:
                    edges[(src, dst)].append(str(rel))
    return edges


def test_every_subpackage_has_a_rank() -> None:
    found = {p.name.removesuffix(".py") for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert found - set(RANK) == set()


def test_dependencies_point_down() -> None:
    upward = {edge: files for edge, files in _edges().items() if RANK[edge[0]] < RANK[edge[1]]}
    assert upward == {}


def test_no_cycle_among_subpackages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in _edges():
        graph[a].add(b)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
                   for nxt in graph.get(start, ()))

    cycles = sorted(p for p in list(graph) if reaches(p, p, {p}))
    assert cycles == []


def test_servers_never_import_the_cli() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        module = "sigstack." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        if not any(module.startswith(s) for s in SERVERS):
            continue
        if re.search(r"^\s*(from|import) sigstack\.cli\b", path.read_text(), re.M):
            bad.append(module)
    assert bad == []


@pytest.mark.parametrize("module", ["sigstack.bundle", "sigstack.bundle.models", "sigstack.tlog.entry",
                                    "sigstack.verify.evidence", "sigstack.payload.dsse"])
def test_models_load_no_http_or_cli(module: str) -> None:
    """Models apart from clients: importing a model (and using it) loads neither httpx nor the CLI."""
    code = (f"import {module}, sys; from sigstack.bundle import Bundle; "
            "bad = [m for m in sys.modules if m == 'httpx' or m.startswith('sigstack.cli')]; "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


FLAG_TEXT = re.compile(r"--insecure|--tlog-upload|--registry-|--rekor-")


def test_library_messages_name_no_cli_flag() -> None:
    """Errors raised outside ``cli/`` speak of the library; the CLI adds its flag hints
    (``sigstack.cli.main.HINT_TEXT``). String literals in raise statements are checked."""
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for sub in ast.walk(node.exc):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and FLAG_TEXT.search(sub.value):
                        found.append(f"{rel}:{node.lineno}: {sub.value}")
    assert found == []
