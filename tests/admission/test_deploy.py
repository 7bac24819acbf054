"""The deployment files (deploy/admission, deploy/helm/sigstack-admission,
deploy/gatekeeper) agree with the code: the webhook configurations call the paths the
server serves with policy-controller's settings, the container arguments parse with
sigstack's own CLI, the sample policy loads, and the Helm templates only use values
the chart defines. (No cluster or helm binary runs here.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from sigstack.cli.main import build_parser
from sigstack.policy.models import parse_documents

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KINDS = {"pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"}


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in items if d["kind"] == kind]


def test_webhook_configurations_match_policy_controller_and_the_server() -> None:
    items = docs(DEPLOY / "admission" / "sigstack-admission.yaml")
    hooks = (("ValidatingWebhookConfiguration", "/validations"), ("MutatingWebhookConfiguration", "/mutations"))
    for kind, path in hooks:
        (cfg,) = by_kind(items, kind)
        assert cfg["metadata"]["name"] == "policy.sigstore.dev"
        (hook,) = cfg["webhooks"]
        assert hook["name"] == "policy.sigstore.dev" and hook["failurePolicy"] == "Fail"
        assert hook["timeoutSeconds"] == 25 and hook["admissionReviewVersions"] == ["v1"]
        assert hook["namespaceSelector"] == {"matchExpressions": [
            {"key": "policy.sigstore.dev/include", "operator": "In", "values": ["true"]}]}
        assert hook["clientConfig"]["service"]["path"] == path
        resources = {r.split("/")[0] for rule in hook["rules"] for r in rule["resources"]}
        assert resources == KINDS
        assert (hook.get("reinvocationPolicy") == "IfNeeded") == (kind == "MutatingWebhookConfiguration")
    (ns,) = by_kind(items, "Namespace")
    assert ns["metadata"]["labels"]["policy.sigstore.dev/include"] == "false"


def test_container_arguments_parse_and_the_sample_policy_loads() -> None:
    items = docs(DEPLOY / "admission" / "sigstack-admission.yaml") + \
        docs(DEPLOY / "gatekeeper" / "sigstack-gatekeeper.yaml")
    for dep in by_kind(items, "Deployment"):
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        parsed = build_parser(args[0]).parse_args(args)
        assert parsed.handler.endswith(":run_serve")
    (cm,) = by_kind(docs(DEPLOY / "admission" / "sigstack-admission.yaml"), "ConfigMap")
    for text in cm["data"].values():
        assert parse_documents(text).policies


def test_gatekeeper_samples_name_the_provider_paths() -> None:
    providers = {p["metadata"]["name"]: p["spec"]["url"] for p in docs(DEPLOY / "gatekeeper" / "provider.yaml")}
    assert providers["sigstack-verify"].endswith("/verify") and providers["sigstack-resolve"].endswith("/resolve")
    template = docs(DEPLOY / "gatekeeper" / "constrainttemplate.yaml")[0]
    rego = template["spec"]["targets"][0]["rego"]
    assert '"provider": "sigstack-verify"' in rego and "response.system_error" in rego
    for assign in docs(DEPLOY / "gatekeeper" / "assign.yaml"):
        assert assign["spec"]["parameters"]["assign"]["externalData"]["provider"] == "sigstack-resolve"


def test_helm_templates_use_only_defined_values() -> None:
    chart = DEPLOY / "helm" / "sigstack-admission"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["name"] == "sigstack-admission"
    used = set()
    for t in (chart / "templates").iterdir():
        used |= set(re.findall(r"\.Values\.([A-Za-z0-9_.]+)", t.read_text()))
    assert used
    for path in used:
        node: Any = values
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, f"{path} is not in values.yaml"
            node = node[part]
    crds = docs(chart / "crds" / "policy-crds.yaml")
    assert crds == docs(DEPLOY / "admission" / "crds.yaml")


def test_the_cluster_role_grants_every_core_read_the_webhook_makes() -> None:
    """Each ``read_namespaced_*``/``read_*`` call of sigstack.admission.kube needs ``get``
    on its resource: a missing rule would deny every pod whose policy needs it."""
    import inspect

    from sigstack.admission import kube

    calls = set(re.findall(r"self\.api\.read_(?:namespaced_)?([a-z_]+)", inspect.getsource(kube)))
    plural = {"secret": "secrets", "service_account": "serviceaccounts", "namespace": "namespaces",
              "config_map": "configmaps"}
    assert set(plural) == calls
    manifest = by_kind(docs(DEPLOY / "admission" / "sigstack-admission.yaml"), "ClusterRole")[0]
    helm = (DEPLOY / "helm" / "sigstack-admission" / "templates" / "rbac.yaml").read_text()
    helm_role = yaml.safe_load(re.sub(r"\{\{[^}]*\}\}", "x", helm.split("---")[1]))
    for role in (manifest, helm_role):
        core = [r for r in role["rules"] if r["apiGroups"] == [""]]
        assert {res for r in core if "get" in r["verbs"] for res in r["resources"]} >= set(plural.values())
