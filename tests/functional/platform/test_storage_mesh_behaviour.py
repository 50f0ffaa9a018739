"""What steps 7 and 8 render says what the platform needs: storage tiers, snapshots, backups with
retention in two places, HA ingress, the CA chain, STRICT mTLS with circuit breaking, telemetry."""

from __future__ import annotations

import re

import pytest
from storage_mesh_render import MINIMAL, render


@pytest.fixture(scope="module")
def rendered():
    return render()


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert match and duration, duration
    h, m, s = (int(x or 0) for x in match.groups())
    return h * 3600 + m * 60 + s


# Step 7: storage


def test_three_storage_tiers_on_longhorn_with_standard_the_only_default(rendered):
    classes = {o["metadata"]["name"]: o for o in rendered.objects("StorageClass")}
    assert set(classes) == {"fast-ssd", "standard", "archive"}
    defaults = [
        n
        for n, o in classes.items()
        if o["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    ]
    assert defaults == ["standard"]
    for sc in classes.values():
        assert sc["provisioner"] == "driver.longhorn.io"
        assert sc["volumeBindingMode"] == "WaitForFirstConsumer" and sc["allowVolumeExpansion"] is True
        assert int(sc["parameters"]["numberOfReplicas"]) >= 2
    assert classes["fast-ssd"]["parameters"]["diskSelector"] == "ssd"
    assert classes["archive"]["parameters"]["diskSelector"] == "hdd"
    assert classes["archive"]["reclaimPolicy"] == "Retain"
    # The chart's own class must not compete for the default.
    assert rendered.values["storage/longhorn-values.yml"]["persistence"]["defaultClass"] is False


def test_snapshot_classes_give_velero_exactly_one_off_cluster_class(rendered):
    classes = {o["metadata"]["name"]: o for o in rendered.objects("VolumeSnapshotClass")}
    assert {c["driver"] for c in classes.values()} == {"driver.longhorn.io"}
    for_velero = [
        n
        for n, c in classes.items()
        if c["metadata"].get("labels", {}).get("velero.io/csi-volumesnapshot-class") == "true"
    ]
    assert for_velero == ["longhorn-backup"]
    assert classes["longhorn-backup"]["parameters"]["type"] == "bak"  # copied to the backup target
    assert classes["longhorn-snapshot"]["parameters"]["type"] == "snap"
    values = rendered.values["storage/longhorn-values.yml"]
    assert values["defaultBackupStore"] == {
        "backupTarget": "s3://longhorn-backups@us-east-1/orchestrator/",
        "backupTargetCredentialSecret": "longhorn-backup-target",
    }
    secret = rendered.one("Secret", "longhorn-backup-target")
    assert secret["metadata"]["namespace"] == "longhorn-system"


def test_without_a_backup_target_velero_uses_the_in_cluster_class():
    rendered = render(**MINIMAL)
    classes = {o["metadata"]["name"]: o for o in rendered.objects("VolumeSnapshotClass")}
    assert set(classes) == {"longhorn-snapshot"}
    assert classes["longhorn-snapshot"]["metadata"]["labels"]["velero.io/csi-volumesnapshot-class"] == "true"
    assert "defaultBackupStore" not in rendered.values["storage/longhorn-values.yml"]


def test_snapshot_controller_is_highly_available_and_restricted(rendered):
    controller = rendered.values["storage/snapshot-controller-values.yml"]["controller"]
    assert controller["replicaCount"] >= 2 and controller["pdb"] == {"minAvailable": 1}
    ctx = controller["securityContext"]
    assert ctx["allowPrivilegeEscalation"] is False and ctx["capabilities"]["drop"] == ["ALL"]
    assert rendered.releases["storage/snapshot-controller-release.yml"]["namespace"] == "kube-system"


# Step 7: backups


def test_two_backup_locations_each_with_its_own_credentials(rendered):
    locations = rendered.objects("BackupStorageLocation")
    assert len(locations) == 2
    assert [loc["metadata"]["name"] for loc in locations if loc["spec"]["default"]] == ["primary"]
    assert len({loc["spec"]["objectStorage"]["bucket"] for loc in locations}) == 2
    assert len({loc["spec"]["config"]["s3Url"] for loc in locations}) == 2  # two sites
    secrets = {s["metadata"]["name"]: s for s in rendered.objects("Secret", component="velero")}
    for loc in locations:
        ref = loc["spec"]["credential"]
        assert ref["key"] in secrets[ref["name"]]["stringData"]
        assert "aws_secret_access_key" in secrets[ref["name"]]["stringData"][ref["key"]]


def test_the_chart_creates_no_location_of_its_own_and_uses_csi(rendered):
    values = rendered.values["velero/velero-values.yml"]
    assert values["backupsEnabled"] is False and values["snapshotsEnabled"] is False
    assert values["configuration"]["backupStorageLocation"] == []
    assert "EnableCSI" in values["configuration"]["features"]
    assert values["credentials"]["useSecret"] is False
    plugin = values["initContainers"][0]["image"]
    assert re.search(r":v\d+\.\d+\.\d+$", plugin), plugin
    assert values["containerSecurityContext"]["runAsNonRoot"] is True


def test_schedules_keep_retention_in_both_places_and_run_at_least_daily(rendered):
    locations = {loc["metadata"]["name"] for loc in rendered.objects("BackupStorageLocation")}
    schedules = {s["metadata"]["name"]: s["spec"] for s in rendered.objects("Schedule")}
    used = set()
    for name, spec in schedules.items():
        template = spec["template"]
        assert template["storageLocation"] in locations, name
        used.add(template["storageLocation"])
        assert _seconds(template["ttl"]) >= 24 * 3600, name
        _minute, _hour, dom, month, dow = spec["schedule"].split()
        # Daily at least: step 9 alerts when a schedule's last success is older than 26 h.
        assert (dom, month, dow) == ("*", "*", "*"), name
        assert template["snapshotVolumes"] is True
    assert used == locations  # every location receives backups
    retention = {
        template["storageLocation"]: _seconds(s["template"]["ttl"])
        for s in schedules.values()
        for template in [s["template"]]
    }
    assert retention["primary"] >= 30 * 86400 and retention["offsite"] >= 90 * 86400
    hourly = schedules["hourly-volumes"]
    assert hourly["schedule"].split()[1] == "*"  # RPO of volumes: 1 h


# Step 8: ingress-nginx


def test_ingress_nginx_is_highly_available_with_metrics(rendered):
    controller = rendered.values["ingress_nginx/ingress-nginx-values.yml"]["controller"]
    assert controller["replicaCount"] >= 2
    assert 1 <= controller["minAvailable"] < controller["replicaCount"]
    terms = controller["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
    assert controller["metrics"]["enabled"] is True and controller["metrics"]["serviceMonitor"]["enabled"] is True
    assert controller["service"]["type"] == "NodePort"
    assert controller["service"]["nodePorts"] == {"http": 30080, "https": 30443}  # integers: the chart schema
    assert controller["config"]["allow-snippet-annotations"] == "false"
    assert (
        controller["ingressClassResource"]["name"] == "nginx" and controller["ingressClassResource"]["default"] is True
    )


# Step 8: cert-manager


def test_the_ca_chain_is_self_signed_root_then_ca_issuer(rendered):
    values = rendered.values["cert_manager/cert-manager-values.yml"]
    assert values["crds"] == {"enabled": True, "keep": True}
    namespace = rendered.releases["cert_manager/cert-manager-release.yml"]["namespace"]
    root = rendered.one("Certificate", "platform-root-ca")
    bootstrap = rendered.one("ClusterIssuer", root["spec"]["issuerRef"]["name"])
    assert bootstrap["spec"] == {"selfSigned": {}}
    assert root["spec"]["isCA"] is True and "cert sign" in root["spec"]["usages"]
    # A ClusterIssuer reads its CA Secret from the cluster resource namespace (cert-manager's own).
    assert root["metadata"]["namespace"] == namespace
    ca = rendered.one("ClusterIssuer", "platform-ca")
    assert ca["spec"]["ca"]["secretName"] == root["spec"]["secretName"]
    for component in ("", "webhook", "cainjector"):
        section = values[component] if component else values
        assert section["replicaCount"] >= 2 and section["podDisruptionBudget"]["enabled"] is True


def test_acme_issuer_solves_through_the_ingress_class_with_its_eab_secret(rendered):
    acme = rendered.one("ClusterIssuer", "letsencrypt")["spec"]["acme"]
    assert acme["server"].startswith("https://") and acme["email"] == "platform-team@example.com"
    ingress_class = rendered.values["ingress_nginx/ingress-nginx-values.yml"]["controller"]["ingressClassResource"][
        "name"
    ]
    assert acme["solvers"][0]["http01"]["ingress"]["ingressClassName"] == ingress_class
    ref = acme["externalAccountBinding"]["keySecretRef"]
    secret = rendered.one("Secret", ref["name"], namespace="cert-manager")
    assert ref["key"] in secret["stringData"]


def test_acme_issuer_is_a_template_off_by_default():
    rendered = render(**MINIMAL)
    names = {o["metadata"]["name"] for o in rendered.objects("ClusterIssuer")}
    assert names == {"selfsigned-bootstrap", "platform-ca"}
    assert not rendered.objects("Secret", component="cert_manager")


# Step 8: Istio


def test_mesh_wide_strict_mtls_in_the_root_namespace(rendered):
    pa = rendered.one("PeerAuthentication", "default")
    assert pa["metadata"]["namespace"] == "istio-system"
    assert pa["spec"] == {"mtls": {"mode": "STRICT"}}  # no selector: the whole mesh


def test_default_destination_rule_breaks_circuits_for_every_service(rendered):
    dr = rendered.one("DestinationRule", "default-circuit-breaking")
    assert dr["metadata"]["namespace"] == "istio-system" and dr["spec"]["host"] == "*.cluster.local"
    policy = dr["spec"]["trafficPolicy"]
    assert policy["tls"]["mode"] == "ISTIO_MUTUAL"
    assert policy["connectionPool"]["tcp"]["maxConnections"] > 0
    assert policy["connectionPool"]["http"]["http1MaxPendingRequests"] > 0
    assert policy["outlierDetection"]["consecutive5xxErrors"] > 0
    assert 0 < policy["outlierDetection"]["maxEjectionPercent"] <= 100


def test_telemetry_goes_to_prometheus_and_to_the_declared_jaeger_provider(rendered):
    telemetry = rendered.one("Telemetry", "mesh-default")["spec"]
    assert telemetry["metrics"][0]["providers"] == [{"name": "prometheus"}]
    tracing = telemetry["tracing"][0]
    providers = rendered.values["istio/istiod-values.yml"]["meshConfig"]["extensionProviders"]
    declared = {p["name"]: p for p in providers}
    assert tracing["providers"][0]["name"] in declared
    assert declared[tracing["providers"][0]["name"]]["opentelemetry"]["port"] == 4317
    assert 0 < tracing["randomSamplingPercentage"] <= 100
    monitor = rendered.one("PodMonitor", "istio-proxies")["spec"]
    assert monitor["namespaceSelector"] == {"any": True}


def test_istio_charts_share_one_release_and_run_ha_with_the_cni(rendered):
    versions = {r["version"] for p, r in rendered.releases.items() if p.startswith("istio/")}
    assert versions == {"1.30.1"}
    istiod = rendered.values["istio/istiod-values.yml"]
    assert istiod["autoscaleMin"] >= 2 and istiod["global"]["defaultPodDisruptionBudget"]["enabled"] is True
    assert istiod["cni"]["enabled"] is True and istiod["global"]["proxy"]["privileged"] is False
    assert istiod["seccompProfile"] == {"type": "RuntimeDefault"}  # istio-system enforces restricted
    cni_release = rendered.releases["istio/istio-cni-release.yml"]
    assert cni_release["namespace"] == "kube-system"  # Pod Security exempt: the agent is privileged
    gateway = rendered.values["istio/istio-ingressgateway-values.yml"]
    assert gateway["autoscaling"]["minReplicas"] >= 2 and gateway["podDisruptionBudget"] == {"minAvailable": 1}
    assert gateway["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_examples_route_split_and_mirror_to_declared_subsets(rendered):
    subsets = {}
    for dr in rendered.objects("DestinationRule", component="istio"):
        host = dr["spec"]["host"].split(".")[0]
        subsets[host] = {s["name"] for s in dr["spec"].get("subsets", [])}
    routes = {vs["metadata"]["name"]: vs["spec"]["http"] for vs in rendered.objects("VirtualService")}
    for http in routes.values():
        for rule in http:
            for dest in [r["destination"] for r in rule["route"]] + ([rule["mirror"]] if "mirror" in rule else []):
                assert dest["subset"] in subsets[dest["host"]], dest
    assert routes["frontend"][0]["match"][0]["headers"]["x-canary"] == {"exact": "true"}
    assert sum(r["weight"] for r in routes["backend"][0]["route"]) == 100
    assert {r["weight"] for r in routes["backend"][0]["route"]} == {90, 10}
    assert (
        routes["payments"][0]["mirror"]["subset"] == "v2" and routes["payments"][0]["mirrorPercentage"]["value"] == 20.0
    )


def test_example_gateway_selects_the_gateway_pods_and_uses_a_ca_issued_certificate(rendered):
    gateway = rendered.one("Gateway", "frontend")["spec"]
    release = rendered.releases["istio/istio-ingressgateway-release.yml"]
    # The gateway chart labels its pods istio=<release name without the "istio-" prefix>.
    assert gateway["selector"] == {"istio": release["name"].removeprefix("istio-")}
    https = next(s for s in gateway["servers"] if s["port"]["protocol"] == "HTTPS")
    cert = rendered.one("Certificate", https["tls"]["credentialName"])
    # Istio reads credentialName from the gateway's own namespace.
    assert cert["metadata"]["namespace"] == release["namespace"]
    assert cert["spec"]["secretName"] == https["tls"]["credentialName"]
    assert cert["spec"]["issuerRef"]["name"] == "platform-ca"
    assert cert["spec"]["dnsNames"] == https["hosts"]
