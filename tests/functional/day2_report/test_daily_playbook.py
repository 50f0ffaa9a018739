"""playbooks/maintenance/daily.yml run for real on recorded API answers: verdict and exit code.

The playbook's only test seam is maintenance_recorded (a JSON file {recorded_at, inputs} read
instead of the cluster, see tasks/daily_gather.yml for what a real run reads). Everything after
it - the checks, the report files, the table, the failure when a human is needed - is what a
real run executes. The scenarios run concurrently (one ansible-playbook each).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from day2_support import FIXTURES, playbook

# scenario: (recorded file or builder, extra vars, expected rc, verdict, {check: status})
SCENARIOS = {
    "healthy": ("daily-healthy.json", {}, 0, "ok", {}),
    "notready": ("daily-notready.json", {}, 2, "fail", {"nodes": "fail"}),
    "crashloop": ("daily-crashloop.json", {}, 2, "fail", {"pods": "fail"}),
    "expired-backup": ("daily-expired-backup.json", {}, 2, "fail", {"backups": "fail"}),
    # a certificate 20 days from expiry: a warning, which pages only with maintenance_fail_on=warn
    "cert-warn": ("cert-warn", {}, 0, "warn", {"certificates": "warn"}),
    "cert-warn-paging": ("cert-warn", {"maintenance_fail_on": "warn"}, 2, "warn", {"certificates": "warn"}),
    # the API could not be read for one input: a failed check, never a silent pass
    "nodes-unreadable": ("nodes-unreadable", {}, 2, "fail", {"nodes": "fail"}),
    # a check switched off is not in the report
    "no-argocd": ("daily-healthy.json", {"maintenance_daily_checks": ["nodes", "pods", "backups"]}, 0, "ok", {}),
    # cp2's snapshot timer stopped 3 h ago: its last snapshot is young, the timer's state fails at once
    "stopped-timer": ("stopped-timer", {}, 2, "fail", {"backups": "fail"}),
    # an inventory without Falco, Argo CD and Velero: their checks (and Velero's part of backups) are off
    "no-platform-parts": (
        "daily-healthy.json",
        {"falco_enabled": False, "argocd_enabled": False, "velero_enabled": "false"},
        0,
        "ok",
        {},
    ),
    # Velero off and a recording made without it (no velero_backups at all): backups judges etcd alone
    "no-velero-recorded": ("no-velero-backups", {"velero_enabled": False}, 0, "ok", {}),
    # without Velero, old etcd snapshots still fail the backups check (and only they are named)
    "no-velero-expired": ("daily-expired-backup.json", {"velero_enabled": False}, 2, "fail", {"backups": "fail"}),
    # Velero on but its Backups unreadable: a failed check, never a silent pass
    "velero-unreadable": ("velero-unreadable", {}, 2, "fail", {"backups": "fail"}),
    # an explicit list wins over the platform switches
    "explicit-list-wins": (
        "daily-healthy.json",
        {
            "falco_enabled": False,
            "argocd_enabled": False,
            "maintenance_daily_checks": ["nodes", "applications", "falco"],
        },
        0,
        "ok",
        {},
    ),
}
ALL_DAILY = ["nodes", "pods", "certificates", "etcd", "applications", "falco", "backups"]
# The checks in the report where the scenario does not give maintenance_daily_checks: all of them,
# but for these scenarios.
CHECKS = {"no-platform-parts": ["nodes", "pods", "certificates", "etcd", "backups"]}


def _recorded(name: str, tmp: Path) -> Path:
    if name.endswith(".json"):
        return FIXTURES / name
    data = json.loads((FIXTURES / "daily-healthy.json").read_text())
    if name == "cert-warn":
        cert = data["inputs"]["certificates"][0]
        cert.update(days_left=20.0, status="warn")
    elif name == "stopped-timer":
        # what systemctl is-active / is-enabled answered on each control plane: cp2's timer was stopped
        for item in data["inputs"]["etcd_backup_metrics"]:
            active = "inactive" if item["host"] == "cp2" else "active"
            item["timer"] = {"unit": "etcd-backup.timer", "active": active, "enabled": "enabled", "error": ""}
    elif name == "no-velero-backups":
        del data["inputs"]["velero_backups"]
    elif name == "velero-unreadable":
        data["inputs"]["velero_backups"] = {
            "error": "Failed to find exact match for velero.io/v1.Backup by [kind, name, singularName, shortNames]"
        }
    elif name == "nodes-unreadable":
        data["inputs"]["nodes"] = {
            "error": "Failed to get client due to HTTPSConnectionPool(host='10.89.100.100', "
            "port=8443): Max retries exceeded"
        }
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def runs():
    tmp = Path(tempfile.mkdtemp(prefix="orch-rp-daily-", dir="/tmp"))
    procs = {}
    for name, (recorded, scenario_extra, *_rest) in SCENARIOS.items():
        extra = dict(
            scenario_extra,
            maintenance_recorded=str(_recorded(recorded, tmp)),
            maintenance_report_dir=str(tmp / name),
            cluster_name="lab",
        )
        procs[name] = playbook("playbooks/maintenance/daily.yml", tmp, extra)
    out = {}
    for name, proc in procs.items():
        rc = proc.wait(timeout=300)
        proc.log_file.close()
        out[name] = (rc, Path(proc.log_path).read_text(), tmp / name)
    yield out
    shutil.rmtree(tmp)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_verdict_and_exit_code(runs, scenario):
    _recorded_name, extra, rc_expected, verdict, statuses = SCENARIOS[scenario]
    rc, log, report_dir = runs[scenario]
    assert rc == rc_expected, log[-3000:]
    report = json.loads((report_dir / "daily-latest.json").read_text())
    assert report["format"] == "orchestrator.platform/maintenance-report"
    assert report["cluster"] == "lab" and report["kind"] == "daily"
    assert report["generated_at"] == "2026-11-30T06:00:00Z"
    assert report["verdict"] == verdict
    assert report["needs_human"] is (rc_expected != 0)
    got = {c["name"]: c["status"] for c in report["checks"]}
    wanted = extra.get("maintenance_daily_checks", CHECKS.get(scenario, ALL_DAILY))
    assert list(got) == wanted
    for name in wanted:
        assert got[name] == statuses.get(name, "ok"), (name, report["checks"])
    # the dated copy is the same report, the table says the same
    assert json.loads((report_dir / "daily-20261130T060000Z.json").read_text()) == report
    table = (report_dir / "daily-latest.txt").read_text()
    assert f"VERDICT: {verdict.upper()}" in table
    for check in report["checks"]:
        assert f"{check['status'].upper():6} {check['title']}" in table
    if rc_expected:
        assert "needs a human" in table
        assert "daily-latest.txt" in log  # the failure message points at the report


def test_findings_name_the_object(runs):
    def findings(name):
        report = json.loads((runs[name][2] / "daily-latest.json").read_text())
        return [(f["status"], f["object"]) for c in report["checks"] for f in c["findings"]]

    assert findings("healthy") == []
    assert findings("notready") == [("fail", "node/w2")]
    assert findings("crashloop") == [("fail", "pod/velero/velero-7f8b9c6d5-qk4rt")]
    assert ("fail", "etcd-backup") in findings("expired-backup")
    assert ("fail", "schedule/daily-cluster") in findings("expired-backup")
    assert findings("stopped-timer") == [("fail", "etcd-backup/cp2")]
    assert findings("no-platform-parts") == []
    assert findings("no-velero-recorded") == []
    assert findings("no-velero-expired") == [("fail", "etcd-backup")]  # no Velero schedule judged
    assert findings("velero-unreadable") == [("fail", "backups")]


def test_velero_switched_off_is_not_judged(runs):
    def backups(name):
        report = json.loads((runs[name][2] / "daily-latest.json").read_text())
        return next(c for c in report["checks"] if c["name"] == "backups")

    assert sorted(backups("healthy")["data"]["velero"]) == ["daily-cluster", "daily-offsite", "hourly-volumes"]
    for name in ("no-platform-parts", "no-velero-recorded", "no-velero-expired"):
        check = backups(name)
        assert check["data"]["velero"] == {}, check
        assert check["summary"].endswith("Velero schedules: -"), check
        assert sorted(check["data"]["etcd"]) == ["cp1", "cp2", "cp3"]
    message = backups("stopped-timer")["findings"][0]["message"]
    assert "etcd-backup.timer is not running (is-active: inactive)" in message, message
    assert "not gathered" in backups("velero-unreadable")["findings"][0]["message"]
