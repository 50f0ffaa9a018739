"""`site.yml --tags <step>` (issue 19 item 7): only the selected step's plays are loaded, with the
checks they carry (their roles' argument-spec validations and asserts, the cluster defaults), plus
step 0 (preflight) and the summary, which run with any tags. The always-tagged tasks of the other
steps (argument-spec validations, asserts, fact gathering, the package read of step 1) are neither
listed nor run. Role-level tags select the step of their role; --skip-tags <step> leaves it out.
Checked with --list-tasks on an inventory of local hosts (nothing is contacted)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"
ALWAYS_THERE = {"preflight", "summary"}
INVENTORY = """
cluster:
  children:
    control_plane:
      hosts:
        cp1:
    workers:
      hosts:
        w1:
  vars:
    ansible_connection: local
"""


def _steps():
    """step tag -> playbook, from site.yml's imports of NN_*.yml (the step playbooks' play tags)."""
    steps = {}
    for entry in yaml.safe_load((PLAYBOOKS / "site.yml").read_text()):
        match = re.search(r"(\d\d_[a-z_]+\.yml)", entry["ansible.builtin.import_playbook"])
        if match and not match.group(1).startswith("00_"):
            tags = {tag for play in yaml.safe_load((PLAYBOOKS / match.group(1)).read_text()) for tag in play["tags"]}
            assert len(tags) == 1, (match.group(1), tags)
            steps[tags.pop()] = match.group(1)
    return steps


STEPS = _steps()


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    path.write_text(INVENTORY)
    return path


def _plays(inventory, *options):
    """[(play tags, [task lines])] of `ansible-playbook site.yml --list-tasks <options>`."""
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(PLAYBOOKS / "site.yml"), "--list-tasks", *options],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=600, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plays = []
    for line in result.stdout.splitlines():
        play = re.match(r"^\s+play #\d+ \(.*?\): .*\tTAGS: \[(.*)\]$", line)
        if play:
            plays.append(({t.strip() for t in play.group(1).split(",") if t.strip()}, []))
        elif plays and "\tTAGS: [" in line:
            plays[-1][1].append(line.strip())
    assert plays, result.stdout[-3000:]
    return plays


def _task_tags(line):
    return {t.strip() for t in line.rsplit("TAGS: [", 1)[1].rstrip("]").split(",")}


def _steps_listed(plays):
    """The step tags of the plays listed with at least one task."""
    return {tag for tags, tasks in plays if tasks for tag in tags if tag in STEPS}


def test_site_imports_the_twelve_steps_through_the_selection():
    steps = sorted(p.name for p in PLAYBOOKS.glob("[01][0-9]_*.yml") if not p.name.startswith("00_"))
    assert sorted(STEPS.values()) == steps
    assert len(STEPS) == 12


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_step_tag_lists_only_that_step_and_the_checks_it_needs(inventory, step):
    plays = _plays(inventory, "--tags", step)
    assert _steps_listed(plays) == {step}
    for tags, tasks in plays:
        if tasks:
            assert tags & ({step} | ALWAYS_THERE), (tags, tasks[:3])
    own = [task for tags, tasks in plays if step in tags for task in tasks]
    assert own, f"step {step} lists no task"
    # The step's own checks come with it: its roles' argument-spec validations (tagged always).
    assert any("Validating arguments against arg spec" in task for task in own), own[:5]


@pytest.mark.parametrize(("tag", "step"), [("calico_configure", "network"), ("node_prep", "prepare_nodes"),
                                           ("etcd_backup_configure", "join_control_plane")])
def test_a_role_tag_selects_the_step_of_its_role(inventory, tag, step):
    plays = _plays(inventory, "--tags", tag)
    assert _steps_listed(plays) == {step}
    listed = [task for tags, tasks in plays if step in tags for task in tasks]
    assert any(tag in _task_tags(task) for task in listed), listed[:5]


def test_without_tags_every_step_is_listed_and_skip_tags_leaves_one_out(inventory):
    assert _steps_listed(_plays(inventory)) == set(STEPS)
    assert _steps_listed(_plays(inventory, "--skip-tags", "network")) == set(STEPS) - {"network"}
