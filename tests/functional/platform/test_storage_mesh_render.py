"""Steps 7 and 8 render, validate strictly, pin their charts and keep secrets in Secrets only."""

from __future__ import annotations

import copy
import re
import stat

import pytest
from k8s_schema import pinned_kubernetes_version, validate_all
from storage_mesh_render import COMPONENTS, render

# The pins this collection ships, asserted here so that a version change is a visible decision.
PINNED_CHARTS = {
    "storage/longhorn-release.yml": ("longhorn", "1.12.1", "https://charts.longhorn.io"),
    "storage/snapshot-controller-release.yml": ("snapshot-controller", "5.1.1", "https://piraeus.io/helm-charts/"),
    "velero/velero-release.yml": ("velero", "12.0.1", "https://vmware-tanzu.github.io/helm-charts"),
    "ingress_nginx/ingress-nginx-release.yml": (
        "ingress-nginx",
        "4.15.1",
        "https://kubernetes.github.io/ingress-nginx",
    ),
    "cert_manager/cert-manager-release.yml": ("cert-manager", "v1.19.1", "https://charts.jetstack.io"),
    "istio/istio-base-release.yml": ("base", "1.30.1", "https://istio-release.storage.googleapis.com/charts"),
    "istio/istio-cni-release.yml": ("cni", "1.30.1", "https://istio-release.storage.googleapis.com/charts"),
    "istio/istiod-release.yml": ("istiod", "1.30.1", "https://istio-release.storage.googleapis.com/charts"),
    "istio/istio-ingressgateway-release.yml": (
        "gateway",
        "1.30.1",
        "https://istio-release.storage.googleapis.com/charts",
    ),
}
SEMVER = re.compile(r"^v?\d+\.\d+\.\d+$")
EXEMPT = {"kube-system", "tigera-operator", "calico-system", "falco", "orchestrator-agents", "longhorn-system"}
LEAK_MARKER = "render-test-not-a-secret"


@pytest.fixture(scope="module")
def rendered():
    return render()


def test_render_wrote_every_component(rendered):
    components = {p.split("/")[0] for p in [*rendered.manifests, *rendered.releases, *rendered.values]}
    assert components == COMPONENTS


def test_every_rendered_object_validates_strictly(rendered):
    objects = rendered.objects()
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    for expected in [
        ("storage.k8s.io/v1", "StorageClass"),
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass"),
        ("velero.io/v1", "BackupStorageLocation"),
        ("velero.io/v1", "Schedule"),
        ("cert-manager.io/v1", "ClusterIssuer"),
        ("cert-manager.io/v1", "Certificate"),
        ("security.istio.io/v1", "PeerAuthentication"),
        ("networking.istio.io/v1", "DestinationRule"),
        ("networking.istio.io/v1", "VirtualService"),
        ("networking.istio.io/v1", "Gateway"),
        ("telemetry.istio.io/v1", "Telemetry"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
    ]:
        assert expected in kinds, f"{expected} not rendered"
    problems = validate_all(objects)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("kind", "name", "path", "bad"),
    [
        ("PeerAuthentication", "default", ("spec", "mtls", "mode"), "STRICTEST"),
        ("Schedule", "daily-cluster", ("spec", "template", "snapshotVolume"), True),
        ("StorageClass", "standard", ("volumeBindingModes",), "Immediate"),
        ("ClusterIssuer", "platform-ca", ("spec", "ca", "secret"), "x"),
    ],
)
def test_validator_rejects_a_broken_rendered_object(rendered, kind, name, path, bad):
    # The validation above can fail: the same objects with one wrong value or unknown field do.
    obj = copy.deepcopy(rendered.one(kind, name))
    node = obj
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert validate_all([obj])


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


def test_every_release_of_the_steps_is_pinned_here(rendered):
    assert set(rendered.releases) == set(PINNED_CHARTS)


def test_namespaces_carry_pod_security_labels_with_recorded_exemptions(rendered):
    version = "v" + ".".join(pinned_kubernetes_version().split(".")[:2])
    seen = {}
    for ns in rendered.objects("Namespace"):
        name = ns["metadata"]["name"]
        labels = ns["metadata"]["labels"]
        exempt = name in EXEMPT
        assert labels["pod-security.kubernetes.io/enforce"] == ("privileged" if exempt else "restricted"), name
        assert labels["pod-security.kubernetes.io/audit"] == "restricted", name
        assert labels["pod-security.kubernetes.io/enforce-version"] == version
        reason = ns["metadata"].get("annotations", {}).get("orchestrator.platform/pod-security-exemption", "")
        assert bool(reason.strip()) == exempt, name
        seen[name] = labels
    assert set(seen) == {
        "longhorn-system",
        "velero",
        "ingress-nginx",
        "cert-manager",
        "istio-system",
        "istio-ingress",
        "mesh-examples",
    }
    # kube-system (snapshot controller, Istio CNI) is labelled by step 6, never re-labelled here.
    assert seen["mesh-examples"]["istio-injection"] == "enabled"


def test_no_secret_leaks_into_values_or_other_files(rendered):
    holders = sorted(
        str(p.relative_to(rendered.root)) for p in rendered.root.rglob("*.yml") if LEAK_MARKER in p.read_text()
    )
    assert holders == [
        "cert_manager/acme-eab-credentials.yml",
        "storage/backup-target-credentials.yml",
        "velero/location-credentials.yml",
    ]
    for path in holders:
        assert {o["kind"] for o in rendered.manifests[path]} == {"Secret"}
