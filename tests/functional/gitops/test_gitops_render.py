"""Step 10 in render-only mode: what the roles would send, validated.

Two scenarios (fixtures/scenario-*.yml): production through Argo CD (HA, secrets, gated canary) and
development applied directly (offline registry). Every object validates strictly; the charts are
pinned; HA is on exactly where asked; secrets reach only their Secrets, never the log; the Argo CD
Applications, rendered the way Argo CD renders them, give the intended workloads; the direct
render is the overlay plus the canary with this run's values.
"""

from __future__ import annotations

import base64
import re
import stat

import pytest
import yaml
from chart_keys import keys_the_chart_ignores
from gitops_render import FIXTURES, ROOT, kustomize_like_argocd, run_playbook
from k8s_schema import load_documents, validate_all

SCENARIO = {name: yaml.safe_load((FIXTURES / f"scenario-{name}.yml").read_text()) for name in ("argocd", "direct")}
DEFAULTS = {
    role: yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    for role in ("argocd", "argo_rollouts", "orchestrator_workloads")
}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


@pytest.mark.parametrize("name", ["argocd", "direct"])
def test_every_written_object_validates(render, name):
    objects = render[name].objects()
    assert objects
    problems = validate_all(objects)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["argocd", "direct"])
def test_written_files_are_private(render, name):
    for rel in render[name].files:
        mode = stat.S_IMODE((render[name].root / rel).stat().st_mode)
        assert mode == 0o600, f"{rel} has mode {oct(mode)}"


@pytest.mark.parametrize(
    ("component", "release", "chart", "version_var"),
    [
        ("argocd", "argocd", "argo-cd", ("argocd", "argocd_chart_version")),
        ("argo_rollouts", "argo-rollouts", "argo-rollouts", ("argo_rollouts", "argo_rollouts_chart_version")),
    ],
)
def test_charts_are_pinned(render, component, release, chart, version_var):
    pinned = DEFAULTS[version_var[0]][version_var[1]]
    assert SEMVER.match(pinned), f"{version_var[1]} is not an exact version: {pinned}"
    for name in ("argocd", "direct"):
        coordinates = render[name].files[f"{component}/{release}-release.yml"]
        assert coordinates["chart"] == chart
        assert coordinates["version"] == pinned
        assert coordinates["repo_url"] == "https://argoproj.github.io/argo-helm"


def test_ha_values_only_where_asked(render):
    ha = render["argocd"].files["argocd/argocd-values.yml"]
    single = render["direct"].files["argocd/argocd-values.yml"]
    assert ha["redis-ha"]["enabled"] is True and ha["redis"]["enabled"] is False
    for key in ("server", "repoServer", "applicationSet"):
        assert ha[key]["replicas"] >= 2, f"HA {key} replicas"
        assert single[key]["replicas"] == 1
    assert ha["server"]["pdb"]["enabled"] is True
    assert single["redis-ha"]["enabled"] is False and single["redis"]["enabled"] is True
    rollouts_ha = render["argocd"].files["argo_rollouts/argo-rollouts-values.yml"]
    rollouts_single = render["direct"].files["argo_rollouts/argo-rollouts-values.yml"]
    assert rollouts_ha["controller"]["replicas"] == 2
    assert rollouts_ha["controller"]["pdb"]["enabled"] is True
    assert rollouts_single["controller"]["replicas"] == 1


@pytest.mark.parametrize("name", ["argocd", "direct"])
def test_argocd_values_leave_the_secrets_and_notifications_to_the_roles(render, name):
    values = render[name].files["argocd/argocd-values.yml"]
    assert values["configs"]["secret"]["createSecret"] is False
    assert values["notifications"]["cm"]["create"] is False
    assert values["notifications"]["secret"]["create"] is False
    text = yaml.safe_dump(values)
    assert "password" not in text.lower()
    for component, limits in ((k, v) for k, v in values.items() if isinstance(v, dict) and "resources" in v):
        assert set(limits["resources"]) == {"requests", "limits"}, f"{component} without requests and limits"


def test_secrets_reach_their_secrets_and_never_the_log(render):
    scenario, result = SCENARIO["argocd"], render["argocd"]
    secret = result.one("Secret", "argocd-secret", "argocd")
    assert base64.b64decode(secret["data"]["admin.password"]).decode() == scenario["argocd_admin_password_bcrypt"]
    assert base64.b64decode(secret["data"]["admin.passwordMtime"]).decode() == scenario["argocd_admin_password_mtime"]
    hook = result.one("Secret", "argocd-notifications-secret", "argocd")
    url = base64.b64decode(hook["data"]["orchestrator-webhook-url"]).decode()
    assert url == scenario["argocd_notifications_webhook_url"]
    for value in (scenario["argocd_admin_password_bcrypt"], scenario["argocd_notifications_webhook_url"]):
        assert value not in result.log
        assert base64.b64encode(value.encode()).decode() not in result.log
    assert "not-a-real-token" not in result.log
    assert scenario["argocd_admin_password_bcrypt"][7:29] not in result.log, "not even the salt"
    assert "server.secretkey" not in secret.get("data", {}), "the server generates its own key"
    empty = render["direct"].one("Secret", "argocd-secret", "argocd")
    assert "data" not in empty, "no password given: Argo CD generates the initial one"


@pytest.mark.parametrize("name", ["argocd", "direct"])
def test_argo_namespaces_default_deny_with_their_flows(render, name):
    for component, namespace in (("argocd", "argocd"), ("argo_rollouts", "argo-rollouts")):
        policies = [o for o in render[name].objects(component) if o["kind"] == "NetworkPolicy"]
        assert {p["metadata"]["namespace"] for p in policies} == {namespace}
        deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")]
        deny = [p for p in deny if not p["spec"].get("egress") and len(p["spec"]["policyTypes"]) == 2]
        assert deny, f"no default deny in {namespace}"
        ports = {
            port["port"] for p in policies for rule in p["spec"].get("egress") or [] for port in rule.get("ports") or []
        }
        assert {53, 6443} <= ports, f"{namespace}: DNS or API server egress missing"
        (ns,) = render[name].files[f"{component}/namespaces.yml"]
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_argocd_mode_applications_follow_the_variables(render):
    scenario, result = SCENARIO["argocd"], render["argocd"]
    objects = result.files["orchestrator_workloads/argocd-applications.yml"]
    assert {o["kind"] for o in objects} == {"AppProject", "Application", "ConfigMap"}
    project = result.one("AppProject", "orchestrator")
    assert project["spec"]["sourceRepos"] == [scenario["orchestrator_workloads_repo_url"]]
    app = result.one("Application", "orchestrator")
    rollout_app = result.one("Application", "orchestrator-rollout")
    for application in (app, rollout_app):
        assert application["metadata"]["namespace"] == "argocd"
        assert application["spec"]["source"]["repoURL"] == scenario["orchestrator_workloads_repo_url"]
        assert application["spec"]["source"]["targetRevision"] == scenario["orchestrator_workloads_revision"]
    assert app["spec"]["source"]["path"] == "deploy/k8s/overlays/prod"
    assert rollout_app["spec"]["source"]["path"] == "deploy/k8s/argo-rollouts"
    assert rollout_app["spec"]["source"]["kustomize"]["components"] == ["gated"]
    assert app["spec"]["ignoreDifferences"][0]["jsonPointers"] == ["/spec/replicas"]


def test_argocd_mode_renders_like_argo_cd_would(render, tmp_path):
    """Build what Argo CD will build from the Applications the role wrote, and check the result."""
    scenario, result = SCENARIO["argocd"], render["argocd"]
    app = result.one("Application", "orchestrator")["spec"]["source"]
    workloads = kustomize_like_argocd(tmp_path / "app", "overlays/prod", app.get("kustomize", {}))
    images = {
        c["name"]: c["image"]
        for o in workloads
        if o["kind"] == "Deployment"
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images["orchestrator"] == "registry.example.org/acme/orchestrator:1.4.2"
    probe = next(o for o in workloads if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "probe-agent")
    assert (
        probe["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.invalid/orchestrator/probe-agent:1.4.2"
    )
    rollout_src = result.one("Application", "orchestrator-rollout")["spec"]["source"]
    canary = kustomize_like_argocd(tmp_path / "rollout", "argo-rollouts", rollout_src["kustomize"])
    rollout = next(o for o in canary if o["kind"] == "Rollout")
    assert (
        rollout["spec"]["replicas"]
        == DEFAULTS["orchestrator_workloads"]["orchestrator_workloads_rollout_replicas"]["prod"]
    )
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert [s["pause"] for s in steps if "pause" in s] == [{}, {}, {}, {}], "gated mode: every pause indefinite"
    for template in (o for o in canary if o["kind"] == "AnalysisTemplate"):
        args = {a["name"]: a.get("value") for a in template["spec"]["args"]}
        assert args["prometheus-address"] == scenario["orchestrator_workloads_prometheus_url"]
    assert not validate_all(workloads + canary)


def test_direct_mode_is_the_overlay_with_the_canary(render):
    result = render["direct"]
    written = result.files["orchestrator_workloads/workloads.yml"]
    assert "Namespace" not in {o["kind"] for o in written}, "namespaces go through the helper (Pod Security labels)"
    namespaces = {o["metadata"]["name"]: o for o in result.files["orchestrator_workloads/namespaces.yml"]}
    assert namespaces["orchestrator"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["orchestrator-agents"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert all(o["metadata"]["labels"]["orchestrator.platform/environment"] == "dev" for o in written)
    deployment = result.one("Deployment", "orchestrator")
    assert "replicas" not in deployment["spec"], "the Rollout owns the Deployment's replica count"
    rollout = result.one("Rollout", "orchestrator")
    assert rollout["spec"]["replicas"] == 1
    assert rollout["spec"]["strategy"]["canary"]["steps"][1] == {"pause": {"duration": "5m"}}, "observe mode"
    assert {o["metadata"]["name"] for o in written if o["kind"] == "AnalysisTemplate"} == {
        "orchestrator-success-rate",
        "orchestrator-latency",
    }


def test_direct_mode_images_come_from_the_offline_registry(render):
    written = render["direct"].files["orchestrator_workloads/workloads.yml"]
    images = [
        c["image"]
        for o in written
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        for c in o["spec"]["template"]["spec"]["containers"]
    ]
    assert len(images) == 8
    registry = SCENARIO["direct"]["cluster_image_registry"]
    assert all(i.startswith(registry + "/") for i in images), images
    assert f"{registry}/acme/monitoring-app:2.0.1" in images
    assert f"{registry}/library/zookeeper:3.9.3" in images
    assert not any(i.endswith(":latest") for i in images)


def test_preflight_refuses_an_unknown_mode_fast(tmp_path):
    run = run_playbook(
        tmp_path,
        "-e",
        "argocd_enabled=false",
        "-e",
        "argo_rollouts_enabled=false",
        "-e",
        "orchestrator_workloads_deploy_mode=helm",
    )
    assert run.returncode != 0
    assert "orchestrator_workloads_deploy_mode" in run.stdout
    assert "helm" in run.stdout, "the message names the variable and the refused value"
    assert not any(tmp_path.iterdir()), "nothing may be written when the preflight fails"


def test_a_plain_password_is_refused_and_not_shown(tmp_path):
    plain = "Plain-Text-Password-42"
    run = run_playbook(
        tmp_path,
        "-e",
        "argo_rollouts_enabled=false",
        "-e",
        "orchestrator_workloads_enabled=false",
        "-e",
        f"argocd_admin_password_bcrypt={plain}",
    )
    assert run.returncode != 0
    assert "Check that the admin password is a bcrypt hash" in run.stdout
    assert plain not in run.stdout + run.stderr
    assert not any(tmp_path.iterdir())


def test_without_the_canary_argo_cd_ignores_nothing(tmp_path):
    run = run_playbook(
        tmp_path,
        "-e",
        "argocd_enabled=false",
        "-e",
        "argo_rollouts_enabled=false",
        "-e",
        "orchestrator_workloads_rollout_enabled=false",
        "-e",
        "orchestrator_workloads_argocd_namespace=gitops",
    )
    assert run.returncode == 0, run.stdout[-3000:]
    objects = load_documents((tmp_path / "orchestrator_workloads" / "argocd-applications.yml").read_text())
    assert sorted(o["metadata"]["name"] for o in objects if o["kind"] == "Application") == ["orchestrator"]
    (app,) = (o for o in objects if o["kind"] == "Application")
    # Without the Rollout, the HPA of step 11 scales the Deployment: its replicas stay ignored.
    assert [i["name"] for i in app["spec"]["ignoreDifferences"]] == ["orchestrator", "monitoring-app"]
    assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
    assert {o["metadata"]["namespace"] for o in objects} == {"gitops"}
    assert not validate_all(objects)


# Keys the argo-rollouts chart reads, from its values.yaml at argoproj/argo-helm tag
# argo-rollouts-2.41.0 (commit 8796aeaa82428f96c3a20293f75a1a805f99d32b), charts/argo-rollouts/.
# Helm ignores any other key silently; the controller's security contexts are top-level
# (templates/controller/deployment.yaml reads .Values.containerSecurityContext).
ARGO_ROLLOUTS_CHART_KEYS = {
    "": {
        "apiVersionOverrides",
        "clusterInstall",
        "containerSecurityContext",
        "controller",
        "crdAnnotations",
        "createClusterAggregateRoles",
        "dashboard",
        "extraObjects",
        "fullnameOverride",
        "global",
        "imagePullSecrets",
        "installCRDs",
        "keepCRDs",
        "kubeVersionOverride",
        "nameOverride",
        "namespaceOverride",
        "notifications",
        "podAnnotations",
        "podLabels",
        "podSecurityContext",
        "providerRBAC",
        "serviceAccount",
        "serviceAnnotations",
    },
    "controller": {
        "affinity",
        "albTagKeyResourceID",
        "awsTargetGroupBindingAPIVersion",
        "awsVerifyTargetGroup",
        "component",
        "containerPorts",
        "createClusterRole",
        "createConfigmap",
        "deploymentAnnotations",
        "deploymentLabels",
        "extraArgs",
        "extraContainers",
        "extraEnv",
        "image",
        "initContainers",
        "lifecycle",
        "livenessProbe",
        "logging",
        "metricProviderPlugins",
        "metrics",
        "nodeSelector",
        "pdb",
        "podAnnotations",
        "podLabels",
        "pprofAddress",
        "priorityClassName",
        "readinessProbe",
        "replicas",
        "resources",
        "selfServiceNotification",
        "stepPlugins",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
        "trafficRouterPlugins",
        "volumeMounts",
        "volumes",
    },
    "dashboard": {
        "affinity",
        "component",
        "containerSecurityContext",
        "createClusterRole",
        "deploymentAnnotations",
        "deploymentLabels",
        "enabled",
        "extraArgs",
        "extraEnv",
        "httproute",
        "image",
        "ingress",
        "logging",
        "nodeSelector",
        "pdb",
        "podAnnotations",
        "podLabels",
        "podSecurityContext",
        "priorityClassName",
        "readonly",
        "replicas",
        "resources",
        "rootPath",
        "service",
        "serviceAccount",
        "tolerations",
        "topologySpreadConstraints",
        "volumeMounts",
        "volumes",
    },
    "controller.metrics": {"enabled", "service", "serviceMonitor"},
    "controller.pdb": {"annotations", "enabled", "labels", "maxUnavailable", "minAvailable"},
    "controller.image": {"pullPolicy", "registry", "repository", "tag"},
    "dashboard.image": {"pullPolicy", "registry", "repository", "tag"},
}


@pytest.mark.parametrize("name", ["argocd", "direct"])
def test_argo_rollouts_values_use_only_keys_the_chart_reads(render, name):
    values = render[name].files["argo_rollouts/argo-rollouts-values.yml"]
    ignored = keys_the_chart_ignores(values, ARGO_ROLLOUTS_CHART_KEYS)
    assert not ignored, f"argo-rollouts values: keys the chart ignores: {ignored}"
    # The hardening lands where the chart's deployments read it.
    for context in (values["containerSecurityContext"], values["dashboard"]["containerSecurityContext"]):
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert values["podSecurityContext"]["runAsNonRoot"] is True
