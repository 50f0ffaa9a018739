# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""canary_gate: default queries, verdicts (no data is never a pass), and the abort it sends.

The real-Prometheus tests are in tests/functional/canary/test_canary_gate_prometheus.py.
"""

import io
import json
from urllib.error import HTTPError, URLError
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
        # No successful request at all (no non-5xx series) is 0, not an empty result; no request at
        # all (no series) stays empty, and a series that stopped growing gives NaN.
        "success_rate": '(sum(rate(http_requests_total{%s, code!~"5.."}[2m])) or vector(0)) / '
                        'sum(rate(http_requests_total{%s}[2m]))' % (sel, sel),
        "latency_p95_ms": "1000 * histogram_quantile(0.95, sum by (le) "
                          "(rate(http_request_duration_seconds_bucket{%s}[2m])))" % sel,
        "latency_p99_ms": "1000 * histogram_quantile(0.99, sum by (le) "
                          "(rate(http_request_duration_seconds_bucket{%s}[2m])))" % sel,
    }


def test_default_queries_without_hash_other_metrics_and_escaping():
    queries = _canary.default_queries("", "shop", None, "5m", requests_metric="shop_requests_total",
                                      duration_metric="shop_latency_seconds", extra_labels={"env": 'a"b'})
    assert queries["success_rate"] == (
        '(sum(rate(shop_requests_total{service="shop", env="a\\"b", code!~"5.."}[5m])) or vector(0)) / '
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
        return 200, json.dumps(answers[query]).encode()

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


# --- input checks, errors and shapes (review finding 14) ---------------------------------------

def _never_fetch(params):
    def fetch(url):
        raise AssertionError("a request was sent: %s" % url)
    return fetch


@pytest.mark.parametrize("params,message", [
    ({"window": "2m])) or vector(1) #"}, "window"),
    ({"window": "5"}, "window"),
    ({"window": ""}, "window"),
    ({"window": "0s"}, "window"),
    ({"window": "2m30"}, "window"),
    ({"min_success_rate": 5}, "min_success_rate"),
    ({"min_success_rate": -0.1}, "min_success_rate"),
    ({"max_latency_p95_ms": -1}, "max_latency_p95_ms"),
    ({"prometheus_timeout": 0}, "prometheus_timeout"),
    ({"prometheus_url": "prometheus:9090"}, "prometheus_url"),
    ({"labels": {"env\"} or x{": "a"}}, "label name"),
    ({"requests_metric": "x{a=\"b\"}"}, "requests_metric"),
    ({"duration_metric": "x) or vector(1"}, "duration_metric"),
], ids=["window-promql", "window-number", "window-empty", "window-zero", "window-trailing", "rate-5",
        "rate-negative", "latency-negative", "timeout-0", "url-no-scheme", "label-name", "requests-metric",
        "duration-metric"])
def test_bad_input_fails_before_any_request(monkeypatch, params, message):
    monkeypatch.setattr(canary_gate, "_fetcher", _never_fetch)
    result = run_module(monkeypatch, canary_gate.main, params)
    assert result["failed"] is True and message in result["msg"], result


@pytest.mark.parametrize("window", ["2m", "90s", "1h30m", "500ms", "1d", "1w2d3h4m5s6ms"])
def test_a_duration_is_accepted_as_window(monkeypatch, window):
    answers = {}
    for query in _canary.default_queries("orchestrator", "orchestrator", "bbb222", window).values():
        answers[query] = vector("0.99") if query.startswith("(sum") else vector("100")
    result = _run_module(monkeypatch, answers, canary_hash="bbb222", window=window)
    assert result["failed"] is False and result["verdict"] == "pass", result


def _http_error(code, body):
    return HTTPError("http://prometheus.example:9090/api/v1/query", code, "status %d" % code, {}, io.BytesIO(body))


def _fetch_with(monkeypatch, params, outcome):
    """canary_gate's real fetcher, open_url replaced: returns what the module's fetch gives, and the
    arguments open_url was called with."""
    calls = []

    def open_url(url, **kwargs):
        calls.append(dict(kwargs, url=url))
        if isinstance(outcome, Exception):
            raise outcome
        return io.BytesIO(outcome)

    monkeypatch.setattr(canary_gate, "open_url", open_url)
    defaults = {"prometheus_url": "http://prometheus.example:9090", "prometheus_token": None,
                "prometheus_timeout": 5, "prometheus_validate_certs": True}
    defaults.update(params)
    return canary_gate._fetcher(defaults), calls


def test_an_http_error_that_is_not_prometheus_json_keeps_its_status(monkeypatch):
    fetch, _calls = _fetch_with(monkeypatch, {}, _http_error(502, b"<html>Bad Gateway</html>"))
    with pytest.raises(_canary.PrometheusError) as caught:
        _canary.query_prometheus(fetch, "http://prometheus.example:9090", "up")
    assert "HTTP 502" in str(caught.value) and "Bad Gateway" in str(caught.value)


def test_a_rejected_query_keeps_its_status_and_prometheus_error(monkeypatch):
    body = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"}).encode()
    fetch, _calls = _fetch_with(monkeypatch, {}, _http_error(400, body))
    with pytest.raises(_canary.PrometheusError, match=r"rejected the query 'up' \(HTTP 400\): bad_data parse error"):
        _canary.query_prometheus(fetch, "http://prometheus.example:9090", "up")


def test_a_success_answer_without_json_names_its_status():
    with pytest.raises(_canary.PrometheusError, match=r"no JSON \(HTTP 200\)"):
        _canary.query_prometheus(lambda url: (200, b"<html>login</html>"), "http://prometheus.example:9090", "up")


def test_the_password_of_prometheus_url_is_never_shown_and_is_sent_as_basic_auth(monkeypatch):
    url = "http://admin:s3cr%40t-pw@prometheus.example:9090"
    fetch, calls = _fetch_with(monkeypatch, {"prometheus_url": url}, URLError("connection refused"))
    with pytest.raises(_canary.PrometheusError) as caught:
        _canary.query_prometheus(fetch, url, "up")
    assert "s3cr" not in str(caught.value) and "admin:" not in str(caught.value)
    assert "http://prometheus.example:9090" in str(caught.value)
    assert calls[0]["url"].startswith("http://prometheus.example:9090/api/v1/query?")
    assert calls[0]["url_username"] == "admin" and calls[0]["url_password"] == "s3cr@t-pw"  # noqa: S105
    assert calls[0]["force_basic_auth"] is True


def test_the_module_hides_the_url_password_everywhere(monkeypatch):
    def open_url(url, **kwargs):
        raise URLError("cannot reach %s with %s" % (url, kwargs.get("url_password")))

    monkeypatch.setattr(canary_gate, "open_url", open_url)
    result = run_module(monkeypatch, canary_gate.main, {"prometheus_url": "https://u:hunter2-pw@prom.example:9090/"})
    assert result["failed"] is True and "Cannot query Prometheus at https://prom.example:9090/" in result["msg"]
    assert "hunter2" not in repr(result)


@pytest.mark.parametrize("doc", [
    [1, 2],
    {"status": "success", "data": []},
    {"status": "success", "data": {"resultType": "vector", "result": {"a": 1}}},
    {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}},
    {"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "not a number"]}]}},
    {"status": "success", "data": {"resultType": "vector", "result": [{"value": 3}]}},
    {"status": "success", "data": {"resultType": "scalar", "result": None}},
    "just a string",
], ids=["list", "data-list", "result-dict", "no-value", "value-text", "value-int", "scalar-null", "string"])
def test_json_of_an_unexpected_shape_is_a_clear_error(doc):
    with pytest.raises(_canary.PrometheusError, match="unexpected shape"):
        _canary.query_prometheus(lambda url: (200, json.dumps(doc).encode()), "http://prom:9090", "up")


def test_json_of_an_unexpected_shape_fails_the_module_cleanly(monkeypatch):
    queries = _canary.default_queries("orchestrator", "orchestrator", None, "2m")
    answers = {q: {"status": "success", "data": {"resultType": "vector", "result": [{"value": None}]}}
               for q in queries.values()}
    result = _run_module(monkeypatch, answers)
    assert result["failed"] is True and "unexpected shape" in result["msg"]
    assert "TypeError" not in result["msg"]
