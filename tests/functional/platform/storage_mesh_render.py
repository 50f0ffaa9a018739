"""Render steps 7 and 8 from the roles themselves (render-only mode), once per variant and session.

The step playbooks run against localhost with -e cluster_render_dir=<tmp>, the stand-in inventory of
fixtures_storage_mesh/ (the cluster_* contract, with longhorn-system exempt from Pod Security) and
fixtures_storage_mesh/render-vars.yml switching every optional part on. Variants add extra
variables (a mirror, every component switched off). The tests read what was written.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_render import load_render_dir

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FIXTURES = HERE / "fixtures_storage_mesh"
PLAYBOOKS = ("07_storage.yml", "08_ingress_mesh.yml")
COMPONENTS = {"storage", "velero", "ingress_nginx", "cert_manager", "istio"}
# One second render for every "optional part off" check (renders are the slow part of the tests).
MINIMAL = {
    "storage_backup_target": "",
    "storage_backup_target_credentials": {},
    "storage_snapshot_controller_enabled": False,
    "cert_manager_acme_enabled": False,
    "istio_gateway_enabled": False,
    "istio_examples_enabled": False,
}


@dataclass
class Rendered:
    """What the roles wrote: per component, manifests, Helm releases and their values."""

    root: Path
    seconds: dict[str, float]
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def objects(self, kind: str | None = None, component: str | None = None) -> list[dict[str, Any]]:
        out = []
        for path, docs in self.manifests.items():
            if component and not path.startswith(component + "/"):
                continue
            out.extend(d for d in docs if kind is None or d.get("kind") == kind)
        return out

    def one(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        found = [
            o
            for o in self.objects(kind)
            if o["metadata"]["name"] == name and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        assert len(found) == 1, f"{len(found)} {kind} {name} rendered"
        return found[0]


def _render(extra_vars: tuple[tuple[str, Any], ...]) -> Rendered:
    out = Path(tempfile.mkdtemp(prefix="render-storage-mesh-"))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    seconds = {}
    extra = dict(extra_vars)
    for playbook in PLAYBOOKS:
        start = time.monotonic()
        run = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(FIXTURES / "inventory.yml"),
                str(ROOT / "playbooks" / playbook),
                "-e",
                f"cluster_render_dir={out}",
                "-e",
                f"@{FIXTURES / 'render-vars.yml'}",
                *(["-e", json.dumps(extra)] if extra else []),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env=env,
        )
        seconds[playbook] = time.monotonic() - start
        assert run.returncode == 0, f"{playbook} failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    return load_render_dir(out, Rendered(root=out, seconds=seconds))


def run_preflight(playbook: str, extra_vars: dict[str, Any]) -> subprocess.CompletedProcess:
    """Run one step playbook in render-only mode with extra variables (for preflight refusals)."""
    out = Path(tempfile.mkdtemp(prefix="render-storage-mesh-"))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    try:
        return subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(FIXTURES / "inventory.yml"),
                str(ROOT / "playbooks" / playbook),
                "-e",
                f"cluster_render_dir={out}",
                "-e",
                f"@{FIXTURES / 'render-vars.yml'}",
                "-e",
                json.dumps(extra_vars),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env=env,
        )
    finally:
        shutil.rmtree(out, ignore_errors=True)


_CACHE: dict[str, Rendered] = {}


def render(**extra_vars: Any) -> Rendered:
    """Render steps 7 and 8 once per set of extra variables (JSON-able values), cached per session."""
    key = json.dumps(extra_vars, sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = _render(tuple(sorted(extra_vars.items())))
    return _CACHE[key]


def cleanup() -> None:
    """Remove every rendered tree (called at the end of the session)."""
    for rendered in _CACHE.values():
        shutil.rmtree(rendered.root, ignore_errors=True)
    _CACHE.clear()


atexit.register(cleanup)
