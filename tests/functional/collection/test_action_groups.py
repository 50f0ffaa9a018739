"""meta/runtime.yml action_groups (issue 19 item 5): module_defaults for group/orchestrator.platform.k8s
set the connection once for our Kubernetes modules and, through the group's extend_group, for
kubernetes.core's k8s group too. Run on localhost with a kubeconfig whose current context points at
127.0.0.1 port 2 and whose other context, the one module_defaults names, at port 1 (nothing listens
on either): each module's connection error names port 1, so both the kubeconfig and the context
came from module_defaults."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
OURS = ["rollout", "rollout_info", "canary_gate", "csr_approve"]

PLAYBOOK = """
- name: Connection settings once, for every Kubernetes module
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/orchestrator.platform.k8s:
      kubeconfig: "{{ kubeconfig }}"
      context: orchestrator-action-group-test
  tasks:
    - name: Read a Rollout with the defaults of the group
      orchestrator.platform.rollout_info:
        name: orchestrator
        namespace: orchestrator
      register: ours
      ignore_errors: true

    - name: Read Pods with kubernetes.core, a member of the extended group
      kubernetes.core.k8s_info:
        kind: Pod
        namespace: orchestrator
      register: upstream
      ignore_errors: true

    - name: Hand both results to the test
      ansible.builtin.copy:
        content: "{{ {'ours': ours, 'upstream': upstream} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def test_runtime_declares_the_group_with_kubernetes_core_s():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    group = runtime["action_groups"]["k8s"]
    assert {"metadata": {"extend_group": ["kubernetes.core.k8s"]}} in group
    assert sorted(m for m in group if isinstance(m, str)) == sorted(OURS)
    # Each member documents its membership (ansible-doc shows it), and only the members do.
    membership = re.compile(
        r"action_group:\n\s+description:.*\n(?:\s+.*\n)*?\s+membership:\n\s+- orchestrator\.platform\.k8s"
    )
    for path in sorted((ROOT / "plugins" / "modules").glob("*.py")):
        documented = membership.search(path.read_text(encoding="utf-8"))
        assert bool(documented) == (path.stem in OURS), f"{path.name}: action_group attribute"


def test_module_defaults_of_the_group_reach_our_module_and_kubernetes_core(tmp_path):
    (tmp_path / "play.yml").write_text(PLAYBOOK, encoding="utf-8")
    # Modules on localhost run with this Python (it has the kubernetes client).
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        '      ansible_python_interpreter: "{{ ansible_playbook_python }}"\n', encoding="utf-8")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "default", "preferences": {},
        "clusters": [{"name": f"port{p}", "cluster": {"server": f"https://127.0.0.1:{p}"}} for p in (1, 2)],
        "users": [{"name": "nobody", "user": {"token": "not-a-token"}}],
        "contexts": [
            {"name": "default", "context": {"cluster": "port2", "user": "nobody"}},
            {"name": "orchestrator-action-group-test", "context": {"cluster": "port1", "user": "nobody"}},
        ],
    }), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "KUBECONFIG"))}
    env["HOME"] = str(tmp_path)
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
         "-e", f"kubeconfig={kubeconfig} out={tmp_path / 'results.json'}"],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    for name, result in results.items():
        assert result.get("failed"), f"{name} connected to something: {result}"
        assert re.search(r"port=1\b|127\.0\.0\.1:1\b", result["msg"]), (name, result["msg"])
