"""The three canary modules render with ansible-doc and their EXAMPLES pass a playbook syntax check."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import yaml
from canary_support import work_dir

MODULES = ("rollout", "rollout_info", "canary_gate")


def test_ansible_doc_renders_every_module():
    names = [f"orchestrator.platform.{m}" for m in MODULES]
    proc = subprocess.run(["ansible-doc", "--json", *names], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    for name in names:
        doc = docs[name]
        assert doc["doc"]["short_description"]
        assert "kubeconfig" in doc["doc"]["options"]  # the kubernetes.core connection fragment
        assert doc["return"]
        assert yaml.safe_load(doc["examples"])
    # One text rendering, as a user reads it.
    text = subprocess.run(["ansible-doc", names[0]], capture_output=True, text=True, check=True).stdout
    assert "merge-patch" in text


def test_examples_pass_the_syntax_check():
    tmp = work_dir("examples")
    try:
        names = [f"orchestrator.platform.{m}" for m in MODULES]
        docs = json.loads(subprocess.run(["ansible-doc", "--json", *names], capture_output=True, text=True,
                                         check=True).stdout)
        tasks = []
        for name in names:
            tasks += yaml.safe_load(docs[name]["examples"])
        assert {next(k for k in t if k.startswith("orchestrator.platform.")) for t in tasks
                if any(k.startswith("orchestrator.platform.") for k in t)} == set(names)
        playbook = tmp / "examples.yml"
        playbook.write_text(yaml.safe_dump([{"name": "Module examples", "hosts": "localhost",
                                             "gather_facts": False, "tasks": tasks}], sort_keys=False))
        proc = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", str(playbook)],
                              capture_output=True, text=True, check=False, env=dict(os.environ))
        assert proc.returncode == 0, proc.stdout + proc.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
