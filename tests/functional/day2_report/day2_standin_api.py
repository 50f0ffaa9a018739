"""A read-only STAND-IN for the Kubernetes API, serving recorded objects to the daily playbook's
gathering tasks (kubernetes.core.k8s_info and k8s_log). Nothing here is an API server: it answers
discovery for the kinds it holds, list requests (cluster-wide or in a namespace, with an equality
labelSelector) and pods/log, and records every request for the tests' assertions.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standin_client import standin_kubeconfig

BEARER = "day2-stand-in-token"  # the stand-in's fixed credential
# kind -> (group, version, plural)
KINDS = {
    "Node": ("", "v1", "nodes", False),
    "Pod": ("", "v1", "pods", True),
    "Application": ("argoproj.io", "v1alpha1", "applications", True),
    "Backup": ("velero.io", "v1", "backups", True),
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StandInApi:
    def __init__(self, objects: list[dict[str, Any]], logs: dict[tuple[str, str, str], str],
                 without: tuple[str, ...] = ()):
        self.objects = objects
        # kinds whose API this stand-in does not serve (a cluster without that CRD)
        self.kinds = {kind: spec for kind, spec in KINDS.items() if kind not in without}
        self.logs = logs  # (namespace, pod, container) -> log text
        self.requests: list[tuple[str, dict[str, list[str]], str | None]] = []
        self.port = _free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kubeconfig(self, directory: Path) -> Path:
        return standin_kubeconfig(directory, self.port, BEARER)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def _discovery(self, path: str) -> Any:
        groups = sorted({(g, v) for g, v, _p, _n in self.kinds.values() if g})
        if path == "/version":
            return {"major": "1", "minor": "36", "gitVersion": "v1.36.4", "platform": "linux/amd64"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]}
        for group, version in [("", "v1"), *groups]:
            base = f"/apis/{group}/{version}" if group else "/api/v1"
            if path == base:
                resources = []
                for kind, (g, v, plural, namespaced) in self.kinds.items():
                    if (g, v) == (group, version):
                        resources.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced,
                                          "kind": kind, "verbs": ["get", "list", "watch"]})
                        if plural == "pods":
                            resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                              "kind": "Pod", "verbs": ["get"]})
                return {"kind": "APIResourceList", "apiVersion": "v1",
                        "groupVersion": f"{group}/{version}" if group else "v1", "resources": resources}
        return None

    def _list(self, path: str, query: dict[str, list[str]]) -> Any:
        for kind, (group, version, plural, _namespaced) in self.kinds.items():
            base = f"/apis/{group}/{version}" if group else "/api/v1"
            if not path.startswith(base + "/"):
                continue
            rest = path[len(base) + 1:].split("/")
            namespace = None
            if rest[0] == "namespaces" and len(rest) >= 3:
                namespace, rest = rest[1], rest[2:]
            if rest == [plural]:
                items = [o for o in self.objects if o["kind"] == kind
                         and (namespace is None or o["metadata"].get("namespace") == namespace)]
                for selector in query.get("labelSelector", []):
                    for term in selector.split(","):
                        key, _, value = term.partition("=")
                        items = [o for o in items if (o["metadata"].get("labels") or {}).get(key) == value]
                api_version = f"{group}/{version}" if group else version
                return {"kind": kind + "List", "apiVersion": api_version, "metadata": {"resourceVersion": "1"},
                        "items": items}
            if plural == "pods" and len(rest) == 3 and rest[2] == "log":
                container = (query.get("container") or [""])[0]
                return self.logs.get((namespace, rest[1], container), "")
        return None

    def handle(self, raw_path: str, authorization: str | None) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(raw_path)
        query = urllib.parse.parse_qs(parts.query)
        self.requests.append((parts.path, query, authorization))
        if authorization != f"Bearer {BEARER}":
            return 401, {"kind": "Status", "code": 401, "message": "Unauthorized"}
        doc = self._discovery(parts.path)
        if doc is None:
            doc = self._list(parts.path, query)
        if doc is None:
            return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                         "reason": "NotFound", "message": f"the stand-in has nothing at {parts.path}"}
        return 200, doc

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, doc = api.handle(self.path, self.headers.get("Authorization"))
                data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if isinstance(doc, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args):
                pass

        return Handler
