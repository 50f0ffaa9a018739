"""Default deny in every namespace of steps 7-9, 11 and 12, and the flows their components need.

The ten roles (storage, velero, ingress_nginx, cert_manager, istio, monitoring, logging, tracing,
autoscaling, compliance) each write networkpolicies.yml in render-only mode. Checked here:

- every namespace those roles create or install into gets a default deny for Ingress and Egress
  and DNS egress; system namespaces (kube-system) are never isolated as a whole, only the pods of
  the component installed there;
- every policy validates strictly against the pinned Kubernetes schema;
- a flow table over endpoints that carry the labels the upstream charts give their pods (written
  here, independently of the roles' selectors), computed with the NetworkPolicy evaluator of
  tests/functional/security: what must be open is open, what must stay closed is closed;
- the switch <role>_network_policies and the *_cidrs peer variables change what is rendered.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from k8s_schema import validate_all
from obs_render import OBS_INVENTORY, OBS_PLAYBOOKS
from platform_render import render as render_obs
from storage_mesh_render import render as render_storage_mesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
from security_netpol import Cluster, host, pod

ROLES = (
    "storage",
    "velero",
    "ingress_nginx",
    "cert_manager",
    "istio",
    "monitoring",
    "logging",
    "tracing",
    "autoscaling",
    "compliance",
)
SYSTEM_NAMESPACES = {"kube-system"}
Q = "orchestrator.platform/quarantine"
CONTROL_PLANE_CIDR = "192.168.10.0/28"
NODE_CIDR = "192.168.10.0/24"

# Pods as the upstream charts label them (Longhorn, piraeus snapshot-controller, Velero,
# ingress-nginx, cert-manager, Istio, kube-prometheus-stack, Loki, Alloy, Jaeger operator,
# metrics-server), plus a tenant pod and kube-system pods for contrast.
P = {
    p.name: p
    for p in [
        pod("longhorn-manager", "10.244.1.10", "longhorn-system", app="longhorn-manager"),
        pod("longhorn-ui", "10.244.1.11", "longhorn-system", app="longhorn-ui"),
        pod("instance-manager", "10.244.2.12", "longhorn-system", **{"longhorn.io/component": "instance-manager"}),
        pod("csi-provisioner", "10.244.1.13", "longhorn-system", app="csi-provisioner"),
        pod("share-manager", "10.244.1.14", "longhorn-system", **{"longhorn.io/component": "share-manager"}),
        pod(
            "snapshot-controller",
            "10.244.1.15",
            "kube-system",
            **{"app.kubernetes.io/name": "snapshot-controller", "app.kubernetes.io/instance": "snapshot-controller"},
        ),
        pod("coredns", "10.244.0.10", "kube-system", **{"k8s-app": "kube-dns"}),
        pod("calico-kube-controllers", "10.244.0.11", "kube-system", **{"k8s-app": "calico-kube-controllers"}),
        pod(
            "metrics-server",
            "10.244.0.12",
            "kube-system",
            **{"app.kubernetes.io/name": "metrics-server", "app.kubernetes.io/instance": "metrics-server"},
        ),
        pod("velero", "10.244.1.20", "velero", component="velero", **{"app.kubernetes.io/name": "velero"}),
        pod(
            "ingress-nginx",
            "10.244.1.30",
            "ingress-nginx",
            **{
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/instance": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            },
        ),
        pod(
            "ingress-nginx-quarantined",
            "10.244.1.31",
            "ingress-nginx",
            **{
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
                Q: "true",
            },
        ),
        pod(
            "ingress-admission-patch",
            "10.244.1.32",
            "ingress-nginx",
            **{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "admission-webhook"},
        ),
        pod(
            "cert-manager",
            "10.244.1.40",
            "cert-manager",
            **{"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
        ),
        pod(
            "cert-manager-webhook",
            "10.244.1.41",
            "cert-manager",
            **{"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"},
        ),
        pod(
            "cert-manager-cainjector",
            "10.244.1.42",
            "cert-manager",
            **{"app.kubernetes.io/name": "cainjector", "app.kubernetes.io/component": "cainjector"},
        ),
        pod("istiod", "10.244.1.50", "istio-system", app="istiod", istio="pilot"),
        pod("gateway", "10.244.1.51", "istio-ingress", app="istio-ingressgateway", istio="ingressgateway"),
        pod("frontend", "10.244.1.52", "mesh-examples", app="frontend", version="v1"),
        pod("backend", "10.244.2.53", "mesh-examples", app="backend", version="v2"),
        pod(
            "prometheus",
            "10.244.1.60",
            "monitoring",
            **{"app.kubernetes.io/name": "prometheus", "prometheus": "kube-prometheus-stack-prometheus"},
        ),
        pod("alertmanager", "10.244.1.61", "monitoring", **{"app.kubernetes.io/name": "alertmanager"}),
        pod("grafana", "10.244.1.62", "monitoring", **{"app.kubernetes.io/name": "grafana"}),
        pod("prom-operator", "10.244.1.63", "monitoring", app="kube-prometheus-stack-operator"),
        pod("kube-state-metrics", "10.244.1.64", "monitoring", **{"app.kubernetes.io/name": "kube-state-metrics"}),
        pod("alloy", "10.244.2.70", "observability-agents", **{"app.kubernetes.io/name": "alloy"}),
        pod(
            "loki",
            "10.244.1.80",
            "logging",
            **{"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "single-binary"},
        ),
        pod(
            "loki-gateway",
            "10.244.1.81",
            "logging",
            **{"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "gateway"},
        ),
        pod(
            "loki-gateway-quarantined",
            "10.244.1.82",
            "logging",
            **{"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "gateway", Q: "true"},
        ),
        pod(
            "jaeger",
            "10.244.1.90",
            "tracing",
            **{
                "app.kubernetes.io/name": "jaeger",
                "app.kubernetes.io/instance": "jaeger",
                "app.kubernetes.io/component": "all-in-one",
            },
        ),
        pod(
            "jaeger-es-index-cleaner",
            "10.244.1.91",
            "tracing",
            **{"app.kubernetes.io/name": "jaeger", "app.kubernetes.io/component": "es-index-cleaner"},
        ),
        pod("kube-bench", "10.244.2.100", "compliance", app="kube-bench"),
        pod("tenant-web", "10.244.3.10", "tenant-a", app="web"),
    ]
}
H = {
    h.name: h
    for h in [
        host("control-plane", "192.168.10.2"),
        host("worker", "192.168.10.50"),
        host("internet", "8.8.8.8"),
        host("s3", "203.0.113.10"),
        host("elasticsearch", "198.51.100.20"),
    ]
}


def ep(name):
    return P.get(name) or H[name]


# (from, to, port, protocol, open?) over the full render of both step sets.
FLOWS = [
    # DNS for every component; kube-system itself is not isolated.
    *[
        (name, "coredns", 53, "UDP", True)
        for name in P
        if name not in {"coredns", "tenant-web"} and "quarantined" not in name
    ],
    ("calico-kube-controllers", "control-plane", 6443, "TCP", True),
    ("tenant-web", "calico-kube-controllers", 9094, "TCP", True),
    # Prometheus scrapes nodes, pods of every namespace on their metrics ports.
    ("prometheus", "worker", 9100, "TCP", True),
    ("prometheus", "worker", 10250, "TCP", True),
    ("prometheus", "control-plane", 2381, "TCP", True),
    ("prometheus", "control-plane", 6443, "TCP", True),
    ("prometheus", "worker", 22, "TCP", False),
    ("prometheus", "loki", 3100, "TCP", True),
    ("prometheus", "alloy", 12345, "TCP", True),
    ("prometheus", "velero", 8085, "TCP", True),
    ("prometheus", "ingress-nginx", 10254, "TCP", True),
    ("prometheus", "cert-manager", 9402, "TCP", True),
    ("prometheus", "istiod", 15014, "TCP", True),
    ("prometheus", "gateway", 15090, "TCP", True),
    ("prometheus", "frontend", 15020, "TCP", True),
    ("prometheus", "longhorn-manager", 9500, "TCP", True),
    ("prometheus", "jaeger", 8888, "TCP", True),
    ("prometheus", "jaeger", 14269, "TCP", False),
    ("prometheus", "kube-state-metrics", 8080, "TCP", True),
    ("prometheus", "alertmanager", 9093, "TCP", True),
    ("prometheus", "internet", 443, "TCP", False),
    ("tenant-web", "velero", 8085, "TCP", False),
    ("tenant-web", "prometheus", 9090, "TCP", False),
    # Grafana to its data sources; nothing but Grafana and Alloy reaches Loki.
    ("grafana", "prometheus", 9090, "TCP", True),
    ("grafana", "loki-gateway", 8080, "TCP", True),
    ("grafana", "jaeger", 16686, "TCP", True),
    ("grafana", "loki", 3100, "TCP", False),
    ("grafana", "internet", 443, "TCP", False),
    ("alloy", "loki-gateway", 8080, "TCP", True),
    ("alloy", "control-plane", 6443, "TCP", True),
    ("alloy", "loki", 3100, "TCP", False),
    ("alloy", "internet", 443, "TCP", False),
    ("loki-gateway", "loki", 3100, "TCP", True),
    ("tenant-web", "loki-gateway", 8080, "TCP", False),
    ("tenant-web", "loki", 3100, "TCP", False),
    ("prometheus", "loki-gateway", 8080, "TCP", False),
    ("alertmanager", "loki-gateway", 8080, "TCP", False),
    ("ingress-nginx", "loki-gateway", 8080, "TCP", False),
    ("jaeger", "loki-gateway", 8080, "TCP", False),
    ("internet", "loki-gateway", 8080, "TCP", False),
    ("grafana", "loki-gateway-quarantined", 8080, "TCP", False),
    ("loki", "internet", 443, "TCP", False),
    # Alertmanager to receivers outside the cluster only.
    ("alertmanager", "internet", 443, "TCP", True),
    ("alertmanager", "internet", 587, "TCP", True),
    ("alertmanager", "internet", 25, "TCP", False),
    ("alertmanager", "tenant-web", 443, "TCP", False),
    ("alertmanager", "alertmanager", 9094, "UDP", True),
    ("ingress-nginx", "grafana", 3000, "TCP", True),
    ("tenant-web", "grafana", 3000, "TCP", False),
    # Webhooks and the aggregation layer, called by the API server from the control plane.
    ("control-plane", "prom-operator", 10250, "TCP", True),
    ("control-plane", "ingress-nginx", 8443, "TCP", True),
    ("control-plane", "cert-manager-webhook", 10250, "TCP", True),
    ("control-plane", "istiod", 15017, "TCP", True),
    ("control-plane", "longhorn-manager", 9502, "TCP", True),
    ("control-plane", "metrics-server", 10250, "TCP", True),
    ("control-plane", "loki", 3100, "TCP", False),
    # Spans from every namespace to the collector.
    ("tenant-web", "jaeger", 4317, "TCP", True),
    ("gateway", "jaeger", 4317, "TCP", True),
    ("frontend", "jaeger", 4317, "TCP", True),
    ("tenant-web", "jaeger", 16686, "TCP", False),
    ("jaeger", "control-plane", 6443, "TCP", False),
    ("tenant-web", "jaeger", 5778, "TCP", True),
    ("tenant-web", "jaeger-es-index-cleaner", 8888, "TCP", False),
    ("jaeger-es-index-cleaner", "elasticsearch", 9200, "TCP", True),
    ("jaeger", "internet", 443, "TCP", False),
    # The production strategy of the full render stores spans in https://es.example.com:9200.
    ("jaeger", "elasticsearch", 9200, "TCP", True),
    ("jaeger", "elasticsearch", 443, "TCP", False),
    # ingress-nginx: clients from anywhere, backends anywhere in the cluster, the API server.
    ("internet", "ingress-nginx", 443, "TCP", True),
    ("internet", "ingress-nginx", 80, "TCP", True),
    ("internet", "ingress-nginx", 22, "TCP", False),
    ("ingress-nginx", "tenant-web", 8080, "TCP", True),
    ("ingress-nginx", "control-plane", 6443, "TCP", True),
    ("ingress-nginx", "internet", 443, "TCP", False),
    ("ingress-admission-patch", "control-plane", 6443, "TCP", True),
    ("internet", "ingress-nginx-quarantined", 443, "TCP", False),
    ("ingress-nginx-quarantined", "tenant-web", 8080, "TCP", False),
    ("ingress-nginx-quarantined", "coredns", 53, "UDP", False),
    # cert-manager: the controller to ACME, the rest to the API server only.
    ("cert-manager", "internet", 443, "TCP", True),
    ("cert-manager", "internet", 80, "TCP", True),
    ("cert-manager", "control-plane", 6443, "TCP", True),
    ("cert-manager-webhook", "internet", 443, "TCP", False),
    ("cert-manager-cainjector", "control-plane", 6443, "TCP", True),
    ("tenant-web", "cert-manager", 9402, "TCP", False),
    # Istio: xDS from every namespace, the gateway in front of the meshed examples.
    ("tenant-web", "istiod", 15012, "TCP", True),
    ("gateway", "istiod", 15012, "TCP", True),
    ("frontend", "istiod", 15012, "TCP", True),
    ("istiod", "control-plane", 6443, "TCP", True),
    ("istiod", "internet", 443, "TCP", False),
    ("internet", "gateway", 443, "TCP", True),
    ("internet", "gateway", 15021, "TCP", True),
    ("internet", "gateway", 15000, "TCP", False),
    ("gateway", "frontend", 8080, "TCP", True),
    ("frontend", "backend", 8080, "TCP", True),
    ("tenant-web", "frontend", 8080, "TCP", False),
    ("frontend", "internet", 443, "TCP", False),
    ("frontend", "tenant-web", 8080, "TCP", False),
    # Longhorn: its components together, the API server, NFS mounts of RWX volumes, the backups.
    ("longhorn-manager", "instance-manager", 10000, "TCP", True),
    ("csi-provisioner", "longhorn-manager", 9500, "TCP", True),
    ("csi-provisioner", "control-plane", 6443, "TCP", True),
    ("worker", "share-manager", 2049, "TCP", True),
    ("longhorn-manager", "s3", 443, "TCP", True),
    ("longhorn-manager", "s3", 9000, "TCP", False),
    ("ingress-nginx", "longhorn-ui", 8000, "TCP", True),
    ("tenant-web", "longhorn-ui", 8000, "TCP", False),
    ("tenant-web", "instance-manager", 10000, "TCP", False),
    ("snapshot-controller", "control-plane", 6443, "TCP", True),
    ("snapshot-controller", "internet", 443, "TCP", False),
    # Velero: the API server and the object storage only.
    ("velero", "control-plane", 6443, "TCP", True),
    ("velero", "s3", 443, "TCP", True),
    ("velero", "tenant-web", 8080, "TCP", False),
    ("velero", "s3", 22, "TCP", False),
    # metrics-server: the kubelets and the API server.
    ("metrics-server", "worker", 10250, "TCP", True),
    ("metrics-server", "control-plane", 6443, "TCP", True),
    ("metrics-server", "internet", 443, "TCP", False),
    ("tenant-web", "metrics-server", 443, "TCP", False),
    # kube-bench: the API server only.
    ("kube-bench", "control-plane", 6443, "TCP", True),
    ("kube-bench", "internet", 443, "TCP", False),
    ("tenant-web", "kube-bench", 8080, "TCP", False),
]

# With the *_cidrs variables set (the "tight" render): webhooks only from the control plane,
# Prometheus and metrics-server to the node network only.
TIGHT_FLOWS = [
    ("control-plane", "prom-operator", 10250, "TCP", True),
    ("tenant-web", "prom-operator", 10250, "TCP", False),
    ("control-plane", "ingress-nginx", 8443, "TCP", True),
    ("tenant-web", "ingress-nginx", 8443, "TCP", False),
    ("control-plane", "cert-manager-webhook", 10250, "TCP", True),
    ("tenant-web", "cert-manager-webhook", 10250, "TCP", False),
    ("control-plane", "istiod", 15017, "TCP", True),
    ("tenant-web", "istiod", 15017, "TCP", False),
    ("control-plane", "longhorn-manager", 9502, "TCP", True),
    ("tenant-web", "longhorn-manager", 9502, "TCP", False),
    ("worker", "share-manager", 2049, "TCP", True),
    ("tenant-web", "share-manager", 2049, "TCP", False),
    ("control-plane", "metrics-server", 10250, "TCP", True),
    ("prometheus", "metrics-server", 10250, "TCP", True),
    ("tenant-web", "metrics-server", 10250, "TCP", False),
    ("prometheus", "worker", 9100, "TCP", True),
    ("prometheus", "internet", 9100, "TCP", False),
    ("metrics-server", "worker", 10250, "TCP", True),
    ("metrics-server", "internet", 10250, "TCP", False),
]

TIGHT_STORAGE_MESH = {
    "storage_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "storage_node_cidrs": [NODE_CIDR],
    "ingress_nginx_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "cert_manager_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "istio_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "velero_network_policies": False,
}
TIGHT_OBS = {
    "monitoring_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "monitoring_node_cidrs": [NODE_CIDR],
    "autoscaling_control_plane_cidrs": [CONTROL_PLANE_CIDR],
    "autoscaling_node_cidrs": [NODE_CIDR],
    "compliance_network_policies": False,
}


def _policies(*renders):
    out = []
    for rendered in renders:
        for rel, docs in rendered.manifests.items():
            if rel.split("/")[0] in ROLES and rel.endswith("/networkpolicies.yml"):
                out.extend(docs)
    return out


def _namespaces(rendered):
    """Namespaces the ten roles create (Namespace objects) or install a release into."""
    names = {
        o["metadata"]["name"]
        for rel, docs in rendered.manifests.items()
        if rel.split("/")[0] in ROLES
        for o in docs
        if o.get("kind") == "Namespace"
    }
    names |= {r["namespace"] for rel, r in rendered.releases.items() if rel.split("/")[0] in ROLES}
    return names


@pytest.fixture(scope="module")
def storage_mesh():
    return render_storage_mesh()


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    """Steps 7-8 and 9/11/12 rendered (in parallel) with the peer CIDRs set and one role's switch off each."""
    out = Path(tempfile.mkdtemp(prefix="render-netpol-obs-"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        mesh = pool.submit(render_storage_mesh, **TIGHT_STORAGE_MESH)
        obs = pool.submit(render_obs, out, OBS_PLAYBOOKS, OBS_INVENTORY, "-e", json.dumps(TIGHT_OBS))
        mesh_result, obs_result = mesh.result(), obs.result()
    assert obs_result.returncode == 0, obs_result.log[-4000:]
    yield mesh_result, obs_result
    shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(storage_mesh, obs):
    return Cluster(_policies(storage_mesh, obs))


def test_every_role_writes_its_policies(storage_mesh, obs, obs_render):
    written = {
        rel.split("/")[0] for r in (storage_mesh, obs) for rel in r.manifests if rel.endswith("/networkpolicies.yml")
    }
    assert written == set(ROLES)
    # The roles' defaults (offline mirror scenario) write them too.
    assert {rel.split("/")[0] for rel in obs_render["defaults"].manifests if rel.endswith("/networkpolicies.yml")} == {
        "monitoring",
        "logging",
        "tracing",
        "autoscaling",
        "compliance",
    }


@pytest.mark.parametrize("scenario", ["storage-mesh", "obs-full", "obs-defaults"])
def test_every_namespace_is_default_deny_with_dns(scenario, storage_mesh, obs_render):
    rendered = {"storage-mesh": storage_mesh, "obs-full": obs_render["full"], "obs-defaults": obs_render["defaults"]}[
        scenario
    ]
    policies = _policies(rendered)
    cluster = Cluster(policies)
    namespaces = _namespaces(rendered)
    assert namespaces, "no namespace rendered"
    for ns in sorted(namespaces - SYSTEM_NAMESPACES):
        deny = [
            p
            for p in policies
            if p["metadata"]["namespace"] == ns
            and p["spec"]["podSelector"] == {}
            and sorted(p["spec"]["policyTypes"]) == ["Egress", "Ingress"]
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert deny, f"{ns}: no default-deny-all for Ingress and Egress"
        anyone = pod("any", "10.244.9.9", ns, app="anything")
        quarantined = pod("q", "10.244.9.8", ns, app="anything", **{Q: "true"})
        assert cluster.governed(anyone)
        assert cluster.allowed(anyone, P["coredns"], 53, "UDP"), f"{ns}: no DNS over UDP"
        assert cluster.allowed(anyone, P["coredns"], 53, "TCP"), f"{ns}: no DNS over TCP"
        assert not cluster.allowed(anyone, P["coredns"], 80), f"{ns}: more than DNS to kube-dns"
        assert not cluster.allowed(anyone, H["internet"], 8443), f"{ns}: open to the internet"
        assert not cluster.allowed(quarantined, P["coredns"], 53, "UDP"), f"{ns}: quarantine keeps DNS"
    # System namespaces: only the components' own pods are isolated, the rest is left alone.
    assert not cluster.governed(P["coredns"])
    assert not cluster.governed(P["calico-kube-controllers"])
    for name, release in (
        ("snapshot-controller", "storage/snapshot-controller-release.yml"),
        ("metrics-server", "autoscaling/metrics-server-release.yml"),
    ):
        component = P[name]
        if release in rendered.releases:
            assert cluster.governed(component), f"{name} is not isolated"
            assert cluster.allowed(component, P["coredns"], 53, "UDP")
            assert not cluster.allowed(component, H["internet"], 443)


def test_every_policy_validates_strictly(storage_mesh, obs_render, tight):
    policies = _policies(storage_mesh, obs_render["full"], obs_render["defaults"], *tight)
    assert len(policies) > 40
    assert {p["kind"] for p in policies} == {"NetworkPolicy"}
    assert validate_all(policies) == []
    for p in policies:
        for rule in [*p["spec"].get("ingress", []), *p["spec"].get("egress", [])]:
            for port in rule.get("ports", []):
                assert 1 <= port["port"] <= 65535, f"{p['metadata']['name']}: port {port}"
    # Two roles writing into the same namespace (the agents') write identical objects.
    for rendered in (storage_mesh, obs_render["full"], obs_render["defaults"], *tight):
        seen = {}
        for p in _policies(rendered):
            key = (p["metadata"]["namespace"], p["metadata"]["name"])
            assert seen.setdefault(key, p) == p, f"{key} rendered twice with different content"


def test_validator_rejects_a_broken_policy(storage_mesh):
    broken = json.loads(json.dumps(_policies(storage_mesh)[0]))
    broken["spec"]["podSelectors"] = {}
    assert validate_all([broken]) != []


def _flow_id(flow):
    src, dst, port, protocol, expected = flow
    return f"{src}->{dst}:{port}/{protocol}:{'open' if expected else 'closed'}"


@pytest.mark.parametrize("flow", FLOWS, ids=_flow_id)
def test_flow(cluster, flow):
    src, dst, port, protocol, expected = flow
    assert cluster.allowed(ep(src), ep(dst), port, protocol) is expected


@pytest.mark.parametrize("flow", TIGHT_FLOWS, ids=_flow_id)
def test_flow_with_peer_cidrs(tight, flow):
    src, dst, port, protocol, expected = flow
    assert Cluster(_policies(*tight)).allowed(ep(src), ep(dst), port, protocol) is expected


def test_switches_remove_only_their_role_policies(tight):
    mesh, obs = tight
    written = {rel.split("/")[0] for r in tight for rel in r.manifests if rel.endswith("/networkpolicies.yml")}
    assert written == set(ROLES) - {"velero", "compliance"}
    # The rest of the switched-off roles is still rendered.
    assert any(rel.startswith("velero/") for rel in mesh.manifests)
    assert any(rel.startswith("compliance/") for rel in obs.manifests)
