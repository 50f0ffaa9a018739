"""The network policies of the prod overlay, evaluated: every listed flow open, everything else closed.

A small evaluator of Kubernetes NetworkPolicy semantics (policies are additive allow-lists; a pod
selected by no policy of a direction is open in that direction; a connection needs the egress
side of the source and the ingress side of the destination). Endpoints outside the tree are
modelled by their namespace and labels (kube-dns, ingress-nginx, Prometheus) or as an address
outside the cluster (the API server, registries).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from k8s_tree import selects


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None  # None: an address outside the cluster's pod network
    labels: dict = field(default_factory=dict, hash=False, compare=False)


def pod(namespace, name, **extra):
    return Endpoint(name, namespace, {"app.kubernetes.io/name": name, **extra})


ORCH, AGENTS = "orchestrator", "orchestrator-agents"
E = {
    "orchestrator": pod(ORCH, "orchestrator"),
    "zookeeper": pod(ORCH, "zookeeper"),
    "mesos-master": pod(ORCH, "mesos-master"),
    "marathon": pod(ORCH, "marathon"),
    "monitoring-app": pod(ORCH, "monitoring-app"),
    "mesos-agent": pod(AGENTS, "mesos-agent"),
    "probe-agent": pod(AGENTS, "probe-agent"),
    "kube-dns": Endpoint("kube-dns", "kube-system", {"k8s-app": "kube-dns"}),
    "ingress-nginx": Endpoint("ingress-nginx", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
    "prometheus": Endpoint("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
    "default-pod": Endpoint("default-pod", "default", {"app": "anything"}),
    "apiserver": Endpoint("apiserver", None),
    "internet": Endpoint("internet", None),
}

ALLOWED = [
    ("ingress-nginx", "orchestrator", 8080),
    ("ingress-nginx", "monitoring-app", 8080),
    ("ingress-nginx", "monitoring-app", 8081),
    ("ingress-nginx", "marathon", 8080),
    ("prometheus", "orchestrator", 8080),
    ("prometheus", "zookeeper", 7000),
    ("prometheus", "mesos-master", 9105),
    ("prometheus", "marathon", 8080),
    ("prometheus", "monitoring-app", 8080),
    ("prometheus", "probe-agent", 9101),
    ("orchestrator", "zookeeper", 2181),
    ("orchestrator", "mesos-master", 5050),
    ("orchestrator", "marathon", 8080),
    ("mesos-master", "zookeeper", 2181),
    ("mesos-master", "mesos-master", 5050),
    ("mesos-master", "mesos-agent", 5051),
    ("mesos-master", "marathon", 9090),
    ("marathon", "zookeeper", 2181),
    ("marathon", "mesos-master", 5050),
    ("marathon", "marathon", 8080),
    ("zookeeper", "zookeeper", 2888),
    ("zookeeper", "zookeeper", 3888),
    ("mesos-agent", "zookeeper", 2181),
    ("mesos-agent", "mesos-master", 5050),
    ("mesos-agent", "internet", 443),
    ("probe-agent", "monitoring-app", 8080),
    ("probe-agent", "apiserver", 6443),
    ("monitoring-app", "marathon", 8080),
    ("monitoring-app", "mesos-master", 5050),
]
DENIED = [
    ("ingress-nginx", "zookeeper", 2181),
    ("ingress-nginx", "mesos-master", 5050),
    ("ingress-nginx", "orchestrator", 9090),
    ("prometheus", "zookeeper", 2181),
    ("default-pod", "orchestrator", 8080),
    ("default-pod", "zookeeper", 2181),
    ("probe-agent", "zookeeper", 2181),
    ("probe-agent", "internet", 443),
    ("orchestrator", "mesos-agent", 5051),
    ("orchestrator", "internet", 443),
    ("orchestrator", "apiserver", 6443),
    ("mesos-agent", "orchestrator", 8080),
    ("mesos-agent", "marathon", 8080),
    ("zookeeper", "internet", 443),
    ("zookeeper", "mesos-master", 5050),
    ("monitoring-app", "zookeeper", 2181),
    ("marathon", "mesos-agent", 5051),
    ("marathon", "internet", 443),
]
OURS = {"orchestrator", "zookeeper", "mesos-master", "marathon", "monitoring-app", "mesos-agent", "probe-agent"}


def peer_matches(peer, policy_ns, other, namespaces):
    if "ipBlock" in peer:
        return other.namespace is None  # only addresses outside the pod network, in this model
    if other.namespace is None:
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is None and other.namespace != policy_ns:
        return False
    if ns_sel is not None and not selects(ns_sel, namespaces.get(other.namespace, {})):
        return False
    return pod_sel is None or selects(pod_sel, other.labels)


def port_matches(ports, port, protocol):
    return not ports or any(p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports)


def side_allows(policies, me, other, flow, *, direction, namespaces):
    """Whether the policies of me's namespace let me talk to (egress) or hear from (ingress) other."""
    port, protocol = flow
    if me.namespace is None:
        return True
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    relevant = [
        p
        for p in policies
        if p["metadata"]["namespace"] == me.namespace
        and direction in p["spec"].get("policyTypes", [])
        and selects(p["spec"]["podSelector"], me.labels)
    ]
    if not relevant:
        return True
    for policy in relevant:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if not port_matches(rule.get("ports"), port, protocol):
                continue
            if not peers or any(peer_matches(peer, me.namespace, other, namespaces) for peer in peers):
                return True
    return False


def allowed(objects, src, dst, port, protocol="TCP"):
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    namespaces = {
        ns: {"kubernetes.io/metadata.name": ns}
        for ns in ("orchestrator", "orchestrator-agents", "kube-system", "ingress-nginx", "monitoring", "default")
    }
    flow = (port, protocol)
    return side_allows(policies, src, dst, flow, direction="Egress", namespaces=namespaces) and side_allows(
        policies, dst, src, flow, direction="Ingress", namespaces=namespaces
    )


@pytest.fixture(scope="module")
def prod(rendered):
    return rendered["prod"]


@pytest.mark.parametrize(("src", "dst", "port"), ALLOWED)
def test_listed_flow_is_open(prod, src, dst, port):
    assert allowed(prod, E[src], E[dst], port), f"{src} -> {dst}:{port} should be allowed"


@pytest.mark.parametrize(("src", "dst", "port"), DENIED)
def test_unlisted_flow_is_closed(prod, src, dst, port):
    assert not allowed(prod, E[src], E[dst], port), f"{src} -> {dst}:{port} should be denied"


@pytest.mark.parametrize("src", sorted(OURS))
def test_dns_open_for_every_workload(prod, src):
    assert allowed(prod, E[src], E["kube-dns"], 53, "UDP")
    assert allowed(prod, E[src], E["kube-dns"], 53, "TCP")
    assert not allowed(prod, E[src], E["kube-dns"], 80)


def test_every_allowed_port_is_on_the_table(prod):
    """A policy that opens a port to one of our workloads that the table does not list is a finding."""
    listed = {(dst, port) for _, dst, port in ALLOWED}
    for policy in (o for o in prod if o["kind"] == "NetworkPolicy"):
        target = policy["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name")
        for rule in policy["spec"].get("ingress") or []:
            for p in rule.get("ports") or []:
                assert (target, p["port"]) in listed, f"{policy['metadata']['name']} opens {target}:{p['port']}"
