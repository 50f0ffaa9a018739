"""What the cluster scenario's tests share: the rig's names and a kubectl on the first control plane."""

from __future__ import annotations

import json
import subprocess
import time

import testinfra

CONTROL_PLANES = ["orch-cl-cp1", "orch-cl-cp2", "orch-cl-cp3"]
WORKERS = ["orch-cl-w1", "orch-cl-w2"]
NODES = CONTROL_PLANES + WORKERS
ADDRESSES = {name: f"10.213.40.{11 + n}" for n, name in enumerate(NODES)}
VIP = "10.213.40.250"
API_PORT = 8443
VIP_ENDPOINT = f"{VIP}:{API_PORT}"
REGISTRY = "10.213.250.2:5000"
KUBERNETES_VERSION = "v1.36.4"
KUBEADM_LOG = "/var/log/rig-kubeadm.log"


def node(name: str):
    return testinfra.get_host(f"podman://{name}")


def until(probe, timeout: float = 30, interval: float = 1):
    """Poll probe() until it returns something truthy; return the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


def kubectl(*args: str, stdin: str | None = None, on: str = "orch-cl-cp1", check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """kubectl with the admin kubeconfig on a control plane (podman exec: no port leaves the rig)."""
    argv = ["podman", "exec", "-i", on, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: rc={done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


def kubectl_json(*args: str, on: str = "orch-cl-cp1") -> dict:
    return json.loads(kubectl(*args, "-o", "json", on=on).stdout)


def kubeadm_calls(host) -> list[dict]:
    """Every call of the real kubeadm on a node, from the rig's recording wrapper (tests/rig/nodes.yml);
    read-only probes (`kubeadm version`) left out."""
    log = host.file(KUBEADM_LOG)
    if not log.exists:
        return []
    entries = [json.loads(line) for line in log.content_string.splitlines() if line.strip()]
    return [e for e in entries if e["argv"] and e["argv"][0] not in ("version", "--version")]
