"""STAND-IN for HashiCorp Vault's KV v2 HTTP API (tests only, not Vault).

Serves GET and POST on /v1/<mount>/data/<path> the way Vault's KV v2 engine answers them (the
secret under data.data, its version under data.metadata.version; a write returns the new version
under data.version; options.cas must equal the current version, 0 meaning "must not exist"),
checks the X-Vault-Token header, and records every request (method, path, headers, JSON body).
`race` makes the next write lose a check-and-set race, as when another writer got there first.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandinVault:
    def __init__(self, token: str, mount: str = "secret"):
        self.token = token
        self.mount = mount
        self.store: dict[str, list[dict]] = {}  # path -> versions (data dicts), version n at index n-1
        self.requests: list[dict] = []
        self.race = False
        vault = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status, body=None):
                raw = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _handle(self, method):
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length)) if length else None
                vault.requests.append(
                    {"method": method, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.headers.get("X-Vault-Token") != vault.token:
                    return self._reply(403, {"errors": ["permission denied"]})
                prefix = f"/v1/{vault.mount}/data/"
                if not self.path.startswith(prefix):
                    return self._reply(404, {"errors": []})
                path = self.path[len(prefix) :]
                versions = vault.store.get(path, [])
                now = datetime.now(UTC).isoformat()
                meta = {"created_time": now, "deletion_time": "", "destroyed": False, "custom_metadata": None}
                if method == "GET":
                    if not versions:
                        return self._reply(404, {"errors": []})
                    return self._reply(
                        200, {"data": {"data": versions[-1], "metadata": {**meta, "version": len(versions)}}}
                    )
                if vault.race:
                    vault.race = False
                    versions.append(dict(versions[-1]) if versions else {"other": "writer"})
                    vault.store[path] = versions
                cas = (body.get("options") or {}).get("cas")
                if cas is not None and int(cas) != len(versions):
                    return self._reply(400, {"errors": ["check-and-set parameter did not match the current version"]})
                versions.append(body["data"])
                vault.store[path] = versions
                return self._reply(200, {"data": {**meta, "version": len(versions)}})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
