
# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private code of the canary_gate module: Prometheus queries and their verdicts.

Not a public API. The default queries are those of the AnalysisTemplates in
k8s/argo-rollouts/analysis-template.yaml (same metric and label names), so the gate and the
controller's analysis measure the same thing.
"""

import json
import math
from urllib.parse import urlencode

SUCCEEDED = "pass"
FAILED = "fail"
INCONCLUSIVE = "inconclusive"

DEFAULT_PROMETHEUS_URL = "http://prometheus-operated.monitoring.svc:9090"

# name -> (comparison, threshold option)
METRICS = (
    ("success_rate", ">=", "min_success_rate"),
    ("latency_p95_ms", "<=", "max_latency_p95_ms"),
    ("latency_p99_ms", "<=", "max_latency_p99_ms"),
)


class PrometheusError(Exception):
    pass


def _escape(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"')


def label_matchers(namespace, service, canary_hash=None, extra=None):
    """The label matchers of the default queries, in a fixed order."""
    matchers = []
    if namespace:
        matchers.append('namespace="%s"' % _escape(namespace))
    if service:
        matchers.append('service="%s"' % _escape(service))
    if canary_hash:
        matchers.append('rollouts_pod_template_hash="%s"' % _escape(canary_hash))
    for key in sorted(extra or {}):
        matchers.append('%s="%s"' % (key, _escape(extra[key])))
    return ", ".join(matchers)


def default_queries(namespace, service, canary_hash, window, *, requests_metric="http_requests_total",
                    duration_metric="http_request_duration_seconds", extra_labels=None):
    sel = label_matchers(namespace, service, canary_hash, extra_labels)
    ok_sel = sel + (", " if sel else "") + 'code!~"5.."'
    success = "sum(rate(%s{%s}[%s])) / sum(rate(%s{%s}[%s]))" % (
        requests_metric, ok_sel, window, requests_metric, sel, window)

    def quantile(q):
        return "1000 * histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[%s])))" % (
            q, duration_metric, sel, window)

    return {"success_rate": success, "latency_p95_ms": quantile("0.95"), "latency_p99_ms": quantile("0.99")}


def parse_values(data):
    """Numbers of an instant query result (vector or scalar); [] when there is none."""
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        samples = [result]
    elif result_type == "vector":
        samples = [item.get("value") for item in result or []]
    else:
        raise PrometheusError("unsupported result type %r (the query must return a vector or a scalar)" % result_type)
    values = []
    for sample in samples:
        values.append(float(sample[1]))
    return values


def judge(values, comparison, threshold):
    """(verdict, value): no number, NaN or infinity is inconclusive; several series must all pass."""
    finite = [v for v in values if not (math.isnan(v) or math.isinf(v))]
    if not values or len(finite) != len(values):
        return INCONCLUSIVE, None
    if comparison == ">=":
        worst = min(finite)
        return (SUCCEEDED if worst >= threshold else FAILED), worst
    worst = max(finite)
    return (SUCCEEDED if worst <= threshold else FAILED), worst


def overall(verdicts):
    if FAILED in verdicts:
        return FAILED
    if INCONCLUSIVE in verdicts or not verdicts:
        return INCONCLUSIVE
    return SUCCEEDED


def query_prometheus(fetch, base_url, query):
    """Run an instant query. `fetch(url)` returns the response body (bytes or str)."""
    url = "%s/api/v1/query?%s" % (base_url.rstrip("/"), urlencode({"query": query}))
    body = fetch(url)
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise PrometheusError("Prometheus returned no JSON for %s: %s" % (url, exc)) from exc
    if doc.get("status") != "success":
        raise PrometheusError("Prometheus rejected the query %r: %s %s" % (
            query, doc.get("errorType", ""), doc.get("error", "")))
    return parse_values(doc.get("data") or {})


def run_gate(fetch, base_url, queries, thresholds):
    """Query every metric, judge it; returns (overall verdict, metrics dict)."""
    metrics = {}
    for name, comparison, threshold_key in METRICS:
        threshold = thresholds[threshold_key]
        values = query_prometheus(fetch, base_url, queries[name])
        verdict, value = judge(values, comparison, threshold)
        metrics[name] = {
            "query": queries[name],
            "values": [None if (math.isnan(v) or math.isinf(v)) else v for v in values],
            "value": value,
            "threshold": threshold,
            "comparison": comparison,
            "verdict": verdict,
        }
    return overall([m["verdict"] for m in metrics.values()]), metrics
