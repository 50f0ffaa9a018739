"""Everything steps 5 and 6 would send validates strictly; charts are pinned; values parse and say what we mean."""

from __future__ import annotations

import re
import stat

import pytest
import yaml
from k8s_schema import pinned_kubernetes_version, validate_all

# The pins this collection ships, asserted here so that a version change is a visible decision.
PINNED_CHARTS = {
    "calico/calico-release.yml": ("tigera-operator", "v3.32.1", "https://docs.tigera.io/calico/charts"),
    "gatekeeper/gatekeeper-release.yml": (
        "gatekeeper",
        "3.22.2",
        "https://open-policy-agent.github.io/gatekeeper/charts",
    ),
    "external_secrets/external-secrets-release.yml": (
        "external-secrets",
        "2.9.0",
        "https://charts.external-secrets.io",
    ),
    "vault/vault-release.yml": ("vault", "0.34.1", "https://helm.releases.hashicorp.com"),
    "trivy/trivy-operator-release.yml": ("trivy-operator", "0.34.0", "https://aquasecurity.github.io/helm-charts/"),
    "policy_controller/policy-controller-release.yml": (
        "policy-controller",
        "0.10.5",
        "https://sigstore.github.io/helm-charts",
    ),
    "falco/falco-release.yml": ("falco", "9.1.0", "https://falcosecurity.github.io/charts"),
}
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")
EXEMPT = {
    "kube-system",
    "tigera-operator",
    "calico-system",
    "falco",
    "orchestrator-agents",
    "longhorn-system",
    "observability-agents",
    "compliance",
}


def test_render_wrote_every_component(rendered):
    components = {p.split("/")[0] for p in [*rendered.manifests, *rendered.releases, *rendered.values]}
    assert components == {
        "calico",
        "network_policies",
        "pod_security",
        "rbac",
        "gatekeeper",
        "external_secrets",
        "vault",
        "trivy",
        "policy_controller",
        "falco",
    }


def test_every_rendered_object_validates_strictly(rendered):
    objects = [o for o in rendered.objects() if not o["apiVersion"].startswith("constraints.gatekeeper.sh/")]
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    # The custom resources the issue names are among them, so their schemas were really exercised.
    for expected in [
        ("operator.tigera.io/v1", "Installation"),
        ("projectcalico.org/v3", "GlobalNetworkPolicy"),
        ("projectcalico.org/v3", "BGPPeer"),
        ("external-secrets.io/v1", "ClusterSecretStore"),
        ("external-secrets.io/v1", "ExternalSecret"),
        ("policy.sigstore.dev/v1beta1", "ClusterImagePolicy"),
        ("templates.gatekeeper.sh/v1", "ConstraintTemplate"),
        ("config.gatekeeper.sh/v1alpha1", "Config"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("v1", "Namespace"),
    ]:
        assert expected in kinds, f"{expected} not rendered"
    problems = validate_all(objects)
    assert not problems, "\n".join(problems)


def test_validator_rejects_a_broken_rendered_object(rendered):
    # The validation above can fail: the same objects with one unknown field do.
    store = rendered.one("ClusterSecretStore", "vault")
    broken = {
        **store,
        "spec": {**store["spec"], "provider": {"vault": {**store["spec"]["provider"]["vault"], "sever": "x"}}},
    }
    assert validate_all([broken])


def test_rendered_files_are_private(rendered):
    for path in rendered.root.rglob("*.yml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.mark.parametrize("release_file", sorted(PINNED_CHARTS))
def test_chart_is_pinned_to_a_released_version(rendered, release_file):
    release = rendered.releases[release_file]
    chart, version, repo = PINNED_CHARTS[release_file]
    assert (release["chart"], release["version"], release["repo_url"]) == (chart, version, repo)
    assert SEMVER.match(release["version"])
    values = rendered.values[release_file.replace("-release.yml", "-values.yml")]
    assert isinstance(values, dict) and values


def test_calico_crds_come_from_their_own_chart_of_the_same_release(rendered):
    # Calico v3.32 moved its CRDs out of tigera-operator into crd.projectcalico.org.v1
    # (charts/tigera-operator/README.md at projectcalico/calico tag v3.32.1).
    operator = rendered.releases["calico/calico-release.yml"]
    crds = rendered.releases["calico/calico-crds-release.yml"]
    assert crds["chart"] == "crd.projectcalico.org.v1"
    assert (crds["version"], crds["repo_url"], crds["namespace"]) == (
        operator["version"],
        operator["repo_url"],
        operator["namespace"],
    )


def test_namespaces_carry_pod_security_labels_with_recorded_exemptions(rendered):
    version = "v" + ".".join(pinned_kubernetes_version().split(".")[:2])
    seen: dict[str, dict] = {}
    for ns in rendered.objects("Namespace"):
        name = ns["metadata"]["name"]
        labels = ns["metadata"]["labels"]
        exempt = name in EXEMPT
        assert labels["pod-security.kubernetes.io/enforce"] == ("privileged" if exempt else "restricted"), name
        assert labels["pod-security.kubernetes.io/audit"] == "restricted", name
        assert labels["pod-security.kubernetes.io/warn"] == ("privileged" if exempt else "restricted"), name
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == version
        reason = ns["metadata"].get("annotations", {}).get("orchestrator.platform/pod-security-exemption", "")
        assert bool(reason.strip()) == exempt, name
        # A namespace rendered by several roles gets the same Pod Security labels from each.
        psa = {k: v for k, v in labels.items() if k.startswith("pod-security")}
        assert seen.setdefault(name, psa) == psa, f"{name} labelled differently by two roles"
    assert {"kube-system", "default", "orchestrator", "orchestrator-agents", "falco"} <= set(seen)
    # The Tigera operator labels its own namespaces; labelling them too would make two managers fight.
    assert not {"calico-system", "calico-apiserver"} & set(seen)


def test_exemptions_are_recorded_with_their_reasons(rendered):
    record = rendered.one("ConfigMap", "pod-security-exemptions")
    listed = yaml.safe_load(record["data"]["exemptions.yaml"])
    assert {e["namespace"] for e in listed} == EXEMPT
    assert all(e["reason"].strip() for e in listed)
    assert record["data"]["default-level"] == "restricted"


def test_calico_uses_the_inventory_network(rendered):
    installation = rendered.one("Installation", "default")
    pool = installation["spec"]["calicoNetwork"]["ipPools"][0]
    assert pool["cidr"] == "10.244.0.0/16"
    assert pool["encapsulation"] == "IPIPCrossSubnet"
    assert installation["spec"]["calicoNetwork"]["bgp"] == "Enabled"
    assert installation["spec"]["serviceCIDRs"] == ["10.96.0.0/12"]
    peer = rendered.one("BGPPeer", "tor-rack1")
    assert (peer["spec"]["peerIP"], peer["spec"]["asNumber"]) == ("192.168.10.254", 64513)
    values = rendered.values["calico/calico-values.yml"]
    # The chart installs only the operator; the Installation above is ours.
    assert values["installation"]["enabled"] is False and values["apiServer"]["enabled"] is False
    gnp = rendered.one("GlobalNetworkPolicy", "platform-host-ingress")
    assert "!has(projectcalico.org/namespace)" in gnp["spec"]["selector"]  # host endpoints only
    assert gnp["spec"]["ingress"][-1] == {"action": "Deny"}


def test_values_keep_the_platform_offline_capable_and_restricted(rendered):
    gk = rendered.values["gatekeeper/gatekeeper-values.yml"]
    assert gk["postInstall"]["labelNamespace"]["enabled"] is False  # the role labels the namespace itself
    assert gk["enableRuntimeDefaultSeccompProfile"] is True
    trivy = rendered.values["trivy/trivy-operator-values.yml"]
    assert trivy["operator"]["infraAssessmentScannerEnabled"] is False  # no host-path node collector
    assert trivy["operator"]["builtInTrivyServer"] is True
    for ctx in (trivy["securityContext"], trivy["trivyOperator"]["scanJobPodTemplateContainerSecurityContext"]):
        assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"]["drop"] == ["ALL"]
    falco = rendered.values["falco/falco-values.yml"]
    assert falco["falcoctl"]["artifact"]["follow"]["enabled"] is False  # rules change only with the pins
    assert falco["driver"]["kind"] == "modern_ebpf" and falco["driver"]["modernEbpf"]["leastPrivileged"] is True
    assert all(":" in ref.rsplit("/", 1)[-1] for ref in falco["falcoctl"]["config"]["artifact"]["install"]["refs"])
    vault = rendered.values["vault/vault-values.yml"]
    assert vault["injector"]["enabled"] is False and vault["server"]["ha"]["raft"]["enabled"] is True


def test_no_secret_leaks_into_values_or_other_files(rendered):
    marker = "render-test-not-a-secret"
    holders = [str(p.relative_to(rendered.root)) for p in rendered.root.rglob("*.yml") if marker in p.read_text()]
    assert holders == ["falco/siem-credentials.yml"]
    assert (
        rendered.values["falco/falco-values.yml"]["falcosidekick"]["config"]["existingSecret"] == "falcosidekick-siem"
    )


def test_secret_store_uses_kubernetes_auth_with_short_lived_tokens(rendered):
    store = rendered.one("ClusterSecretStore", "vault")
    vault = store["spec"]["provider"]["vault"]
    assert vault["auth"]["kubernetes"]["serviceAccountRef"]["name"] == "external-secrets-vault"
    assert "tokenSecretRef" not in vault["auth"]
    assert store["spec"]["conditions"] == [{"namespaces": ["orchestrator"]}]
    sa = [o for o in rendered.objects("ServiceAccount") if o["metadata"]["name"] == "external-secrets-vault"]
    assert sa and sa[0]["automountServiceAccountToken"] is False
    example = rendered.one("ExternalSecret", "orchestrator-credentials")
    assert example["spec"]["refreshInterval"] == "1h"


def test_go_style_patterns_of_crd_schemas_are_enforced(rendered):
    # Calico's schema uses the RE2 pattern ^(?i)(Trace|Debug|Info|Warning|Error|Fatal)?$
    bgp = rendered.one("BGPConfiguration", "default")
    assert not validate_all([bgp])
    assert validate_all([{**bgp, "spec": {**bgp["spec"], "logSeverityScreen": "Verbose"}}])
