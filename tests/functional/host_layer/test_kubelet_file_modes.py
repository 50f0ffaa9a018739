"""CIS 4.1.1 / 4.1.9: kubernetes_packages sets the kubelet unit, kubeadm's drop-in and the kubelet
configuration to 0600, and installs a drop-in whose ExecStartPre restores that mode whenever the
kubelet starts (kubeadm writes config.yaml 0644 at every init, join and upgrade).

The role's file_modes tasks run for real (connection local) on files in a temporary directory that
stand in for the node's paths. systemd itself is not run here: the drop-in's ExecStartPre command
line is executed as written, which is what systemd does with it."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
TASKS = ROOT / "roles/kubernetes_packages/tasks"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def node(tmp_path):
    files = {
        "unit": tmp_path / "usr/lib/systemd/system/kubelet.service",
        "kubeadm_dropin": tmp_path / "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
        "config": tmp_path / "var/lib/kubelet/config.yaml",
        "already": tmp_path / "etc/kubernetes/kubelet-already-0600",
    }
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
        os.chmod(path, 0o600 if name == "already" else 0o644)
    missing = tmp_path / "lib/systemd/system/kubelet.service"  # another packaging's spelling
    ours = tmp_path / "etc/systemd/system/kubelet.service.d/20-orchestrator-file-modes.conf"
    restricted = [str(p) for p in files.values()] + [str(missing)]
    (tmp_path / "play.yml").write_text(yaml.safe_dump([{
        "name": "Kubelet file modes",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "tasks": [{
            "name": "Run the role's file_modes tasks",
            "ansible.builtin.include_role": {
                "name": "orchestrator.platform.kubernetes_packages", "tasks_from": "file_modes",
            },
            "vars": {"kubernetes_packages_kubelet_restricted_files": restricted,
                     "kubernetes_packages_kubelet_dropin": str(ours)},
        }],
    }]))
    return {"base": tmp_path, "files": files, "missing": missing, "ours": ours, "restricted": restricted}


def play(node, *extra):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(node["base"] / "play.yml"), *extra],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return int(run.stdout.split("changed=")[-1].split()[0])


def test_main_runs_the_file_modes_tasks():
    main = yaml.safe_load((TASKS / "main.yml").read_text())
    assert any(t.get("ansible.builtin.include_tasks") == "file_modes.yml" for t in main)
    defaults = yaml.safe_load((ROOT / "roles/kubernetes_packages/defaults/main.yml").read_text())
    listed = defaults["kubernetes_packages_kubelet_restricted_files"]
    # kube-bench's kubelet service file candidates that a kubeadm node has, and its config.yaml.
    assert {"/lib/systemd/system/kubelet.service", "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", "/var/lib/kubelet/config.yaml"} <= set(listed)


def test_check_mode_changes_nothing(node):
    play(node, "--check")
    assert all(mode(p) == 0o644 for n, p in node["files"].items() if n != "already")
    assert not node["ours"].exists()


def test_files_become_0600_the_dropin_is_0600_and_a_rerun_changes_nothing(node):
    assert play(node) > 0
    for name, path in node["files"].items():
        assert mode(path) == 0o600, name
    assert not node["missing"].exists()
    assert mode(node["ours"]) == 0o600
    assert play(node) == 0


def test_the_dropin_restores_0600_after_kubeadm_rewrites_the_files(node):
    play(node)
    lines = [line for line in node["ours"].read_text().splitlines() if line.startswith("ExecStartPre=")]
    assert "[Service]" in node["ours"].read_text().splitlines()
    (line,) = lines
    command = line.split("=", 1)[1]
    assert command.startswith("-")  # a missing file must not stop the kubelet
    argv = shlex.split(command[1:])
    assert argv[:2] == ["/bin/chmod", "0600"] and argv[2:] == node["restricted"]
    for path in node["files"].values():  # what kubeadm init/join/upgrade does
        os.chmod(path, 0o644)
    subprocess.run(argv, check=False, capture_output=True)  # rc 1: the missing file, as systemd ignores
    for name, path in node["files"].items():
        assert mode(path) == 0o600, name
