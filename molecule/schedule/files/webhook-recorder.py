#!/usr/bin/python3
"""Webhook recorder (molecule/schedule only, a test stand-in for an alerting endpoint).

Appends every POST it receives (path, Authorization and Content-Type headers, JSON body) as one JSON
line to the file named on the command line and answers 204.
"""

import http.server
import json
import sys

PORT, OUT = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = {
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "content_type": self.headers.get("Content-Type"),
            "body": json.loads(body or b"null"),
        }
        with open(OUT, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
