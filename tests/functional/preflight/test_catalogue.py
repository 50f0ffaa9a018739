"""The preflight catalogue: each invalid inventory fails in preflight with one report that lists
every problem once (the rules the case expects, no other), names the variable and the fix, and
changes nothing on any node; the valid inventory passes (normal and check mode).

Every case runs the real playbooks/00_preflight.yml against the real node containers of
conftest.py. The fingerprints of all nodes are compared with those taken before the first case.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from preflight_nodes import ROOT, fingerprints

pytestmark = pytest.mark.nodes

HERE = Path(__file__).resolve().parent
CATALOGUE = HERE / "catalogue"
# Every directory of the catalogue is a case: one without hosts.yml or expect.yml fails
# test_every_case_is_complete instead of being left out.
CASES = sorted(p.name for p in CATALOGUE.iterdir() if p.is_dir())
TIMEOUT = 300
PARALLEL = 4
RULE = re.compile(r"^(?:\d+\. |preflight: )\[([a-z0-9-]+)\]", re.MULTILINE)
ROLE_TASKS = ROOT / "roles" / "preflight" / "tasks"


def expect(case: str) -> dict:
    return yaml.safe_load((CATALOGUE / case / "expect.yml").read_text())


def run_preflight(inventory: Path, *extra: str) -> tuple[int, dict, str, float]:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1")
    start = time.monotonic()
    run = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "playbooks/00_preflight.yml", *extra],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=TIMEOUT,
    )
    took = time.monotonic() - start
    try:
        result = json.loads(run.stdout)
    except ValueError:
        pytest.fail(f"no JSON result (rc {run.returncode}): {run.stdout[-2000:]} {run.stderr[-2000:]}")
    return run.returncode, result, run.stderr, took


def failures(result: dict) -> list[tuple[str, str, str]]:
    """(task path, host, message) of every failed task result."""
    found = []
    for play in result["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if res.get("failed") and not res.get("ignore_errors"):
                    found.append((task["task"].get("path", ""), host, str(res.get("msg", ""))))
    return found


def assert_nothing_changed(result: dict, before: dict[str, str], after: dict[str, str]) -> None:
    """No task reported a change, and the nodes' fingerprints `after` the runs are those `before`."""
    for host, stats in result["stats"].items():
        assert stats["changed"] == 0, f"{host} reports changes"
        assert stats["unreachable"] == 0, f"{host} was unreachable"
    assert sorted(after) == sorted(before)
    for node, print_before in before.items():
        assert after[node] == print_before, f"{node} changed (packages or /etc)"


def reported_rules(failed: list[tuple[str, str, str]]) -> set[str]:
    """The rule names the report gives ("[rule] host: message" lines)."""
    return {rule for _, _, msg in failed for rule in RULE.findall(msg)}


def rules_of(*task_files: str) -> set[str]:
    found = set()
    for name in task_files:
        found.update(re.findall(r"- rule: ([a-z0-9-]+)", (ROLE_TASKS / name).read_text()))
    return found


def test_every_case_is_complete():
    """Each case directory has its inventory and its expectation, and every rule it expects is
    described in docs/inventory.md."""
    incomplete = [case for case in CASES
                  if not (CATALOGUE / case / "hosts.yml").is_file() or not (CATALOGUE / case / "expect.yml").is_file()]
    assert not incomplete, f"case directories without hosts.yml or expect.yml: {incomplete}"
    rules = {rule for case in CASES for rule in [expect(case)["rule"], *expect(case).get("also", [])]}
    documented = (ROOT / "docs" / "inventory.md").read_text()
    missing = [rule for rule in sorted(rules) if f"`{rule}`" not in documented]
    assert not missing, f"rules not described in docs/inventory.md: {missing}"


# The runs that are not catalogue cases, started in the same pool as the cases (they are as
# independent of each other): the valid inventory in normal and check mode, and the example one.
VALID = {
    "run": (HERE / "valid" / "hosts.yml",),
    "check": (HERE / "valid" / "hosts.yml", "--check", "--diff"),
}
EXAMPLE = (
    ROOT / "inventories" / "example", "-e", "ansible_connection=local", "-e", "ansible_become=false",
    "-e", "api_endpoint_vrrp_password=example",
)


@pytest.fixture(scope="module")
def all_runs(nodes):
    """Every preflight run of this module, PARALLEL at a time: each case, the valid inventory in
    both modes and the example inventory. Each is a separate ansible-playbook process. Those three
    (slower than most cases) are started first so that the pool does not end on them."""
    jobs = {("valid", mode): args for mode, args in VALID.items()}
    jobs[("example", "")] = EXAMPLE
    jobs.update({("case", case): (CATALOGUE / case / "hosts.yml",) for case in CASES})
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {key: pool.submit(run_preflight, *args) for key, args in jobs.items()}
        runs = {key: future.result() for key, future in futures.items()}
    # The nodes' fingerprints once every run has ended: what each test compares with those taken
    # before the first run (one reading instead of one per test; no run happens in between).
    return runs, fingerprints()


@pytest.fixture(scope="module")
def catalogue_runs(all_runs):
    """The catalogue cases' runs, by case."""
    runs, _after = all_runs
    return {case: result for (kind, case), result in runs.items() if kind == "case"}


@pytest.fixture(scope="module")
def after(all_runs) -> dict[str, str]:
    """The fingerprints of the nodes after every run of this module."""
    return all_runs[1]


def test_every_case_ran(catalogue_runs):
    """As many cases ran as there are case directories, and each produced a playbook result."""
    assert sorted(catalogue_runs) == CASES
    did_not_run = [case for case, (_rc, result, _stderr, _took) in catalogue_runs.items() if not result.get("plays")]
    assert not did_not_run, f"cases without a playbook run: {did_not_run}"


@pytest.mark.parametrize("case", CASES)
def test_invalid_inventory_fails_in_preflight(nodes, catalogue_runs, after, case):
    want = expect(case)
    rc, result, stderr, took = catalogue_runs[case]
    failed = failures(result)
    # (a) it failed, and in a preflight task.
    assert rc != 0, f"{case}: preflight passed ({took:.1f}s)"
    assert failed, f"{case}: rc {rc} but no failed task: {stderr[-1500:]}"
    assert all("/roles/preflight/tasks/" in path for path, _, _ in failed), failed
    # (b) one report, printed once, that lists exactly the rules the case breaks.
    assert len(failed) == 1, f"{case}: {len(failed)} failures instead of one report: {failed}"
    assert reported_rules(failed) == {want["rule"], *want.get("also", [])}, f"{case}: {failed[0][2]}"
    # (c) the message names the offending variable and the fix.
    messages = " ".join(msg for _, _, msg in failed)
    assert want["variable"] in messages, f"{case}: variable {want['variable']!r} not named: {messages}"
    assert want["fix"] in messages, f"{case}: fix {want['fix']!r} not given: {messages}"
    # (d) no node changed (the fingerprints are those after every run of this module).
    assert_nothing_changed(result, nodes, after)


@pytest.mark.parametrize("mode", list(VALID))
def test_valid_inventory_passes(nodes, all_runs, after, mode):
    rc, result, stderr, took = all_runs[0][("valid", mode)]
    assert rc == 0 and not failures(result), (
        f"valid inventory failed ({mode}, {took:.1f}s): {failures(result)} {stderr[-1500:]}"
    )
    hosts = {h for h in result["stats"] if h != "localhost"}
    assert hosts == {"orch-pf-t1", "orch-pf-t2", "orch-pf-t3"}, hosts
    assert_nothing_changed(result, nodes, after)


def test_example_inventory_passes_the_controller_rules(all_runs):
    """inventories/example passes every variable and inventory-wide rule. Its hosts cannot be
    reached here, so they are all pointed at this machine (connection local): only rules of the
    nodes may then fail, and the six "nodes" sharing one address must. The VRRP password comes from
    a vault in a real inventory; it is given here (EXAMPLE)."""
    rc, result, stderr, _took = all_runs[0][("example", "")]
    failed = failures(result)
    assert rc != 0 and len(failed) == 1, stderr[-1500:]
    found = reported_rules(failed)
    controller_rules = rules_of("variables.yml", "inventory.yml")
    assert "unique-address" in found and "node-name" in controller_rules, failed
    assert not found & controller_rules, f"controller-side rules failed: {found & controller_rules}"
