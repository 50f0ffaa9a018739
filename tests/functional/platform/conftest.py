"""Fixtures of the platform render tests.

Steps 9, 11 and 12 (observability, autoscaling, compliance) are rendered once per session and
scenario from the roles themselves (render-only mode), against fixtures_obs/inventory.yml:

- full: fixtures_obs/render-vars.yml switches every optional part on (all alert channels,
  Grafana admin Secret, Jaeger with Elasticsearch);
- defaults: the roles' defaults, with the offline mirror and a mirror registry set;
- off: every component switched off;
- full-again: the full scenario rendered a second time into the same directory.

Other steps' tests in this directory keep their own fixtures (helpers in platform_render.py).
"""

from __future__ import annotations

import shutil
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from obs_render import OBS_INVENTORY, OBS_PLAYBOOKS, OBS_SCENARIOS
from platform_render import Render, render


@pytest.fixture(scope="session")
def obs_render(tmp_path_factory) -> dict[str, Render]:
    # The scenarios are independent renders (one ansible-playbook each, into its own directory):
    # they run at the same time, which uses both cores of the test machine.
    outs = {name: tmp_path_factory.mktemp(f"obs-{name}") for name in OBS_SCENARIOS}
    with ThreadPoolExecutor(max_workers=len(OBS_SCENARIOS)) as pool:
        futures = {
            name: pool.submit(render, outs[name], OBS_PLAYBOOKS, OBS_INVENTORY, *extra)
            for name, extra in OBS_SCENARIOS.items()
        }
        results = {name: future.result() for name, future in futures.items()}
    for name, result in results.items():
        assert result.returncode == 0, f"steps 9/11/12 ({name}) failed:\n{result.log[-5000:]}"
    # Rendering the full scenario again into the same directory changes nothing (idempotence).
    again = render(results["full"].root, OBS_PLAYBOOKS, OBS_INVENTORY, *OBS_SCENARIOS["full"])
    assert again.returncode == 0, again.log[-3000:]
    results["full-again"] = again
    print(
        "\nrender of steps 9, 11, 12: " + ", ".join(f"{k} {v.seconds:.1f}s" for k, v in results.items()),
        file=sys.stderr,
    )
    yield results
    for result in {r.root: r for r in results.values()}.values():
        shutil.rmtree(result.root, ignore_errors=True)


@pytest.fixture(scope="session")
def obs(obs_render) -> Render:
    """The full scenario."""
    return obs_render["full"]
