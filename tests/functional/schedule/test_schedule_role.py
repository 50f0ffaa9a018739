"""Static contract of roles/maintenance_schedule (what it does is tested for real in
molecule/schedule): the argument spec matches the defaults exactly, tasks are named, fully
qualified and tagged by the conventions, registered names carry the role prefix, and every task
that writes the run environment or the webhook settings is no_log and 0600."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "maintenance_schedule"
NAME = "maintenance_schedule"


def _load(rel):
    return yaml.safe_load((ROLE / rel).read_text())


def test_every_default_is_documented_with_its_default():
    defaults = _load("defaults/main.yml")
    options = _load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert name.startswith(NAME + "_"), name
        assert options[name]["default"] == value, name
        assert options[name]["description"], name
    job_options = options["maintenance_schedule_jobs"]["options"]
    for job in defaults["maintenance_schedule_jobs"]:
        assert set(job) <= set(job_options), job
    assert "Tested" in (ROLE / "README.md").read_text()


def test_tasks_are_named_tagged_and_fully_qualified():
    tasks = _load("tasks/main.yml") + _load("handlers/main.yml")
    for task in tasks:
        assert task.get("name"), task
        module = next(k for k in task if k.startswith("ansible."))
        assert module.count(".") == 2, module
        if task in _load("tasks/main.yml"):
            tags = set(task.get("tags", []))
            ok = tags == {"always"} or any(
                {NAME, f"{NAME}_{kind}"} <= tags for kind in ("install", "configure", "service")
            )
            assert ok, (task["name"], tags)
        if "register" in task:
            assert task["register"].startswith(f"__{NAME}_"), task["register"]


def test_settings_with_secrets_are_no_log_and_private():
    tasks = _load("tasks/main.yml")
    for src in ("maintenance.env.j2", "notify.env.j2"):
        task = next(t for t in tasks if str(t.get("ansible.builtin.template", {}).get("src", "")).endswith(src))
        assert task["no_log"] is True, src
        assert (
            task["ansible.builtin.template"]["mode"] == "0600" and task["ansible.builtin.template"]["owner"] == "root"
        )


PREFLIGHT = """
- name: Preflight of maintenance_schedule only
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: orchestrator.platform.maintenance_schedule
"""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, None),
        ({"maintenance_schedule_user": "no-such-user-here"}, "does not exist"),
        ({"maintenance_schedule_ansible_playbook": "/nonexistent/ansible-playbook"}, "is not an executable"),
        ({"maintenance_schedule_jobs": [{"name": "x", "playbook": "a.yml", "on_calendar": "Mon 25:00"}]}, "calendar"),
        (
            {"maintenance_schedule_jobs": [{"name": "Bad_Name", "playbook": "a.yml", "on_calendar": "daily"}]},
            "unique name",
        ),
        ({"maintenance_schedule_on_failure_webhook_url": "ftp://x"}, "http(s) URL"),
    ],
)
def test_preflight_refuses_what_cannot_work(tmp_path, overrides, message):
    """Only the preflight (tag always, check mode) runs on this machine: nothing is changed here."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(PREFLIGHT)
    values = {"maintenance_schedule_ansible_playbook": "/bin/true", "maintenance_schedule_user": "root", **overrides}
    (tmp_path / "vars.yml").write_text(yaml.safe_dump(values))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    run = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            str(playbook),
            "--tags",
            "always",
            "--check",
            "-e",
            f"@{tmp_path / 'vars.yml'}",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=120,
    )
    if message is None:
        assert run.returncode == 0, run.stdout[-3000:]
    else:
        assert run.returncode != 0 and message in run.stdout, run.stdout[-3000:]
