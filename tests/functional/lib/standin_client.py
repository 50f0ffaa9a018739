"""Shared by the tests that drive our modules and playbooks against a stand-in Kubernetes API:
the kubeconfig pointing at it, and running a module of this collection as the controller would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def standin_kubeconfig(directory: Path, port: int, token: str) -> Path:
    """A 0600 kubeconfig for a stand-in API on 127.0.0.1:<port> with a bearer token."""
    path = directory / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
        "clusters": [{"name": "stand-in", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "stand-in", "user": {"token": token}}],
        "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}],
    }))
    path.chmod(0o600)
    return path


def run_module(module: str, args: dict, tmp: Path) -> dict:
    """Run plugins/modules/<module>.py with an argument file, as the controller's Python would."""
    args_file = tmp / f"{module}-args-{time.monotonic_ns()}.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    collections = os.environ["ANSIBLE_COLLECTIONS_PATH"].split(":")[0]
    env = dict(os.environ, PYTHONPATH=collections, TMPDIR=str(tmp))
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.orchestrator.platform.plugins.modules.{module}", str(args_file)],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"{module} printed no JSON (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc
