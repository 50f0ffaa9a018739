"""Conventions of the step 2-4 roles that a reviewer would otherwise check by eye: argument specs
equal to the defaults, tags on every task, no_log on every task that handles a kubeadm secret."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = ["kubeadm_config", "control_plane", "worker_join", "etcd_backup", "kubelet_serving_certs"]
SECRET_MARKERS = ("token create", "certificate-key", "kubeadm join", "kubeadm init", "__kubeadm_config_key",
                  "admin_kubeconfig", "__control_plane_join", "__worker_join_params", "etcd-backup.env")
NON_TASK_KEYS = {"name", "tags", "when", "loop", "loop_control", "register", "no_log", "run_once", "delegate_to",
                 "changed_when", "failed_when", "check_mode", "vars", "notify", "become", "ignore_unreachable",
                 "until", "retries", "delay", "listen", "block", "rescue", "always"}


def tasks(role: str):
    for path in sorted((ROOT / "roles" / role / "tasks").glob("*.yml")):
        stack = [(t, None) for t in yaml.safe_load(path.read_text()) or []]
        while stack:
            task, parent_tags = stack.pop()
            tags = task.get("tags", parent_tags)
            if "block" in task:
                stack.extend((t, tags) for part in ("block", "rescue", "always") for t in task.get(part, []))
                continue
            yield path.name, task, tags or []


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_match_the_defaults(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    assert set(specs["main"]["options"]) == set(defaults)
    for entry in specs.values():
        for name, option in entry["options"].items():
            assert option["default"] == defaults[name], name
            assert option.get("description"), name


@pytest.mark.parametrize("role", ROLES)
def test_every_task_is_tagged_and_uses_fqcn(role):
    for filename, task, tags in tasks(role):
        module = next(k for k in task if k not in NON_TASK_KEYS)
        assert module.startswith("ansible.builtin.") or module.count(".") >= 2, (filename, task["name"], module)
        assert "always" in tags or (
            role in tags and {f"{role}_install", f"{role}_configure", f"{role}_service"} & set(tags)
        ) or (filename != "main.yml" and role not in tags), (filename, task["name"], tags)


@pytest.mark.parametrize("role", ROLES)
def test_tasks_that_touch_secrets_have_no_log(role):
    for filename, task, _ in tasks(role):
        text = yaml.safe_dump(task)
        if task.get("ansible.builtin.assert") or task.get("ansible.builtin.fail"):
            continue
        if any(marker in text for marker in SECRET_MARKERS):
            if "kubeadm reset" in text and "kubeadm join" not in text:
                continue
            assert task.get("no_log") is True, (filename, task["name"])
