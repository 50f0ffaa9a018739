"""Conventions of the lifecycle roles and playbooks that a reviewer would otherwise check by eye:
argument specs equal to the defaults for every entry point, FQCN and tags on every task, no_log on
every task that sees the encryption key, serial and fail-fast settings of the ordering plays."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ["cluster_lifecycle", "encryption_rotation"]
CONTROL = {"name", "tags", "when", "loop", "loop_control", "register", "no_log", "run_once", "delegate_to",
           "changed_when", "failed_when", "check_mode", "vars", "notify", "become", "until", "retries", "delay",
           "block", "rescue", "always"}


def tasks(role: str):
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        stack = [(t, None, False) for t in yaml.safe_load(path.read_text()) or []]
        while stack:
            task, parent_tags, parent_no_log = stack.pop()
            tags = task.get("tags", parent_tags)
            no_log = task.get("no_log", parent_no_log)
            if "block" in task:
                stack.extend((t, tags, no_log) for part in ("block", "rescue", "always") for t in task.get(part, []))
                continue
            yield path.name, task, tags or [], no_log


@pytest.mark.parametrize("role", ROLES)
def test_every_entry_point_spec_matches_the_defaults(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    entry_points = {p.stem for p in (ROOT / "roles" / role / "tasks").glob("*.yml")}
    assert set(specs) == entry_points
    for entry in specs.values():
        assert set(entry["options"]) == set(defaults)
        for name, option in entry["options"].items():
            assert option["default"] == defaults[name], name
            assert option.get("description"), name


@pytest.mark.parametrize("role", ROLES)
def test_every_task_is_tagged_and_uses_fqcn(role):
    for filename, task, tags, _ in tasks(role):
        module = next(k for k in task if k not in CONTROL)
        assert module.startswith("ansible.builtin.") or module.count(".") >= 2, (filename, task["name"])
        if module.endswith(("include_role", "include_tasks")) and role not in tags:
            continue  # the included tasks carry their own tags
        kinds = {f"{role}_install", f"{role}_configure", f"{role}_service"}
        assert "always" in tags or (role in tags and kinds & set(tags)), (filename, task["name"], tags)


def test_tasks_that_see_the_encryption_key_have_no_log():
    """Every task whose result or arguments can hold key material (the files, the marker, the
    generated key, the objects read for the rewrite) hides them; assert/debug only print key names."""
    seeing = ("ansible.builtin.slurp", "ansible.builtin.copy", "ansible.builtin.set_fact", "ansible.builtin.command",
              "kubernetes.core.k8s_info", "kubernetes.core.k8s_json_patch")
    checked = 0
    for filename, task, _, no_log in tasks("encryption_rotation"):
        module = next(k for k in task if k not in CONTROL)
        text = yaml.safe_dump(task)
        if module in seeing and ("__encryption_rotation" in text or "encryption_rotation_config" in text):
            if module == "ansible.builtin.set_fact" and "__encryption_rotation_run" in task[module]:
                continue  # a boolean
            assert no_log is True, (filename, task["name"])
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize(("playbook", "serial_plays"), [
    ("upgrade.yml", ["the first control plane", "the other control planes", "the workers"]),
    ("rotate_certificates.yml", ["one control plane at a time"]),
    ("rotate_encryption_key.yml", ["phase 1", "phase 2", "phase 4"]),
])
def test_ordering_plays_are_serial_and_fail_fast(playbook, serial_plays):
    plays = yaml.safe_load((ROOT / "playbooks" / playbook).read_text())
    for fragment in serial_plays:
        play = next(p for p in plays if fragment in p["name"])
        assert play.get("serial") is not None, play["name"]
        if "workers" not in play["name"]:
            assert play["serial"] == 1, play["name"]
        assert play.get("any_errors_fatal") is True and play.get("max_fail_percentage") == 0, play["name"]


def _all_tasks(node, inherited_when=()):
    """Every task of a task list or play list, with the when conditions of its blocks and play."""
    for item in node or []:
        if not isinstance(item, dict):
            continue
        when = item.get("when", [])
        when = list(inherited_when) + (when if isinstance(when, list) else [when])
        parts = [k for k in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers") if k in item]
        if parts:
            for part in parts:
                yield from _all_tasks(item[part], when)
        else:
            yield item, when


def test_every_drain_and_uncordon_is_skipped_in_check_mode():
    """kubernetes.core.k8s_drain (6.x) cordons and evicts in check mode although it claims support:
    every use in the collection must be guarded by `not ansible_check_mode` (the playbooks report
    the plan instead; tests/functional/lifecycle/test_upgrade_remove_reset.py runs them with --check)."""
    files = sorted((ROOT / "roles").glob("*/tasks/*.yml")) + sorted((ROOT / "playbooks").rglob("*.yml"))
    found = 0
    for path in files:
        for task, when in _all_tasks(yaml.safe_load(path.read_text())):
            if "kubernetes.core.k8s_drain" in task:
                found += 1
                assert any("not ansible_check_mode" in str(w) for w in when), (str(path), task.get("name"))
    assert found >= 3
