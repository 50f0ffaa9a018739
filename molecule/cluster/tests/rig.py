"""What the cluster scenario's tests share: the rig's names and a kubectl on the first control plane."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
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
MANIFESTS = "/etc/kubernetes/manifests"
# etcdctl against a control plane's own member with kubeadm's health-check client certificate.
ETCDCTL = (
    "etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
    "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key "
    "--dial-timeout 3s --command-timeout 20s"
)
CRICTL = "crictl --runtime-endpoint unix:///run/containerd/containerd.sock"


def vip_readyz(timeout: str = "2s") -> list[str]:
    """kubectl on a worker asking the API's /readyz through the VIP with the kubelet's credentials,
    as any client of the cluster reaches it (argv for a node's run: join with spaces)."""
    return ["kubectl", "--kubeconfig", "/etc/kubernetes/kubelet.conf", "--server", f"https://{VIP_ENDPOINT}",
            f"--request-timeout={timeout}", "get", "--raw", "/readyz"]
ROOT = Path(__file__).resolve().parents[3]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
INVENTORY = Path(os.environ.get("MOLECULE_INVENTORY_FILE", "/nonexistent")).parent


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


def etcd_state() -> dict:
    """What a restore (or a stray etcd operation) changes: per control plane the manifests, the held
    ones, the running etcd and API server containers; the member list (names and IDs)."""
    state = {}
    for cp in CONTROL_PLANES:
        host = node(cp)
        state[cp] = {
            "manifests": sorted(host.check_output(f"ls -1 {MANIFESTS}").split()),
            "held": host.run("ls -A /etc/kubernetes/manifests-held-by-etcd-restore 2>/dev/null").stdout.split(),
            "etcd": host.check_output(f"{CRICTL} ps --state running --name '^etcd$' -q").split(),
            "apiserver": host.check_output(f"{CRICTL} ps --state running --name '^kube-apiserver$' -q").split(),
        }
    members = json.loads(node(CONTROL_PLANES[0]).check_output(f"{ETCDCTL} member list -w json"))["members"]
    state["members"] = sorted((m["name"], m["ID"]) for m in members)
    return state


def run_playbooks(playbooks: list[str], *extra: str, timeout: int = 3600) -> subprocess.CompletedProcess:
    """ansible-playbook of playbooks/<each> on the scenario's inventory, from the controller."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), *[str(ROOT / "playbooks" / p) for p in playbooks], *extra],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def by_hand(what: str, minutes: int):
    """The mark of a test file too long for the CI gate: it runs only with ORCH_RIG_LONG=1
    (`make test-long`)."""
    return pytest.mark.skipif(
        os.environ.get("ORCH_RIG_LONG") != "1",
        reason=f"{what} on the rig runs by hand: ORCH_RIG_LONG=1 (about {minutes} minutes more than CI has)",
    )
