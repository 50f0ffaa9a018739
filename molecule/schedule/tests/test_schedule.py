"""The maintenance schedule under real systemd (molecule/schedule, one node playing the operations
host): timers listed with their next elapse, units verified by systemd-analyze, a run logged to its
file and to the journal with old logs pruned, two runs started together never overlap (lock), a
failed run stays failed and is reported to the webhook."""

import json
import re
import time
from datetime import datetime

PREFIX = "orchestrator-maintenance-"
ENABLED = ["daily", "weekly", "monthly"]
LOG_DIR = "/var/log/orchestrator-maintenance"
# Where the webhook recorder of prepare.yml appends the reports it receives (inside the node).
RECORDS = "/srv/webhook.jsonl"


def _wait_inactive(host, units, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = [host.run(f"systemctl is-active {u}").stdout.strip() for u in units]
        if all(s in ("inactive", "failed") for s in states):
            return states
        time.sleep(0.5)
    raise AssertionError(f"{units} still running after {timeout}s: {states}")


def _logs(host, job):
    out = host.check_output(f"find {LOG_DIR} -maxdepth 1 -name '{job}-*.log' | sort")
    return out.split()


def _stamp(line):
    return datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")


def _events(text):
    """(waiting, acquired, finished) times of one run's log."""
    found = {}
    for line in text.splitlines():
        for key, marker in (
            ("waiting", "waiting for the maintenance lock"),
            ("acquired", "lock acquired"),
            ("finished", "finished with exit status"),
        ):
            if marker in line:
                found[key] = _stamp(line)
    return found["waiting"], found["acquired"], found["finished"]


def test_timers_are_enabled_with_their_next_elapse(host):
    listing = host.check_output("systemctl list-timers --all --no-pager")
    for job, calendar in (
        ("daily", "*-*-* 06:00:00"),
        ("weekly", "Sun *-*-* 03:00:00"),
        ("monthly", "Sat *-*-01..07 02:00:00"),
    ):
        timer = f"{PREFIX}{job}.timer"
        assert timer in listing
        line = next(x for x in listing.splitlines() if timer in x)
        assert not line.startswith("n/a"), line  # the NEXT column holds a date
        assert host.run(f"systemctl is-enabled {timer}").stdout.strip() == "enabled"
        assert host.run(f"systemctl is-active {timer}").stdout.strip() == "active"
        props = host.check_output(
            f"systemctl show {timer} -p NextElapseUSecRealtime -p TimersCalendar -p Persistent -p RandomizedDelayUSec"
        )
        assert re.search(r"NextElapseUSecRealtime=\S+", props), props
        assert "Persistent=yes" in props and "RandomizedDelayUSec=15min" in props, props
        normalised = host.check_output(f"systemd-analyze calendar '{calendar}'")
        assert re.search(r"Normalized form: (.*)", normalised).group(1) in props, (props, normalised)
    # The disabled job keeps its units but its timer is neither enabled nor running.
    assert host.run(f"systemctl is-enabled {PREFIX}selftest-fail.timer").stdout.strip() == "disabled"
    assert host.run(f"systemctl is-active {PREFIX}selftest-fail.timer").stdout.strip() == "inactive"


def test_systemd_analyze_verify_accepts_the_units(host):
    units = " ".join(f"/etc/systemd/system/{PREFIX}{j}.{kind}" for j in ENABLED for kind in ("service", "timer"))
    result = host.run(f"systemd-analyze verify {units} /etc/systemd/system/orchestrator-maintenance-notify@.service")
    assert result.rc == 0, result.stderr
    assert "orchestrator-maintenance" not in result.stderr, result.stderr


def test_settings_files_are_private(host):
    for path in ("/etc/orchestrator-maintenance/maintenance.env", "/etc/orchestrator-maintenance/notify.env"):
        f = host.file(path)
        assert f.mode == 0o600 and f.user == "root", path
    assert "test-token-not-a-secret" in host.file("/etc/orchestrator-maintenance/notify.env").content_string


def test_a_run_logs_to_its_file_and_the_journal_and_prunes_old_logs(host):
    # Three old logs of the job: only the newest 2 (maintenance_schedule_log_keep) may survive the run.
    for day in ("01", "02", "03"):
        host.check_output(f"echo old > {LOG_DIR}/daily-200001{day}T000000.000Z.log")
    cursor = host.check_output("journalctl --show-cursor -n 0 --quiet | tail -1 | sed 's/^-- cursor: //'")
    result = host.run(f"systemctl start {PREFIX}daily.service")
    assert result.rc == 0, result.stderr
    show = host.check_output(f"systemctl show {PREFIX}daily.service -p Result -p ExecMainStatus")
    assert "Result=success" in show and "ExecMainStatus=0" in show, show
    logs = _logs(host, "daily")
    assert len(logs) == 2 and "daily-20000103T000000.000Z.log" in logs[0], logs
    text = host.file(logs[-1]).content_string
    # The unit's quoting reached ansible-playbook intact, and so did the environment file.
    assert "standin daily marker=[daily %h $HOME] env=[from-the-environment-file]" in text, text
    assert re.search(r"localhost\s+: ok=2 ", text), text
    assert "finished with exit status 0" in text
    journal = host.check_output(f"journalctl -u {PREFIX}daily.service --after-cursor '{cursor}' --no-pager -o cat")
    assert "standin daily marker=[daily %h $HOME]" in journal
    assert "finished with exit status 0" in journal


def test_two_runs_started_together_never_overlap(host):
    before = {job: set(_logs(host, job)) for job in ("daily", "weekly")}
    host.check_output(f"systemctl start --no-block {PREFIX}daily.service {PREFIX}weekly.service")
    states = _wait_inactive(host, [f"{PREFIX}daily.service", f"{PREFIX}weekly.service"])
    assert states == ["inactive", "inactive"], states
    runs = []
    for job in ("daily", "weekly"):
        new = sorted(set(_logs(host, job)) - before[job])
        assert len(new) == 1, (job, new)
        runs.append(_events(host.file(new[0]).content_string))
    first, second = sorted(runs, key=lambda r: r[1])
    # Both asked for the lock while the first one ran (a real race), yet the second acquired it only
    # after the first had finished.
    assert second[0] < first[2], (first, second)
    assert second[1] >= first[2], (first, second)
    assert (second[1] - second[0]).total_seconds() >= 2, (first, second)


def test_a_failed_run_stays_failed_and_is_reported(host):
    host.run(f"rm -f {RECORDS}")
    unit = f"{PREFIX}selftest-fail.service"
    result = host.run(f"systemctl start {unit}")
    assert result.rc != 0
    assert host.run(f"systemctl is-failed {unit}").stdout.strip() == "failed"
    assert unit in host.check_output("systemctl --failed --no-legend --plain --no-pager")
    assert "ExecMainStatus=2" in host.check_output(f"systemctl show {unit} -p ExecMainStatus")
    deadline = time.time() + 30
    while time.time() < deadline and not host.file(RECORDS).exists:
        time.sleep(0.5)
    records = [json.loads(x) for x in host.file(RECORDS).content_string.splitlines()]
    assert len(records) == 1, records
    record = records[0]
    assert record["path"] == "/hook"
    assert record["authorization"] == "Bearer test-token-not-a-secret"
    assert record["content_type"] == "application/json"
    assert record["body"]["unit"] == unit and record["body"]["result"] == "exit-code"
    assert record["body"]["exit_status"] == 2
    assert any("standin check failed" in line for line in record["body"]["journal_tail"]), record
    # The webhook token never appears in the unit, the journal or on a command line.
    assert "test-token" not in host.check_output(f"systemctl cat {unit} orchestrator-maintenance-notify@.service")
    assert "test-token" not in host.check_output("journalctl --no-pager -o cat -u 'orchestrator-maintenance*'")
    host.run(f"systemctl reset-failed {unit}")
