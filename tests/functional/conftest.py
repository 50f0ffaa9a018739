"""How the pytest gate's test files share out over pytest-xdist workers (tests/run.sh:
`pytest -n 2 --dist loadscope --no-loadscope-reorder`). Without -n, only the order changes.

- A work unit is one test file (its module fixtures - node containers, stand-in servers - are set
  up once, on one worker), except the files of SHARED: they read one session fixture or one
  per-process render cache, and run as one unit so that a single worker renders it.
- The units of FIRST start first, longest first: a long unit started last would end the run alone.
  Every other file keeps its place in the collection.
- The test files that start fixed-name podman containers (preflight/test_catalogue.py: orch-pf-*,
  lifecycle/test_upgrade_remove_reset.py: orch-lc-*, release/test_release.py: orch-registry) are
  each one unit, so no two workers create the same containers.

pytest-xdist's own `--dist loadgroup` cannot do this with pytest 9.2: it marks the group in the
node ID, which pytest 9.2 no longer lets a plugin change (pytest-xdist issue 1386), and the
xdist_group marks are then silently ignored.
"""

from __future__ import annotations

from pathlib import Path

import pytest

try:  # pytest-xdist: the gate's workers (tests/run.sh); without it the hook below is never called
    from xdist.scheduler import LoadScopeScheduling
except ImportError:
    LoadScopeScheduling = object

HERE = Path(__file__).resolve().parent
SHARED = {
    # conftest.py's obs_render (steps 9/11/12) and storage_mesh_render's cache (steps 7/8).
    "platform-render": tuple(
        f"platform/test_{name}.py"
        for name in (
            "observability_render",
            "autoscaling_render",
            "compliance_render",
            "platform_netpol",
            "storage_mesh_render",
            "storage_mesh_behaviour",
            "storage_mesh_roles",
        )
    ),
    # conftest.py's rendered (steps 5 and 6).
    "security-render": ("security/",),
    # conftest.py's kustomize builds.
    "k8s-build": ("k8s/",),
    # conftest.py's render runs 10_gitops.yml, whose scratch directories (/tmp/orchestrator-workloads-*)
    # test_gitops_check_mode.py counts before and after its own run: never at the same time.
    "gitops": ("gitops/",),
}
# Longest first, as measured on 2026-12-07 (serial run, --durations): the catalogue about 7 min,
# the platform renders about 7 min, the lifecycle node rig about 5 min, kubeconfig_check about 3,
# the encryption rotation scenarios about 3.
FIRST = (
    "preflight/test_catalogue.py",
    "platform-render",
    "lifecycle/test_upgrade_remove_reset.py",
    "platform/test_kubeconfig_check.py",
    "lifecycle/test_encryption_rotation.py",
    "control_plane/test_kubeadm_config.py",
)


def unit_of(rel: str) -> str:
    """The work unit of a test file, by its path under tests/functional."""
    for unit, prefixes in SHARED.items():
        if rel.startswith(prefixes):
            return unit
    return rel


def _rank(item: pytest.Item) -> int:
    if not item.path.is_relative_to(HERE):
        return len(FIRST) + 1
    unit = unit_of(item.path.relative_to(HERE).as_posix())
    return FIRST.index(unit) if unit in FIRST else len(FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    position = {id(item): n for n, item in enumerate(items)}
    items.sort(key=lambda item: (_rank(item), position[id(item)]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getoption("dist") != "loadscope":
        return None
    prefix = HERE.relative_to(config.rootpath).as_posix() + "/"

    class UnitScheduling(LoadScopeScheduling):
        """loadscope with the scope of a test being its work unit (unit_of)."""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid.split("::", 1)[0].removeprefix(prefix))

    return UnitScheduling(config, log)
