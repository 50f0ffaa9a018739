"""The runner /usr/local/sbin/orchestrator-maintenance (roles/maintenance_schedule), rendered from
its template and run here with a recording stand-in for ansible-playbook: the lock's give-up paths
(wait 0, a bounded wait that expires -> exit 75 without running the playbook), a wait that ends
when the lock is released, the playbook's exit status kept, arguments passed through untouched,
and log pruning. molecule/schedule covers the same runner under systemd (two units racing)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "roles/maintenance_schedule/templates/usr/local/sbin/orchestrator-maintenance.j2"
RENDER = """
- name: Render the maintenance runner
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Render it
      ansible.builtin.template:
        src: {src}
        dest: {dest}
        mode: "0755"
      vars:
        _maintenance_schedule_conf_dir: /etc/orchestrator-maintenance
"""
# STAND-IN for ansible-playbook: records its arguments, prints a line, exits with $STANDIN_RC.
STANDIN = """#!/bin/sh
printf '%s\\n' "$@" > "$STANDIN_ARGS"
echo "standin playbook output"
exit "${STANDIN_RC:-0}"
"""


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    out = tmp_path_factory.mktemp("runner")
    playbook = out / "render.yml"
    playbook.write_text(RENDER.format(src=TEMPLATE, dest=out / "orchestrator-maintenance"))
    run = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(playbook)], capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stdout[-3000:]
    standin = out / "ansible-playbook"
    standin.write_text(STANDIN)
    standin.chmod(0o755)
    return out


def _run(runner, tmp_path, *, wait, rc=0, keep=2, job="daily"):
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        MAINTENANCE_ANSIBLE_PLAYBOOK=str(runner / "ansible-playbook"),
        MAINTENANCE_INVENTORY="/srv/inventory",
        MAINTENANCE_LOG_DIR=str(logs),
        MAINTENANCE_LOG_KEEP=str(keep),
        MAINTENANCE_LOCK=str(tmp_path / "maintenance.lock"),
        MAINTENANCE_LOCK_WAIT=str(wait),
        STANDIN_ARGS=str(tmp_path / "args"),
        STANDIN_RC=str(rc),
    )
    start = time.monotonic()
    run = subprocess.run(
        [
            str(runner / "orchestrator-maintenance"),
            job,
            "/srv/playbooks/maintenance/daily.yml",
            "--extra-vars",
            "a=b c",
        ],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    return run, time.monotonic() - start, sorted(logs.glob(f"{job}-*.log"))


def _hold(lock, seconds):
    """Hold the lock from another process-level file description for `seconds`."""
    fd = os.open(lock, os.O_CREAT | os.O_WRONLY, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)

    def release():
        time.sleep(seconds)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def test_a_free_lock_runs_the_playbook_and_keeps_its_exit_status(runner, tmp_path):
    run, _, logs = _run(runner, tmp_path, wait=5, rc=3)
    assert run.returncode == 3
    args = (tmp_path / "args").read_text().splitlines()
    assert args == ["-i", "/srv/inventory", "/srv/playbooks/maintenance/daily.yml", "--extra-vars", "a=b c"]
    text = logs[-1].read_text()
    assert "lock acquired" in text and "standin playbook output" in text and "finished with exit status 3" in text
    assert text == run.stdout  # the journal (stdout) and the file get the same lines


def test_wait_zero_gives_up_at_once_without_running(runner, tmp_path):
    holder = _hold(tmp_path / "maintenance.lock", 3)
    run, took, logs = _run(runner, tmp_path, wait=0)
    holder.join()
    assert run.returncode == 75 and took < 2.5
    assert not (tmp_path / "args").exists()
    assert "lock not acquired" in logs[-1].read_text()


def test_a_bounded_wait_expires_with_exit_75(runner, tmp_path):
    holder = _hold(tmp_path / "maintenance.lock", 6)
    run, took, _ = _run(runner, tmp_path, wait=2)
    holder.join()
    assert run.returncode == 75 and 1.8 <= took < 5.5
    assert not (tmp_path / "args").exists()


def test_a_run_waits_for_the_lock_then_runs(runner, tmp_path):
    holder = _hold(tmp_path / "maintenance.lock", 2)
    run, took, _ = _run(runner, tmp_path, wait=30)
    holder.join()
    assert run.returncode == 0 and took >= 1.8
    assert (tmp_path / "args").exists()


def test_only_the_newest_logs_of_the_job_are_kept(runner, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    for day in ("01", "02", "03"):
        (logs / f"daily-200001{day}T000000.000Z.log").write_text("old\n")
    (logs / "weekly-20000101T000000.000Z.log").write_text("another job\n")
    run, _, kept = _run(runner, tmp_path, wait=5, keep=2)
    assert run.returncode == 0
    assert kept[0].name == "daily-20000103T000000.000Z.log" and len(kept) == 2
    assert (logs / "weekly-20000101T000000.000Z.log").exists()
