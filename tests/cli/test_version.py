"""``sigstack version``: cosign's fields (release-utils layout), from a source checkout."""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

from tests.helpers import sigstack

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ["GitVersion", "GitCommit", "GitTreeState", "BuildDate", "PythonVersion", "Compiler", "Platform"]


def test_version_prints_cosigns_fields_aligned() -> None:
    r = sigstack("version")
    assert r.code == 0, r.err
    lines = r.stdout.splitlines()
    desc = next(i for i, line in enumerate(lines) if line.startswith("sigstack: "))
    assert desc >= 4  # the banner comes first
    assert lines[desc + 1] == ""
    fields = lines[desc + 2 :]
    assert [line.split(":", 1)[0] for line in fields] == FIELDS
    # values start in one column: two spaces after the longest label, as Go's tabwriter
    assert {line.index(line.split()[1]) for line in fields} == {len("PythonVersion:") + 2}
    values = dict(line.split(None, 1) for line in fields)
    assert values["PythonVersion:"] == platform.python_version()
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    if not (ROOT / "src" / "sigstack" / "_build_info.py").exists():  # a checkout: git is asked
        assert values["GitCommit:"] == head.strip()
        assert values["BuildDate:"] == "unknown"


def test_version_json_has_the_same_fields() -> None:
    r = sigstack("version", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.stdout)
    assert list(doc) == [f[0].lower() + f[1:] for f in FIELDS]
    assert doc["gitVersion"].startswith("v") and "/" in doc["platform"]


def test_version_to_an_output_file(tmp_path: Path) -> None:
    out = tmp_path / "v.json"
    r = sigstack("version", "--json", "--output-file", str(out))
    assert r.code == 0 and r.stdout == ""
    assert json.loads(out.read_text())["compiler"] == "cpython"
