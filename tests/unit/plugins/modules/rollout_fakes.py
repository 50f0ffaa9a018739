# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test doubles shared by the rollout unit tests (not a test module).

The requests go through the real kubernetes client (DynamicClient -> ApiClient -> RESTClientObject);
only urllib3's pool manager is replaced by a recorder, so verb, path, query, Content-Type and body
are what would go on the wire.
"""

import copy
import json
from urllib.parse import parse_qs, urlsplit

import kubernetes
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import RolloutApi, merge_patch
from kubernetes.dynamic import DynamicClient

BASE = "/apis/argoproj.io/v1alpha1/namespaces/orchestrator/rollouts/orchestrator"
STATUS = BASE + "/status"
DEPLOYMENT = "/apis/apps/v1/namespaces/orchestrator/deployments/orchestrator"
MERGE = "application/merge-patch+json"

STEPS = [
    {"setWeight": 10},
    {"pause": {"duration": "5m"}},
    {"analysis": {"templates": [{"templateName": "orchestrator-success-rate"}]}},
    {"setWeight": 25},
    {"pause": {"duration": "5m"}},
    {"setWeight": 50},
    {"pause": {"duration": "10m"}},
    {"analysis": {"templates": [{"templateName": "orchestrator-latency"}]}},
    {"setWeight": 75},
    {"pause": {"duration": "5m"}},
    {"setWeight": 100},
]


def rollout(spec=None, status=None, steps=None, generation=2):
    obj = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "orchestrator", "namespace": "orchestrator", "generation": generation,
                     "resourceVersion": "1001"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "orchestrator"}},
            "template": {"spec": {
                "initContainers": [{"name": "migrate", "image": "orch:1.0"}],
                "containers": [{"name": "orchestrator", "image": "orch:1.0"},
                               {"name": "sidecar", "image": "proxy:2.0"}],
            }},
            "strategy": {"canary": {"steps": copy.deepcopy(STEPS if steps is None else steps),
                                    "trafficRouting": {"nginx": {"stableIngress": "orchestrator"}}}},
        },
        "status": {"observedGeneration": str(generation), "stableRS": "aaa111", "currentPodHash": "bbb222",
                   "replicas": 4, "updatedReplicas": 1, "readyReplicas": 4, "availableReplicas": 4},
    }
    obj["spec"].update(spec or {})
    obj["status"].update(status or {})
    return obj


class FakeResponse:
    def __init__(self, status, body):
        reasons = {200: "OK", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error",
                   503: "Service Unavailable"}
        self.status = status
        self.reason = reasons.get(status, "")
        self.data = json.dumps(body).encode()
        self.headers = {"content-type": "application/json"}

    def getheaders(self):
        return self.headers

    def getheader(self, name, default=None):
        return self.headers.get(name, default)


class FakeServer:
    """Replaces urllib3's pool manager: records each request and answers like the API server."""

    def __init__(self, obj, script=None, others=None):
        self.obj = copy.deepcopy(obj)
        # Further objects by path (a Deployment of a workloadRef), read and replaced like the Rollout.
        self.others = copy.deepcopy(others or {})
        self.requests = []
        # Answers to give instead, in order: (status, body), an object for GET, or an exception.
        self.script = list(script or [])

    def request(self, method, url, body=None, headers=None, **_kwargs):
        parts = urlsplit(url)
        self.requests.append({
            "method": method,
            "path": parts.path,
            "query": parse_qs(parts.query),
            "content_type": (headers or {}).get("Content-Type"),
            "body": json.loads(body) if body else None,
        })
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, tuple):
                return FakeResponse(*answer)
            self.obj = answer
            return FakeResponse(200, answer)
        dry_run = "dryRun" in parse_qs(parts.query)
        if parts.path in self.others:
            current = self.others[parts.path]
        elif parts.path.startswith(BASE):
            current = self.obj
        else:
            return FakeResponse(404, {"kind": "Status", "code": 404, "message": "%s not found" % parts.path})
        result = current
        if method == "PATCH":
            result = merge_patch(current, json.loads(body))
        elif method == "PUT":
            result = json.loads(body)
        if not dry_run:
            if parts.path in self.others:
                self.others[parts.path] = result
            else:
                self.obj = result
        return FakeResponse(200, result)

    def writes(self):
        return [(r["method"], r["path"], r["content_type"], r["body"], r["query"].get("dryRun"))
                for r in self.requests if r["method"] != "GET"]


def deployment(image="orch:1.0"):
    """The Deployment a workloadRef Rollout takes its pod template from (k8s/base's shape)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "orchestrator", "namespace": "orchestrator", "resourceVersion": "501", "generation": 4},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app.kubernetes.io/name": "orchestrator"}},
                 "template": {"spec": {"containers": [{"name": "orchestrator", "image": image},
                                                      {"name": "sidecar", "image": "proxy:2.0"}]}}},
    }


def workload_ref_rollout(**kwargs):
    obj = rollout(**kwargs)
    del obj["spec"]["template"]
    obj["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orchestrator",
                                  "scaleDown": "progressively"}
    return obj


def make_api(server, dry_run=False):
    config = kubernetes.client.Configuration()
    config.host = "https://k8s.test:6443"
    api_client = kubernetes.client.ApiClient(config)
    api_client.rest_client.pool_manager = server
    # The discovery of DynamicClient.__init__ is not needed: the paths are built by RolloutApi.
    client = DynamicClient.__new__(DynamicClient)
    client.client = api_client
    client.configuration = config
    return RolloutApi(client, dry_run=dry_run)
