"""docs/api.md's examples, run as written: every ```python block in order, in one
namespace, against a real registry (the ``registry`` fixture) and a real
``sigstack tlog serve`` log. A page of examples that no longer runs fails here."""

from __future__ import annotations

import re
from pathlib import Path

from ocihelpers import Registry, fresh
from tests.tlog._support import TlogServer, write_key

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_every_example_runs(registry: Registry, tmp_path: Path, capsys) -> None:
    assert len(blocks()) >= 6
    server = TlogServer(str(tmp_path / "log.db"), write_key(tmp_path / "log.key"), tmp_path).start()
    try:
        namespace = {"registry": registry.host, "rekor_url": server.url,
                     "log_public_key": str(server.public_key), "workdir": str(tmp_path),
                     "image_ref": fresh(registry)}
        for i, code in enumerate(blocks()):
            exec(compile(code, f"docs/api.md block {i + 1}", "exec"), namespace)
    finally:
        server.stop()
    out = capsys.readouterr().out
    assert "refused: " in out
    assert "valid signature(s) in the legacy layout" in out
    assert "https://slsa.dev/provenance/v0.2" in out
