"""Helpers of the canary tests: a test exporter, a real Prometheus, and running our modules.

- Exporter: an http.server thread serving /metrics with request counters and a latency
  histogram that grow at fixed rates, per scenario (a `service` label), so every rate, ratio
  and quantile Prometheus computes from them is known in advance.
- PrometheusServer: Debian's /usr/bin/prometheus on a free port, scraping the exporter every
  second, with a temporary config and TSDB directory; stopped and removed by the fixture.
- run_module: runs one of our modules as Ansible would run it on the controller's Python
  (argument file, JSON result on stdout), without the cost of a playbook.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

PROMETHEUS = "/usr/bin/prometheus"
ROOT = Path(__file__).resolve().parents[3]
# AnalysisTemplate metric name -> canary_gate metric name
GATE_METRIC = {"success-rate": "success_rate", "latency-p95-ms": "latency_p95_ms", "latency-p99-ms": "latency_p99_ms"}
BUCKETS = ("0.1", "0.25", "0.5", "1", "2", "5", "+Inf")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def work_dir(name: str) -> Path:
    """A temporary directory under /tmp/orch-canary-*; the caller removes it."""
    return Path(tempfile.mkdtemp(prefix=f"orch-canary-{name}-", dir="/tmp"))


@dataclass
class Series:
    """Requests of one pod-template hash of one service: rate, share of 5xx, latency shares.

    `latency` maps a bucket's upper bound to the share of requests that fall in it (not cumulative).
    """

    service: str
    pod_hash: str
    rps: float
    error_share: float
    latency: dict[str, float]
    namespace: str = "orchestrator"


@dataclass
class Exporter:
    series: list[Series]
    port: int = field(default_factory=free_port)

    def __post_init__(self):
        self.started = time.monotonic()
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                exporter.scrapes += 1
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def render(self) -> str:
        elapsed = time.monotonic() - self.started + 1.0
        lines = ["# TYPE http_requests_total counter", "# TYPE http_request_duration_seconds histogram"]
        for s in self.series:
            labels = f'namespace="{s.namespace}",service="{s.service}",rollouts_pod_template_hash="{s.pod_hash}"'
            total = s.rps * elapsed
            # As a client library does: a code's series exists once a request had that code, so a
            # canary that only failed has no code="200" series at all (an idle one keeps its 200).
            if s.error_share < 1:
                lines.append(f'http_requests_total{{{labels},code="200"}} {total * (1 - s.error_share):.6f}')
            if s.error_share > 0:
                lines.append(f'http_requests_total{{{labels},code="503"}} {total * s.error_share:.6f}')
            cumulative = 0.0
            for bound in BUCKETS:
                cumulative += s.latency.get(bound, 0.0)
                count = total if bound == "+Inf" else total * cumulative
                lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count:.6f}')
            lines.append(f"http_request_duration_seconds_sum{{{labels}}} {total * 0.1:.6f}")
            lines.append(f"http_request_duration_seconds_count{{{labels}}} {total:.6f}")
        return "\n".join(lines) + "\n"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class PrometheusServer:
    def __init__(self, targets: list[str]):
        self.dir = work_dir("prometheus")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = self.dir / "prometheus.yml"
        config.write_text(json.dumps({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "canary", "honor_labels": True,
                                "static_configs": [{"targets": targets}]}],
        }))
        log = os.open(self.dir / "prometheus.log", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        finally:
            os.close(log)

    def query(self, promql: str) -> list:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request("GET", f"/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
            return json.loads(conn.getresponse().read())["data"]["result"]
        finally:
            conn.close()

    def wait_for(self, promql: str, count: int, timeout: float = 40.0):
        """Until the query returns `count` series (scraping needs a few seconds to start)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.dir / 'prometheus.log').read_text()[-2000:]}")
            try:
                last = self.query(promql)
                if len(last) >= count:
                    return last
            except OSError as exc:
                last = exc
            time.sleep(0.5)
        raise TimeoutError(f"{promql} returned {last!r} after {timeout}s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def templates() -> list[dict]:
    """The AnalysisTemplates of the workloads (k8s/argo-rollouts/analysis-template.yaml)."""
    doc = yaml.safe_load((ROOT / "k8s/argo-rollouts/analysis-template.yaml").read_text())
    return [item for item in doc["items"] if item["kind"] == "AnalysisTemplate"]


def template_queries(canary_hash: str, **overrides: str) -> dict[str, str]:
    """Every template metric's PromQL with its arguments filled in (the templates' defaults, the
    canary hash, `overrides`), keyed by canary_gate's metric names."""
    out = {}
    for template in templates():
        args = {a["name"]: a.get("value") for a in template["spec"]["args"]}
        args.update(overrides)
        args["canary-hash"] = canary_hash
        for metric in template["spec"]["metrics"]:
            query = re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", lambda m, a=args: a[m.group(1)],
                           metric["provider"]["prometheus"]["query"])
            out[GATE_METRIC[metric["name"]]] = query
    return out


_CONDITION = re.compile(r"^len\(result\) > 0 && (all|any)\(result, \{# (>=|<=|<|>) ([0-9.]+)\}\)$")


def condition_holds(condition: str, values: list[float]) -> bool:
    """A stand-in for the Argo Rollouts controller's evaluation of the templates' conditions (their
    one form, `len(result) > 0 && all|any(result, {# OP N})`; any other form raises). Comparisons
    with NaN are false, as in Go."""
    match = _CONDITION.match(condition.strip())
    if not match:
        raise ValueError(f"condition of another form: {condition}")
    quantifier, op, number = match.group(1), match.group(2), float(match.group(3))
    compare = {">=": lambda v: v >= number, "<=": lambda v: v <= number, "<": lambda v: v < number,
               ">": lambda v: v > number}[op]
    return len(values) > 0 and (all if quantifier == "all" else any)(compare(v) for v in values)


def template_verdicts(canary_hash: str, query, **overrides: str) -> dict[str, str]:
    """Per metric (canary_gate's names) what one measurement of the AnalysisTemplates gives -
    Successful, Failed or Inconclusive (neither condition holds) - with `query(promql)` returning
    the samples of a Prometheus instant query and `overrides` applied to the queries' text."""
    out = {}
    window = overrides.pop("window", None)
    texts = template_queries(canary_hash, **overrides)
    for template in templates():
        for metric in template["spec"]["metrics"]:
            name = GATE_METRIC[metric["name"]]
            promql = texts[name] if window is None else texts[name].replace("[2m]", f"[{window}]")
            values = [float(sample["value"][1]) for sample in query(promql)]
            if condition_holds(metric["failureCondition"], values):
                out[name] = "fail"
            elif condition_holds(metric["successCondition"], values):
                out[name] = "pass"
            else:
                out[name] = "inconclusive"
    return out


def squash(promql: str) -> str:
    """PromQL without whitespace, to compare two spellings of one query."""
    return re.sub(r"\s+", "", promql)
