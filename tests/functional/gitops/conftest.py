"""Render step 10 from the roles themselves (render-only mode), once per scenario and session.

playbooks/10_gitops.yml runs against localhost with -e cluster_render_dir=<tmp>, for the example
inventory (inventories/example/ once it exists, else the stand-in in fixtures/), with the
variables of fixtures/scenario-<name>.yml. The tests read what the roles wrote and the log.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gitops_render import FIXTURES, Render, load_render, run_playbook

SCENARIOS = ("argocd", "direct")


def _render(out: Path, name: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    run = run_playbook(out, "-e", f"@{FIXTURES / f'scenario-{name}.yml'}")
    return run, time.monotonic() - start


@pytest.fixture(scope="session")
def render(tmp_path_factory) -> dict[str, Render]:
    # The scenarios are independent renders (one ansible-playbook each, into its own directory):
    # they run at the same time, which uses both cores of the test machine.
    outs = {name: tmp_path_factory.mktemp(f"render-{name}") for name in SCENARIOS}
    with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
        futures = {name: pool.submit(_render, outs[name], name) for name in SCENARIOS}
        runs = {name: future.result() for name, future in futures.items()}
    results = {}
    for name, (run, took) in runs.items():
        assert run.returncode == 0, f"10_gitops.yml ({name}) failed:\n{run.stdout[-5000:]}\n{run.stderr[-2000:]}"
        results[name] = load_render(outs[name], run.stdout + run.stderr, took)
    return results
