"""The recording stand-ins behave as the tests that still use them rely on (the failure-injection tests of
control_plane and the day-2 lifecycle tests; molecule/cluster runs the real kubeadm), run here under a scratch root.

They are test doubles, not kubeadm: this checks that they say so, record each call without the
secrets, create the files the real commands leave, refuse a second init or join as kubeadm's
preflight does, and print a join command whose CA hash really is the hash of the CA they made.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

STANDINS = Path(__file__).resolve().parents[2] / "standins"


@pytest.fixture
def root(tmp_path):
    return tmp_path


def kubeadm(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, ORCH_STANDIN_ROOT=str(root))
    return subprocess.run([str(STANDINS / "kubeadm"), *args], capture_output=True, text=True, check=check, env=env)


def log(root: Path) -> list[dict]:
    path = root / "var/log/orchestrator-standin/kubeadm.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_they_say_they_are_stand_ins(root):
    assert "stand-in" in kubeadm(root, "version").stdout
    for name in ("kubeadm", "kubelet", "kubectl"):
        assert "RECORDING STAND-IN" in (STANDINS / name).read_text().splitlines()[1]


def test_init_creates_the_files_once_and_join_command_carries_the_real_ca_hash(root):
    config = root / "kubeadm-config.yaml"
    config.write_text("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\n"
                      "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
                      "controlPlaneEndpoint: 10.0.0.10:8443\n")
    kubeadm(root, "init", "--config", str(config), "--upload-certs")
    k8s = root / "etc/kubernetes"
    for name in ("admin.conf", "super-admin.conf", "kubelet.conf", "pki/ca.crt", "pki/ca.key",
                 "pki/etcd/ca.crt", "manifests/kube-apiserver.yaml"):
        assert (k8s / name).exists(), name
    assert oct((k8s / "admin.conf").stat().st_mode & 0o777) == "0o600"
    again = kubeadm(root, "init", "--config", str(config), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr

    join = kubeadm(root, "token", "create", "--ttl", "10m0s", "--print-join-command").stdout.split()
    assert join[:3] == ["kubeadm", "join", "10.0.0.10:8443"]
    token = join[join.index("--token") + 1]
    ca_hash = join[join.index("--discovery-token-ca-cert-hash") + 1]
    pub = subprocess.run(["openssl", "x509", "-in", str(k8s / "pki/ca.crt"), "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    assert ca_hash == "sha256:" + hashlib.sha256(der).hexdigest()

    entries = log(root)
    assert [e["argv"][0] for e in entries] == ["init", "init", "token"]
    assert entries[0]["config"]["kinds"] == ["InitConfiguration", "ClusterConfiguration"]
    assert entries[0]["config"]["controlPlaneEndpoint"] == "10.0.0.10:8443"
    assert entries[2]["secret_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in (root / "var/log/orchestrator-standin/kubeadm.log").read_text()


def test_join_records_the_config_but_not_its_secrets_and_refuses_a_second_join(root):
    config = root / "join.yaml"
    config.write_text(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
        "    apiServerEndpoint: 10.0.0.10:8443\n    token: abcdef.0123456789abcdef\n"
        "    caCertHashes:\n      - sha256:00\nnodeRegistration:\n  name: w1\n  taints:\n"
        "    - key: dedicated\n      effect: NoSchedule\n  kubeletExtraArgs:\n    - name: node-labels\n"
        "      value: \"pool=a,zone=b\"\n"
    )
    kubeadm(root, "join", "--config", str(config))
    assert (root / "etc/kubernetes/kubelet.conf").exists()
    assert not (root / "etc/kubernetes/admin.conf").exists()
    entry = log(root)[-1]
    assert entry["control_plane"] is False
    assert entry["config"]["has_token"] and entry["config"]["taints"] == ["dedicated"]
    assert entry["config"]["node_labels"] == ["pool=a,zone=b"]
    text = (root / "var/log/orchestrator-standin/kubeadm.log").read_text()
    assert "0123456789abcdef" not in text
    assert kubeadm(root, "join", "--config", str(config), check=False).returncode != 0
    kubeadm(root, "reset", "--force")
    assert not (root / "etc/kubernetes/kubelet.conf").exists()


def test_control_plane_join_needs_a_certificate_key(root):
    config = root / "join.yaml"
    config.write_text("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ncontrolPlane:\n"
                      "  localAPIEndpoint:\n    advertiseAddress: 10.0.0.12\n")
    refused = kubeadm(root, "join", "--config", str(config), check=False)
    assert refused.returncode != 0 and "certificate key" in refused.stderr
    kubeadm(root, "join", "--config", str(config), "--certificate-key", "00ff")
    assert (root / "etc/kubernetes/admin.conf").exists()
    assert "00ff" not in (root / "var/log/orchestrator-standin/kubeadm.log").read_text()


def test_join_records_taints_written_as_flow_mappings(root):
    config = root / "join.yaml"
    config.write_text(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n"
        '  taints: [{"key": "orchestrator.io/agents", "value": "true", "effect": "NoSchedule"}]\n'
    )
    kubeadm(root, "join", "--config", str(config), "--token", "abcdef.0123456789abcdef")
    assert log(root)[-1]["config"]["taints"] == ["orchestrator.io/agents"]
