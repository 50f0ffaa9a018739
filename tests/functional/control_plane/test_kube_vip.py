"""cluster_api_endpoint_mode kube-vip: the api_endpoint role's kube-vip static pod, rendered by the
role itself (connection local, kubeadm's directory in a temporary directory), validated against the
pinned Kubernetes schema, with the kubeconfig switch kube-vip needs on kubeadm >= 1.29 (super-admin.conf
on the first control plane until kubeadm init has written admin.conf); and the kubeadm endpoint of
that mode. kube-vip itself cannot run here (no kubelet, no API server): what is checked is what we
write for the kubelet."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml
from k8s_schema import validate_all
from test_kubeadm_config import by_kind, write_lab
from test_kubeadm_config import run as run_kubeadm

ROOT = Path(__file__).resolve().parents[3]
VIP = "10.213.40.250"
PLAYBOOK = """
- name: Write the kube-vip static pod as step 1 and the control_plane role do
  hosts: control_plane
  gather_facts: false
  tasks:
    - name: kube-vip
      ansible.builtin.include_role:
        name: orchestrator.platform.api_endpoint
        tasks_from: kube_vip
"""


def lab(base: Path) -> Path:
    hosts = {
        name: {"api_endpoint_kubernetes_dir": str(base / name)}
        for name in ("cp-a", "cp-b")
    }
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                 "cluster_api_endpoint_mode": "kube-vip", "cluster_api_vip": VIP,
                 "api_endpoint_vrrp_interface": "eth0",
                 "cluster_image_registry": "registry.example.internal/mirror"},
        "children": {"cluster": {"children": {"control_plane": {"hosts": hosts}}}}}}
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (base / "play.yml").write_text(PLAYBOOK)
    return base


def run(base: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    result = subprocess.run(
        ["ansible-playbook", "-i", str(base / "inventory.yml"), str(base / "play.yml"), *extra],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def changed(output: str) -> dict[str, int]:
    return {line.split()[0]: int(line.split("changed=")[1].split()[0])
            for line in output.splitlines() if " : ok=" in line}


def pod(base: Path, host: str) -> dict:
    docs = [d for d in yaml.safe_load_all((base / host / "manifests/kube-vip.yaml").read_text()) if d]
    assert len(docs) == 1
    return docs[0]


def test_kube_vip_static_pod_lifecycle(tmp_path):
    base = lab(tmp_path)
    # Before kubeadm init: only the first control plane runs kube-vip, with super-admin.conf.
    run(base)
    first = pod(base, "cp-a")
    assert not (base / "cp-b/manifests/kube-vip.yaml").exists()
    assert validate_all([first]) == []
    assert first["metadata"]["namespace"] == "kube-system"
    assert first["spec"]["hostNetwork"] is True
    (container,) = first["spec"]["containers"]
    assert container["image"] == "registry.example.internal/mirror/kube-vip/kube-vip:v1.0.3"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["address"] == VIP and env["port"] == "6443" and env["vip_interface"] == "eth0"
    assert env["cp_enable"] == "true" and env["vip_leaderelection"] == "true" and env["svc_enable"] == "false"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    assert first["spec"]["volumes"][0]["hostPath"] == {"path": str(base / "cp-a/super-admin.conf"), "type": "File"}
    assert container["volumeMounts"][0]["mountPath"] == "/etc/kubernetes/admin.conf"
    assert (base / "cp-a/manifests/kube-vip.yaml").stat().st_mode & 0o777 == 0o600

    # After init (admin.conf exists on the first) and the join of the second: both read admin.conf.
    for host in ("cp-a", "cp-b"):
        (base / host).mkdir(exist_ok=True)
        (base / host / "admin.conf").write_text("apiVersion: v1\nkind: Config\n")
    second = run(base)
    assert changed(second.stdout) == {"cp-a": 1, "cp-b": 1}  # cp-b: directory + manifest in one task
    for host in ("cp-a", "cp-b"):
        assert pod(base, host)["spec"]["volumes"][0]["hostPath"]["path"] == str(base / host / "admin.conf")

    # Re-run and check mode change nothing.
    assert set(changed(run(base).stdout).values()) == {0}
    assert set(changed(run(base, "--check", "--diff").stdout).values()) == {0}


def test_kubeadm_endpoint_in_kube_vip_mode_is_the_vip_on_the_apiserver_port(tmp_path):
    base = write_lab(tmp_path, ["cp-a"], {"cp-a": {"cluster_api_endpoint_mode": "kube-vip"}})
    result = run_kubeadm(base)
    assert result.returncode == 0, result.stdout[-4000:]
    cluster = by_kind(base, "cp-a")["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == f"{VIP}:6443"
