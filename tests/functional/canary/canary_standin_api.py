"""A STAND-IN for the Kubernetes API, the Argo Rollouts controller and Prometheus's query API.

Used only by the end-to-end tests of playbooks/canary_release.yml; nothing here is a Kubernetes
API server. It serves what the kubernetes Python client and our modules ask for:

- discovery (/version, /api, /apis, /apis/argoproj.io/v1alpha1), which kubernetes.core's client
  reads when it is created;
- GET, PATCH (JSON merge patch only, as our modules send) and PUT of one Rollout, and PATCH of its
  /status subresource (status only), honouring dryRun=All;
- GET and PUT of the Deployment its spec.workloadRef names: a changed pod template starts a new
  release (new current pod hash, step 0) RELEASE_DELAY reconciles later, as the controller would
  (not at once);
- /api/v1/query, answering the canary gate's three queries from a script.

Each GET of the Rollout first runs one "reconcile" of a tiny scripted controller that advances
the Rollout like Argo Rollouts would: setWeight steps set status.canary.weights, pause steps add a
CanaryPauseStep pause condition (timed pauses end after `pause_ticks` reconciles, `pause: {}`
waits for a promote), analysis steps run for one reconcile then succeed or, at the scripted
weight, fail and abort the rollout; an aborted rollout turns Degraded and drains the canary
weight to 0 one reconcile later. Every request is recorded for the tests' assertions.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from canary_support import free_port
from standin_client import standin_kubeconfig

ROLLOUTS = "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/{name}"
DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
BEARER = "stand-in-token"  # the stand-in's fixed credential, asserted by the tests
STABLE, CANARY = "aaa111", "bbb222"
RELEASE_DELAY = 3  # reads of the Rollout before the scripted controller takes up a new pod template


@dataclass
class Script:
    pause_ticks: int = 2  # reconciles a timed pause holds
    analysis_fails_at_weight: int | None = None
    gate_fails_at_weight: int | None = None
    # Start from a finished release (Healthy, stable = current) that waits for a new pod template.
    released: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    authorization: str | None
    body: Any


@dataclass
class StandInApi:
    rollout: dict[str, Any]
    script: Script = field(default_factory=Script)

    def __post_init__(self):
        self.rollout = copy.deepcopy(self.rollout)
        meta = self.rollout["metadata"]
        self.path = ROLLOUTS.format(namespace=meta["namespace"], name=meta["name"])
        meta.update(generation=1, resourceVersion="1", uid="00000000-0000-0000-0000-000000000001")
        self.rollout["status"] = {
            "observedGeneration": "1", "currentStepIndex": 0, "stableRS": STABLE, "currentPodHash": CANARY,
            "phase": "Progressing", "message": "more replicas need to be updated",
            "replicas": 3, "updatedReplicas": 0, "readyReplicas": 3, "availableReplicas": 3,
            "canary": {"weights": {"canary": {"weight": 0, "podTemplateHash": CANARY},
                                   "stable": {"weight": 100, "podTemplateHash": STABLE}}},
        }
        if self.script.released:
            self.rollout["status"].update(
                currentStepIndex=len(self.steps()), currentPodHash=STABLE, phase="Healthy", message="",
                updatedReplicas=3)
            self.rollout["status"]["canary"]["weights"]["canary"]["podTemplateHash"] = STABLE
        ref = self.rollout["spec"].get("workloadRef") or {}
        self.deployment_path = DEPLOYMENTS.format(namespace=meta["namespace"], name=ref.get("name", "-"))
        self.deployment: dict[str, Any] = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": ref.get("name"), "namespace": meta["namespace"], "generation": 3,
                         "resourceVersion": "40"},
            "spec": {"replicas": 0, "template": {"spec": {"containers": [
                {"name": "orchestrator", "image": "registry.invalid/orchestrator:0.1.0"}]}}},
        }
        self._release_in: int | None = None
        self.requests: list[Request] = []
        self.queries: list[str] = []
        self.query_states: list[tuple[str, int | None, int]] = []
        self.reconciles = 0
        self._pause_left: int | None = None
        self._lock = threading.Lock()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- what the tests read ------------------------------------------------------------------
    def writes(self) -> list[tuple[str, str, Any]]:
        return [(r.method, r.path.rsplit("/", 1)[-1] if r.path.endswith("/status") else "", r.body)
                for r in self.requests if r.method in ("PATCH", "PUT") and r.path != self.deployment_path]

    def deployment_writes(self) -> list[tuple[str, Any]]:
        return [(r.method, r.body) for r in self.requests if r.method != "GET" and r.path == self.deployment_path]

    def kubeconfig(self, directory: Path) -> Path:
        return standin_kubeconfig(directory, self.port, BEARER)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- the scripted controller --------------------------------------------------------------
    def steps(self) -> list[dict[str, Any]]:
        return self.rollout["spec"]["strategy"]["canary"]["steps"]

    def set_weight(self) -> int:
        status = self.rollout["status"]
        if status.get("abort"):
            return 0
        index = status.get("currentStepIndex", 0)
        steps = self.steps()
        if index >= len(steps):
            return 100
        return next((s["setWeight"] for s in reversed(steps[: index + 1]) if "setWeight" in s), 0)

    def _weights(self, canary: int):
        self.rollout["status"]["canary"]["weights"]["canary"]["weight"] = canary
        self.rollout["status"]["canary"]["weights"]["stable"]["weight"] = 100 - canary

    def reconcile(self):
        self.reconciles += 1
        ro, st = self.rollout, self.rollout["status"]
        st["observedGeneration"] = str(ro["metadata"]["generation"])
        index = st.get("currentStepIndex", 0)
        steps = self.steps()
        if self._release_in is not None:
            # The new pod template of the Deployment: a new revision from step 0, a few reconciles
            # late, so a client that does not wait for it reads the finished release first.
            self._release_in -= 1
            if self._release_in > 0:
                return
            self._release_in = None
            st.update(currentPodHash=CANARY, currentStepIndex=0, phase="Progressing",
                      message="more replicas need to be updated", updatedReplicas=0, abort=False)
            st["canary"]["weights"]["canary"]["podTemplateHash"] = CANARY
            self._weights(0)
        elif st.get("abort"):
            st.pop("pauseConditions", None)
            st["controllerPause"] = False
            if st["phase"] != "Degraded":
                st.update(phase="Degraded", message="RolloutAborted: Rollout aborted update to revision 2")
            else:
                self._weights(0)
        elif ro["spec"].get("paused"):
            st.update(phase="Paused", message="manually paused")
        elif st.get("controllerPause") and not st.get("pauseConditions"):
            st.update(controllerPause=False, currentStepIndex=index + 1, phase="Progressing", message="")
            self._pause_left = None
        elif index >= len(steps):
            st.update(stableRS=st["currentPodHash"], phase="Healthy", message="", updatedReplicas=3)
            self._weights(0)
        elif "setWeight" in steps[index]:
            self._weights(steps[index]["setWeight"])
            st.update(currentStepIndex=index + 1, phase="Progressing", message="more replicas need to be updated")
        elif "pause" in steps[index]:
            self._pause(steps[index], index)
        elif "analysis" in steps[index]:
            self._analysis(index)

    def _pause(self, step, index):
        st = self.rollout["status"]
        if not st.get("pauseConditions"):
            st.update(pauseConditions=[{"reason": "CanaryPauseStep", "startTime": "2026-11-22T19:00:00Z"}],
                      controllerPause=True, phase="Paused", message="CanaryPauseStep")
            self._pause_left = self.script.pause_ticks if step["pause"].get("duration") else None
        elif self._pause_left is not None:
            self._pause_left -= 1
            if self._pause_left <= 0:
                st.pop("pauseConditions")
                st.update(controllerPause=False, currentStepIndex=index + 1, phase="Progressing", message="")
                self._pause_left = None

    def _analysis(self, index):
        st = self.rollout["status"]
        run = st["canary"].get("currentStepAnalysisRunStatus")
        if run is None:
            st["canary"]["currentStepAnalysisRunStatus"] = {"name": f"orchestrator-{CANARY}-2-{index}",
                                                             "status": "Running"}
            st.update(phase="Progressing", message="")
        elif self.script.analysis_fails_at_weight == self.set_weight():
            run.update(status="Failed", message='metric "success-rate" assessed Failed')
            st["abort"] = True
        else:
            del st["canary"]["currentStepAnalysisRunStatus"]
            st["currentStepIndex"] = index + 1

    # -- the stand-in Prometheus --------------------------------------------------------------
    def answer_query(self, query: str) -> dict[str, Any]:
        self.queries.append(query)
        status = self.rollout["status"]
        self.query_states.append((status["phase"], status.get("currentStepIndex"), self.set_weight()))
        failing = self.script.gate_fails_at_weight == self.set_weight()
        if "http_requests_total" in query:
            value = 0.80 if failing else 0.995
        elif "histogram_quantile(0.95" in query:
            value = 250.0
        else:
            value = 600.0
        return {"status": "success", "data": {"resultType": "vector",
                                              "result": [{"metric": {}, "value": [1763838000.0, str(value)]}]}}

    # -- HTTP ---------------------------------------------------------------------------------
    def _discovery(self, path: str) -> dict[str, Any] | None:
        return {
            "/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.4", "platform": "linux/amd64"},
            "/api": {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "argoproj.io",
                "versions": [{"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}],
                "preferredVersion": {"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"}}]},
            "/apis/argoproj.io/v1alpha1": {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "argoproj.io/v1alpha1",
                "resources": [
                    {"name": "rollouts", "singularName": "rollout", "namespaced": True, "kind": "Rollout",
                     "verbs": ["get", "list", "patch", "update", "watch"], "shortNames": ["ro"]},
                    {"name": "rollouts/status", "singularName": "", "namespaced": True, "kind": "Rollout",
                     "verbs": ["get", "patch", "update"]}]},
        }.get(path)

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(raw_path)
        path, query = parts.path, urllib.parse.parse_qs(parts.query)
        if path == "/api/v1/query":
            return 200, self.answer_query(query["query"][0])
        payload = json.loads(body) if body else None
        with self._lock:
            self.requests.append(Request(method, path, query, headers.get("Content-Type"),
                                         headers.get("Authorization"), payload))
            found = self._discovery(path)
            if method == "GET" and found is not None:
                return 200, found
            if path == self.deployment_path:
                return self._deployment(method, query, payload)
            if path not in (self.path, self.path + "/status"):
                return 404, {"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404,
                             "message": f"the stand-in serves no {path}"}
            if method == "GET":
                self.reconcile()
                return 200, self.rollout
            return self._write(method, path, query, headers.get("Content-Type"), payload)

    def _deployment(self, method, query, payload):
        if method == "GET":
            return 200, self.deployment
        if method != "PUT":
            return 405, {"kind": "Status", "code": 405, "message": f"the stand-in does not {method} Deployments"}
        if payload["metadata"].get("resourceVersion") != self.deployment["metadata"]["resourceVersion"]:
            return 409, {"kind": "Status", "code": 409, "reason": "Conflict", "message": "the object has been modified"}
        if "dryRun" in query:
            return 200, payload
        updated = copy.deepcopy(payload)
        updated["metadata"]["resourceVersion"] = str(int(self.deployment["metadata"]["resourceVersion"]) + 1)
        if updated["spec"]["template"] != self.deployment["spec"]["template"]:
            updated["metadata"]["generation"] = self.deployment["metadata"]["generation"] + 1
            self._release_in = RELEASE_DELAY
        self.deployment = updated
        return 200, updated

    def _write(self, method, path, query, content_type, payload):
        if method == "PATCH" and content_type != "application/merge-patch+json":
            message = f"the stand-in accepts merge patches, not {content_type}"
            return 415, {"kind": "Status", "code": 415, "message": message}
        current = self.rollout
        if method == "PUT":
            updated = payload
        elif path.endswith("/status"):
            updated = copy.deepcopy(current)
            updated["status"] = merge(current["status"], payload.get("status", {}))
        else:
            updated = merge(current, {k: v for k, v in payload.items() if k != "status"})
        if updated.get("spec") != current.get("spec"):
            updated["metadata"]["generation"] = current["metadata"]["generation"] + 1
        if "dryRun" not in query:
            updated["metadata"]["resourceVersion"] = str(int(current["metadata"]["resourceVersion"]) + 1)
            self.rollout = updated
        return 200, updated

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                status, doc = api.handle(self.command, self.path, self.headers, self.rfile.read(length))
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_PUT = _serve

            def log_message(self, *_args):
                pass

        return Handler


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out
