"""Step 10 in check mode: the orchestrator_workloads role builds its objects in a scratch directory
on the controller, which is not managed state. In check mode it used not to create that directory
(ansible.builtin.tempfile skips in check mode), and the next task failed ("object of type 'dict'
has no attribute 'path'"): `--check` of step 10 failed on every cluster, found by the rig's
`--check --diff` of steps 5-11. Render-only mode reaches the same tasks without a cluster.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from gitops_render import ROOT, inventory_args


def test_step10_plans_in_check_mode_and_leaves_no_scratch_directory(tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("orchestrator-workloads-*"))
    out = tmp_path / "render"
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        ["ansible-playbook", *inventory_args(), str(ROOT / "playbooks" / "10_gitops.yml"),
         "-e", f"cluster_render_dir={out}", "--check"],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=900,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Build the objects with kustomize" in done.stdout
    # check mode writes no render file, and the scratch directory is gone again
    assert not out.exists() or not any(out.rglob("*.yml"))
    assert set(Path(tempfile.gettempdir()).glob("orchestrator-workloads-*")) == before
