# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The day-2 report logic, on recorded answers (fixtures/day2, see
tests/functional/day2_report/make_fixtures.py) and on one changed field at a time."""

import copy
import json
import os

import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils import _day2_report as d

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "day2")
NOW = 1796018400.0  # 2026-11-30T06:00:00Z, the recorded_at of the fixtures
OPTS = d.options()


def recorded(name):
    with open(os.path.join(FIXTURES, "daily-%s.json" % name)) as handle:
        data = json.load(handle)
    assert data["recorded_at"] == NOW
    return data["inputs"]


@pytest.fixture(name="healthy")
def _healthy():
    return recorded("healthy")


def statuses(checks):
    return {c["name"]: c["status"] for c in checks}


@pytest.mark.parametrize(
    "scenario, expected",
    [
        ("healthy", {}),
        ("notready", {"nodes": "fail"}),
        ("crashloop", {"pods": "fail"}),
        ("expired-backup", {"backups": "fail"}),
    ],
)
def test_recorded_scenarios(scenario, expected):
    checks = d.daily_checks(recorded(scenario), {}, NOW)
    want = dict.fromkeys(d.DAILY, "ok")
    want.update(expected)
    assert statuses(checks) == want
    rep = d.report(checks, "daily")
    assert rep["verdict"] == ("fail" if expected else "ok")
    assert rep["needs_human"] is bool(expected)


def test_daily_checks_needs_the_time(healthy):
    with pytest.raises(d.ReportError):
        d.daily_checks(healthy, {}, None)


def test_unknown_option_is_refused():
    with pytest.raises(d.ReportError, match="unknown option"):
        d.options({"cert_warn_dayz": 3})


def test_absent_key_switches_a_check_off_and_error_fails_it(healthy):
    inputs = {"nodes": {"error": "connection refused"}, "pods": healthy["pods"]}
    checks = d.daily_checks(inputs, {}, NOW)
    assert statuses(checks) == {"nodes": "fail", "pods": "ok"}
    assert "connection refused" in checks[0]["findings"][0]["message"]


# ---------------------------------------------------------------- nodes


def _node(healthy, name):
    return copy.deepcopy(next(n for n in healthy["nodes"] if n["metadata"]["name"] == name))


@pytest.mark.parametrize(
    "change, status, text",
    [
        ({"Ready": ("False", "KubeletNotReady", "container runtime is down")}, "fail", "NotReady"),
        ({"Ready": ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")}, "fail", "Unknown"),
        ({"DiskPressure": ("True", "KubeletHasDiskPressure", "disk is full")}, "warn", "DiskPressure"),
        ({"MemoryPressure": ("True", "KubeletHasInsufficientMemory", "low")}, "warn", "MemoryPressure"),
        ({}, "ok", ""),
    ],
)
def test_node_conditions(healthy, change, status, text):
    node = _node(healthy, "w1")
    for cond in node["status"]["conditions"]:
        if cond["type"] in change:
            cond["status"], cond["reason"], cond["message"] = change[cond["type"]]
    result = d.check_nodes([node], OPTS)
    assert result["status"] == status
    assert all(text in f["message"] for f in result["findings"])


def test_cordoned_node_warns_and_no_node_fails(healthy):
    node = _node(healthy, "w1")
    node["spec"]["unschedulable"] = True
    assert d.check_nodes([node], OPTS)["status"] == "warn"
    assert d.check_nodes([], OPTS)["status"] == "fail"
    no_ready = _node(healthy, "w1")
    no_ready["status"]["conditions"] = [c for c in no_ready["status"]["conditions"] if c["type"] != "Ready"]
    assert d.check_nodes([no_ready], OPTS)["status"] == "fail"


# ---------------------------------------------------------------- pods


def _pod(healthy, name="velero-7f8b9c6d5-qk4rt"):
    return copy.deepcopy(next(p for p in healthy["pods"] if p["metadata"]["name"] == name))


def _iso(seconds_ago):
    return d.iso(NOW - seconds_ago)


@pytest.mark.parametrize(
    "state, last, restarts, status",
    [
        (
            {"waiting": {"reason": "CrashLoopBackOff"}},
            {"exitCode": 1, "reason": "Error", "finishedAt": _iso(60)},
            9,
            "fail",
        ),
        ({"waiting": {"reason": "ImagePullBackOff"}}, {}, 0, "fail"),
        ({"waiting": {"reason": "CreateContainerConfigError"}}, {}, 0, "fail"),
        # restarted often, the last one 2 hours ago: a warning; 3 days ago: history, not a finding
        (
            {"running": {"startedAt": _iso(7000)}},
            {"exitCode": 137, "reason": "OOMKilled", "finishedAt": _iso(7200)},
            5,
            "warn",
        ),
        (
            {"running": {"startedAt": _iso(259000)}},
            {"exitCode": 137, "reason": "OOMKilled", "finishedAt": _iso(259200)},
            5,
            "ok",
        ),
        # restarted twice recently: under pod_restart_warn
        ({"running": {"startedAt": _iso(100)}}, {"exitCode": 1, "reason": "Error", "finishedAt": _iso(120)}, 2, "ok"),
    ],
)
def test_container_states(healthy, state, last, restarts, status):
    pod = _pod(healthy)
    cs = pod["status"]["containerStatuses"][0]
    cs.update(state=state, lastState={"terminated": last} if last else {}, restartCount=restarts)
    result = d.check_pods([pod], OPTS, NOW)
    assert result["status"] == status, result
    assert result["data"]["restarts"] == restarts


def test_init_container_crash_loop_is_seen(healthy):
    pod = _pod(healthy)
    pod["status"]["phase"] = "Pending"
    pod["status"]["initContainerStatuses"] = [
        {
            "name": "init",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {},
        }
    ]
    result = d.check_pods([pod], OPTS, NOW)
    assert result["status"] == "fail" and "init" in result["findings"][0]["message"]


@pytest.mark.parametrize(
    "phase, started_ago, status",
    [
        ("Pending", 60, "ok"),  # just scheduled
        ("Pending", 3600, "fail"),  # stuck for an hour
        ("Unknown", 60, "fail"),
        ("Failed", 60, "warn"),
        ("Succeeded", 60, "ok"),  # a finished Job pod
    ],
)
def test_pod_phases(healthy, phase, started_ago, status):
    pod = _pod(healthy)
    pod["status"].update(phase=phase, startTime=_iso(started_ago))
    assert d.check_pods([pod], OPTS, NOW)["status"] == status


@pytest.mark.parametrize("since, status", [(300, "ok"), (3600, "warn")])
def test_running_but_unready(healthy, since, status):
    pod = _pod(healthy)
    for cond in pod["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.update(status="False", lastTransitionTime=_iso(since))
    assert d.check_pods([pod], OPTS, NOW)["status"] == status


# ---------------------------------------------------------------- applications


@pytest.mark.parametrize(
    "sync, health, operation, status",
    [
        ("Synced", "Healthy", "Succeeded", "ok"),
        ("OutOfSync", "Healthy", "Succeeded", "warn"),
        ("Synced", "Progressing", "Running", "warn"),
        ("Synced", "Degraded", "Succeeded", "fail"),
        ("Synced", "Missing", "Succeeded", "fail"),
        ("OutOfSync", "Healthy", "Failed", "fail"),
        ("Unknown", "Unknown", "Error", "fail"),
    ],
)
def test_applications(healthy, sync, health, operation, status):
    app = copy.deepcopy(healthy["applications"][0])
    app["status"]["sync"]["status"] = sync
    app["status"]["health"]["status"] = health
    app["status"]["operationState"]["phase"] = operation
    assert d.check_applications([app], OPTS)["status"] == status


# ---------------------------------------------------------------- falco


def _event(priority, rule="Terminal shell in container", seconds_ago=600, host="w1"):
    when = d.iso(NOW - seconds_ago).replace("Z", ".123456789Z")
    return json.dumps(
        {
            "hostname": host,
            "output": "%s shell spawned" % priority,
            "priority": priority,
            "rule": rule,
            "source": "syscall",
            "tags": ["container", "shell"],
            "time": when,
            "output_fields": {},
        }
    )


@pytest.mark.parametrize(
    "priority, status",
    [
        ("Emergency", "fail"),
        ("Alert", "fail"),
        ("Critical", "fail"),
        ("Error", "warn"),
        ("Warning", "warn"),
        ("Notice", "ok"),
        ("Informational", "ok"),
        ("Debug", "ok"),
    ],
)
def test_falco_priorities(priority, status):
    result = d.check_falco(["Falco version: 0.41.3 (x86_64)", _event(priority)], OPTS, NOW)
    assert result["status"] == status
    assert result["data"]["alerts"] == 1


def test_falco_window_and_grouping():
    lines = [
        _event("Critical", seconds_ago=2 * 86400),  # older than a day: not counted
        _event("Warning", rule="Read sensitive file untrusted", host="w1"),
        _event("Warning", rule="Read sensitive file untrusted", host="w2"),
        "not json {",
        "",
    ]
    result = d.check_falco(lines, OPTS, NOW)
    assert result["status"] == "warn"
    assert result["data"]["rules"] == [
        {
            "rule": "Read sensitive file untrusted",
            "count": 2,
            "priority": "Warning",
            "hosts": ["w1", "w2"],
            "status": "warn",
        }
    ]
    # parsed events are accepted as well as log lines
    assert d.check_falco([json.loads(_event("Critical"))], OPTS, NOW)["status"] == "fail"
    # the fail threshold is an option
    assert d.check_falco([_event("Critical")], d.options({"falco_fail_priority": "Emergency"}), NOW)["status"] == "warn"


# ---------------------------------------------------------------- etcd


def _members(healthy):
    return copy.deepcopy(healthy["etcd"])


def test_etcd_recorded_is_ok(healthy):
    result = d.check_etcd(_members(healthy), OPTS)
    assert result["status"] == "ok"
    assert result["data"]["db_size_bytes"]["cp1"] == 61931520


@pytest.mark.parametrize("ratio, status", [(0.5, "ok"), (0.85, "warn"), (0.96, "fail")])
def test_etcd_database_against_quota(healthy, ratio, status):
    members = _members(healthy)
    size = int(ratio * OPTS["etcd_quota_bytes"])
    st = members[0]["status"][0]["Status"]
    st.update(dbSize=size, dbSizeInUse=size)
    assert d.check_etcd(members, OPTS)["status"] == status


def test_etcd_fragmentation_warns(healthy):
    members = _members(healthy)
    members[1]["status"][0]["Status"].update(dbSize=800 * 2**20, dbSizeInUse=200 * 2**20)
    result = d.check_etcd(members, OPTS)
    assert result["status"] == "warn" and "defragment" in result["findings"][0]["message"]


def test_etcd_member_failures(healthy):
    members = _members(healthy)
    members[0]["status"][0]["Status"]["errors"] = ["memberID:123 alarm:NOSPACE "]
    result = d.check_etcd(members, OPTS)
    assert result["status"] == "fail" and result["data"]["healthy"] == 2
    members[1] = {"host": "cp2", "health": [], "status": [], "error": "context deadline exceeded"}
    result = d.check_etcd(members, OPTS)
    assert result["data"]["healthy"] == 1
    assert any("quorum" in f["message"] for f in result["findings"])


def test_etcd_unhealthy_no_leader_split(healthy):
    members = _members(healthy)
    members[0]["health"][0].update(health=False, error="etcdserver: request timed out")
    members[1]["status"][0]["Status"]["leader"] = 0
    members[2]["status"][0]["Status"]["leader"] = 42
    messages = [f["message"] for f in d.check_etcd(members, OPTS)["findings"]]
    assert any("unhealthy" in m for m in messages)
    assert any("no leader" in m for m in messages)
    assert any("different leaders" in m for m in messages)


def test_etcd_expected_members(healthy):
    members = _members(healthy)[:2]
    assert d.check_etcd(members, OPTS)["status"] == "ok"
    result = d.check_etcd(members[:1], d.options({"etcd_expected_members": 3}))
    assert result["status"] == "fail"


# ---------------------------------------------------------------- certificates


@pytest.mark.parametrize(
    "days, status",
    [(-1.5, "fail"), (0.2, "fail"), (6.9, "fail"), (7.0, "warn"), (29.9, "warn"), (30.0, "ok"), (3000, "ok")],
)
def test_certificate_horizons(healthy, days, status):
    cert = dict(healthy["certificates"][0], days_left=days)
    result = d.check_certificates([cert], OPTS)
    assert result["status"] == status
    if days < 0:
        assert "EXPIRED" in result["findings"][0]["message"]


def test_certificate_errors_and_nothing_read(healthy):
    broken = {"host": "cp1", "path": "/etc/kubernetes/pki/apiserver.crt", "error": "not base64", "status": "fail"}
    assert d.check_certificates([broken], OPTS)["status"] == "fail"
    assert d.check_certificates([], OPTS)["status"] == "fail"
    assert d.check_certificates(healthy["certificates"], d.options({"cert_warn_days": 90}))["status"] == "warn"


# ---------------------------------------------------------------- backups


@pytest.mark.parametrize(
    "text, value",
    [
        ("orchestrator_etcd_backup_last_success_timestamp_seconds 1796011200\n", 1796011200.0),
        ('orchestrator_etcd_backup_last_success_timestamp_seconds{node="cp1"} 1.7960112e+09\n', 1796011200.0),
        ("# HELP x\norchestrator_etcd_backup_last_success_timestamp_seconds 1796011200 1796011200000\n", 1796011200.0),
        ("orchestrator_etcd_backup_last_success_timestamp_seconds_total 5\n", None),
        ("", None),
    ],
)
def test_backup_metric(text, value):
    assert d.backup_metric(text) == value


def test_etcd_backup_ages(healthy):
    metrics = copy.deepcopy(healthy["etcd_backup_metrics"])
    assert d.check_backups(metrics, None, OPTS, NOW)["status"] == "ok"
    metrics[2]["text"] = ""  # one control plane's timer never wrote the metric
    result = d.check_backups(metrics, None, OPTS, NOW)
    assert result["status"] == "warn" and result["findings"][0]["object"] == "etcd-backup/cp3"
    result = d.check_backups([{"host": "cp1", "text": ""}], None, OPTS, NOW)
    assert result["status"] == "fail" and "no orchestrator_etcd_backup" in result["findings"][0]["message"]


def _with_timers(healthy, **states):
    """The recorded metrics of cp1..cp3, each with the timer state systemctl answered (active and
    enabled unless states names the host: {host: (is-active, is-enabled)})."""
    metrics = copy.deepcopy(healthy["etcd_backup_metrics"])
    for item in metrics:
        active, enabled = states.get(item["host"], ("active", "enabled"))
        item["timer"] = {"unit": "etcd-backup.timer", "active": active, "enabled": enabled, "error": ""}
    return metrics


def test_a_running_enabled_timer_is_no_finding(healthy):
    result = d.check_backups(_with_timers(healthy), None, OPTS, NOW)
    assert result["status"] == "ok" and result["findings"] == []


@pytest.mark.parametrize(
    "state, said",
    [
        (("inactive", "enabled"), "not running (is-active: inactive)"),
        (("failed", "enabled"), "not running (is-active: failed)"),
        (("active", "disabled"), "not enabled at boot (is-enabled: disabled)"),
        (("inactive", "disabled"), "not running (is-active: inactive) and not enabled at boot (is-enabled: disabled)"),
    ],
)
def test_a_stopped_or_disabled_timer_fails_at_once(healthy, state, said):
    # cp2's last snapshot is 3 h old, well within the 13 h limit: only the timer's state says it stopped
    result = d.check_backups(_with_timers(healthy, cp2=state), None, OPTS, NOW)
    assert result["status"] == "fail"
    assert [(f["status"], f["object"]) for f in result["findings"]] == [("fail", "etcd-backup/cp2")]
    message = result["findings"][0]["message"]
    assert "etcd-backup.timer" in message and said in message, message


def test_an_unreadable_timer_fails_with_what_systemctl_said(healthy):
    metrics = _with_timers(healthy)
    metrics[0]["timer"] = {
        "unit": "etcd-backup.timer",
        "active": "",
        "enabled": "",
        "error": "Failed to connect to bus: Host is down",
    }
    result = d.check_backups(metrics, None, OPTS, NOW)
    assert [(f["status"], f["object"]) for f in result["findings"]] == [("fail", "etcd-backup/cp1")]
    assert "is-active: unknown" in result["findings"][0]["message"]
    assert "Failed to connect to bus" in result["findings"][0]["message"]


def test_a_recording_without_the_timer_state_is_not_judged_on_it(healthy):
    metrics = copy.deepcopy(healthy["etcd_backup_metrics"])
    assert all("timer" not in item for item in metrics)  # recorded before the timer was read
    assert d.check_backups(metrics, None, OPTS, NOW)["findings"] == []
    metrics[1]["timer"] = None  # maintenance_etcd_backup_timer empty: not read
    assert d.check_backups(metrics, None, OPTS, NOW)["findings"] == []


def test_a_stopped_timer_is_named_beside_an_old_snapshot(healthy):
    metrics = _with_timers(healthy, cp1=("inactive", "enabled"))
    for item in metrics:
        item["text"] = "orchestrator_etcd_backup_last_success_timestamp_seconds %d\n" % (NOW - 3600 * 20)
    found = [(f["status"], f["object"]) for f in d.check_backups(metrics, None, OPTS, NOW)["findings"]]
    assert found == [("fail", "etcd-backup"), ("fail", "etcd-backup/cp1")]


def test_velero_switched_off_judges_etcd_alone(healthy):
    inputs = {k: v for k, v in healthy.items() if k != "velero_backups"}
    (backups,) = [c for c in d.daily_checks(inputs, {}, NOW) if c["name"] == "backups"]
    assert backups["status"] == "ok" and backups["data"]["velero"] == {}
    assert "Velero schedules: -" in backups["summary"]
    # an unreadable Velero is still a failed check (the key is there, with the error)
    inputs["velero_backups"] = {"error": "the server could not find the requested resource"}
    (backups,) = [c for c in d.daily_checks(inputs, {}, NOW) if c["name"] == "backups"]
    assert backups["status"] == "fail" and "not gathered" in backups["findings"][0]["message"]


def test_velero_backup_ages(healthy):
    backups = copy.deepcopy(healthy["velero_backups"])
    assert d.check_backups(None, backups, OPTS, NOW)["status"] == "ok"
    # every hourly-volumes backup failed: no Completed one
    for b in backups:
        if b["metadata"]["labels"]["velero.io/schedule-name"] == "hourly-volumes":
            b["status"]["phase"] = "PartiallyFailed"
            del b["status"]["completionTimestamp"]
    result = d.check_backups(None, backups, OPTS, NOW)
    assert result["status"] == "fail"
    assert ("fail", "schedule/hourly-volumes") in [(f["status"], f["object"]) for f in result["findings"]]
    assert d.check_backups(None, [], OPTS, NOW)["status"] == "fail"


def test_manual_backups_do_not_count_as_a_schedule(healthy):
    manual = copy.deepcopy(healthy["velero_backups"][0])
    del manual["metadata"]["labels"]["velero.io/schedule-name"]
    manual["status"]["phase"] = "Failed"
    result = d.check_backups(None, [*healthy["velero_backups"], manual], OPTS, NOW)
    assert result["status"] == "ok" and "(manual)" in result["data"]["velero"]


# ---------------------------------------------------------------- parsing helpers


@pytest.mark.parametrize(
    "text, epoch",
    [
        ("2026-11-30T06:00:00Z", NOW),
        ("2026-11-30T05:59:59.999999999Z", NOW - 1e-9),
        ("2026-11-30T07:00:00+01:00", NOW),
        ("2026-11-30T04:30:00-0130", NOW),
        (None, None),
    ],
)
def test_parse_time(text, epoch):
    got = d.parse_time(text)
    assert got == epoch if epoch is None else abs(got - epoch) < 1e-6


@pytest.mark.parametrize(
    "text, value",
    [
        ("250m", 0.25),
        ("2", 2.0),
        ("123456789n", 0.123456789),
        ("1Gi", 2**30),
        ("512Mi", 512 * 2**20),
        ("1.5G", 1.5e9),
        ("7926152Ki", 7926152 * 1024),
        (None, 0.0),
    ],
)
def test_quantity(text, value):
    assert d.quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01"])
def test_bad_input_is_refused(bad):
    with pytest.raises((d.ReportError, ValueError)):
        d.parse_time(bad)
    with pytest.raises(d.ReportError):
        d.quantity("lots")


# ---------------------------------------------------------------- report and table


def test_report_verdict_and_fail_on(healthy):
    checks = d.daily_checks(healthy, {}, NOW)
    checks[5] = d.check_falco([_event("Warning")], OPTS, NOW)
    rep = d.report(checks, "daily", "lab", "2026-11-30T06:00:00Z")
    assert (rep["verdict"], rep["needs_human"], rep["counts"]) == ("warn", False, {"ok": 6, "warn": 1, "fail": 0})
    assert d.report(checks, "daily", fail_on="warn")["needs_human"] is True
    with pytest.raises(d.ReportError):
        d.report(checks, "daily", fail_on="never")
    table = d.table(rep)
    assert table.splitlines()[1] == "VERDICT: WARN"
    assert "WARN   falco          rule/Terminal shell in container" in table
    assert table.count("\n") == 3 + 1 + len(checks) + 2 + 1


def test_report_refuses_non_checks():
    with pytest.raises(d.ReportError):
        d.report([{"name": "x", "status": "bad"}], "daily")


# ---------------------------------------------------------------- weekly


def recorded_file(name):
    with open(os.path.join(FIXTURES, "%s.json" % name)) as handle:
        return json.load(handle)["inputs"]


@pytest.fixture(name="weekly")
def _weekly():
    return recorded_file("weekly-ok")


def test_vulnerability_summary(weekly):
    result = d.check_vulnerabilities(weekly["vulnerability_reports"], OPTS)
    assert result["status"] == "warn"  # a critical without a fix: nothing to do but watch
    assert result["data"]["totals"] == {"critical": 1, "high": 1, "medium": 2, "low": 5, "unknown": 0}
    assert result["data"]["images"][0]["image"] == "registry.example.com/orchestrator/marathon:1.12.0"
    regressed = recorded_file("weekly-regressed")["vulnerability_reports"]
    result = d.check_vulnerabilities(regressed, OPTS)
    assert result["status"] == "fail"
    assert result["data"]["images"][1]["fixable_critical"] == ["CVE-2026-20002"] or result["data"]["images"][0][
        "fixable_critical"
    ] == ["CVE-2026-20002"]
    assert d.check_vulnerabilities(regressed, d.options({"trivy_fail_fixable_critical": False}))["status"] == "warn"
    assert d.check_vulnerabilities([], OPTS)["status"] == "ok"


def test_resources_numbers(weekly):
    res = weekly["resources"]
    result = d.check_resources(res["nodes"], res["pods"], res["node_metrics"], res["pod_metrics"], OPTS)
    assert result["status"] == "ok"
    cp1 = result["data"]["nodes"]["cp1"]
    assert cp1["cpu_allocatable"] == 4.0
    assert cp1["cpu_usage"] == pytest.approx(0.85)
    # four static pods and kube-proxy, calico-node, falco on cp1: 7 containers of 100m each
    assert cp1["cpu_requests"] == pytest.approx(0.7)
    kube_system = result["data"]["namespaces"]["kube-system"]
    assert kube_system["cpu_usage"] == pytest.approx(19 * 0.061234567)


def test_resources_findings(weekly):
    res = copy.deepcopy(weekly["resources"])
    for metric in res["node_metrics"]:
        if metric["metadata"]["name"] == "w1":
            metric["usage"]["memory"] = "16000000Ki"  # 98 % of allocatable
    res["node_metrics"] = [m for m in res["node_metrics"] if m["metadata"]["name"] != "w2"]
    for pod in res["pods"]:
        if pod["metadata"]["namespace"] == "argocd":
            del pod["spec"]["containers"][0]["resources"]
    result = d.check_resources(res["nodes"], res["pods"], res["node_metrics"], res["pod_metrics"], OPTS)
    messages = {(f["object"], f["message"].split(" (")[0]) for f in result["findings"]}
    assert ("node/w1", "memory usage is 98% of allocatable") in messages
    assert ("node/w2", "no NodeMetrics") in messages
    assert ("namespace/argocd", "1 running pod(s) without cpu or memory requests") in messages
    assert result["status"] == "warn"


def test_restore_identical_despite_server_fields(weekly):
    result = d.check_restore(**weekly["restore_test"])
    assert result["status"] == "ok" and result["data"]["compared"] == 7


@pytest.mark.parametrize(
    "change, obj, message",
    [
        (lambda objs: [o for o in objs if o["kind"] != "Secret"], "secret/restore-canary", "not restored"),
        (
            lambda objs: [dict(o, data={"probe": "Y2hhbmdlZA=="}) if o["kind"] == "Secret" else o for o in objs],
            "secret/restore-canary",
            "restored with different content",
        ),
        (
            lambda objs: [dict(o, rules=[]) if o["kind"] == "Role" else o for o in objs],
            "role/restore-canary",
            "restored with different content",
        ),
        (
            lambda objs: [*objs, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stray"}}],
            "configmap/stray",
            "in the restore but not in the source",
        ),
    ],
)
def test_restore_differences(weekly, change, obj, message):
    data = copy.deepcopy(weekly["restore_test"])
    data["restored"] = change(data["restored"])
    result = d.check_restore(**data)
    assert (obj, message) in [(f["object"], f["message"]) for f in result["findings"]]


def test_restore_namespace_mapping_is_compared(weekly):
    """A RoleBinding whose subject still points at the source namespace is a difference."""
    data = copy.deepcopy(weekly["restore_test"])
    for obj in data["restored"]:
        if obj["kind"] == "RoleBinding":
            obj["subjects"][0]["namespace"] = "maintenance-restore-canary"
    assert d.check_restore(**data)["status"] == "fail"


def test_restore_phase_and_empty_source(weekly):
    data = copy.deepcopy(weekly["restore_test"])
    data["restore"]["status"]["phase"] = "PartiallyFailed"
    assert d.check_restore(**data)["status"] == "fail"
    assert d.check_restore([], [], None)["status"] == "fail"


def test_object_digest_ignores_only_server_fields(weekly):
    source = weekly["restore_test"]["source"]
    service = next(o for o in source if o["kind"] == "Service")
    moved = copy.deepcopy(service)
    moved["metadata"].update(
        uid="x", resourceVersion="1", namespace="elsewhere", creationTimestamp="2020-01-01T00:00:00Z"
    )
    moved["spec"]["clusterIP"] = "10.96.0.99"
    moved["status"] = {}
    assert d.object_digest(moved) == d.object_digest(service)
    moved["spec"]["ports"][0]["port"] = 9090
    assert d.object_digest(moved) != d.object_digest(service)


def _backup(name, done, phase="Completed", included=None, excluded=None):
    spec = {}
    if included is not None:
        spec["includedNamespaces"] = included
    if excluded is not None:
        spec["excludedNamespaces"] = excluded
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": phase, "completionTimestamp": done}}


@pytest.mark.parametrize(
    "backups, name",
    [
        (
            [
                _backup("a", "2026-11-29T01:00:00Z", included=["*"]),
                _backup("b", "2026-11-30T01:00:00Z", included=["*"]),
            ],
            "b",
        ),
        ([_backup("a", "2026-11-29T01:00:00Z"), _backup("b", "2026-11-30T01:00:00Z", phase="PartiallyFailed")], "a"),
        (
            [
                _backup("a", "2026-11-29T01:00:00Z", included=["canary"]),
                _backup("b", "2026-11-30T01:00:00Z", included=["other"]),
            ],
            "a",
        ),
        (
            [
                _backup("a", "2026-11-29T01:00:00Z", included=[]),
                _backup("b", "2026-11-30T01:00:00Z", excluded=["canary"]),
            ],
            "a",
        ),
        ([_backup("b", "2026-11-30T01:00:00Z", phase="InProgress")], ""),
        ([], ""),
    ],
)
def test_latest_backup(backups, name):
    assert d.latest_backup(backups, "canary") == name


def test_kube_bench_check():
    current = {"score": 80.0}
    first = d.check_kube_bench(None, current)
    assert first["status"] == "ok" and "no earlier report" in first["summary"]
    comparison = {
        "new_failures": [{"node": "w1", "id": "4.2.6", "description": "iptables"}],
        "fixed": [],
        "score_delta": -3.0,
        "previous_generated_at": "2026-11-23T06:00:00Z",
    }
    result = d.check_kube_bench(comparison, current)
    assert result["status"] == "fail"
    assert [f["object"] for f in result["findings"]] == ["w1:4.2.6", "kube-bench"]
    assert d.check_kube_bench(None, None)["status"] == "fail"
    assert d.check_kube_bench(None, current, error="score below 80")["status"] == "fail"


# ---------------------------------------------------------------- monthly policy review

POLICY = {
    "pod_security_default": "restricted",
    "pod_security_exemptions": ["kube-system", "falco", "default", "kube-public", "kube-node-lease"],
    "admin_subjects_allowed": ["Group:system:masters", "Group:kubeadm:cluster-admins"],
}


@pytest.mark.parametrize("fixture, status, count", [("policy-clean", "ok", 0), ("policy-findings", "fail", 5)])
def test_policy_review(fixture, status, count):
    data = recorded_file(fixture)
    result = d.check_policy(data["constraints"], data["namespaces"], data["bindings"], POLICY)
    assert result["status"] == status
    assert len(result["findings"]) == count


def test_policy_review_without_exemptions_flags_privileged_namespaces():
    data = recorded_file("policy-clean")
    result = d.check_policy(
        data["constraints"], data["namespaces"], data["bindings"], dict(POLICY, pod_security_exemptions=[])
    )
    failing = {f["object"] for f in result["findings"] if f["status"] == "fail"}
    assert failing == {"namespace/kube-system", "namespace/falco"}


def test_vulnerabilities_not_served_is_a_failed_check_not_zero_images():
    result = d.check_vulnerabilities({"error": "the cluster does not serve VulnerabilityReport"}, OPTS)
    assert result["status"] == "fail"
    assert result["findings"][0]["object"] == "vulnerabilities"
    assert "not gathered" in result["findings"][0]["message"]
