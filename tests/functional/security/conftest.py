"""Render steps 5 and 6 once per test session, from the roles themselves (render-only mode).

Each step playbook runs once against localhost with -e cluster_render_dir=<tmp>, for the example
inventory (inventories/example/ once it exists, else the minimal stand-in in fixtures/) with
fixtures/render-vars.yml switching every optional part on. The tests read what was written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_schema import load_documents

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FIXTURES = HERE / "fixtures"
PLAYBOOKS = ("05_network.yml", "06_security.yml")


def inventory_args() -> list[str]:
    example = ROOT / "inventories" / "example"
    if (example / "group_vars").is_dir():
        return ["-i", str(example), "-i", str(FIXTURES / "localhost.yml")]
    return ["-i", str(FIXTURES / "inventory.yml")]


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

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.objects(kind) if o["metadata"]["name"] == name]
        assert found, f"no {kind} {name} rendered"
        return found[0]


@pytest.fixture(scope="session")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("render")
    seconds = {}
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    for playbook in PLAYBOOKS:
        start = time.monotonic()
        run = subprocess.run(
            [
                "ansible-playbook",
                *inventory_args(),
                str(ROOT / "playbooks" / playbook),
                "-e",
                f"cluster_render_dir={out}",
                "-e",
                f"@{FIXTURES / 'render-vars.yml'}",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
            env=env,
        )
        seconds[playbook] = time.monotonic() - start
        assert run.returncode == 0, f"{playbook} failed:\n{run.stdout[-4000:]}\n{run.stderr[-2000:]}"
    result = Rendered(root=out, seconds=seconds)
    for path in sorted(out.rglob("*.yml")):
        rel = str(path.relative_to(out))
        if path.name.endswith("-values.yml"):
            result.values[rel] = yaml.safe_load(path.read_text())
        elif path.name.endswith("-release.yml"):
            result.releases[rel] = yaml.safe_load(path.read_text())
        else:
            result.manifests[rel] = load_documents(path.read_text())
    print(f"\nrender of steps 5-6: {', '.join(f'{k} {v:.1f}s' for k, v in seconds.items())}", file=sys.stderr)
    yield result
    shutil.rmtree(out, ignore_errors=True)
