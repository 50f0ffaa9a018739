#!/usr/bin/python3
"""STAND-IN for kube-apiserver (orchestrator.platform tests, not Kubernetes).

Listens with TLS on the API server port of a control plane and answers every GET with 200 and the
node's name, so that HAProxy's /healthz checks, keepalived's health check and requests through the
VIP have a real listener to reach. Stopping it plays an API server that died.
"""

import http.server
import socket
import ssl
import sys

PORT = int(sys.argv[1])
CERT, KEY = sys.argv[2], sys.argv[3]
NAME = socket.gethostname()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"ok {NAME}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)  # noqa: S104 - plays an API server on every address
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(CERT, KEY)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
