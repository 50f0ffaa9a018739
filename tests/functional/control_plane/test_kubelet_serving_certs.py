"""roles/kubelet_serving_certs end to end on the controller, against a STAND-IN Kubernetes API.

The stand-in (below, not a Kubernetes API server) serves discovery, the CSR list and the CSR
approval subresource, and plays the kubelet: when a node's CSR is approved it writes that node's
serving certificate file, as the kubelet does once the controller manager has signed. The CSRs are
real PKCS#10 requests (cryptography). Two inventory hosts on connection local stand for the nodes;
their addresses come from ansible_host (the role adds it to the facts' addresses). What it proves:
the role hands csr_approve the nodes' own identity (and not the API VIP), approves the node without
a certificate, leaves the VIP request pending, waits for the certificate, and a re-run sends no
request at all. The real cluster scenario proves the same against a real kubelet where it runs.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standin_client import standin_kubeconfig

ROOT = Path(__file__).resolve().parents[3]
VIP = "10.213.99.250"
TOKEN = "stand-in-token"  # noqa: S105 - a test token for the stand-in
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


def csr(node: str, ips: list[str], dns: list[str]) -> dict:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{node}"),
                                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes")]))
               .add_extension(x509.SubjectAlternativeName(
                   [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]),
                   critical=False)
               .sign(key, hashes.SHA256()))
    pem = request.public_bytes(serialization.Encoding.PEM)
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": f"csr-{node}-{len(ips)}"},
            "spec": {"signerName": "kubernetes.io/kubelet-serving", "request": base64.b64encode(pem).decode(),
                     "username": f"system:node:{node}", "groups": ["system:nodes", "system:authenticated"],
                     "usages": ["digital signature", "server auth"]},
            "status": {}}


class StandIn(ThreadingHTTPServer):
    def __init__(self, csrs: list[dict], cert_files: dict[str, Path]):
        super().__init__(("127.0.0.1", 0), Handler)
        self.csrs = {c["metadata"]["name"]: c for c in csrs}
        self.cert_files = cert_files
        self.requests: list[tuple[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    server: StandIn

    def log_message(self, *_args):
        pass

    def _send(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0]
        self.server.requests.append(("GET", path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, {"kind": "Status", "code": 401})
        answers = {
            "/version": {"major": "1", "minor": "36", "gitVersion": "v1.36.4"},
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [{
                "name": "certificates.k8s.io",
                "versions": [{"groupVersion": "certificates.k8s.io/v1", "version": "v1"}],
                "preferredVersion": {"groupVersion": "certificates.k8s.io/v1", "version": "v1"}}]},
            CSR_PATH: {"kind": "CertificateSigningRequestList", "apiVersion": "certificates.k8s.io/v1",
                       "items": list(self.server.csrs.values())},
        }
        if path in answers:
            return self._send(200, answers[path])
        return self._send(404, {"kind": "Status", "code": 404, "message": path})

    def do_PUT(self):
        path = self.path.split("?")[0]
        self.server.requests.append(("PUT", self.path))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        name = path[len(CSR_PATH) + 1:].removesuffix("/approval")
        if not path.endswith("/approval") or name not in self.server.csrs:
            return self._send(404, {"kind": "Status", "code": 404})
        # A dry run (check mode) changes nothing. Otherwise the kubelet's part: the node writes its
        # serving certificate once its CSR is approved.
        if "dryRun" not in self.path:
            self.server.csrs[name] = body
            node = body["spec"]["username"].removeprefix("system:node:")
            self.server.cert_files[node].write_text("stand-in serving certificate\n")
        return self._send(200, body)


# A test-only module that returns its argument as the host's facts (what setup would report).
FACTS_MODULE = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule
module = AnsibleModule(argument_spec={"facts": {"type": "dict", "required": True}}, supports_check_mode=True)
module.exit_json(changed=False, ansible_facts=module.params["facts"])
"""

PLAYBOOK = """
- name: Approve the kubelet serving certificates
  hosts: nodes
  gather_facts: false
  pre_tasks:
    - name: Set the facts of this stand-in node
      node_facts:
        facts: "{{ node_facts }}"
  roles:
    - role: orchestrator.platform.kubelet_serving_certs
"""


@pytest.fixture
def lab(tmp_path):
    certs = {n: tmp_path / n / "kubelet-server-current.pem" for n in ("w1", "cp1")}
    for path in certs.values():
        path.parent.mkdir()
    certs["cp1"].write_text("cp1 has its certificate already\n")
    server = StandIn([csr("w1", ["10.213.99.14"], ["w1"]), csr("cp1", [VIP], ["cp1"])], certs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = standin_kubeconfig(tmp_path, server.server_address[1], TOKEN)
    hosts = {
        "w1": {"ansible_host": "10.213.99.14"},
        "cp1": {"ansible_host": "10.213.99.11"},
    }
    for name, host in hosts.items():
        # The node's facts (the role reads ansible_facts, set by library/node_facts.py below): cp1
        # holds the API VIP, as the keepalived master does, and loopback; neither may be accepted.
        host["node_facts"] = {"all_ipv4_addresses": [VIP, "127.0.0.1"] if name == "cp1" else [],
                              "all_ipv6_addresses": [], "hostname": name, "nodename": name, "fqdn": name}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": os.sys.executable,
                                  "cluster_api_vip": VIP, "kubelet_serving_certs_kubeconfig": str(kubeconfig),
                                  # The stand-in is not the VIP: the kubeconfig check's escape hatch.
                                  "cluster_kubeconfig_server": f"http://127.0.0.1:{server.server_address[1]}",
                                  "kubelet_serving_certs_wait_timeout": 10},
                         "children": {"nodes": {"hosts": hosts}}}}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "library").mkdir()
    (tmp_path / "library/node_facts.py").write_text(FACTS_MODULE)
    yield {"dir": tmp_path, "server": server, "certs": certs}
    server.shutdown()


def run(lab, *extra):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    # Each node's certificate file in its own directory (an extra variable: the path is a role var).
    cert = "_kubelet_serving_certs_current=%s/{{ inventory_hostname }}/kubelet-server-current.pem" % lab["dir"]
    return subprocess.run(["ansible-playbook", "-i", str(lab["dir"] / "inventory.yml"), str(lab["dir"] / "play.yml"),
                           "-e", cert, *extra],
                          capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=300)


def test_approves_the_nodes_own_request_only_and_a_rerun_sends_nothing(lab):
    server = lab["server"]
    check = run(lab, "--check")
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-2000:]
    assert [r for r in server.requests if r[0] == "PUT"] == [("PUT", CSR_PATH + "/csr-w1-1/approval?dryRun=All")]
    assert not lab["certs"]["w1"].exists()

    first = run(lab)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    puts = [r for r in server.requests if r[0] == "PUT"]
    assert puts[1:] == [("PUT", CSR_PATH + "/csr-w1-1/approval")]
    conditions = server.csrs["csr-w1-1"]["status"]["conditions"]
    assert [(c["type"], c["status"]) for c in conditions] == [("Approved", "True")]
    # The control plane's request names the API VIP: left pending, never approved.
    assert server.csrs["csr-cp1-1"]["status"] == {}
    assert lab["certs"]["w1"].exists()

    before = len(server.requests)
    second = run(lab)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    assert "changed=0" in second.stdout
    assert len(server.requests) == before


def test_a_node_whose_request_names_the_vip_stops_with_the_reason(lab):
    lab["certs"]["cp1"].unlink()
    result = run(lab)
    assert result.returncode != 0
    assert "no approvable kubelet serving CSR of cp1" in result.stdout
    assert "IP address 10.213.99.250 is not one of the node's addresses" in result.stdout
    assert lab["server"].csrs["csr-cp1-1"]["status"] == {}
