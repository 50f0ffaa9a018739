# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_gate: default queries, verdicts (no data is never a pass), and the abort it sends.

The real-Prometheus tests are in tests/functional/canary/test_canary_gate_prometheus.py.
"""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _canary
from ansible_collections.orchestrator.platform.plugins.modules import canary_gate
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.module_runner import run_module
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.rollout_fakes import (
    MERGE,
    STATUS,
    FakeServer,
    make_api,
    rollout,
)

THRESHOLDS = {"min_success_rate": 0.95, "max_latency_p95_ms": 1000, "max_latency_p99_ms": 2000}


def test_default_queries_match_the_analysis_templates():
    queries = _canary.default_queries("orchestrator", "orchestrator", "6d4f8b9c7", "2m")
    sel = 'namespace="orchestrator", service="orchestrator", rollouts_pod_template_hash="6d4f8b9c7"'
    assert queries == {
        "success_rate": 'sum(rate(http_requests_total{%s, code!~"5.."}[2m])) / sum(rate(http_requests_total{%s}[2m]))'
                        % (sel, sel),
        "latency_p95_ms": "1000 * histogram_quantile(0.95, sum by (le) "
                          "(rate(http_request_duration_seconds_bucket{%s}[2m])))" % sel,
        "latency_p99_ms": "1000 * histogram_quantile(0.99, sum by (le) "
                          "(rate(http_request_duration_seconds_bucket{%s}[2m])))" % sel,
    }


def test_default_queries_without_hash_other_metrics_and_escaping():
    queries = _canary.default_queries("", "shop", None, "5m", requests_metric="shop_requests_total",
                                      duration_metric="shop_latency_seconds", extra_labels={"env": 'a"b'})
    assert queries["success_rate"] == (
        'sum(rate(shop_requests_total{service="shop", env="a\\"b", code!~"5.."}[5m])) / '
        'sum(rate(shop_requests_total{service="shop", env="a\\"b"}[5m]))')
    assert "shop_latency_seconds_bucket{service=\"shop\", env=\"a\\\"b\"}[5m]" in queries["latency_p99_ms"]


@pytest.mark.parametrize("values,comparison,threshold,expected", [
    ([0.99], ">=", 0.95, ("pass", 0.99)),
    ([0.95], ">=", 0.95, ("pass", 0.95)),
    ([0.9499], ">=", 0.95, ("fail", 0.9499)),
    ([0.99, 0.90], ">=", 0.95, ("fail", 0.90)),
    ([1000.0], "<=", 1000, ("pass", 1000.0)),
    ([1000.5], "<=", 1000, ("fail", 1000.5)),
    ([250.0, 1200.0], "<=", 1000, ("fail", 1200.0)),  # several series: the slowest decides
    ([250.0, 400.0], "<=", 1000, ("pass", 400.0)),
    ([], ">=", 0.95, ("inconclusive", None)),
    ([float("nan")], ">=", 0.95, ("inconclusive", None)),
    ([float("inf")], "<=", 1000, ("inconclusive", None)),
    ([0.99, float("nan")], ">=", 0.95, ("inconclusive", None)),
])
def test_judge(values, comparison, threshold, expected):
    assert _canary.judge(values, comparison, threshold) == expected


@pytest.mark.parametrize("verdicts,expected", [
    (["pass", "pass", "pass"], "pass"),
    (["pass", "inconclusive", "pass"], "inconclusive"),
    (["inconclusive", "fail", "pass"], "fail"),
    ([], "inconclusive"),
])
def test_overall(verdicts, expected):
    assert _canary.overall(verdicts) == expected


def prometheus(answers):
    """A fetch function answering instant queries from {query: Prometheus JSON document}."""
    asked = []

    def fetch(url):
        parts = urlsplit(url)
        assert parts.path == "/api/v1/query"
        query = parse_qs(parts.query)["query"][0]
        asked.append(query)
        return json.dumps(answers[query]).encode()

    return fetch, asked


def vector(*values):
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1763838000.0, v]} for v in values]}}


QUERIES = {"success_rate": "sr", "latency_p95_ms": "p95", "latency_p99_ms": "p99"}


@pytest.mark.parametrize("answers,verdict,per_metric", [
    ({"sr": vector("0.99"), "p95": vector("240"), "p99": vector("480")}, "pass", ["pass", "pass", "pass"]),
    ({"sr": vector("0.9"), "p95": vector("240"), "p99": vector("480")}, "fail", ["fail", "pass", "pass"]),
    ({"sr": vector("0.99"), "p95": vector("1500"), "p99": vector("1900")}, "fail", ["pass", "fail", "pass"]),
    ({"sr": vector("0.99"), "p95": vector("98"), "p99": vector("4000")}, "fail", ["pass", "pass", "fail"]),
    ({"sr": vector(), "p95": vector(), "p99": vector()}, "inconclusive", ["inconclusive"] * 3),
    ({"sr": vector("NaN"), "p95": vector("NaN"), "p99": vector("NaN")}, "inconclusive", ["inconclusive"] * 3),
    ({"sr": {"status": "success", "data": {"resultType": "scalar", "result": [1763838000.0, "0.97"]}},
      "p95": vector("+Inf"), "p99": vector("10")}, "inconclusive", ["pass", "inconclusive", "pass"]),
])
def test_run_gate(answers, verdict, per_metric):
    fetch, asked = prometheus(answers)
    result, metrics = _canary.run_gate(fetch, "http://prom:9090/", QUERIES, THRESHOLDS)
    assert result == verdict
    assert [metrics[m]["verdict"] for m in ("success_rate", "latency_p95_ms", "latency_p99_ms")] == per_metric
    assert asked == ["sr", "p95", "p99"]


def test_rejected_query_is_an_error_not_a_verdict():
    fetch, _asked = prometheus({"sr": {"status": "error", "errorType": "bad_data", "error": "parse error"}})
    with pytest.raises(_canary.PrometheusError, match="bad_data parse error"):
        _canary.run_gate(fetch, "http://prom:9090", QUERIES, THRESHOLDS)


def test_matrix_result_is_refused():
    fetch, _asked = prometheus({"sr": {"status": "success", "data": {"resultType": "matrix", "result": []}}})
    with pytest.raises(_canary.PrometheusError, match="vector or a scalar"):
        _canary.run_gate(fetch, "http://prom:9090", QUERIES, THRESHOLDS)


def _run_module(monkeypatch, answers, server=None, check_mode=False, **params):
    fetch, _asked = prometheus(answers)
    monkeypatch.setattr(canary_gate, "_fetcher", lambda params: fetch)
    if server is not None:
        monkeypatch.setattr(canary_gate, "_rollout_api", lambda module: make_api(server, dry_run=module.check_mode))
    if check_mode:
        params["_ansible_check_mode"] = True
    return run_module(monkeypatch, canary_gate.main, params)


def _answers(sr, p95, p99, canary_hash="bbb222"):
    queries = _canary.default_queries("orchestrator", "orchestrator", canary_hash, "2m")
    return {queries["success_rate"]: vector(sr), queries["latency_p95_ms"]: vector(p95),
            queries["latency_p99_ms"]: vector(p99)}


@pytest.mark.parametrize("check_mode,dry_run", [(False, None), (True, ["All"])])
def test_failed_gate_aborts_the_rollout(monkeypatch, check_mode, dry_run):
    server = FakeServer(rollout(status={"currentStepIndex": 4}))
    result = _run_module(monkeypatch, _answers("0.80", "200", "400"), server=server, check_mode=check_mode,
                         canary_hash="bbb222", abort_on_fail=True, rollout_name="orchestrator")
    assert result["verdict"] == "fail" and result["passed"] is False
    assert result["aborted"] is True and result["changed"] is True
    assert server.writes() == [("PATCH", STATUS, MERGE, {"status": {"abort": True}}, dry_run)]


def test_inconclusive_gate_never_aborts(monkeypatch):
    server = FakeServer(rollout(status={"currentStepIndex": 4}))
    result = _run_module(monkeypatch, _answers("NaN", "NaN", "NaN"), server=server,
                         canary_hash="bbb222", abort_on_fail=True, rollout_name="orchestrator")
    assert result["verdict"] == "inconclusive" and result["passed"] is False
    assert result["aborted"] is False and result["changed"] is False
    assert server.requests == []


def test_passing_gate_reports_every_value(monkeypatch):
    result = _run_module(monkeypatch, _answers("0.995", "250", "900"), canary_hash="bbb222")
    assert result["verdict"] == "pass" and result["passed"] is True and result["changed"] is False
    assert {k: v["value"] for k, v in result["metrics"].items()} == {
        "success_rate": 0.995, "latency_p95_ms": 250.0, "latency_p99_ms": 900.0}
    assert result["metrics"]["latency_p99_ms"]["threshold"] == 2000


def test_query_override_and_unknown_key(monkeypatch):
    answers = _answers("0.99", "100", "100")
    answers["my_ratio"] = vector("0.5")
    result = _run_module(monkeypatch, answers, canary_hash="bbb222", queries={"success_rate": "my_ratio"})
    assert result["metrics"]["success_rate"]["query"] == "my_ratio"
    assert result["verdict"] == "fail"
    result = _run_module(monkeypatch, answers, queries={"error_rate": "x"})
    assert result["failed"] is True and "error_rate" in result["msg"]
