"""The default-deny set leaves DNS and every listed component flow open, and everything else closed.

The flow table (from -> to -> port) is computed from the rendered NetworkPolicies with the
evaluator in security_netpol.py, over endpoints that carry the labels the upstream charts put on
their pods (written here, independently of the role's selectors). The expected open flows are
listed explicitly below: any difference in either direction fails.
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from security_netpol import Cluster, Endpoint, host, pod

Q = "orchestrator.platform/quarantine"

PODS = [
    pod(
        "gk-webhook",
        "10.244.1.10",
        "gatekeeper-system",
        **{"control-plane": "controller-manager", "gatekeeper.sh/operation": "webhook"},
    ),
    pod(
        "gk-audit",
        "10.244.1.11",
        "gatekeeper-system",
        **{"control-plane": "audit-controller", "gatekeeper.sh/operation": "audit"},
    ),
    pod("eso-controller", "10.244.1.20", "external-secrets", **{"app.kubernetes.io/name": "external-secrets"}),
    pod("eso-webhook", "10.244.1.21", "external-secrets", **{"app.kubernetes.io/name": "external-secrets-webhook"}),
    pod(
        "eso-cert-controller",
        "10.244.1.22",
        "external-secrets",
        **{"app.kubernetes.io/name": "external-secrets-cert-controller"},
    ),
    pod("vault-0", "10.244.1.30", "vault", **{"app.kubernetes.io/name": "vault", "component": "server"}),
    pod("vault-1", "10.244.2.30", "vault", **{"app.kubernetes.io/name": "vault", "component": "server"}),
    pod("trivy-operator", "10.244.1.40", "trivy-system", **{"app.kubernetes.io/name": "trivy-operator"}),
    pod("trivy-server", "10.244.1.41", "trivy-system", **{"app.kubernetes.io/name": "trivy-server"}),
    pod("trivy-scan-job", "10.244.1.42", "trivy-system", **{"app.kubernetes.io/managed-by": "trivy-operator"}),
    pod("policy-controller", "10.244.1.50", "cosign-system", **{"app.kubernetes.io/name": "policy-controller"}),
    pod("falco", "10.244.1.60", "falco", **{"app.kubernetes.io/name": "falco"}),
    pod("falcosidekick", "10.244.1.61", "falco", **{"app.kubernetes.io/name": "falcosidekick"}),
    pod("falco-talon", "10.244.1.62", "falco", **{"app.kubernetes.io/name": "falco-talon"}),
    pod("orchestrator", "10.244.1.70", "orchestrator", **{"app.kubernetes.io/name": "orchestrator"}),
    pod(
        "orchestrator-quarantined",
        "10.244.1.71",
        "orchestrator",
        **{"app.kubernetes.io/name": "orchestrator", Q: "true"},
    ),
    pod("mesos-agent", "10.244.1.80", "orchestrator-agents", **{"app.kubernetes.io/name": "mesos-agent"}),
    pod("tenant-a-web", "10.244.3.10", "tenant-a", app="web"),
    pod("tenant-a-db", "10.244.3.11", "tenant-a", app="db"),
    pod("tenant-a-quarantined", "10.244.3.12", "tenant-a", app="web", **{Q: "true"}),
    pod("tenant-b-web", "10.244.4.10", "tenant-b", app="web"),
    pod("prometheus", "10.244.5.10", "monitoring", **{"app.kubernetes.io/name": "prometheus"}),
    pod("other-monitoring", "10.244.5.11", "monitoring", **{"app.kubernetes.io/name": "grafana"}),
    pod("kube-dns", "10.244.0.10", "kube-system", **{"k8s-app": "kube-dns"}),
]
HOSTS = [
    host("control-plane", "192.168.10.2"),  # API server and webhook caller (network_policies_*_cidrs)
    host("worker-node", "192.168.10.50"),
    host("nodelocal-dns", "169.254.20.10"),
    host("registry", "203.0.113.200"),
    host("siem", "198.51.100.10"),
    host("vault-external", "203.0.113.20"),
    host("internet", "8.8.8.8"),
]
PORTS = [
    ("UDP", 53),
    ("TCP", 53),
    ("TCP", 22),
    ("TCP", 443),
    ("TCP", 2801),
    ("TCP", 2803),
    ("TCP", 4975),
    ("TCP", 6443),
    ("TCP", 8080),
    ("TCP", 8200),
    ("TCP", 8201),
    ("TCP", 8443),
    ("TCP", 8765),
    ("TCP", 8888),
    ("TCP", 10250),
]
MANAGED = {
    "gatekeeper-system",
    "external-secrets",
    "vault",
    "trivy-system",
    "cosign-system",
    "falco",
    "orchestrator",
    "orchestrator-agents",
    "tenant-a",
    "tenant-b",
}

ENDPOINTS = {e.name: e for e in PODS + HOSTS}


def _expected() -> set[tuple[str, str, str, int]]:
    flows = {
        ("control-plane", "gk-webhook", 8443),
        ("gk-webhook", "control-plane", 6443),
        ("gk-audit", "control-plane", 6443),
        ("prometheus", "gk-webhook", 8888),
        ("prometheus", "gk-audit", 8888),
        ("control-plane", "eso-webhook", 10250),
        ("eso-controller", "control-plane", 6443),
        ("eso-webhook", "control-plane", 6443),
        ("eso-cert-controller", "control-plane", 6443),
        ("eso-controller", "vault-0", 8200),
        ("eso-controller", "vault-1", 8200),
        ("eso-controller", "vault-external", 8200),
        ("prometheus", "eso-controller", 8080),
        ("prometheus", "eso-webhook", 8080),
        ("prometheus", "eso-cert-controller", 8080),
        ("vault-0", "vault-1", 8200),
        ("vault-0", "vault-1", 8201),
        ("vault-1", "vault-0", 8200),
        ("vault-1", "vault-0", 8201),
        ("vault-0", "control-plane", 6443),
        ("vault-1", "control-plane", 6443),
        ("trivy-operator", "control-plane", 6443),
        ("trivy-server", "control-plane", 6443),
        ("trivy-scan-job", "control-plane", 6443),
        ("trivy-operator", "registry", 443),
        ("trivy-server", "registry", 443),
        ("trivy-scan-job", "registry", 443),
        ("trivy-operator", "trivy-server", 4975),
        ("trivy-scan-job", "trivy-server", 4975),
        ("prometheus", "trivy-operator", 8080),
        ("control-plane", "policy-controller", 8443),
        ("policy-controller", "control-plane", 6443),
        ("policy-controller", "registry", 443),
        ("falco", "falcosidekick", 2801),
        ("falco", "registry", 443),
        ("falcosidekick", "siem", 443),
        ("falcosidekick", "falco-talon", 2803),
        ("falco-talon", "control-plane", 6443),
        ("prometheus", "falco", 8765),
        ("prometheus", "falcosidekick", 2801),
        ("prometheus", "falco-talon", 2803),
        ("prometheus", "tenant-a-web", 8080),
        ("prometheus", "tenant-a-db", 8080),
    }
    out = {(s, d, "TCP", p) for s, d, p in flows}
    # DNS from every pod of a managed namespace, except quarantined ones.
    for ep in PODS:
        if ep.namespace in MANAGED and Q not in ep.label_dict():
            for proto in ("UDP", "TCP"):
                out.add((ep.name, "kube-dns", proto, 53))
                out.add((ep.name, "nodelocal-dns", proto, 53))
    # Inside a tenant namespace, any port between its non-quarantined pods.
    for a, b in itertools.permutations(["tenant-a-web", "tenant-a-db"], 2):
        out.update((a, b, proto, port) for proto, port in PORTS)
    return out


EXPECTED = _expected()


@pytest.fixture(scope="module")
def cluster(rendered) -> Cluster:
    policies = rendered.objects("NetworkPolicy", component="network_policies")
    assert policies, "no NetworkPolicy rendered"
    labels = {}
    for ns in rendered.objects("Namespace", component="network_policies"):
        labels[ns["metadata"]["name"]] = ns["metadata"].get("labels", {})
    return Cluster(policies=policies, namespace_labels=labels)


def _governed_pair(src: Endpoint, dst: Endpoint) -> bool:
    return (src.namespace in MANAGED) or (dst.namespace in MANAGED)


def flow_table(cluster: Cluster) -> dict[tuple[str, str, str, int], bool]:
    table = {}
    for src, dst in itertools.permutations(PODS + HOSTS, 2):
        if not _governed_pair(src, dst):
            continue
        for proto, port in PORTS:
            table[(src.name, dst.name, proto, port)] = cluster.allowed(src, dst, port, proto)
    return table


def test_endpoint_addresses_fit_the_render_inputs():
    # The table is only meaningful if pods sit in the pod CIDR and hosts outside it.
    pods_net = ipaddress.ip_network("10.244.0.0/16")
    assert all(ipaddress.ip_address(p.ip) in pods_net for p in PODS)
    assert not any(ipaddress.ip_address(h.ip) in pods_net for h in HOSTS)


def test_every_managed_namespace_denies_by_default(cluster):
    for ns in MANAGED:
        deny = [
            p
            for p in cluster.policies
            if p["metadata"]["namespace"] == ns
            and p["spec"]["podSelector"] == {}
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"namespace {ns} has no default-deny policy"
    # And no policy lands in a namespace the role does not manage.
    assert {p["metadata"]["namespace"] for p in cluster.policies} == MANAGED


def test_flow_table_matches_the_listed_flows(cluster):
    table = flow_table(cluster)
    allowed = {k for k, v in table.items() if v}
    unexpected = sorted(allowed - EXPECTED)
    missing = sorted(EXPECTED - allowed)
    print(f"\nflow table: {len(table)} (from, to, port) pairs, {len(allowed)} open")
    for src, dst, proto, port in sorted(allowed):
        print(f"  {src:26} -> {dst:26} {port}/{proto}")
    assert not missing, f"flows that should be open but are closed: {missing}"
    assert not unexpected, f"flows that should be closed but are open: {unexpected}"
    # The table covers every managed pod in both directions, so "everything else closed" means something.
    assert len(table) > 10000


def test_quarantined_pods_are_cut_off(cluster):
    for name in ("orchestrator-quarantined", "tenant-a-quarantined"):
        q = ENDPOINTS[name]
        for other in PODS + HOSTS:
            if other is q:
                continue
            for proto, port in PORTS:
                assert not cluster.allowed(q, other, port, proto), f"{name} -> {other.name}:{port}/{proto} open"
                assert not cluster.allowed(other, q, port, proto), f"{other.name} -> {name}:{port}/{proto} open"


def test_tenants_are_segmented(cluster):
    a, b = ENDPOINTS["tenant-a-web"], ENDPOINTS["tenant-b-web"]
    for proto, port in PORTS:
        assert not cluster.allowed(a, b, port, proto)
        assert not cluster.allowed(b, a, port, proto)
    assert cluster.allowed(a, ENDPOINTS["tenant-a-db"], 5432)


def test_external_ranges_never_include_cluster_pods(cluster):
    # An egress to "registries" or the API server must not open a path to pods by address.
    for src, dst in itertools.product(PODS, PODS):
        if src is dst or src.namespace == dst.namespace:
            continue
        if cluster.allowed(src, dst, 443) and src.namespace in MANAGED:
            pytest.fail(f"{src.name} -> {dst.name}:443 is open")
