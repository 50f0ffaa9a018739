
# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private code of the canary_gate module: Prometheus queries and their verdicts.

Not a public API. The default queries are those of the AnalysisTemplates in
k8s/argo-rollouts/analysis-template.yaml (same metric and label names), so the gate and the
controller's analysis measure the same thing.
"""

import json
import math
import re
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

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


# A Prometheus duration (units in this order, each at most once): the only thing `window` may be,
# as it is written into the PromQL of the default queries.
DURATION = re.compile(r"^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


class PrometheusError(Exception):
    pass


def is_duration(text):
    """Whether text is a Prometheus duration longer than zero (a range selector refuses 0s)."""
    return bool(text and DURATION.match(text)) and any(c not in "0ymwdhs" for c in text)


def split_url(url):
    """(URL without its user information, user name, password): the credentials of
    http://user:password@host/ go into an Authorization header, never into a message."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user), (unquote(password) if _sep else None)


def redact_url(url):
    return split_url(url)[0]


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
    # `or vector(0)`: a canary whose every request failed has no non-5xx series, and the plain ratio
    # would be empty - inconclusive, where it must fail. With no request at all the denominator is
    # empty (no series) or 0 (series that stopped growing), and the ratio stays empty or NaN:
    # inconclusive. sum() without `by` has no labels, like vector(0), so `or` matches them.
    success = "(sum(rate(%s{%s}[%s])) or vector(0)) / sum(rate(%s{%s}[%s]))" % (
        requests_metric, ok_sel, window, requests_metric, sel, window)

    def quantile(q):
        return "1000 * histogram_quantile(%s, sum by (le) (rate(%s_bucket{%s}[%s])))" % (
            q, duration_metric, sel, window)

    return {"success_rate": success, "latency_p95_ms": quantile("0.95"), "latency_p99_ms": quantile("0.99")}


def _sample_value(sample):
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        raise ValueError("a sample is not [time, \"value\"]: %r" % (sample,))
    return float(sample[1])


def parse_values(data):
    """Numbers of an instant query result (vector or scalar); [] when there is none."""
    if not isinstance(data, dict):
        raise ValueError("data is not an object")
    result_type = data.get("resultType")
    result = data.get("result")
    if result_type == "scalar":
        return [_sample_value(result)]
    if result_type != "vector":
        raise PrometheusError("unsupported result type %r (the query must return a vector or a scalar)" % result_type)
    if not isinstance(result, list):
        raise ValueError("the vector result is not a list")
    values = []
    for item in result:
        if not isinstance(item, dict):
            raise ValueError("a vector element is not an object")
        values.append(_sample_value(item.get("value")))
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


def _excerpt(body):
    return " ".join(body.split())[:200]


def query_prometheus(fetch, base_url, query):
    """Run an instant query. `fetch(url)` returns (HTTP status, response body as bytes or str) - for
    an HTTP error too; it raises PrometheusError when there is no answer. `base_url` may hold user
    information: it never appears in a message."""
    url = "%s/api/v1/query?%s" % (base_url.rstrip("/"), urlencode({"query": query}))
    shown = redact_url(base_url)
    status, body = fetch(url)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        if 200 <= status < 300:
            raise PrometheusError("Prometheus at %s returned no JSON (HTTP %d) for the query %r: %s" % (
                shown, status, query, exc)) from exc
        raise PrometheusError("Prometheus at %s answered HTTP %d to the query %r: %s" % (
            shown, status, query, _excerpt(body))) from exc
    if isinstance(doc, dict) and doc.get("status") == "error":
        raise PrometheusError("Prometheus rejected the query %r (HTTP %d): %s %s" % (
            query, status, doc.get("errorType", ""), doc.get("error", "")))
    if not 200 <= status < 300:
        raise PrometheusError("Prometheus at %s answered HTTP %d to the query %r: %s" % (
            shown, status, query, _excerpt(body)))
    try:
        if not isinstance(doc, dict) or doc.get("status") != "success":
            raise ValueError("no status success or error")
        return parse_values(doc.get("data"))
    except ValueError as exc:
        raise PrometheusError("Prometheus at %s answered the query %r with JSON of an unexpected shape (%s): %s" % (
            shown, query, exc, _excerpt(body))) from exc


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
