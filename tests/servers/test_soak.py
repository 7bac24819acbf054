"""The soak (tests/servers/soak.py, ``scripts/soak``) in the normal suite, on its
shortest plan: the one fault no other test injects, the CA's CT database (PostgreSQL)
going away under the load of all three services, then every soak invariant checked
(entries lost 0, checkpoints consistent, no certificate without its CT entry, the
webhook's decisions right). The other faults have their own fast tests
(tests/tlog/test_faults.py, tests/ca/test_faults.py, tests/admission/test_faults.py);
``scripts/soak --minutes N`` runs them all, in turn, for as long as asked."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from tests.servers.soak import Soak
from tests.tiers import slow_resource

pytestmark = pytest.mark.needs_server


def test_soak_ct_database_away(tmp_path: Path) -> None:
    slow_resource("the soak's servers and PostgreSQL")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.fail("PostgreSQL binaries not found: install the Debian package 'postgresql' (scripts/bootstrap does)")
    report = Soak(tmp_path / "soak", minutes=0, hold=1.0, settle=1.0, faults=("CT database away",),
                  say=lambda _: None).run()
    assert report.faults == ["CT database away"], report.text()
    assert report.ok, report.text()
    assert report.acknowledged > 0 and report.issued > 0 and report.reviews > 0, report.text()
    ((_, _, ca_failed, _, _),) = report.refused
    assert ca_failed > 0, "the CA never saw its database go away: the fault was not exercised"
    assert [f for f, _ in report.ca.recoveries] == ["CT database away"]
