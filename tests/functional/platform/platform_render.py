"""Helpers of the platform render tests (steps 7-9, 11, 12): run step playbooks in render-only mode
against a stand-in inventory and load what the roles wrote.

Shared by the test modules of this directory; each caller passes its own fixtures directory.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from k8s_schema import load_documents

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


@dataclass
class Render:
    """What one render run wrote, per file relative to the render directory, and its log."""

    root: Path
    log: str
    seconds: float
    returncode: int
    manifests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def objects(self, kind: str | None = None, component: str | None = None) -> list[dict[str, Any]]:
        out = []
        for rel, docs in self.manifests.items():
            if component and not rel.startswith(component + "/"):
                continue
            out.extend(d for d in docs if kind is None or d.get("kind") == kind)
        return out

    def one(self, kind: str, name: str, component: str | None = None) -> dict[str, Any]:
        found = [o for o in self.objects(kind, component) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def components(self) -> set[str]:
        return {p.split("/")[0] for p in [*self.manifests, *self.releases, *self.values]}


def run_playbooks(
    out: Path, playbooks: list[str], inventory: Path, *extra: str, tags: str | None = None
) -> subprocess.CompletedProcess:
    """ansible-playbook <playbooks...> in render-only mode (cluster_render_dir=out)."""
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    cmd = ["ansible-playbook", "-i", str(inventory)]
    cmd += [str(ROOT / "playbooks" / p) for p in playbooks]
    cmd += ["-e", f"cluster_render_dir={out}", *extra]
    if tags:
        cmd += ["--tags", tags]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)


def render(out: Path, playbooks: list[str], inventory: Path, *extra: str) -> Render:
    start = time.monotonic()
    run = run_playbooks(out, playbooks, inventory, *extra)
    result = Render(root=out, log=run.stdout + run.stderr, seconds=time.monotonic() - start, returncode=run.returncode)
    return load_render_dir(out, result)


def load_render_dir(out: Path, result):
    """Read what a render wrote under `out` into result.values, .releases and .manifests."""
    for path in sorted(out.rglob("*.yml")):
        rel = str(path.relative_to(out))
        if path.name.endswith("-values.yml"):
            result.values[rel] = yaml.safe_load(path.read_text())
        elif path.name.endswith("-release.yml"):
            result.releases[rel] = yaml.safe_load(path.read_text())
        else:
            result.manifests[rel] = load_documents(path.read_text())
    return result
