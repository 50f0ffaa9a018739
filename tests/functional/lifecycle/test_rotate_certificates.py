"""playbooks/rotate_certificates.yml against two stand-in control planes (local directories).

kubeadm is the RECORDING STAND-IN of tests/standins (run with ORCH_STANDIN_ROOT=<node dir>, so each
node has its own /etc/kubernetes and log); the four static pods of each node are watcher threads
that listen on their own port only while their manifest is in the node's manifests directory
(lifecycle_standins.StandinControlPlane). Asserted: per node check-expiration, renew all, then the
four pods stopped and started again, one control plane at a time, and the first control plane's
admin kubeconfig copied to the controller (0600)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from lifecycle_standins import StandinCluster, StandinControlPlane

ROOT = Path(__file__).resolve().parents[3]
NODES = ["cp1", "cp2"]
PODS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]


@pytest.fixture
def rig():
    root = Path(tempfile.mkdtemp(prefix="orch-lc-certs-", dir="/tmp"))
    cluster = StandinCluster(root, [], "unused", secrets=0)
    hosts = {}
    for node in NODES:
        k8s = root / node / "etc/kubernetes"
        (root / node / "manifests").mkdir(parents=True)
        k8s.mkdir(parents=True)
        (k8s / "admin.conf").write_text(f"# stand-in admin kubeconfig of {node}\n")
        (root / node / "encryption-config.yaml").write_text("resources: [{providers: [{identity: {}}]}]\n")
        wrapper = root / node / "kubeadm"
        wrapper.write_text(f"#!/bin/sh\nORCH_STANDIN_ROOT={root / node} exec {sys.executable} "
                           f"{ROOT / 'tests/standins/kubeadm'} \"$@\"\n")
        wrapper.chmod(0o755)
        urls = {}
        for pod in PODS:
            (root / node / "manifests" / f"{pod}.yaml").write_text(f"# stand-in {pod}\n")
            standin = StandinControlPlane(f"{node}/{pod}", root / node, cluster, pod=pod)
            cluster.nodes[standin.name] = standin
            urls[pod] = f"http://127.0.0.1:{standin.port}/healthz"
        hosts[node] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "cluster_lifecycle_kubeadm": str(wrapper),
                       "cluster_lifecycle_admin_conf": str(k8s / "admin.conf"),
                       "cluster_lifecycle_manifests_dir": str(root / node / "manifests"),
                       "cluster_lifecycle_parked_dir": str(root / node / "parked"),
                       "cluster_lifecycle_health_urls": urls, "cluster_lifecycle_stop_timeout": 10,
                       "cluster_lifecycle_health_timeout": 10}
    cluster.start()
    inventory = root / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"cluster_kubeconfig": str(root / "controller/admin.conf")},
        "children": {"control_plane": {"hosts": hosts}}}}))
    yield root, cluster, inventory
    cluster.shutdown()
    subprocess.run(["rm", "-rf", str(root)], check=False)


def test_certificates_renewed_and_pods_restarted_one_control_plane_at_a_time(rig):
    root, cluster, inventory = rig
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(root / "ansible-tmp"))
    proc = subprocess.run(["ansible-playbook", "-i", str(inventory), str(ROOT / "playbooks/rotate_certificates.yml")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:]
    # Each node's kubeadm: check-expiration, renew all, check-expiration.
    for node in NODES:
        log = (root / node / "var/log/orchestrator-standin/kubeadm.log").read_text().splitlines()
        assert [" ".join(json.loads(line)["argv"]) for line in log] == [
            "certs check-expiration", "certs renew all", "certs check-expiration"]
    # Every pod of cp1 stopped and started again before any pod of cp2 stopped.
    events = [(name.split("/")[0], name.split("/")[1], what) for _, name, what, _ in cluster.events]
    restarts = [e for e in events if e[2] == "stop"]
    assert sorted((n, p) for n, p, _ in restarts) == sorted((n, p) for n in NODES for p in PODS)
    run = events[len(NODES) * len(PODS):]  # after the first start of every pod
    assert [(n, w) for n, _, w in run] == [(n, w) for n in NODES for w in ("stop", "start") for _ in PODS], run
    assert all(standin.keys is not None for standin in cluster.nodes.values())  # all running again
    copied = root / "controller/admin.conf"
    assert copied.read_text() == "# stand-in admin kubeconfig of cp1\n"
    assert stat.S_IMODE(copied.stat().st_mode) == 0o600
