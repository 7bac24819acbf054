"""The deployment files name real commands: the Containerfile's default command and the
Kubernetes manifest's container arguments are accepted by ``sigstack``'s own parser, and
the manifest's probes name an endpoint the log serves."""

from __future__ import annotations

import json
import re

import yaml

from sigstack.cli.main import build_parser
from tests.ci._action import ROOT


def _parses(argv: list[str]) -> None:
    args = build_parser(argv[0]).parse_args(argv)
    assert args.handler == "sigstack.cli.tlog:run_serve"


def test_containerfile_default_command_is_a_valid_tlog_serve() -> None:
    text = (ROOT / "Containerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["sigstack"\]$', text, re.M)
    argv = json.loads(cmd)
    _parses(argv)
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert re.search(r"^USER 65532$", text, re.M)


def test_kubernetes_manifest_runs_tlog_serve_on_postgres() -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "tlog.yaml").read_text()))
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    service = next(d for d in docs if d["kind"] == "Service")
    assert deployment["spec"]["replicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    argv = container["args"]
    _parses(argv)
    env = {e["name"] for e in container["env"]}
    db = argv[argv.index("--db") + 1]
    assert db == "$(DATABASE_URL)" and "DATABASE_URL" in env  # expanded by Kubernetes from the Secret
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/v1/log"
    port = container["ports"][0]["containerPort"]
    assert str(port) == argv[argv.index("--port") + 1]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == labels
