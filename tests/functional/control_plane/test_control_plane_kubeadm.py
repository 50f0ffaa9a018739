"""control_plane's kubeadm init/join tasks, run on this machine (connection local) under a scratch root.

kubeadm here is the RECORDING STAND-IN (tests/standins/kubeadm), not the real one: it records each
call (argv with secrets redacted, the config file's mode and whether it holds a certificate key)
and can be made to fail in a named phase (its STATE/fail-init switch), a failure a real kubeadm
cannot be asked for. Every path the role touches is moved under the scratch root with extra vars.

- a failed `kubeadm init` stops with the phase it failed in and the log's path, never the secrets;
- the certificate key of a control-plane join reaches kubeadm in a 0600 file, never in argv (ps);
- a machine holding another cluster's admin.conf (other endpoint, or another CA than the other
  control planes) stops step 2 with a message naming reset.yml instead of skipping kubeadm init.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
STANDIN = ROOT / "tests/standins/kubeadm"
TOKEN = "abcdef.0123456789abcdef"  # noqa: S105 - a fake token that must never reach the output
KEY = "9f" * 32
ENDPOINT = "10.0.0.10:8443"
INIT_PLAY = """
- name: control_plane step 2 under a scratch root
  hosts: control_plane
  gather_facts: false
  environment: "{{ test_environment }}"
  roles:
    - role: orchestrator.platform.control_plane
"""
JOIN_PLAY = """
- name: control_plane step 3 under a scratch root
  hosts: control_plane
  gather_facts: false
  serial: 1
  environment: "{{ test_environment }}"
  tasks:
    - name: Join
      ansible.builtin.include_role:
        name: orchestrator.platform.control_plane
        tasks_from: join
"""


def kubeconfig(server: str, ca: bytes) -> str:
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        f"    server: {server}\n    certificate-authority-data: {base64.b64encode(ca).decode()}\n"
        "users:\n- name: admin\n  user:\n    client-key-data: c2VjcmV0\n"
    )


class Rig:
    def __init__(self, tmp: Path, hosts: dict[str, dict] | None = None):
        self.tmp = tmp
        self.root = tmp / "root"
        self.k8s = self.root / "etc/kubernetes"
        self.k8s.mkdir(parents=True)
        (self.root / "var/log").mkdir(parents=True)
        bindir = tmp / "bin"
        bindir.mkdir()
        (bindir / "kubeadm").symlink_to(STANDIN)
        self.log = self.root / "var/log/orchestrator-kubeadm.log"
        (self.k8s / "kubeadm-config.yaml").write_text(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\n"
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
            f"controlPlaneEndpoint: {ENDPOINT}\n")
        hosts = hosts or {"cp-a": {}}
        # Role vars outrank inventory variables: a per-host admin.conf path goes through an extra var.
        hosts = {name: {"test_admin_conf": str(self.k8s / "admin.conf"), **extra} for name, extra in hosts.items()}
        lines = ["all:", "  children:", "    control_plane:", "      hosts:"]
        for name, extra in hosts.items():
            lines.append(f"        {name}:")
            for key, value in {"ansible_connection": "local",
                               "ansible_python_interpreter": "/usr/bin/python3", **extra}.items():
                lines.append(f"          {key}: {json.dumps(value)}")
        (tmp / "hosts.yml").write_text("\n".join(lines) + "\n")
        self.extra = {
            "test_environment": {"PATH": f"{bindir}:{os.environ['PATH']}", "ORCH_STANDIN_ROOT": str(self.root)},
            "control_plane_kubeadm_config": str(self.k8s / "kubeadm-config.yaml"),
            "control_plane_fetch_admin_kubeconfig": False,
            "cluster_api_endpoint_mode": "vip",
            "kubeadm_config_advertise_address": "127.0.0.1",
            "_control_plane_kubelet_conf": str(self.k8s / "kubelet.conf"),
            "_control_plane_marker": str(self.k8s / ".orchestrator-kubeadm-in-progress"),
            "_control_plane_join_config": str(self.k8s / "kubeadm-join.yaml"),
            "_control_plane_upload_certs_config": str(self.k8s / "kubeadm-upload-certs.yaml"),
            "_control_plane_output_log": str(self.log),
            "_control_plane_kubelet_service": "",  # this machine has no kubelet unit to enable
            "_control_plane_admin_conf": "{{ test_admin_conf }}",
        }

    def run(self, play: str, *args: str) -> subprocess.CompletedProcess:
        (self.tmp / "play.yml").write_text(play)
        (self.tmp / "extra.json").write_text(json.dumps(self.extra))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
        return subprocess.run(
            ["ansible-playbook", "-i", str(self.tmp / "hosts.yml"), str(self.tmp / "play.yml"),
             "-e", "@" + str(self.tmp / "extra.json"), *args],
            capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=300)

    def calls(self) -> list[dict]:
        path = self.root / "var/log/orchestrator-standin/kubeadm.log"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_failed_init_names_the_phase_and_the_log_but_no_secret(tmp_path):
    rig = Rig(tmp_path)
    state = rig.root / "var/lib/orchestrator-standin"
    state.mkdir(parents=True)
    (state / "fail-init").write_text(json.dumps({
        "phase": "wait-control-plane",
        "output": [f"[wait-control-plane] (stand-in) an error that quotes the token {TOKEN} and the key {KEY}"]}))
    run = rig.run(INIT_PLAY)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "kubeadm init failed on cp-a in phase wait-control-plane" in out, out[-3000:]
    assert str(rig.log) in out
    assert "failed on purpose" in out  # the log's last lines are shown
    assert TOKEN not in out and KEY not in out
    text = rig.log.read_text()
    assert TOKEN not in text and KEY not in text and "<redacted token>" in text and "<redacted key>" in text
    assert oct(rig.log.stat().st_mode & 0o777) == "0o600"
    assert (rig.k8s / ".orchestrator-kubeadm-in-progress").exists()  # the next run resets the node


def test_a_second_failure_reports_its_own_phase_not_the_first_runs(tmp_path):
    rig = Rig(tmp_path)
    state = rig.root / "var/lib/orchestrator-standin"
    state.mkdir(parents=True)
    (state / "fail-init").write_text(json.dumps({"phase": "wait-control-plane"}))
    assert rig.run(INIT_PLAY).returncode != 0
    (state / "fail-init").write_text(json.dumps({"phase": "preflight"}))
    run = rig.run(INIT_PLAY)
    assert "kubeadm init failed on cp-a in phase preflight" in run.stdout, run.stdout[-3000:]


def test_control_plane_join_passes_the_certificate_key_in_a_0600_file_not_argv(tmp_path):
    rig = Rig(tmp_path, {"cp-a": {}, "cp-b": {}})
    init = rig.run(INIT_PLAY)
    assert init.returncode == 0, (init.stdout + init.stderr)[-3000:]
    # Both hosts share this machine's scratch root: cp-b is made "not yet joined" again.
    (rig.k8s / "kubelet.conf").unlink()
    join = rig.run(JOIN_PLAY, "--limit", "cp-b")
    assert join.returncode == 0, (join.stdout + join.stderr)[-3000:]
    calls = rig.calls()
    upload = [c for c in calls if c["argv"][:3] == ["init", "phase", "upload-certs"]]
    assert len(upload) == 1
    assert not any(a.startswith("--certificate-key") for a in upload[0]["argv"]), upload[0]["argv"]
    assert upload[0]["config"]["has_certificate_key"] and upload[0]["config"]["mode"] == "0o600"
    joined = [c for c in calls if c["argv"][0] == "join"]
    assert len(joined) == 1 and joined[0]["control_plane"]
    assert not any(a.startswith("--certificate-key") for a in joined[0]["argv"])
    assert joined[0]["config"]["has_certificate_key"] and joined[0]["config"]["mode"] == "0o600"
    # Both files are gone once the commands end.
    assert not (rig.k8s / "kubeadm-upload-certs.yaml").exists() and not (rig.k8s / "kubeadm-join.yaml").exists()
    assert "=== orchestrator.platform: kubeadm join --control-plane" in rig.log.read_text()


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_foreign_admin_conf_stops_step_2_instead_of_skipping_init(tmp_path, check):
    rig = Rig(tmp_path)
    (rig.k8s / "admin.conf").write_text(kubeconfig("https://10.99.0.1:6443", b"another CA"))
    run = rig.run(INIT_PLAY, *(["--check"] if check else []))
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "holds" in out and "of another cluster" in out and "playbooks/reset.yml" in out, out[-3000:]
    assert "https://10.99.0.1:6443" in out and f"https://{ENDPOINT}" in out
    assert "c2VjcmV0" not in out  # the kubeconfig's key never shows
    assert rig.calls() == []


def test_admin_conf_of_this_cluster_skips_init(tmp_path):
    rig = Rig(tmp_path)
    (rig.k8s / "admin.conf").write_text(kubeconfig(f"https://{ENDPOINT}", b"the CA"))
    run = rig.run(INIT_PLAY)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert rig.calls() == []  # kubeadm init skipped: the cluster exists


def test_control_planes_with_different_cas_stop_step_2(tmp_path):
    a, b = tmp_path / "a-admin.conf", tmp_path / "b-admin.conf"
    rig = Rig(tmp_path, {"cp-a": {"test_admin_conf": str(a)}, "cp-b": {"test_admin_conf": str(b)}})
    a.write_text(kubeconfig(f"https://{ENDPOINT}", b"the CA"))
    b.write_text(kubeconfig(f"https://{ENDPOINT}", b"another CA"))
    run = rig.run(INIT_PLAY)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert "2 different cluster CAs" in out and "cp-a: " in out and "cp-b: " in out, out[-3000:]
    assert rig.calls() == []
    # The same CA on both: the cluster exists, init is skipped.
    b.write_text(kubeconfig(f"https://{ENDPOINT}", b"the CA"))
    again = rig.run(INIT_PLAY)
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert rig.calls() == []


@pytest.mark.parametrize(("fail_cgroup_v1", "extra", "expected"), [
    (True, [], None),
    (False, [], "--ignore-preflight-errors=SystemVerification"),
    (False, ["Swap"], "--ignore-preflight-errors=Swap,SystemVerification"),
], ids=["cgroup-v2-default", "cgroup-v1-allowed", "cgroup-v1-and-user-list"])
def test_allowing_cgroup_v1_also_skips_kubeadms_system_verification(tmp_path, fail_cgroup_v1, extra, expected):
    # The real kubeadm 1.36 refuses cgroup v1 in its SystemVerification preflight check even with the
    # kubelet's failCgroupV1: false (seen on this machine in molecule/cluster): the inventory's one
    # choice must reach both.
    rig = Rig(tmp_path)
    rig.extra.update(cluster_kubelet_fail_cgroup_v1=fail_cgroup_v1, control_plane_ignore_preflight_errors=extra)
    init = rig.run(INIT_PLAY)
    assert init.returncode == 0, (init.stdout + init.stderr)[-3000:]
    argv = next(c["argv"] for c in rig.calls() if c["argv"][0] == "init")
    flags = [a for a in argv if a.startswith("--ignore-preflight-errors")]
    assert flags == ([expected] if expected else []), argv
