# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

import copy
import json
import os

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orchestrator.platform.plugins.filter.kube_bench import (
    FilterModule,
    kube_bench_compare,
    kube_bench_report,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "kube_bench")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


def results(worker="worker.json"):
    return [
        {"node": "cp1", "role": "control_plane", "output": json.loads(fixture("control-plane.json"))},
        {"node": "w1", "role": "worker", "output": fixture(worker)},
    ]


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"kube_bench_report", "kube_bench_compare"}


def test_report_counts_every_check_per_node_and_scores_pass_over_decided():
    report = kube_bench_report(results(), cluster="prod", generated_at="2026-11-30T02:00:00Z")
    assert report["format"] == "orchestrator.platform/kube-bench-report"
    assert report["format_version"] == 1
    assert (report["cluster"], report["generated_at"], report["benchmark"]) == (
        "prod",
        "2026-11-30T02:00:00Z",
        "cis-1.12",
    )
    # control plane 7 pass 2 fail 4 warn 1 info; worker 4 pass 0 fail 1 warn
    assert report["totals"] == {"pass": 11, "fail": 2, "warn": 5, "info": 1, "waived": 0, "checks": 19}
    assert report["score"] == round(100 * 11 / 13, 1) == 84.6
    nodes = {n["node"]: n for n in report["nodes"]}
    assert nodes["cp1"]["totals"] == {"pass": 7, "fail": 2, "warn": 4, "info": 1, "waived": 0, "checks": 14}
    assert nodes["cp1"]["score"] == 77.8
    assert nodes["w1"]["score"] == 100.0
    assert [n["node"] for n in report["nodes"]] == ["cp1", "w1"]  # control planes first


def test_report_totals_agree_with_kube_bench_own_totals():
    raw = json.loads(fixture("control-plane.json"))
    report = kube_bench_report([{"node": "cp1", "role": "control_plane", "output": raw}])
    assert {k: report["totals"][k] for k in ("pass", "fail", "warn", "info")} == {
        k.replace("total_", ""): v for k, v in raw["Totals"].items()
    }


def test_failing_checks_carry_remediation_and_are_in_check_number_order():
    report = kube_bench_report(results("worker-failing.json"))
    assert [f["id"] for f in report["failing"]] == ["1.2.16", "4.2.6", "5.1.6"]
    profiling = report["failing"][0]
    assert profiling["nodes"] == ["cp1"]
    assert "--profiling=false" in profiling["remediation"]
    assert profiling["scored"] is True
    assert report["failing"][1]["nodes"] == ["w1"]
    # 1.2.9 sorts before 1.2.10 (numeric, not lexical)
    ids = [c["id"] for c in report["checks"] if c["node"] == "cp1"]
    assert ids.index("1.2.9") < ids.index("1.2.10") < ids.index("1.2.16")
    assert [w["id"] for w in report["warnings"]][:3] == ["1.1.9", "1.2.1", "1.2.9"]


def test_same_failure_on_several_nodes_is_grouped():
    report = kube_bench_report(
        [
            {"node": "w1", "role": "worker", "output": fixture("worker-failing.json")},
            {"node": "w2", "role": "worker", "output": fixture("worker-failing.json")},
        ]
    )
    assert report["failing"] == [
        {
            "id": "4.2.6",
            "description": "Ensure that the --make-iptables-util-chains argument is set to true (Automated)",
            "scored": True,
            "remediation": "If using a Kubelet config file, edit the file to set makeIPTablesUtilChains: true.",
            "nodes": ["w1", "w2"],
        }
    ]
    assert report["score"] == 75.0


def test_every_check_keeps_its_status_section_and_reason():
    report = kube_bench_report(results())
    check = next(c for c in report["checks"] if c["id"] == "5.1.6")
    assert check == {
        "id": "5.1.6",
        "node": "cp1",
        "role": "control_plane",
        "target": "policies",
        "control": "5",
        "section": "5.1",
        "section_text": "RBAC and Service Accounts",
        "description": "Ensure that Service Account Tokens are only mounted where necessary (Automated)",
        "status": "FAIL",
        "scored": True,
        "remediation": (
            "Modify the definition of ServiceAccounts and Pods which do not need to mount service account tokens"
            " to disable it."
        ),
        "reason": "default service account in namespace default automounts its token",
        "waived": False,
    }


@pytest.mark.parametrize("name", ["worker.json", "legacy-worker.json", "worker-pod-log.txt"])
def test_every_output_shape_gives_the_same_checks(name):
    base = kube_bench_report([{"node": "w1", "role": "worker", "output": fixture("worker.json")}])
    other = kube_bench_report([{"node": "w1", "role": "worker", "output": fixture(name)}])
    strip = [{k: v for k, v in c.items() if k != "reason"} for c in base["checks"]]
    assert [{k: v for k, v in c.items() if k != "reason"} for c in other["checks"]] == strip
    assert other["totals"] == base["totals"]


def test_legacy_benchmark_version_is_reported():
    report = kube_bench_report([{"node": "w1", "role": "worker", "output": fixture("legacy-worker.json")}])
    assert report["benchmark"] == "cis-1.6"
    assert (
        kube_bench_report(
            [{"node": "w1", "role": "worker", "output": fixture("legacy-worker.json")}], benchmark="cis-1.12"
        )["benchmark"]
        == "cis-1.12"
    )


def test_parsed_list_of_controls_is_accepted():
    controls = json.loads(fixture("control-plane.json"))["Controls"]
    report = kube_bench_report([{"node": "cp1", "role": "control_plane", "output": controls}])
    assert report["totals"]["checks"] == 14


def test_score_is_null_without_decided_checks():
    raw = json.loads(fixture("worker.json"))
    for group in raw["Controls"][0]["tests"]:
        for check in group["results"]:
            check["status"] = "WARN"
    report = kube_bench_report([{"node": "w1", "role": "worker", "output": raw}])
    assert report["score"] is None and report["nodes"][0]["score"] is None


@pytest.mark.parametrize(
    "bad, message",
    [
        ([], "non-empty list"),
        ([{"node": "w1"}], "needs node and output"),
        ([{"node": "w1", "role": "master", "output": "{}"}], "has role"),
        ([{"node": "w1", "role": "worker", "output": "kube-bench: cannot find config"}], "no kube-bench JSON"),
        ([{"node": "w1", "role": "worker", "output": {"Controls": [{"text": "x"}]}}], "has no id/tests"),
    ],
)
def test_malformed_input_is_refused(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        kube_bench_report(bad)


def test_unknown_status_is_refused():
    raw = json.loads(fixture("worker.json"))
    raw["Controls"][0]["tests"][0]["results"][0]["status"] = "SKIP"
    with pytest.raises(AnsibleFilterError, match="status 'SKIP'"):
        kube_bench_report([{"node": "w1", "role": "worker", "output": raw}])


def test_duplicate_node_is_refused():
    with pytest.raises(AnsibleFilterError, match="appears twice"):
        kube_bench_report(
            [
                {"node": "w1", "role": "worker", "output": fixture("worker.json")},
                {"node": "w1", "role": "worker", "output": fixture("worker.json")},
            ]
        )


def test_compare_finds_new_failures_fixed_checks_and_score_change():
    last_week = kube_bench_report(results("worker.json"), generated_at="2026-11-23T02:00:00Z")
    this_week = kube_bench_report(results("worker-failing.json"), generated_at="2026-11-30T02:00:00Z")
    changes = kube_bench_compare(this_week, last_week)
    assert [(c["node"], c["id"], c["previous_status"]) for c in changes["new_failures"]] == [("w1", "4.2.6", "PASS")]
    assert changes["fixed"] == []
    assert changes["score_delta"] == round(this_week["score"] - last_week["score"], 1) < 0
    assert changes["totals_delta"]["fail"] == 1 and changes["totals_delta"]["pass"] == -1
    assert changes["regressed"] is True
    back = kube_bench_compare(last_week, this_week)
    assert [(c["node"], c["id"], c["status"]) for c in back["fixed"]] == [("w1", "4.2.6", "PASS")]
    assert back["new_failures"] == [] and back["regressed"] is False


def test_compare_keeps_added_and_removed_nodes_apart():
    last_week = kube_bench_report(results("worker.json"))
    this_week = kube_bench_report(
        [*results("worker.json")[:1], {"node": "w2", "role": "worker", "output": fixture("worker-failing.json")}]
    )
    changes = kube_bench_compare(this_week, last_week)
    assert changes["added_nodes"] == ["w2"] and changes["removed_nodes"] == ["w1"]
    assert changes["new_failures"] == []  # w2's failure is not a regression of a known node


def test_compare_refuses_other_documents_and_versions():
    report = kube_bench_report(results())
    with pytest.raises(AnsibleFilterError, match="is not a"):
        kube_bench_compare(report, {"checks": []})
    newer = copy.deepcopy(report)
    newer["format_version"] = 2
    with pytest.raises(AnsibleFilterError, match="format_version 2"):
        kube_bench_compare(newer, report)


WAIVER = {"control": "5.1.6", "reason": "the default ServiceAccount is used by a legacy job", "decided_by": "security"}


def test_a_waived_failure_leaves_the_score_and_failing_and_is_listed_with_its_reason():
    plain = kube_bench_report(results())
    waived = kube_bench_report(results(), waivers=[WAIVER])
    # cp1: 7 pass, 2 fail (1.2.16, 5.1.6); with 5.1.6 waived 7 pass, 1 fail.
    assert plain["score"] == round(100 * 11 / 13, 1)
    assert waived["score"] == round(100 * 11 / 12, 1)
    assert waived["totals"] == {"pass": 11, "fail": 1, "warn": 5, "info": 1, "waived": 1, "checks": 19}
    assert {n["node"]: n["score"] for n in waived["nodes"]}["cp1"] == round(100 * 7 / 8, 1)
    assert [f["id"] for f in waived["failing"]] == ["1.2.16"]
    assert waived["waivers"] == [dict(WAIVER, nodes=["cp1"], failing_nodes=["cp1"])]
    check = next(c for c in waived["checks"] if c["id"] == "5.1.6")
    assert check["waived"] is True and check["status"] == "FAIL"  # kube-bench's result is kept
    assert plain["waivers"] == []


def test_a_waiver_of_a_check_that_never_ran_is_still_listed():
    report = kube_bench_report(results(), waivers=[dict(WAIVER, control="1.1.12")])
    assert report["waivers"] == [dict(WAIVER, control="1.1.12", nodes=[], failing_nodes=[])]
    assert report["score"] == kube_bench_report(results())["score"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"control": "5.1.6", "reason": "x"}, "needs a control, a reason and decided_by"),
        ({"control": "5.1.6", "reason": " ", "decided_by": "security"}, "needs a control, a reason and decided_by"),
        ({"control": "5.1.x", "reason": "x", "decided_by": "security"}, "not a check number"),
        ("5.1.6", "needs a control"),
    ],
)
def test_incomplete_waivers_are_refused(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        kube_bench_report(results(), waivers=[bad])


def test_a_control_waived_twice_is_refused():
    with pytest.raises(AnsibleFilterError, match="waived twice"):
        kube_bench_report(results(), waivers=[WAIVER, dict(WAIVER, reason="again")])


def test_compare_does_not_count_a_waived_check_as_new_failure_or_fixed():
    last_week = kube_bench_report(results("worker.json"))
    this_week = kube_bench_report(results("worker-failing.json"), waivers=[dict(WAIVER, control="4.2.6")])
    changes = kube_bench_compare(this_week, last_week)
    assert changes["new_failures"] == []
    failing_before = kube_bench_report(results("worker-failing.json"))
    waived_now = kube_bench_report(results("worker-failing.json"), waivers=[dict(WAIVER, control="4.2.6")])
    assert kube_bench_compare(waived_now, failing_before)["fixed"] == []
