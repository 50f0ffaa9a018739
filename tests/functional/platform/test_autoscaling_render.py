"""Step 11: metrics-server pinned and highly available, and HPAs whose targets exist in the k8s/
tree step 10 deploys, can be scaled, and have the CPU requests utilization targets need."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from k8s_schema import load_documents
from platform_render import ROOT

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
# What step 10 deploys: the prod overlay with the canary (Rollout) on top.
TREES = ("overlays/prod", "argo-rollouts")


@pytest.fixture(scope="module")
def workloads() -> dict[tuple[str, str, str], dict]:
    found = {}
    for tree in TREES:
        build = subprocess.run(
            [KUBECTL, "kustomize", str(ROOT / "k8s" / tree)], capture_output=True, text=True, check=False
        )
        assert build.returncode == 0, build.stderr
        for obj in load_documents(build.stdout):
            key = (obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            found[key] = obj
    return found


def hpas(render):
    return render.objects("HorizontalPodAutoscaler", "autoscaling")


def pod_template(workloads, obj):
    """The pod template of a workload; a Rollout with workloadRef takes its Deployment's."""
    if "template" in obj["spec"]:
        return obj["spec"]["template"]
    ref = obj["spec"]["workloadRef"]
    return workloads[(ref["kind"], obj["metadata"]["namespace"], ref["name"])]["spec"]["template"]


def test_metrics_server_is_pinned_replicated_and_verifies_kubelets(obs):
    values = obs.values["autoscaling/metrics-server-values.yml"]
    assert values["replicas"] >= 2
    assert values["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    args = values["defaultArgs"] + values.get("args", [])
    assert "--kubelet-insecure-tls" not in args
    assert "--kubelet-preferred-address-types=InternalIP,Hostname" in args
    assert values["image"]["repository"] == "registry.k8s.io/metrics-server/metrics-server"


def test_hpas_target_workloads_that_exist_and_can_scale(obs, workloads):
    assert {h["metadata"]["name"] for h in hpas(obs)} == {"orchestrator", "monitoring-app"}
    for hpa in hpas(obs):
        ref = hpa["spec"]["scaleTargetRef"]
        key = (ref["kind"], hpa["metadata"]["namespace"], ref["name"])
        assert key in workloads, f"HPA {hpa['metadata']['name']} targets {key}, which step 10 does not deploy"
        target = workloads[key]
        assert target["apiVersion"] == ref["apiVersion"]
        assert ref["kind"] in {"Deployment", "StatefulSet", "Rollout"}
        # Utilization targets are percentages of the containers' requests: every container has them.
        resources = [m["resource"]["name"] for m in hpa["spec"]["metrics"]]
        for container in pod_template(workloads, target)["spec"]["containers"]:
            for name in resources:
                assert name in container.get("resources", {}).get("requests", {}), (hpa["metadata"]["name"], name)
        spec = hpa["spec"]
        assert 2 <= spec["minReplicas"] <= spec["maxReplicas"]


def test_the_orchestrator_is_scaled_through_its_rollout(obs, workloads):
    hpa = next(h for h in hpas(obs) if h["metadata"]["name"] == "orchestrator")
    rollout = workloads[("Rollout", "orchestrator", "orchestrator")]
    # The Rollout owns the Deployment's pods (workloadRef) and scales that Deployment to zero: an HPA
    # on the Deployment would fight the Rollout controller.
    assert rollout["spec"]["workloadRef"]["name"] == "orchestrator"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "orchestrator",
    }
    assert hpa["spec"]["minReplicas"] >= rollout["spec"]["replicas"]


def test_scaling_is_damped(obs):
    for hpa in hpas(obs):
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
        assert behavior["scaleDown"]["policies"][0] == {"type": "Percent", "value": 25, "periodSeconds": 60}
        assert behavior["scaleUp"]["selectPolicy"] == "Max"


def test_stateful_and_daemon_workloads_are_not_autoscaled(obs, workloads):
    targeted = {(h["spec"]["scaleTargetRef"]["kind"], h["spec"]["scaleTargetRef"]["name"]) for h in hpas(obs)}
    for kind, _, name in workloads:
        if kind in {"StatefulSet", "DaemonSet"}:
            assert (kind, name) not in targeted


def test_the_cluster_autoscaler_gap_is_documented():
    text = (ROOT / "docs" / "autoscaling.md").read_text()
    assert "cluster autoscaler" in text.lower()
    assert "bare metal" in text.lower()
    assert "04_join_workers.yml" in text
