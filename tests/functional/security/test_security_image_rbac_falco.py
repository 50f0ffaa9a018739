"""Image policies (Cosign keys, the critical-vulnerability attestation rule evaluated by regopy),
least-privilege RBAC, and Falco's SIEM forwarding and automated response."""

from __future__ import annotations

import json

import pytest
import regopy
import yaml
from chart_keys import keys_the_chart_ignores

VULN = "https://cosign.sigstore.dev/attestation/vuln/v1"


def attestation(*severities, predicate_type=VULN):
    return {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "registry.example.com/orchestrator/app", "digest": {"sha256": "0" * 64}}],
        "predicate": {
            "scanner": {
                "uri": "pkg:github/aquasecurity/trivy",
                "version": "0.65.0",
                "result": {
                    "Results": [
                        {
                            "Target": "app",
                            "Vulnerabilities": [
                                {"VulnerabilityID": f"CVE-2026-{i}", "Severity": s} for i, s in enumerate(severities)
                            ],
                        },
                        {"Target": "os"},
                    ]
                },
            }
        },
    }


@pytest.fixture(scope="module")
def vuln_rego(rendered):
    policy = rendered.one("ClusterImagePolicy", "platform-no-critical-vulnerabilities")
    authority = policy["spec"]["authorities"][0]
    (att,) = authority["attestations"]
    assert att["predicateType"] == "vuln" and att["policy"]["type"] == "rego"
    return att["policy"]["data"]


@pytest.mark.parametrize(
    ("statement", "compliant"),
    [
        (attestation(), True),
        (attestation("LOW", "MEDIUM", "HIGH"), True),
        (attestation("HIGH", "CRITICAL"), False),
        (attestation("CRITICAL", "CRITICAL"), False),
        (attestation("LOW", predicate_type="https://slsa.dev/provenance/v1"), False),
    ],
    ids=["clean", "no-critical", "one-critical", "two-critical", "wrong-predicate"],
)
def test_critical_vulnerabilities_are_refused(vuln_rego, statement, compliant):
    interp = regopy.Interpreter()
    interp.add_module("sigstore", vuln_rego)
    interp.set_input_term(json.dumps(statement))
    result = interp.query("x := data.sigstore.isCompliant")
    assert result.ok(), str(result)
    assert json.loads(str(result))["bindings"]["x"] is compliant


def test_signature_policy_uses_the_cosign_keys_and_starts_in_warn(rendered):
    for name in ("platform-signed-images", "platform-no-critical-vulnerabilities"):
        policy = rendered.one("ClusterImagePolicy", name)
        assert policy["spec"]["mode"] == "warn"
        assert [g["glob"] for g in policy["spec"]["images"]] == ["registry.example.com/orchestrator/**"]
        for authority in policy["spec"]["authorities"]:
            assert authority["key"]["data"].startswith("-----BEGIN PUBLIC KEY-----")
            assert "keyless" not in authority
    values = rendered.values["policy_controller/policy-controller-values.yml"]
    assert values["webhook"]["configData"]["no-match-policy"] == "warn"
    # Only opted-in namespaces are verified; the role opts the orchestrator's in.
    ns = [
        o
        for o in rendered.objects("Namespace", component="policy_controller")
        if o["metadata"]["name"] == "orchestrator"
    ]
    assert ns and ns[0]["metadata"]["labels"]["policy.sigstore.dev/include"] == "true"


def _rules_grant(role, group, resource, verb):
    return any(
        group in rule.get("apiGroups", [])
        and ({resource, "*"} & set(rule.get("resources", [])))
        and ({verb, "*"} & set(rule.get("verbs", [])))
        for rule in role.get("rules", [])
    )


def test_no_human_gets_cluster_admin_and_bindings_use_oidc_groups(rendered):
    bindings = rendered.objects("ClusterRoleBinding", component="rbac") + rendered.objects(
        "RoleBinding", component="rbac"
    )
    assert bindings
    for b in bindings:
        assert b["roleRef"]["name"] != "cluster-admin", b["metadata"]["name"]
        for s in b["subjects"]:
            assert s["kind"] in ("Group", "ServiceAccount"), b["metadata"]["name"]
            if s["kind"] == "Group":
                assert s["name"].startswith("oidc:"), s


def test_platform_roles_are_least_privilege(rendered):
    roles = {r["metadata"]["name"]: r for r in rendered.objects("ClusterRole", component="rbac")}
    assert set(roles) == {"platform-cluster-viewer", "platform-operator", "platform-admin"}
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"], role["metadata"]["name"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
            assert not {"clusterroles", "clusterrolebindings", "roles", "rolebindings"} & set(rule["resources"])
    assert not _rules_grant(roles["platform-cluster-viewer"], "", "secrets", "get")
    assert not _rules_grant(roles["platform-operator"], "", "secrets", "get")
    assert not _rules_grant(roles["platform-operator"], "", "pods/exec", "create")
    assert _rules_grant(roles["platform-operator"], "", "pods/eviction", "create")


def test_service_accounts_do_not_mount_tokens(rendered):
    accounts = rendered.objects("ServiceAccount")
    assert len(accounts) >= 9
    for sa in accounts:
        assert sa["automountServiceAccountToken"] is False, sa["metadata"]
    assert not [s for s in rendered.objects("Secret") if s.get("type") == "kubernetes.io/service-account-token"]
    deployer = next(s for s in accounts if s["metadata"]["name"] == "ci-deployer")
    assert "kubectl create token ci-deployer" in deployer["metadata"]["annotations"]["orchestrator.platform/token"]


def test_falco_forwards_to_the_siem_and_quarantines_with_the_network_policy_label(rendered):
    values = rendered.values["falco/falco-values.yml"]
    sidekick = values["falcosidekick"]
    assert sidekick["enabled"] is True
    assert sidekick["config"]["webhook"]["address"] == "https://siem.example.com/falco"
    assert sidekick["config"]["talon"]["minimumpriority"] == "critical"
    assert values["responseActions"]["enabled"] is True
    rules = yaml.safe_load(values["falco-talon"]["config"]["rulesOverride"])
    actions = {r["action"]: r for r in rules if "actionner" in r}
    (rule,) = [r for r in rules if "rule" in r]
    assert rule["match"]["priority"] == ">=Critical"
    action = actions[rule["actions"][0]["action"]]
    assert action["actionner"] == "kubernetes:label"
    (label,) = action["parameters"]["labels"]
    # The label Talon sets is the one every allow of the network policies excludes.
    policies = rendered.objects("NetworkPolicy")
    allows = [p for p in policies if p["metadata"]["name"] != "platform-default-deny"]
    assert allows
    for p in allows:
        expressions = p["spec"]["podSelector"]["matchExpressions"]
        assert {"key": label, "operator": "DoesNotExist"} in expressions, p["metadata"]["name"]


# Keys the falco-talon chart reads, from charts/falco-talon/values.yaml and templates/deployment.yaml
# at falcosecurity/charts tag falco-talon-0.3.0 (commit 4f6e4312a93a60bb5122f7136e943a6abfd3f0a2),
# the 0.3.* sub-chart falco 9.1.0 depends on. Its deployment takes only runAsUser and fsGroup of
# podSecurityContext and has no container securityContext: anything else is silently ignored.
FALCO_TALON_CHART_KEYS = {
    "": {
        "affinity",
        "config",
        "extraEnv",
        "grafana",
        "image",
        "imagePullSecrets",
        "ingress",
        "nameOverride",
        "nodeSelector",
        "podAnnotations",
        "podSecurityContext",
        "podSecurityPolicy",
        "priorityClassName",
        "rbac",
        "replicaCount",
        "resources",
        "service",
        "serviceMonitor",
        "tolerations",
    },
    "podSecurityContext": {"fsGroup", "runAsUser"},
    "image": {"pullPolicy", "registry", "repository", "tag"},
    "config": {
        "aws",
        "deduplication",
        "defaultNotifiers",
        "listenAddress",
        "listenPort",
        "minio",
        "notifiers",
        "otel",
        "printAllEvents",
        "rulesOverride",
        "watchRules",
    },
}


def test_falco_talon_values_use_only_keys_the_chart_reads(rendered):
    talon = rendered.values["falco/falco-values.yml"]["falco-talon"]
    ignored = keys_the_chart_ignores(talon, FALCO_TALON_CHART_KEYS)
    assert not ignored, f"falco-talon values: keys the chart ignores: {ignored}"
    assert talon["podSecurityContext"] == {"runAsUser": 1234, "fsGroup": 1234}
