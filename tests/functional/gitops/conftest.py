"""Render step 10 from the roles themselves (render-only mode), once per scenario and session.

playbooks/10_gitops.yml runs against localhost with -e cluster_render_dir=<tmp>, for the example
inventory (inventories/example/ once it exists, else the stand-in in fixtures/), with the
variables of fixtures/scenario-<name>.yml. The tests read what the roles wrote and the log.
"""

from __future__ import annotations

import time

import pytest
from gitops_render import FIXTURES, Render, load_render, run_playbook

SCENARIOS = ("argocd", "direct")


@pytest.fixture(scope="session")
def render(tmp_path_factory) -> dict[str, Render]:
    results = {}
    for name in SCENARIOS:
        out = tmp_path_factory.mktemp(f"render-{name}")
        start = time.monotonic()
        run = run_playbook(out, "-e", f"@{FIXTURES / f'scenario-{name}.yml'}")
        took = time.monotonic() - start
        assert run.returncode == 0, f"10_gitops.yml ({name}) failed:\n{run.stdout[-5000:]}\n{run.stderr[-2000:]}"
        results[name] = load_render(out, run.stdout + run.stderr, took)
    return results
