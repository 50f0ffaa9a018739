"""A small evaluator of Kubernetes NetworkPolicy semantics, for flow tables over rendered policies.

Implements the documented semantics (networking.k8s.io/v1): a pod is isolated for a direction
when a policy of its namespace selects it with that policyType; a connection is allowed when the
source's egress (if isolated) and the destination's ingress (if isolated) each have a rule whose
peers and ports match. Peers: podSelector (same namespace), namespaceSelector (any pod of the
selected namespaces), both (intersection), ipBlock (cidr minus except; matched against pod IPs
too, as Calico does). Label selectors support matchLabels and matchExpressions
(In, NotIn, Exists, DoesNotExist). Host and external endpoints are not governed by
NetworkPolicies: only the other end's policies apply.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    name: str
    ip: str
    namespace: str | None = None  # None: a host or an address outside the cluster
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None

    def label_dict(self) -> dict[str, str]:
        return dict(self.labels)


def pod(name: str, ip: str, namespace: str, **labels: str) -> Endpoint:
    return Endpoint(name, ip, namespace, tuple(sorted(labels.items())))


def host(name: str, ip: str) -> Endpoint:
    return Endpoint(name, ip)


def _expression_matches(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    checks = {
        "In": lambda: key in labels and labels[key] in values,
        "NotIn": lambda: not (key in labels and labels[key] in values),
        "Exists": lambda: key in labels,
        "DoesNotExist": lambda: key not in labels,
    }
    if op not in checks:
        raise ValueError(f"unknown operator {op}")
    return checks[op]()


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    return all(_expression_matches(expr, labels) for expr in selector.get("matchExpressions") or [])


@dataclass
class Cluster:
    policies: list[dict[str, Any]]
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def ns_labels(self, namespace: str) -> dict[str, str]:
        return {"kubernetes.io/metadata.name": namespace, **self.namespace_labels.get(namespace, {})}

    def _selecting(self, ep: Endpoint, direction: str) -> list[dict[str, Any]]:
        if not ep.is_pod:
            return []
        out = []
        for pol in self.policies:
            if pol["metadata"]["namespace"] != ep.namespace:
                continue
            spec = pol["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if direction in types and selector_matches(spec.get("podSelector", {}), ep.label_dict()):
                out.append(pol)
        return out

    def _peer_matches(self, peer: dict[str, Any], other: Endpoint, policy_ns: str) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            addr = ipaddress.ip_address(other.ip)
            inside = addr in ipaddress.ip_network(block["cidr"])
            return inside and not any(addr in ipaddress.ip_network(e) for e in block.get("except") or [])
        if not other.is_pod:
            return False
        if "namespaceSelector" in peer:
            namespace_ok = selector_matches(peer["namespaceSelector"], self.ns_labels(other.namespace))
        else:
            namespace_ok = other.namespace == policy_ns
        pods_ok = "podSelector" not in peer or selector_matches(peer["podSelector"], other.label_dict())
        return namespace_ok and pods_ok

    @staticmethod
    def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
        if not ports:
            return True
        for p in ports:
            if p.get("protocol", "TCP") != protocol:
                continue
            if "port" not in p:
                return True
            if not isinstance(p["port"], int):
                raise ValueError(f"named ports are not modelled: {p}")
            if p["port"] <= port <= p.get("endPort", p["port"]):
                return True
        return False

    def _rules_allow(self, policies, *, rules_key, peers_key, other, port, protocol) -> bool:
        for pol in policies:
            for rule in pol["spec"].get(rules_key) or []:
                peers = rule.get(peers_key)
                if not self._port_matches(rule.get("ports"), port, protocol):
                    continue
                if not peers or any(self._peer_matches(p, other, pol["metadata"]["namespace"]) for p in peers):
                    return True
        return False

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> bool:
        egress = self._selecting(src, "Egress")
        if egress and not self._rules_allow(
            egress, rules_key="egress", peers_key="to", other=dst, port=port, protocol=protocol
        ):
            return False
        ingress = self._selecting(dst, "Ingress")
        return not (
            ingress
            and not self._rules_allow(
                ingress, rules_key="ingress", peers_key="from", other=src, port=port, protocol=protocol
            )
        )

    def governed(self, ep: Endpoint) -> bool:
        """Whether any policy selects the endpoint (it is isolated in some direction)."""
        return bool(self._selecting(ep, "Ingress") or self._selecting(ep, "Egress"))
