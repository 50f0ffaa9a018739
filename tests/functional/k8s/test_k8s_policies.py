"""Policy tests over every rendered object of the k8s/ tree.

Every container: requests and limits, non-root, read-only root filesystem, capabilities dropped,
no privilege escalation, a seccomp profile, readiness and liveness probes, a pinned image. A
workload may break a rule only if it is on the named exemption list below, for that rule. Every
namespace: default deny, DNS, and policies for each workload; Pod Security labels that match
what runs there.
"""

from __future__ import annotations

import re

import pytest
from k8s_tree import DEPLOYABLE, containers, pod_specs, selects

# The exemption list, short and named: (namespace, workload name) -> rules it may break, and why.
# docs/workloads.md, "Exemptions", says the same; step 6's policies exempt the same names.
EXEMPTIONS = {
    ("orchestrator-agents", "mesos-agent"): {
        "rules": {"privileged", "run-as-root", "capabilities", "privilege-escalation", "seccomp", "host-path"},
        "why": "creates cgroups and mount namespaces for the Mesos tasks it launches",
    },
    ("orchestrator-agents", "probe-agent"): {
        "rules": {"host-path", "api-token"},
        "why": "reads the host's /proc and the runtime socket (read-only) and lists pods and nodes",
    },
}
SETS = sorted(DEPLOYABLE)


def exempt(obj, rule):
    entry = EXEMPTIONS.get((obj["metadata"].get("namespace"), obj["metadata"]["name"]))
    return bool(entry) and rule in entry["rules"]


def effective(spec, container, key):
    """A securityContext field as the container sees it (the container's value wins)."""
    value = (container.get("securityContext") or {}).get(key)
    return value if value is not None else (spec.get("securityContext") or {}).get(key)


def all_containers(rendered, name):
    for obj, label, spec in pod_specs(rendered[name]):
        for container in containers(spec):
            yield obj, f"{label} container {container['name']}", spec, container


def test_exemption_list_is_short():
    assert len(EXEMPTIONS) <= 2
    assert all(entry["why"] for entry in EXEMPTIONS.values())


@pytest.mark.parametrize("name", SETS)
def test_resources_requests_and_limits(name, rendered):
    for _, where, _, container in all_containers(rendered, name):
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for res in ("cpu", "memory"):
                assert res in (resources.get(kind) or {}), f"{name}: {where} has no {kind}.{res}"


@pytest.mark.parametrize("name", SETS)
def test_non_root(name, rendered):
    for obj, where, spec, container in all_containers(rendered, name):
        if exempt(obj, "run-as-root"):
            continue
        assert effective(spec, container, "runAsNonRoot") is True, f"{name}: {where} may run as root"
        assert effective(spec, container, "runAsUser") not in (0, None), f"{name}: {where} has no non-zero runAsUser"


@pytest.mark.parametrize("name", SETS)
def test_read_only_root_filesystem(name, rendered):
    for _, where, _, container in all_containers(rendered, name):
        ctx = container.get("securityContext") or {}
        assert ctx.get("readOnlyRootFilesystem") is True, f"{name}: {where} has a writable root filesystem"


@pytest.mark.parametrize("name", SETS)
def test_capabilities_dropped_and_no_escalation(name, rendered):
    for obj, where, spec, container in all_containers(rendered, name):
        ctx = container.get("securityContext") or {}
        if not exempt(obj, "privileged"):
            assert not ctx.get("privileged"), f"{name}: {where} is privileged"
        if not exempt(obj, "capabilities"):
            caps = ctx.get("capabilities") or {}
            assert "ALL" in (caps.get("drop") or []), f"{name}: {where} does not drop ALL capabilities"
            assert not caps.get("add"), f"{name}: {where} adds capabilities {caps.get('add')}"
        if not exempt(obj, "privilege-escalation"):
            assert ctx.get("allowPrivilegeEscalation") is False, f"{name}: {where} allows privilege escalation"
        if not exempt(obj, "seccomp"):
            profile = effective(spec, container, "seccompProfile") or {}
            assert profile.get("type") in ("RuntimeDefault", "Localhost"), f"{name}: {where} has no seccomp profile"


@pytest.mark.parametrize("name", SETS)
def test_probes_on_every_workload(name, rendered):
    for _, where, _, container in all_containers(rendered, name):
        assert container.get("readinessProbe"), f"{name}: {where} has no readiness probe"
        assert container.get("livenessProbe"), f"{name}: {where} has no liveness probe"


IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9.-]+(?::\d+)?/[^:@\s]+)(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@sha256:[0-9a-f]{64})?$"
)


@pytest.mark.parametrize("name", SETS)
def test_images_pinned_never_latest(name, rendered):
    for _, where, _, container in all_containers(rendered, name):
        image = container["image"]
        match = IMAGE.match(image)
        assert match, f"{name}: {where} image {image!r} is not registry/name:tag (kustomize images: missed it?)"
        assert match["tag"] or "@sha256:" in image, f"{name}: {where} image {image!r} has no tag"
        assert match["tag"] != "latest", f"{name}: {where} uses the latest tag"


@pytest.mark.parametrize("name", SETS)
def test_no_host_namespaces_and_host_paths_only_where_exempt(name, rendered):
    for obj, label, spec in pod_specs(rendered[name]):
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), f"{name}: {label} uses {key}"
        host_paths = {v["name"] for v in spec.get("volumes", []) if "hostPath" in v}
        if host_paths:
            assert exempt(obj, "host-path"), f"{name}: {label} mounts host paths {sorted(host_paths)}"
            assert obj["metadata"]["namespace"] == "orchestrator-agents", f"{name}: {label}: host paths outside agents"
        if exempt(obj, "host-path") and not exempt(obj, "privileged"):
            for container in containers(spec):
                for mount in container.get("volumeMounts", []):
                    if mount["name"] in host_paths:
                        assert mount.get("readOnly") is True, f"{name}: {label} writes to host path {mount['name']}"


@pytest.mark.parametrize("name", SETS)
def test_service_account_tokens_only_where_needed(name, rendered):
    for obj, label, spec in pod_specs(rendered[name]):
        if exempt(obj, "api-token"):
            continue
        assert spec.get("automountServiceAccountToken") is False, f"{name}: {label} mounts an API token"


@pytest.mark.parametrize("name", ["base", "dev", "staging", "prod"])
def test_pod_security_labels_match_what_runs(name, rendered):
    objects = rendered[name]
    namespaces = {o["metadata"]["name"]: o["metadata"].get("labels", {}) for o in objects if o["kind"] == "Namespace"}
    assert namespaces["orchestrator"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["orchestrator-agents"]["pod-security.kubernetes.io/enforce"] == "privileged"
    for obj, label, _ in pod_specs(objects):
        ns = obj["metadata"]["namespace"]
        assert ns in namespaces, f"{label} is in a namespace the tree does not create"
        if ns == "orchestrator-agents":
            assert (ns, obj["metadata"]["name"]) in EXEMPTIONS, f"{label}: only exempt agents run at privileged"


def test_probe_agent_budget(rendered):
    """Seed 003: the probe uses < 5 % of a CPU and < 100 MB, collecting every 15 s."""
    (probe,) = [
        c for o, _, s in pod_specs(rendered["prod"]) if o["metadata"]["name"] == "probe-agent" for c in s["containers"]
    ]
    limits = probe["resources"]["limits"]
    cpu = limits["cpu"]
    millicores = int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
    assert millicores < 50, f"probe CPU limit {cpu} is not below 5 % of one core"
    units = {"Mi": 2**20, "Gi": 2**30, "M": 10**6, "G": 10**9}
    number, unit = re.match(r"^(\d+)([A-Za-z]*)$", limits["memory"]).groups()
    assert int(number) * units[unit] < 100 * 10**6, f"probe memory limit {limits['memory']} is not below 100 MB"
    assert "--interval=15s" in probe["args"]


def _is_default_deny(policy):
    spec = policy["spec"]
    return (
        spec.get("podSelector") == {}
        and sorted(spec.get("policyTypes", [])) == ["Egress", "Ingress"]
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _is_dns_allow(policy):
    for rule in policy["spec"].get("egress") or []:
        for peer in rule.get("to") or []:
            ns = (peer.get("namespaceSelector") or {}).get("matchLabels", {})
            pods = (peer.get("podSelector") or {}).get("matchLabels", {})
            if ns.get("kubernetes.io/metadata.name") == "kube-system" and pods.get("k8s-app") == "kube-dns":
                ports = {(p.get("port"), p.get("protocol", "TCP")) for p in rule.get("ports") or []}
                if (53, "UDP") in ports and (53, "TCP") in ports:
                    return policy["spec"].get("podSelector") == {}
    return False


@pytest.mark.parametrize("name", ["base", "dev", "staging", "prod", "experiment"])
def test_default_deny_dns_and_allows_per_workload(name, rendered):
    objects = rendered[name] + ([] if name != "experiment" else rendered["base"])
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    for obj, label, _ in pod_specs(rendered[name]):
        ns = obj["metadata"]["namespace"]
        in_ns = [p for p in policies if p["metadata"]["namespace"] == ns]
        assert any(_is_default_deny(p) for p in in_ns), f"{name}: no default-deny policy in {ns}"
        assert any(_is_dns_allow(p) for p in in_ns), f"{name}: no DNS allow in {ns}"
        if obj["kind"] == "Experiment":
            labels_list = [t["template"]["metadata"]["labels"] for t in obj["spec"]["templates"]]
        else:
            labels_list = [obj["spec"]["template"]["metadata"]["labels"]]
        for labels in labels_list:
            own = [p for p in in_ns if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)]
            assert own, f"{name}: {label} has no network policy of its own (only the default deny)"


@pytest.mark.parametrize("name", ["base", "prod"])
def test_disruption_budgets_cover_replicated_workloads(name, rendered):
    objects = rendered[name]
    pdbs = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in pdbs if p["metadata"]["namespace"] == obj["metadata"]["namespace"]]
        assert any(selects(p["spec"]["selector"], labels) for p in covering), f"{obj['metadata']['name']} has no PDB"
        for pdb in covering:
            if selects(pdb["spec"]["selector"], labels):
                assert pdb["spec"].get("maxUnavailable") == 1, "a PDB must never block a drain of a one-replica env"
