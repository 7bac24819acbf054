"""``sigstack policy test`` on bad input: one ``Error:`` line and exit 1 (the tester's
``log.Fatal`` cases), never a traceback; and the fast-tier pieces of the engine
(globs, knative field errors, Rego) on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigstack.errors import PolicyError
from sigstack.policy import fielderror as fe
from sigstack.policy.glob import compile_glob, matches
from sigstack.policy.rego import evaluate
from tests.helpers import assert_clean_error, sigstack

GOOD = """apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: p}
spec:
  images: [{glob: "ghcr.io/**"}]
  authorities: [{static: {action: pass}}]
"""


@pytest.mark.parametrize("policy,image,fragment", [
    (None, "ghcr.io/a/b:1", "open /nonexistent/policy.yaml: No such file or directory"),
    ("", "ghcr.io/a/b:1", "CIP is invalid: invalid value: document is required to create policy: policies[0].path"),
    ("a: [", "ghcr.io/a/b:1", "CIP is invalid: invalid value: decoding object[0]: error converting YAML to JSON"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "ghcr.io/a/b:1",
     "CIP is invalid: invalid value: unknown type: /v1, Kind=ConfigMap: policies[0].path"),
    ("kind: ClusterImagePolicy\nmetadata: {name: x}\n", "ghcr.io/a/b:1",
     "CIP is invalid: invalid value: missing field(s): [0].apiVersion: policies[0].path"),
    (GOOD, "Not A Ref", "could not parse reference: Not A Ref"),
])
def test_bad_input_is_one_error_line(policy: str | None, image: str, fragment: str, tmp_path: Path) -> None:
    path = "/nonexistent/policy.yaml"
    if policy is not None:
        (tmp_path / "p.yaml").write_text(policy)
        path = str(tmp_path / "p.yaml")
    assert_clean_error(sigstack("policy", "test", "--policy", path, "--image", image), fragment)


def test_a_resource_without_metadata_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    (tmp_path / "r.yaml").write_text("apiVersion: v1\nkind: Pod\nspec: {}\n")
    r = sigstack("policy", "test", "--policy", str(tmp_path / "p.yaml"), "--image", "ghcr.io/a/b:1",
                 "--resource", str(tmp_path / "r.yaml"))
    assert_clean_error(r, "kubernetes resource is missing metadata key")


def test_static_pass_needs_no_registry(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(GOOD)
    r = sigstack("policy", "test", "--policy", str(tmp_path / "p.yaml"), "--image", "ghcr.io/a/b:1")
    assert (r.code, r.out, r.err) == (0, b"", "")
    r = sigstack("policy", "test", "--policy", str(tmp_path / "p.yaml"), "--image", "docker.io/library/nginx")
    assert (r.code, r.out) == (1, b'{"errors":["docker.io/library/nginx is uncovered by policy"]}\n')


@pytest.mark.parametrize("glob,image,hit", [
    ("*", "nginx", True), ("*", "nginx:1.25", True), ("*", "ghcr.io/a/b", False),
    ("*/*", "bitnami/redis", True), ("ghcr.io/org/*", "ghcr.io/org/app:v1", True),
    ("ghcr.io/org/*", "ghcr.io/org/team/app", False), ("ghcr.io/org/**", "ghcr.io/org/team/app", True),
    ("ghcr.io/org/app", "ghcr.io/org/app:latest", False),  # policies see the normalised name
    ("index.docker.io/library/nginx:*", "nginx", True),
])
def test_globs_as_policy_controller(glob: str, image: str, hit: bool) -> None:
    assert matches(glob, image) is hit


def test_invalid_glob_message() -> None:
    with pytest.raises(PolicyError) as info:
        compile_glob("a b")
    assert info.value.message == 'invalid glob "a b"'


def test_field_errors_print_as_knative() -> None:
    a = fe.missing_field("images").via("spec")
    b = fe.invalid_value("audit", "mode", "unsupported mode").via("spec")
    c = fe.missing_one_of("key", "keyless", "static").via_index("authorities", 0).via("spec")
    assert fe.render([a, b, c]) == (
        "expected exactly one, got neither: spec.authorities[0].key, spec.authorities[0].keyless, "
        "spec.authorities[0].static\ninvalid value: audit: spec.mode\nunsupported mode\nmissing field(s): spec.images")
    assert fe.render([fe.generic("plain")]) == "plain: "  # the trailing ": " kubectl shows


def test_rego_results_and_warnings() -> None:
    ok = ('package sigstore\nisCompliant[r] {\n r := {"result": true, "warning": "old builder", '
          '"error": ""}\n}\n')
    out = evaluate("att", "rego", ok, {})
    assert out.error is None and out.warning == "warning: old builder"
    plain = "package sigstore\ndefault isCompliant = false\nisCompliant { input.ok }\n"
    assert evaluate("att", "rego", plain, {"ok": True}).error is None
    assert evaluate("att", "rego", plain, {"ok": False}).error == (
        "failed evaluating rego policy for type att: policy is not compliant for query "
        "'isCompliant = data.sigstore.isCompliant'")
    cue = evaluate("att", "cue", "predicate: {}", {})
    assert cue.error is not None and cue.error.startswith("failed evaluating cue policy for att: sigstack has no CUE")


POLICY_TESTER = Path.home() / "go" / "bin" / "policy-tester"


@pytest.mark.parametrize("policy_type,source,want", [
    ("rego", {"configMapRef": {"name": "cm", "key": "policy"}},
     b'{"errors":["failed evaluating rego policy for type ClusterImagePolicy: 1 error occurred: sigstore.rego:0: '
     b'rego_parse_error: empty module: "]}\n'),
    ("rego", {"remote": {"url": "https://127.0.0.1:1/p.rego", "sha256sum": "ab" * 32}},
     b'{"errors":["failed evaluating rego policy for type ClusterImagePolicy: 1 error occurred: sigstore.rego:0: '
     b'rego_parse_error: empty module: "]}\n'),
    ("cue", {"configMapRef": {"name": "cm", "key": "policy"}}, b""),
])
def test_policy_test_evaluates_config_map_and_remote_policies_as_policy_tester(
        policy_type: str, source: dict[str, object], want: bytes, tmp_path: Path) -> None:
    """policy-tester keeps only a policy's ``data`` (it reads no ConfigMap and fetches
    nothing): the text is empty. The expected lines are the live tester's (re-checked by
    the next test when it is built)."""
    import yaml

    doc = yaml.safe_load(GOOD)
    doc["spec"]["policy"] = {"type": policy_type, **source}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    r = sigstack("policy", "test", "--policy", str(tmp_path / "p.yaml"), "--image", "ghcr.io/a/b:1")
    assert (r.code, r.out, r.err) == (1 if want else 0, want, "")


@pytest.mark.interop
@pytest.mark.parametrize("policy_type,source", [("rego", {"configMapRef": {"name": "cm", "key": "policy"}}),
                                                ("cue", {"configMapRef": {"name": "cm", "key": "policy"}})])
def test_live_policy_tester_agrees_on_config_map_policies(policy_type: str, source: dict[str, object],
                                                          tmp_path: Path) -> None:
    import shutil
    import subprocess

    import yaml

    from tests.tiers import slow_resource

    if not shutil.which(str(POLICY_TESTER)):
        pytest.skip("policy-tester is not built (../shared/peers/build-policy-tester)")
    slow_resource("policy-tester")
    doc = yaml.safe_load(GOOD)
    doc["spec"]["policy"] = {"type": policy_type, **source}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(doc))
    args = ("--policy", str(tmp_path / "p.yaml"), "--image", "ghcr.io/a/b:1")
    ours = sigstack("policy", "test", *args)
    live = subprocess.run([str(POLICY_TESTER), "--log-level", "error", *args], capture_output=True, timeout=120)
    assert (live.returncode, live.stdout) == (ours.code, ours.out)
