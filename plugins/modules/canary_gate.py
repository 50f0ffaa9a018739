#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: canary_gate
short_description: Judge a canary from Prometheus - success rate, P95 and P99 latency against thresholds
version_added: "0.1.0"
description:
  - Runs three instant queries against the Prometheus HTTP API (C(/api/v1/query)) - the success
    rate of a service, and its 95th and 99th percentile latency in milliseconds over O(window) -
    compares each with its threshold and returns every value, the verdict of each metric and
    the overall verdict.
  - A query that returns no sample, or C(NaN) (a canary that served no request), is
    V(inconclusive), never a pass. A canary that served requests of which none succeeded has a
    success rate of 0 and fails. When a query returns several series, each must pass.
    Overall - V(fail) when any metric fails, else V(inconclusive) when any is inconclusive, else V(pass).
  - The default queries are those of the AnalysisTemplates in C(k8s/argo-rollouts) -
    C(http_requests_total) with a C(code) label and the C(http_request_duration_seconds) histogram,
    filtered on C(namespace), C(service) and, when O(canary_hash) is given,
    C(rollouts_pod_template_hash) - so the gate and the controller's analysis measure the same
    thing. Any query can be replaced with O(queries).
  - With O(abort_on_fail=true) and O(rollout_name), a V(fail) verdict aborts the Rollout
    (C({"status":{"abort":true}}) on its C(status) subresource, as C(kubectl argo rollouts abort)).
  - A Prometheus that cannot be reached, rejects a query or answers with an HTTP error or JSON of
    another shape fails the task (with the HTTP status); that is not a verdict. Options out of
    their range fail the task before any request.
options:
  prometheus_url:
    description:
      - Base URL of the Prometheus HTTP API (C(http) or C(https)).
      - User information (C(https://user:password@host)) is sent as HTTP basic authentication; the
        URL is shown without it, and the password is hidden from every output of the task.
    type: str
    default: http://prometheus-operated.monitoring.svc:9090
  prometheus_token:
    description: Bearer token sent to Prometheus, if it needs one.
    type: str
  prometheus_validate_certs:
    description: Verify the TLS certificate of an C(https) Prometheus.
    type: bool
    default: true
  prometheus_timeout:
    description: Seconds allowed for each query (at least 1).
    type: int
    default: 30
  service:
    description: Value of the C(service) label of the default queries; empty for no such matcher.
    type: str
    default: orchestrator
  namespace:
    description:
      - Value of the C(namespace) label of the default queries (empty for no such matcher).
      - Namespace of O(rollout_name).
    type: str
    default: orchestrator
  canary_hash:
    description:
      - Pod-template hash of the canary (C(status.currentPodHash) of the Rollout).
      - Limits the default queries to the canary's pods.
    type: str
  labels:
    description: Further label matchers (label name to exact value) of the default queries.
    type: dict
    default: {}
  window:
    description:
      - Range of the C(rate()) of the default queries - a Prometheus duration longer than zero
        (V(2m), V(90s), V(1h30m)); anything else is refused.
    type: str
    default: 2m
  requests_metric:
    description: Counter of requests with a C(code) label, for the default success-rate query.
    type: str
    default: http_requests_total
  duration_metric:
    description:
      - Histogram (without the C(_bucket) suffix) of request durations in seconds, for the default latency queries.
    type: str
    default: http_request_duration_seconds
  queries:
    description:
      - PromQL replacing the default query of a metric; keys V(success_rate) (a ratio 0..1),
        V(latency_p95_ms) and V(latency_p99_ms) (milliseconds). Keys not given keep their default.
    type: dict
    default: {}
  min_success_rate:
    description: Lowest passing success rate, from 0 to 1.
    type: float
    default: 0.95
  max_latency_p95_ms:
    description: Highest passing 95th percentile latency, in milliseconds (not negative).
    type: float
    default: 1000
  max_latency_p99_ms:
    description: Highest passing 99th percentile latency, in milliseconds (not negative).
    type: float
    default: 2000
  abort_on_fail:
    description: Abort the Rollout O(rollout_name) when the overall verdict is V(fail).
    type: bool
    default: false
  rollout_name:
    description: The Rollout to abort; required with O(abort_on_fail=true).
    type: str
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
attributes:
  action_group:
    description: Use C(group/orchestrator.platform.k8s) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - orchestrator.platform.k8s
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: The queries run (they only read); the abort is sent as a server-side dry run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: partial
    details: Changes something only when it aborts a Rollout that was not aborted.
requirements:
  - kubernetes >= 24.2.0 (only with O(abort_on_fail=true))
seealso:
  - module: orchestrator.platform.rollout
  - module: orchestrator.platform.rollout_info
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Read the canary's pod-template hash
  orchestrator.platform.rollout_info:
    name: orchestrator
    namespace: orchestrator
  register: __canary

- name: Judge the canary and abort it when a metric fails
  orchestrator.platform.canary_gate:
    service: orchestrator
    namespace: orchestrator
    canary_hash: "{{ __canary.status.current_hash }}"
    abort_on_fail: true
    rollout_name: orchestrator
  register: __gate

- name: Judge another service whose histogram has another name, over 5 minutes
  orchestrator.platform.canary_gate:
    prometheus_url: http://prometheus.monitoring.svc:9090
    service: checkout
    namespace: shop
    duration_metric: checkout_request_duration_seconds
    window: 5m
    max_latency_p95_ms: 300
"""

RETURN = r"""
verdict:
  description: V(pass), V(fail) or V(inconclusive).
  returned: always
  type: str
  sample: pass
passed:
  description: Whether the verdict is V(pass).
  returned: always
  type: bool
metrics:
  description:
    - Per metric (V(success_rate), V(latency_p95_ms), V(latency_p99_ms)) the query, values, threshold and verdict.
  returned: always
  type: dict
  contains:
    query:
      description: The PromQL sent.
      type: str
    values:
      description: Every sample returned (null for NaN or infinite values).
      type: list
      elements: float
    value:
      description: The worst sample (lowest success rate, highest latency); null when inconclusive.
      type: float
    threshold:
      description: The threshold compared with.
      type: float
    comparison:
      description: C(>=) or C(<=).
      type: str
    verdict:
      description: V(pass), V(fail) or V(inconclusive).
      type: str
  sample:
    success_rate: {query: "sum(rate(...)) / sum(rate(...))", values: [0.99], value: 0.99, threshold: 0.95,
                   comparison: ">=", verdict: pass}
aborted:
  description: Whether the Rollout was aborted (or would have been, in check mode).
  returned: always
  type: bool
sent:
  description: The abort request, when sent (method, subresource, body, dry_run).
  returned: always
  type: list
  elements: dict
"""

from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.orchestrator.platform.plugins.module_utils._canary import (
    DEFAULT_PROMETHEUS_URL,
    FAILED,
    LABEL_NAME,
    METRIC_NAME,
    SUCCEEDED,
    PrometheusError,
    default_queries,
    is_duration,
    run_gate,
    split_url,
)
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import (
    RolloutApi,
    RolloutManager,
    failure,
)


def _fetcher(params):
    """fetch(url) -> (HTTP status, body); the URL's user information becomes basic authentication."""
    headers = {"Accept": "application/json"}
    if params["prometheus_token"]:
        headers["Authorization"] = "Bearer %s" % params["prometheus_token"]
    shown, user, password = split_url(params["prometheus_url"])

    def fetch(url):
        url = split_url(url)[0]
        try:
            response = open_url(url, headers=headers, timeout=params["prometheus_timeout"],
                                validate_certs=params["prometheus_validate_certs"],
                                url_username=user, url_password=password, force_basic_auth=user is not None)
            return getattr(response, "status", None) or getattr(response, "code", None) or 200, response.read()
        except Exception as exc:  # pylint: disable=broad-except
            # An HTTP error has a status and a body: Prometheus answers a rejected query with
            # 400/422 and a JSON error document; a proxy in front of it with its own page.
            code = getattr(exc, "code", None)
            read = getattr(exc, "read", None)
            if isinstance(code, int) and read is not None:
                return code, read() or b""
            message = str(exc)
            if password:
                message = message.replace(password, "********")
            raise PrometheusError("Cannot query Prometheus at %s: %s" % (shown, message)) from exc

    return fetch


def check_params(params):
    """The message of the first option out of its range, or None; checked before any request."""
    url = urlsplit(params["prometheus_url"] or "")
    bad_labels = sorted(str(k) for k in params["labels"] if not LABEL_NAME.match(str(k)))
    checks = [
        (url.scheme in ("http", "https") and url.hostname,
         "prometheus_url must be an http:// or https:// URL with a host"),
        (is_duration(params["window"]),
         "window must be a Prometheus duration longer than zero such as 2m, 90s or 1h30m, not %r" % params["window"]),
        (0 <= params["min_success_rate"] <= 1,
         "min_success_rate must be from 0 to 1, not %s" % params["min_success_rate"]),
        (params["max_latency_p95_ms"] >= 0, "max_latency_p95_ms must not be negative"),
        (params["max_latency_p99_ms"] >= 0, "max_latency_p99_ms must not be negative"),
        (params["prometheus_timeout"] >= 1, "prometheus_timeout must be at least 1 second"),
        (METRIC_NAME.match(params["requests_metric"] or ""), "requests_metric must be a metric name"),
        (METRIC_NAME.match(params["duration_metric"] or ""), "duration_metric must be a metric name"),
        (not bad_labels, "labels: not a label name: %s" % ", ".join(bad_labels)),
    ]
    return next((message for ok, message in checks if not ok), None)


def _rollout_api(module):
    """The Rollout API client, imported only for an abort: loading the kubernetes client costs
    most of a gate's run time."""
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

    return RolloutApi(get_api_client(module=module).client, dry_run=module.check_mode)


def main():
    argument_spec = dict(AUTH_ARG_SPEC)
    argument_spec.update(
        prometheus_url=dict(type="str", default=DEFAULT_PROMETHEUS_URL),
        prometheus_token=dict(type="str", no_log=True),
        prometheus_validate_certs=dict(type="bool", default=True),
        prometheus_timeout=dict(type="int", default=30),
        service=dict(type="str", default="orchestrator"),
        namespace=dict(type="str", default="orchestrator"),
        canary_hash=dict(type="str"),
        labels=dict(type="dict", default={}),
        window=dict(type="str", default="2m"),
        requests_metric=dict(type="str", default="http_requests_total"),
        duration_metric=dict(type="str", default="http_request_duration_seconds"),
        queries=dict(type="dict", default={}),
        min_success_rate=dict(type="float", default=0.95),
        max_latency_p95_ms=dict(type="float", default=1000),
        max_latency_p99_ms=dict(type="float", default=2000),
        abort_on_fail=dict(type="bool", default=False),
        rollout_name=dict(type="str"),
    )
    module = AnsibleK8SModule(
        argument_spec=argument_spec,
        required_if=[("abort_on_fail", True, ("rollout_name",))],
        supports_check_mode=True,
        check_k8s=False,
    )
    params = module.params
    password = split_url(params["prometheus_url"] or "")[2]
    if password:  # hidden from every output of the task, the invocation included
        module._module.no_log_values.add(password)  # pylint: disable=protected-access
    problem = check_params(params)
    if problem:
        module.fail_json(msg=problem)
    unknown = sorted(set(params["queries"]) - {"success_rate", "latency_p95_ms", "latency_p99_ms"})
    if unknown:
        module.fail_json(msg="Unknown keys in queries: %s" % ", ".join(unknown))
    queries = default_queries(params["namespace"], params["service"], params["canary_hash"], params["window"],
                              requests_metric=params["requests_metric"], duration_metric=params["duration_metric"],
                              extra_labels=params["labels"])
    queries.update(params["queries"])
    try:
        verdict, metrics = run_gate(_fetcher(params), params["prometheus_url"], queries, params)
        result = {"changed": False, "verdict": verdict, "passed": verdict == SUCCEEDED, "metrics": metrics,
                  "aborted": False, "sent": []}
        if verdict == FAILED and params["abort_on_fail"]:
            module.requires("kubernetes")
            api = _rollout_api(module)
            manager_params = {"name": params["rollout_name"], "namespace": params["namespace"], "action": "abort"}
            outcome = RolloutManager(api, manager_params, check_mode=module.check_mode).run()
            result.update(changed=outcome["changed"], aborted=True, sent=outcome["sent"])
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
