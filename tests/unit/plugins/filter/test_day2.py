# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The day2 filters: what they pass to the report logic and how bad input becomes a filter error."""

import json
import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orchestrator.platform.plugins.filter import day2

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "module_utils", "fixtures", "day2")
NOW = 1796018400.0


def inputs(name):
    with open(os.path.join(FIXTURES, "%s.json" % name)) as handle:
        return json.load(handle)["inputs"]


def test_filters_are_registered():
    assert sorted(day2.FilterModule().filters()) == [
        "day2_check",
        "day2_daily_checks",
        "day2_latest_backup",
        "day2_report",
        "day2_table",
    ]


def test_daily_report_and_table_through_the_filters():
    checks = day2.day2_daily_checks(inputs("daily-notready"), NOW, {"cert_warn_days": 10})
    report = day2.day2_report(checks, "daily", "lab", "2026-11-30T06:00:00Z")
    assert report["verdict"] == "fail" and report["needs_human"]
    assert "FAIL   nodes          node/w2: NotReady" in day2.day2_table(report)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: day2.day2_daily_checks([], NOW), "must be a dict"),
        (lambda: day2.day2_daily_checks({"nodes": []}, NOW, {"nope": 1}), "unknown option"),
        (lambda: day2.day2_check([], "pods"), "needs now"),
        (lambda: day2.day2_check([], "weather"), "unknown check"),
        (lambda: day2.day2_check({"nodes": []}, "resources"), "day2_check"),
        (lambda: day2.day2_check([{"kind": "Node"}], "nodes"), "no metadata"),
        (lambda: day2.day2_report([], "daily", fail_on="sometimes"), "fail_on"),
        (lambda: day2.day2_table({"verdict": "ok"}), "not a orchestrator.platform/maintenance-report"),
    ],
)
def test_bad_input_is_a_filter_error(call, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call()


def test_each_check_by_name():
    weekly = inputs("weekly-ok")
    assert day2.day2_check(weekly["vulnerability_reports"], "vulnerabilities")["status"] == "warn"
    assert day2.day2_check(weekly["resources"], "resources")["status"] == "ok"
    assert day2.day2_check(weekly["restore_test"], "restore_test")["status"] == "ok"
    assert day2.day2_check({"current": {"score": 90.0}}, "kube_bench")["status"] == "ok"
    daily = inputs("daily-expired-backup")
    assert day2.day2_check(daily, "backups", now=NOW)["status"] == "fail"
    assert day2.day2_check(daily["falco"], "falco", now=str(NOW))["status"] == "ok"
    policy = dict(
        inputs("policy-findings"),
        pod_security_default="restricted",
        pod_security_exemptions=[],
        admin_subjects_allowed=[],
    )
    assert day2.day2_check(policy, "policy")["status"] == "fail"
    assert day2.day2_latest_backup(daily["velero_backups"], "orchestrator") == "hourly-volumes-20261130053000"
