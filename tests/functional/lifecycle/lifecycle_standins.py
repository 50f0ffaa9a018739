"""STAND-INS for what the lifecycle playbooks talk to: NOT Kubernetes.

- StandinControlPlane: one control plane's kubelet + kube-apiserver, as far as key rotation can see
  it. A thread watches the node's static pod manifest: while kube-apiserver.yaml is in the
  manifests directory an HTTP listener answers /healthz on the node's port; when the manifest is
  moved out the listener closes, when it comes back the "API server" starts again and loads the
  key names of the node's encryption configuration, as the real one reads its
  --encryption-provider-config only at start.
- StandinSecretsAPI: the cluster API the controller talks to (discovery, Secrets list/get and JSON
  patch). Each Secret is "stored" with the name of the key it was encrypted with: a write through
  an API server stores it with that server's FIRST loaded key. Every read and write goes through
  one of the running API servers in turn (like a load balancer), and reading a Secret stored with
  a key that server did not load is an error.
- The invariant the rotation must keep, checked after every restart and every write: every stored
  Secret is readable by every running API server. Each breach is recorded in `violations`.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loaded_keys(config: Path) -> list[str]:
    doc = yaml.safe_load(config.read_text())
    first = doc["resources"][0]["providers"][0]
    provider = next(iter(first))
    return [key["name"] for key in (first[provider] or {}).get("keys", [])]


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok" if self.path == "/healthz" else b"not found"
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class StandinControlPlane:
    name: str
    root: Path
    cluster: StandinCluster
    port: int = field(default_factory=free_port)
    broken: bool = False  # a kubelet that does not start the pod again (an interrupted run)
    keys: list[str] | None = None  # keys loaded by the running API server, None while stopped
    pod: str = "kube-apiserver"  # the static pod (another component: no keys, only its port)

    def __post_init__(self):
        self.manifest = self.root / "manifests" / f"{self.pod}.yaml"
        self.config = self.root / "encryption-config.yaml"
        self._server: ThreadingHTTPServer | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self):
        self._start_server()
        self._thread.start()

    def _start_server(self):
        self.keys = loaded_keys(self.config) if self.pod == "kube-apiserver" else []
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Health)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.cluster.event(self.name, "start", self.keys)

    def _stop_server(self):
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self.keys = None
        self.cluster.event(self.name, "stop", None)

    def _watch(self):
        while not self._stop.is_set():
            present = self.manifest.exists()
            if self._server and not present:
                self._stop_server()
            elif not self._server and present and not self.broken:
                self._start_server()
            time.sleep(0.05)

    def shutdown(self):
        self._stop.set()
        self._thread.join(timeout=5)
        if self._server:
            self._server.shutdown()
            self._server.server_close()


class StandinCluster:
    """The control planes plus the Secrets API; `violations` lists every unreadable moment."""

    def __init__(self, root: Path, names: list[str], initial_key: str, secrets: int = 5):
        self.lock = threading.RLock()
        self.events: list[tuple[float, str, str, list[str] | None]] = []
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.nodes = {name: StandinControlPlane(name, root / name, self) for name in names}
        self.store: dict[tuple[str, str], dict] = {}
        for i in range(secrets):
            ns = "default" if i % 2 else "orchestrator"
            self.store[(ns, f"secret-{i}")] = {"uid": str(uuid.uuid4()), "rv": i + 1, "key": initial_key,
                                                "data": {"value": f"c2VjcmV0LXtp{i}"}}
        self._rr = itertools.count()
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self):
        for node in self.nodes.values():
            node.start()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def shutdown(self):
        for node in self.nodes.values():
            node.shutdown()
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "stand-in", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}],
        }))
        path.chmod(0o600)
        return path

    # -- the invariant ------------------------------------------------------------------------
    def event(self, node: str, what: str, keys):
        with self.lock:
            self.events.append((time.monotonic(), node, what, keys))
            self.check(f"after {what} of {node}")

    def check(self, when: str):
        with self.lock:
            for other in self.nodes.values():
                if other.keys is None:
                    continue
                for (ns, name), secret in self.store.items():
                    if secret["key"] not in other.keys:
                        self.violations.append(f"{when}: {other.name} (keys {other.keys}) cannot read "
                                               f"{ns}/{name} stored with {secret['key']}")

    def stored_keys(self) -> set[str]:
        return {secret["key"] for secret in self.store.values()}

    def max_down(self) -> int:
        """The largest number of API servers stopped at the same moment."""
        down, worst = set(), 0
        for _, node, what, _ in self.events:
            if what == "stop":
                down.add(node)
            else:
                down.discard(node)
            worst = max(worst, len(down))
        return worst

    # -- HTTP -----------------------------------------------------------------------------------
    def _server_for_request(self):
        running = [n for n in self.nodes.values() if n.keys is not None]
        if not running:
            return None
        return running[next(self._rr) % len(running)]

    def _object(self, ns, name, secret):
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": secret["data"],
                "metadata": {"name": name, "namespace": ns, "uid": secret["uid"],
                             "resourceVersion": str(secret["rv"])}}

    def handle(self, method: str, path: str, body: bytes, dry_run: bool = False):
        discovery = {
            "/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.4", "platform": "linux/amd64"},
            "/api": {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "secrets", "singularName": "secret", "namespaced": True, "kind": "Secret",
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}]},
        }
        if method == "GET" and path in discovery:
            return 200, discovery[path]
        with self.lock:
            self.requests.append((method, path))
            server = self._server_for_request()
            if server is None:
                return 503, _status(503, "no API server")
            parts = path.strip("/").split("/")
            if method == "GET" and parts == ["api", "v1", "secrets"]:
                return self._list(server)
            if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "secrets":
                return self._one(server, method, (parts[3], parts[5]), body, dry_run)
        return 404, _status(404, f"the stand-in does not serve {method} {path}")

    def _list(self, server):
        items = []
        for (ns, name), secret in sorted(self.store.items()):
            if secret["key"] not in server.keys:
                return 500, _status(500, f"{server.name} cannot decrypt {ns}/{name}")
            obj = self._object(ns, name, secret)
            del obj["apiVersion"], obj["kind"]
            items.append(obj)
        return 200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"}, "items": items}

    def _one(self, server, method, key, body, dry_run=False):
        secret = self.store.get(key)
        if secret is None:
            return 404, _status(404, "not found")
        if secret["key"] not in server.keys:
            return 500, _status(500, f"{server.name} cannot decrypt {key}")
        if method == "PATCH":
            ops = json.loads(body or b"[]")
            if any(op["op"] != "test" or op["path"] != "/metadata/uid" for op in ops):
                return 422, _status(422, "the stand-in accepts only a uid test")
            if any(op["value"] != secret["uid"] for op in ops):
                return 422, _status(422, "test failed")
            if not dry_run:
                secret["key"] = server.keys[0]
                secret["rv"] += 100
                self.check(f"after {server.name} wrote {key}")
        elif method != "GET":
            return 405, _status(405, "not allowed")
        return 200, self._object(*key, secret)

    def _handler(self):
        cluster = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                dry_run = "dryRun=All" in parts.query
                code, payload = cluster.handle(self.command, parts.path, body, dry_run=dry_run)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PATCH = do_PUT = _serve

            def log_message(self, *args):
                pass

        return Handler


def _status(code: int, message: str, reason: str = "") -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Success" if code < 300 else "Failure", "code": code,
            "message": message, "reason": reason}


class StandinNodesAPI:
    """A STAND-IN Kubernetes API for the upgrade and remove_node tests: /version, Nodes (read,
    strategic-merge PATCH of spec.unschedulable, DELETE), one ReplicaSet-owned Pod per node
    (listed by spec.nodeName, evicted through pods/eviction, then gone). Every request is
    recorded with its UTC time, so the tests can order it against the nodes' stand-in logs."""

    def __init__(self, nodes: list[str], version: str):
        self.version = version
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.nodes = {name: {"unschedulable": False, "kubelet": version} for name in nodes}
        self.pods = {f"app-{name}": name for name in nodes}
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        return StandinCluster.kubeconfig(self, path)

    def _node(self, name: str) -> dict:
        node = self.nodes[name]
        info = {key: "stand-in" for key in ("architecture", "bootID", "containerRuntimeVersion", "kernelVersion",
                                             "kubeProxyVersion", "machineID", "operatingSystem", "osImage",
                                             "systemUUID")}
        info["kubeletVersion"] = "v" + node["kubelet"]
        return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": f"uid-{name}"},
                "spec": {"unschedulable": node["unschedulable"]}, "status": {"nodeInfo": info}}

    def _pod(self, name: str) -> dict:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": "orchestrator", "uid": f"uid-{name}",
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "app",
                                                  "uid": "uid-rs", "controller": True}]},
                "spec": {"nodeName": self.pods[name], "containers": [{"name": "app", "image": "app"}]},
                "status": {"phase": "Running"}}

    def handle(self, method: str, raw_path: str, body: bytes):
        parts = urllib.parse.urlsplit(raw_path)
        path, query = parts.path, urllib.parse.parse_qs(parts.query)
        discovery = {
            "/version": {"major": self.version.split(".")[0], "minor": self.version.split(".")[1],
                         "gitVersion": "v" + self.version, "platform": "linux/amd64"},
            "/api": {"kind": "APIVersions", "versions": ["v1"],
                     "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "nodes", "singularName": "node", "namespaced": False, "kind": "Node",
                 "verbs": ["delete", "get", "list", "patch", "update"]},
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                 "verbs": ["delete", "get", "list"]},
                {"name": "pods/eviction", "singularName": "", "namespaced": True, "kind": "Eviction",
                 "group": "policy", "version": "v1", "verbs": ["create"]}]},
        }
        if method == "GET" and path in discovery:
            return 200, discovery[path]
        with self.lock:
            payload = json.loads(body) if body else None
            self.requests.append({"time": time.time(), "method": method, "path": path, "body": payload})
            segs = path.strip("/").split("/")
            if segs[:3] == ["api", "v1", "nodes"]:
                return self._nodes(method, segs[3] if len(segs) == 4 else None, payload)
            if segs == ["api", "v1", "pods"] and method == "GET":
                selector = query.get("fieldSelector", [""])[0]
                node = selector.split("=", 1)[1] if selector.startswith("spec.nodeName=") else None
                items = [self._pod(p) for p, n in sorted(self.pods.items()) if node in (None, n)]
                return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
            if segs[:3] == ["api", "v1", "namespaces"] and len(segs) >= 6 and segs[4] == "pods":
                return self._pods(method, segs[5], segs[6:])
        return 404, _status(404, f"the stand-in does not serve {method} {path}", "NotFound")

    def _nodes(self, method, name, payload):
        if name is None:
            return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {},
                         "items": [self._node(n) for n in sorted(self.nodes)]}
        if name not in self.nodes:
            return 404, _status(404, f'nodes "{name}" not found', "NotFound")
        if method == "PATCH":
            self.nodes[name]["unschedulable"] = bool(payload["spec"]["unschedulable"])
        elif method == "DELETE":
            del self.nodes[name]
            return 200, _status(200, "deleted", "")
        return 200, self._node(name)

    def _pods(self, method, pod, rest):
        if pod not in self.pods:
            return 404, _status(404, f'pods "{pod}" not found', "NotFound")
        if method == "POST" and rest == ["eviction"]:
            del self.pods[pod]
            return 201, _status(201, "evicted", "")
        return 200, self._pod(pod)

    # What the tests read ------------------------------------------------------------------------
    def node_events(self) -> list[tuple[float, str, str]]:
        """(time, node, cordon|uncordon|delete) in order."""
        out = []
        for req in self.requests:
            segs = req["path"].strip("/").split("/")
            if segs[:3] == ["api", "v1", "nodes"] and len(segs) == 4:
                if req["method"] == "PATCH":
                    out.append((req["time"], segs[3], "cordon" if req["body"]["spec"]["unschedulable"] else "uncordon"))
                elif req["method"] == "DELETE":
                    out.append((req["time"], segs[3], "delete"))
        return out


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            code, payload = api.handle(self.command, self.path, body)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_PUT = do_POST = do_DELETE = _serve

        def log_message(self, *args):
            pass

    return Handler
