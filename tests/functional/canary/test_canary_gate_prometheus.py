"""canary_gate against a real Prometheus (Debian's 2.42) scraping a test exporter.

Each scenario is a `service` label of the exporter with known rates, so the gate's values are
known: passing, failing on each metric alone, and the two shapes of no data (series that stopped
growing give NaN; a service with no series gives an empty result). The module runs as Ansible
runs it, with its default queries (those of the AnalysisTemplates).
"""

from __future__ import annotations

import shutil

import pytest
from canary_support import Exporter, PrometheusServer, Series, template_queries, template_verdicts, work_dir
from standin_client import run_module

pytestmark = pytest.mark.prometheus

FAST = {"0.1": 0.8, "0.25": 0.2}  # P95 212.5 ms, P99 242.5 ms
SLOW_P95 = {"0.1": 0.9, "2": 0.1}  # P95 1500 ms, P99 1900 ms
SLOW_P99 = {"0.1": 0.97, "5": 0.03}  # P95 97.9 ms, P99 4000 ms
SERIES = [
    Series("healthy", "bbb222", rps=50, error_share=0.01, latency=FAST),
    Series("errors", "bbb222", rps=50, error_share=0.10, latency=FAST),
    Series("slow-p95", "bbb222", rps=50, error_share=0.0, latency=SLOW_P95),
    Series("slow-p99", "bbb222", rps=50, error_share=0.0, latency=SLOW_P99),
    Series("idle", "bbb222", rps=0, error_share=0.0, latency=FAST),
    # One service, two versions: the stable one fails everything, the canary passes.
    Series("mixed", "aaa111", rps=50, error_share=0.5, latency=SLOW_P99),
    Series("mixed", "bbb222", rps=10, error_share=0.0, latency=FAST),
    # Every request of the canary failed: there is no code="200" series at all.
    Series("all-5xx", "bbb222", rps=50, error_share=1.0, latency=FAST),
    # A healthy stable version and a canary whose every request fails.
    Series("mixed-5xx", "aaa111", rps=50, error_share=0.0, latency=FAST),
    Series("mixed-5xx", "bbb222", rps=10, error_share=1.0, latency=FAST),
]


@pytest.fixture(scope="module")
def prometheus():
    exporter = Exporter(SERIES)
    server = PrometheusServer([f"127.0.0.1:{exporter.port}"])
    tmp = work_dir("gate")
    try:
        # Rates need two samples inside the window: wait until every growing series has a rate.
        server.wait_for('rate(http_requests_total{code="200"}[10s]) > 0', count=7)
        server.wait_for('rate(http_requests_total{code="503"}[10s]) > 0', count=5)
        yield server, tmp
    finally:
        server.stop()
        exporter.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def gate(prometheus, **args):
    server, tmp = prometheus
    params = {"prometheus_url": server.url, "namespace": "orchestrator", "window": "10s"}
    params.update(args)
    return run_module("canary_gate", params, tmp)


def values(result):
    return {name: metric["value"] for name, metric in result["metrics"].items()}


def verdicts(result):
    return {name: metric["verdict"] for name, metric in result["metrics"].items()}


def test_healthy_canary_passes(prometheus):
    result = gate(prometheus, service="healthy", canary_hash="bbb222")
    assert not result.get("failed"), result
    assert result["verdict"] == "pass" and result["passed"] is True
    got = values(result)
    assert got["success_rate"] == pytest.approx(0.99, abs=0.002)
    assert got["latency_p95_ms"] == pytest.approx(212.5, rel=0.02)
    assert got["latency_p99_ms"] == pytest.approx(242.5, rel=0.02)
    assert 'rollouts_pod_template_hash="bbb222"' in result["metrics"]["success_rate"]["query"]


@pytest.mark.parametrize("service,failing,expected", [
    ("errors", "success_rate", 0.90),
    ("slow-p95", "latency_p95_ms", 1500.0),
    ("slow-p99", "latency_p99_ms", 4000.0),
])
def test_each_metric_fails_alone(prometheus, service, failing, expected):
    result = gate(prometheus, service=service, canary_hash="bbb222")
    assert result["verdict"] == "fail" and result["passed"] is False
    assert verdicts(result) == {name: ("fail" if name == failing else "pass") for name in verdicts(result)}
    assert values(result)[failing] == pytest.approx(expected, rel=0.02)


def test_thresholds_are_options(prometheus):
    result = gate(prometheus, service="slow-p95", canary_hash="bbb222", max_latency_p95_ms=1600)
    assert result["verdict"] == "pass"


@pytest.mark.parametrize("service", ["idle", "absent"])
def test_no_data_is_inconclusive(prometheus, service):
    result = gate(prometheus, service=service, canary_hash="bbb222")
    assert result["verdict"] == "inconclusive" and result["passed"] is False
    assert set(verdicts(result).values()) == {"inconclusive"}
    assert set(values(result).values()) == {None}


def test_canary_hash_limits_the_queries_to_the_canary(prometheus):
    canary = gate(prometheus, service="mixed", canary_hash="bbb222")
    stable = gate(prometheus, service="mixed", canary_hash="aaa111")
    both = gate(prometheus, service="mixed")
    assert canary["verdict"] == "pass"
    assert stable["verdict"] == "fail"
    assert values(both)["success_rate"] == pytest.approx((50 * 0.5 + 10) / 60, abs=0.01)


def test_rejected_query_fails_the_task(prometheus):
    result = gate(prometheus, service="healthy", queries={"success_rate": "sum(rate(http_requests_total[10s]"})
    assert result["failed"] is True
    assert "Prometheus rejected the query" in result["msg"]


def test_unreachable_prometheus_fails_the_task(prometheus):
    _server, tmp = prometheus
    result = run_module("canary_gate", {"prometheus_url": "http://127.0.0.1:9", "service": "healthy",
                                        "prometheus_timeout": 3}, tmp)
    assert result["failed"] is True and "Cannot query Prometheus" in result["msg"]


@pytest.mark.parametrize("service", ["healthy", "errors", "slow-p99"])
def test_the_analysis_templates_measure_what_the_gate_measures(prometheus, service):
    """The controller's own queries (k8s/argo-rollouts/analysis-template.yaml, arguments filled in
    as the Rollout passes them), run on the same Prometheus, give the gate's values."""
    server, _tmp = prometheus
    result = gate(prometheus, service=service, canary_hash="bbb222")
    for name, query in template_queries("bbb222", service=service).items():
        samples = server.query(query.replace("[2m]", "[10s]"))
        assert len(samples) == 1, (name, samples)
        assert float(samples[0]["value"][1]) == pytest.approx(result["metrics"][name]["value"], rel=0.02), name


# --- all-5xx, no traffic and mixed (review finding 13): the gate and the templates agree ----------

@pytest.mark.parametrize("service,canary_hash,expected", [
    ("all-5xx", "bbb222", "fail"),            # served only 5xx: rate 0, a failure
    ("mixed-5xx", "bbb222", "fail"),          # the stable version's successes do not count
    ("mixed-5xx", "aaa111", "pass"),
    ("mixed", "bbb222", "pass"),
    ("mixed", "aaa111", "fail"),
    ("errors", "bbb222", "fail"),
    ("healthy", "bbb222", "pass"),
    ("idle", "bbb222", "inconclusive"),       # series that stopped growing: NaN
    ("absent", "bbb222", "inconclusive"),     # no series at all: empty
])
def test_success_rate_verdict_of_the_gate_and_of_the_templates(prometheus, service, canary_hash, expected):
    server, _tmp = prometheus
    result = gate(prometheus, service=service, canary_hash=canary_hash)
    assert not result.get("failed"), result
    assert result["metrics"]["success_rate"]["verdict"] == expected, result["metrics"]["success_rate"]
    template = template_verdicts(canary_hash, server.query, service=service, window="10s")
    assert template == verdicts(result), (template, verdicts(result))


def test_an_all_5xx_canary_has_a_success_rate_of_zero_and_is_aborted_by_the_gate(prometheus):
    result = gate(prometheus, service="all-5xx", canary_hash="bbb222")
    assert result["verdict"] == "fail" and result["metrics"]["success_rate"]["value"] == 0.0
    # Both versions, no canary hash: the stable version's successes against everything.
    both = gate(prometheus, service="mixed-5xx")
    assert values(both)["success_rate"] == pytest.approx(50 / 60, abs=0.01)


def test_an_http_error_keeps_its_status(prometheus):
    """Prometheus' own 404 page (not JSON) for a wrong base path: the status is in the message."""
    server, tmp = prometheus
    result = run_module("canary_gate", {"prometheus_url": server.url + "/no-such-prefix", "service": "healthy",
                                        "window": "10s"}, tmp)
    assert result["failed"] is True and "HTTP 404" in result["msg"], result["msg"]


def test_a_password_in_the_url_is_never_shown(prometheus):
    """The password reaches Prometheus as basic authentication (Prometheus without auth ignores
    it) and appears nowhere in the result, the module's invocation included."""
    server, tmp = prometheus
    url = server.url.replace("http://", "http://gate:pw-s3cret-42@")
    result = run_module("canary_gate", {"prometheus_url": url, "service": "healthy", "canary_hash": "bbb222",
                                        "window": "10s"}, tmp)
    assert result["verdict"] == "pass", result
    assert "pw-s3cret-42" not in repr(result)
    failed = run_module("canary_gate", {"prometheus_url": "http://gate:pw-s3cret-42@127.0.0.1:9", "service": "healthy",
                                        "prometheus_timeout": 3}, tmp)
    assert failed["failed"] is True and "Cannot query Prometheus at http://127.0.0.1:9" in failed["msg"]
    assert "pw-s3cret-42" not in repr(failed)


def test_the_plain_ratio_is_empty_for_an_all_5xx_canary(prometheus):
    """Why the queries say `or vector(0)`: the ratio without it (the queries before review finding
    13) has nothing to divide when no request succeeded, and an empty result is Inconclusive."""
    server, _tmp = prometheus
    sel = 'namespace="orchestrator", service="all-5xx", rollouts_pod_template_hash="bbb222"'
    plain = f'sum(rate(http_requests_total{{{sel}, code!~"5.."}}[10s])) / sum(rate(http_requests_total{{{sel}}}[10s]))'
    assert server.query(plain) == []
    assert float(server.query(f"sum(rate(http_requests_total{{{sel}}}[10s]))")[0]["value"][1]) > 0
