"""roles/container_runtime's containerd configuration, rendered by the role's own template: the CRI
settings it carries, for the default and for the test rig's restrict_oom_score_adj (containerd in
a node container that may not lower OOM scores: runc then fails every pod sandbox)."""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = """
- name: Render the containerd configuration
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {defaults}
  tasks:
    - name: Render config.toml
      ansible.builtin.template:
        src: {template}
        dest: "{{{{ out }}}}"
        mode: "0644"
      vars:
        cluster_image_registry: ""
        _container_runtime_sandbox_image: "{{{{ container_runtime_sandbox_image }}}}"
"""


def render(tmp_path: Path, **extra) -> dict:
    play = tmp_path / "play.yml"
    play.write_text(PLAYBOOK.format(
        defaults=ROOT / "roles/container_runtime/defaults/main.yml",
        template=ROOT / "roles/container_runtime/templates/etc/containerd/config.toml.j2"))
    out = tmp_path / "config.toml"
    extra_vars = dict(extra, out=str(out), ansible_python_interpreter=os.sys.executable)
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", str(play), "-e", json.dumps(extra_vars)],
                            capture_output=True, text=True, check=False, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return tomllib.loads(out.read_text())


@pytest.mark.parametrize("restrict", [False, True])
def test_restrict_oom_score_adj_follows_the_variable(tmp_path, restrict):
    extra = {} if not restrict else {"container_runtime_restrict_oom_score_adj": True}
    cri = render(tmp_path, **extra)["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is restrict
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is True
