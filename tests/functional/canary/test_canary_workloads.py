"""The canary modules and playbook measure what the workloads' AnalysisTemplates measure.

k8s/argo-rollouts/analysis-template.yaml is the controller's backstop; canary_gate's default
queries, the role's thresholds, service, namespace and Prometheus address must be the same, or the
gate and the controller would judge two different things. (The e2e tests run the playbook on the
Rollout of k8s/argo-rollouts and its gated build, so its steps are covered there.)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from canary_support import GATE_METRIC, squash, template_queries, templates

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0])
from ansible_collections.orchestrator.platform.plugins.module_utils import _canary  # noqa: E402

ROLE_THRESHOLD = {"success_rate": "canary_release_min_success_rate",
                  "latency_p95_ms": "canary_release_max_latency_p95_ms",
                  "latency_p99_ms": "canary_release_max_latency_p99_ms"}


def role_defaults() -> dict:
    return yaml.safe_load((ROOT / "roles/canary_release/defaults/main.yml").read_text())


def test_every_template_metric_has_a_gate_metric():
    assert sorted(template_queries("h")) == sorted(m for m, _c, _t in _canary.METRICS)


def test_default_queries_are_the_analysis_templates():
    defaults = role_defaults()
    gate = _canary.default_queries(defaults["canary_release_namespace"], defaults["canary_release_service"],
                                   "6d4f8b9c7", defaults["canary_release_gate_window"])
    assert {k: squash(v) for k, v in gate.items()} == {k: squash(v) for k, v in template_queries("6d4f8b9c7").items()}


def test_role_service_namespace_and_prometheus_are_the_templates():
    defaults = role_defaults()
    for template in templates():
        args = {a["name"]: a.get("value") for a in template["spec"]["args"]}
        assert args["namespace"] == defaults["canary_release_namespace"]
        assert args["service"] == defaults["canary_release_service"]
        assert args["prometheus-address"] == defaults["canary_release_prometheus_url"]
        assert args["prometheus-address"] == _canary.DEFAULT_PROMETHEUS_URL
        for metric in template["spec"]["metrics"]:
            assert metric["provider"]["prometheus"]["address"] == "{{args.prometheus-address}}"


@pytest.mark.parametrize("template_metric", list(GATE_METRIC))
def test_role_thresholds_are_the_templates(template_metric):
    metric = next(m for t in templates() for m in t["spec"]["metrics"] if m["name"] == template_metric)
    name = GATE_METRIC[template_metric]
    comparison = next(c for m, c, _t in _canary.METRICS if m == name)
    found = re.fullmatch(r"len\(result\) > 0 && all\(result, \{# (>=|<=) ([\d.]+)\}\)", metric["successCondition"])
    assert found, metric["successCondition"]
    assert found.group(1) == comparison
    assert float(found.group(2)) == float(role_defaults()[ROLE_THRESHOLD[name]])
    # The failure condition also needs data: no data is inconclusive for the controller too.
    assert metric["failureCondition"].startswith("len(result) > 0 && any(result")
