"""The canary, asserted against the seed's numbers, so that changing them is a visible decision.

Seed 000: 10 % -> pause 5 min -> analysis -> 25 % -> pause 5 min -> 50 % -> pause 10 min ->
analysis -> 75 % -> pause 5 min -> 100 %. Seed 003: success rate >= 95 %, P95 <= 1000 ms,
P99 <= 2000 ms, automatic rollback. No data is inconclusive, never a pass.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import pytest
import yaml
from k8s_tree import find, selects

SEED_STEPS = [
    ("setWeight", 10),
    ("pause", "5m"),
    ("analysis", None),
    ("setWeight", 25),
    ("pause", "5m"),
    ("setWeight", 50),
    ("pause", "10m"),
    ("analysis", None),
    ("setWeight", 75),
    ("pause", "5m"),
    ("setWeight", 100),
]
THRESHOLDS = {"success-rate": (">=", 0.95), "latency-p95-ms": ("<=", 1000), "latency-p99-ms": ("<=", 2000)}


def normalise(steps):
    out = []
    for step in steps:
        ((kind, body),) = step.items()
        if kind == "setWeight":
            out.append((kind, body))
        elif kind == "pause":
            out.append((kind, (body or {}).get("duration")))
        else:
            out.append((kind, None))
    return out


def rollout(objects):
    return find(objects, "Rollout", "orchestrator", "orchestrator")


def test_rollout_steps_are_the_seeds(rendered):
    assert normalise(rollout(rendered["rollout"])["spec"]["strategy"]["canary"]["steps"]) == SEED_STEPS


def test_gated_component_makes_every_pause_indefinite_and_nothing_else(rendered):
    gated = rollout(rendered["rollout-gated"])["spec"]["strategy"]["canary"]["steps"]
    expected = [(k, None) if k == "pause" else (k, v) for k, v in SEED_STEPS]
    assert normalise(gated) == expected
    assert all(step["pause"] == {} for step in gated if "pause" in step)
    plain = rollout(rendered["rollout"])["spec"]["strategy"]["canary"]["steps"]
    assert [s for s in gated if "pause" not in s] == [s for s in plain if "pause" not in s]
    gated_ref = rollout(rendered["rollout-gated"])["spec"]["workloadRef"]
    assert gated_ref == rollout(rendered["rollout"])["spec"]["workloadRef"]


def test_analysis_steps_measure_the_canary_with_every_template(rendered):
    objects = rendered["rollout"]
    templates = {o["metadata"]["name"]: o for o in objects if o["kind"] == "AnalysisTemplate"}
    metrics = {m["name"] for t in templates.values() for m in t["spec"]["metrics"]}
    assert metrics == set(THRESHOLDS)
    for step in rollout(objects)["spec"]["strategy"]["canary"]["steps"]:
        if "analysis" not in step:
            continue
        names = {t["templateName"] for t in step["analysis"]["templates"]}
        assert names == set(templates)
        args = {a["name"]: a for a in step["analysis"]["args"]}
        assert args["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}
        for template in templates.values():
            declared = {a["name"] for a in template["spec"]["args"]}
            assert declared >= set(args)
            without_default = {a["name"] for a in template["spec"]["args"] if "value" not in a}
            assert without_default <= set(args), f"{template['metadata']['name']} needs {without_default - set(args)}"
            for metric in template["spec"]["metrics"]:
                assert "{{args.canary-hash}}" in metric["provider"]["prometheus"]["query"]


ATOM = re.compile(r"^(?:len\(result\) > 0|(all|any)\(result, \{# (>=|<=|>|<) ([0-9.]+)\}\))$")
COMPARE = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b}


def _atom(text, result):
    match = ATOM.match(text.strip())
    assert match, f"condition term outside the tested subset of the expr language: {text!r}"
    if match.group(1) is None:
        return len(result) > 0
    quantifier = all if match.group(1) == "all" else any
    return quantifier(COMPARE[match.group(2)](x, float(match.group(3))) for x in result)


def _evaluate(condition, result):
    """Evaluate the subset of the Argo Rollouts (expr) condition language the templates use.

    Disjunctions of conjunctions of: len(result) > 0, all(result, {# OP N}), any(result, {# OP N}).
    Comparisons with NaN are false, as in Go.
    """
    return any(all(_atom(term, result) for term in part.split("&&")) for part in condition.split("||"))


def _outcome(metric, result):
    success = _evaluate(metric["successCondition"], result)
    failure = _evaluate(metric["failureCondition"], result)
    assert not (success and failure), f"{metric['name']}: {result} is both success and failure"
    return "Successful" if success else "Failed" if failure else "Inconclusive"


@pytest.mark.parametrize("metric_name", sorted(THRESHOLDS))
def test_thresholds_and_no_data_is_inconclusive(rendered, metric_name):
    metric = next(
        m
        for o in rendered["rollout"]
        if o["kind"] == "AnalysisTemplate"
        for m in o["spec"]["metrics"]
        if m["name"] == metric_name
    )
    op, limit = THRESHOLDS[metric_name]
    step = 0.01 if limit < 1 else 1
    inside, outside = (limit + step, limit - step) if op == ">=" else (limit - step, limit + step)
    assert _outcome(metric, [limit]) == "Successful", "the threshold itself passes (>= / <=)"
    assert _outcome(metric, [inside]) == "Successful"
    assert _outcome(metric, [outside]) == "Failed"
    assert _outcome(metric, []) == "Inconclusive", "no series at all must not pass"
    assert _outcome(metric, [math.nan]) == "Inconclusive", "no requests (NaN) must not pass"
    assert metric["failureLimit"] == 1
    assert metric["inconclusiveLimit"] == 1
    assert metric["count"] >= 3


def test_rollback_is_automatic(rendered):
    spec = rollout(rendered["rollout"])["spec"]
    assert spec["progressDeadlineAbort"] is True
    # a failed analysis aborts: the analysis is a step, not background dry-run
    templates = [o for o in rendered["rollout"] if o["kind"] == "AnalysisTemplate"]
    assert all(not t["spec"].get("dryRun") for t in templates)


def test_rollout_wiring_matches_the_base(rendered):
    base, spec = rendered["base"], rollout(rendered["rollout"])["spec"]
    deployment = find(base, "Deployment", spec["workloadRef"]["name"], "orchestrator")
    assert spec["workloadRef"]["kind"] == "Deployment"
    assert spec["workloadRef"]["scaleDown"] in ("progressively", "onsuccess")
    assert selects(spec["selector"], deployment["spec"]["template"]["metadata"]["labels"])
    canary = spec["strategy"]["canary"]
    for service in (canary["stableService"], canary["canaryService"]):
        svc = find(base, "Service", service, "orchestrator")
        assert selects({"matchLabels": svc["spec"]["selector"]}, deployment["spec"]["template"]["metadata"]["labels"])
    ingress = find(base, "Ingress", canary["trafficRouting"]["nginx"]["stableIngress"], "orchestrator")
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
    assert backends == {canary["stableService"]}, "nginx traffic routing needs the stable service as the backend"


def test_service_monitor_carries_the_pod_template_hash(rendered):
    monitor = find(rendered["prod"], "ServiceMonitor", "orchestrator", "orchestrator")
    assert "rollouts-pod-template-hash" in monitor["spec"]["podTargetLabels"]
    services = [
        s
        for s in rendered["prod"]
        if s["kind"] == "Service" and selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
    ]
    assert [s["metadata"]["name"] for s in services] == ["orchestrator"], "only the main service is scraped"


PROMTOOL = shutil.which("promtool")


def _promtool_check(expressions, tmp_path):
    """Parse PromQL with Prometheus' own parser: each expression as a recording rule."""
    assert PROMTOOL, "promtool (Debian package prometheus, installed by scripts/setup.sh) is required"
    records = [{"record": f"check:expr{i}", "expr": e} for i, e in enumerate(expressions)]
    rules = {"groups": [{"name": "check", "rules": records}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_analysis_queries_parse(rendered, tmp_path):
    queries = []
    for template in (o for o in rendered["rollout"] if o["kind"] == "AnalysisTemplate"):
        defaults = {a["name"]: a.get("value", "0123456789") for a in template["spec"]["args"]}
        for metric in template["spec"]["metrics"]:
            query = metric["provider"]["prometheus"]["query"]
            queries.append(re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m, d=defaults: d[m.group(1)], query))
    assert len(queries) == 3
    _promtool_check(queries, tmp_path)


SEED_DASHBOARDS = {
    "Mesos Cluster Overview",
    "Marathon Applications",
    "Container Monitoring",
    "Zookeeper Sync Status",
    "Canary Deployment Metrics",
}


def test_five_dashboards_load_and_parse(rendered, tmp_path):
    maps = [
        o
        for o in rendered["base"]
        if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"].get("labels", {})
    ]
    assert len(maps) == 5
    titles, uids, expressions = set(), set(), []
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((_, text),) = cm["data"].items()
        board = json.loads(text)
        titles.add(board["title"])
        uids.add(board["uid"])
        assert board["panels"], f"{board['title']} has no panels"
        for panel in board["panels"]:
            assert panel["targets"], f"{board['title']}: panel {panel['title']} has no query"
            expressions += [t["expr"] for t in panel["targets"]]
    assert titles == SEED_DASHBOARDS
    assert len(uids) == 5
    seed_metrics = (
        "mesos_master_elected",
        "mesos_master_uptime_secs",
        "zk_sync_lag_ms",
        "monitoring_app_probes_connected",
    )
    for metric in seed_metrics:
        assert any(metric in e for e in expressions), f"seed metric {metric} is on no dashboard"
    _promtool_check(expressions, tmp_path)


def test_argocd_ignores_only_the_deployment_replicas(rendered, application_set):
    apps = [o for o in rendered["argocd"] if o["kind"] == "Application"]
    templates = [s["spec"]["template"] for s in application_set]
    ignored = {}
    for app in apps + templates:
        name = app["metadata"]["name"]
        ignored[name] = [
            (
                i.get("group"),
                i["kind"],
                i.get("name"),
                tuple(i.get("jsonPointers", [])),
                tuple(i.get("jqPathExpressions", [])),
            )
            for i in app["spec"].get("ignoreDifferences", [])
        ]
        if ignored[name]:
            assert "RespectIgnoreDifferences=true" in app["spec"]["syncPolicy"]["syncOptions"]
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    # Only the replicas that Argo Rollouts or the HPAs of step 11 scale (docs/workloads.md).
    workloads = [
        ("apps", "Deployment", "orchestrator", ("/spec/replicas",), ()),
        ("apps", "Deployment", "monitoring-app", ("/spec/replicas",), ()),
    ]
    rollout = [("argoproj.io", "Rollout", "orchestrator", ("/spec/replicas",), ())]
    assert ignored["orchestrator"] == workloads
    assert ignored["orchestrator-rollout"] == rollout
    assert ignored["orchestrator-{{.env}}"] == workloads
    assert ignored["orchestrator-rollout-{{.env}}"] == rollout


def test_app_project_admits_everything_the_apps_deploy(rendered):
    project = find(rendered["argocd"], "AppProject", "orchestrator", "argocd")["spec"]
    cluster_kinds = {(k["group"], k["kind"]) for k in project["clusterResourceWhitelist"]}
    ns_kinds = {(k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]}
    namespaces = {d["namespace"] for d in project["destinations"]}
    for obj in rendered["prod"] + rendered["rollout"]:
        group = obj["apiVersion"].rpartition("/")[0]
        namespace = obj["metadata"].get("namespace")
        if namespace is None:
            assert (group, obj["kind"]) in cluster_kinds, f"project refuses cluster-scoped {obj['kind']}"
        else:
            assert (group, obj["kind"]) in ns_kinds, f"project refuses {obj['kind']}"
            assert namespace in namespaces, f"project refuses namespace {namespace}"


def test_notifications_cover_sync_failed_degraded_and_aborted(rendered):
    data = find(rendered["argocd"], "ConfigMap", "argocd-notifications-cm", "argocd")["data"]
    subscriptions = yaml.safe_load(data["subscriptions"])
    subscribed = {t for s in subscriptions for t in s["triggers"]}
    assert subscribed == {"on-orchestrator-sync-failed", "on-orchestrator-degraded", "on-orchestrator-rollout-aborted"}
    for trigger in subscribed:
        for condition in yaml.safe_load(data[f"trigger.{trigger}"]):
            for template in condition["send"]:
                assert f"template.{template}" in data, f"{trigger} sends the unknown template {template}"
    assert "RolloutAborted" in data["trigger.on-orchestrator-rollout-aborted"]
    assert all(":" in r for s in subscriptions for r in s["recipients"]), "recipients are <service>:<recipient>"
    assert "$orchestrator-webhook-url" in data["service.webhook.orchestrator"], "the URL comes from the secret"
