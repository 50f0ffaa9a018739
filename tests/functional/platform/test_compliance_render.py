"""Step 12: the kube-bench Jobs (one per inventory node, host PID, read-only host mounts, pinned
image) and the compliance report built by the role's report entry point from kube-bench output,
with its documented format and the threshold that fails the play."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess

import pytest
import yaml
from obs_render import OBS_FIXTURES, OBS_INVENTORY
from platform_render import ROOT

KUBE_BENCH_OUTPUTS = ROOT / "tests" / "unit" / "plugins" / "filter" / "fixtures" / "kube_bench"
INVENTORY = yaml.safe_load(OBS_INVENTORY.read_text())
CONTROL_PLANES = sorted(INVENTORY["cluster"]["children"]["control_plane"]["hosts"])
WORKERS = sorted(INVENTORY["cluster"]["children"]["workers"]["hosts"])
DOC = ROOT / "docs" / "compliance.md"


def jobs(render):
    return {j["metadata"]["annotations"]["orchestrator.platform/node"]: j for j in render.objects("Job", "compliance")}


def test_one_job_per_node_pinned_to_it(obs):
    found = jobs(obs)
    assert sorted(found) == sorted(CONTROL_PLANES + WORKERS)
    for node, job in found.items():
        pod = job["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"kubernetes.io/hostname": node}
        assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
        assert job["spec"]["ttlSecondsAfterFinished"] > 0 and job["spec"]["activeDeadlineSeconds"] > 0
        # The control-plane taint is tolerated so that the control planes are scanned too.
        assert {"operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_jobs_see_the_host_read_only_with_the_pinned_image(obs):
    for node, job in jobs(obs).items():
        pod = job["spec"]["template"]["spec"]
        assert pod["hostPID"] is True
        assert "hostNetwork" not in pod
        (container,) = pod["containers"]
        assert re.match(r"^docker\.io/aquasec/kube-bench:v\d+\.\d+\.\d+$", container["image"])
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert set(mounts) == set(volumes)
        assert all(m["readOnly"] is True for m in mounts.values()), node
        assert all(v["hostPath"]["type"] == "Directory" for v in volumes.values())
        assert "/etc/kubernetes" in {v["hostPath"]["path"] for v in volumes.values()}
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"], "add": ["DAC_READ_SEARCH"]}


def test_targets_follow_the_node_role(obs):
    for node, job in jobs(obs).items():
        pod = job["spec"]["template"]["spec"]
        args = pod["containers"][0]["args"]
        assert args[0] == "run" and "--json" in args
        assert args[args.index("--benchmark") + 1] == "cis-1.12"
        targets = args[args.index("--targets") + 1].split(",")
        paths = {v["hostPath"]["path"] for v in pod["volumes"]}
        if node in CONTROL_PLANES:
            assert targets == ["master", "controlplane", "etcd", "policies"]
            assert "/var/lib/etcd" in paths
            # The policies checks read RBAC objects through the API.
            assert pod["automountServiceAccountToken"] is True
        else:
            assert targets == ["node"]
            assert "/var/lib/etcd" not in paths
            assert pod["automountServiceAccountToken"] is False


def test_the_policies_checks_can_only_read(obs):
    role = obs.one("ClusterRole", "orchestrator:kube-bench")
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list"}
    assert "secrets" not in {r for rule in role["rules"] for r in rule["resources"]}
    binding = obs.one("ClusterRoleBinding", "orchestrator:kube-bench")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-bench", "namespace": "compliance"}]


def run_report(tmp_path, *extra):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            str(OBS_INVENTORY),
            str(OBS_FIXTURES / "compliance-report.yml"),
            "-e",
            f"fixtures_dir={KUBE_BENCH_OUTPUTS}",
            "-e",
            f"compliance_report_dir={tmp_path}",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compliance-report")
    run = run_report(out, "-e", "compliance_min_score=50")
    return out, run


def test_report_is_written_with_score_and_failing_checks(report_run):
    out, run = report_run
    assert run.returncode == 0, run.stdout[-3000:]
    latest = json.loads((out / "latest.json").read_text())
    stamped = [p for p in out.iterdir() if re.match(r"^kube-bench-\d{4}-\d{2}-\d{2}T\d{6}Z\.json$", p.name)]
    assert len(stamped) == 1 and json.loads(stamped[0].read_text()) == latest
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert latest["format"] == "orchestrator.platform/kube-bench-report" and latest["format_version"] == 1
    assert latest["cluster"] == "orchestrator" and latest["benchmark"] == "cis-1.12"
    # cp1 7/2/4/1, worker1 4/0/1/0, worker2 3/1/1/0
    # The default waiver of 1.2.1 (a WARN on cp1) moves it from warn to waived; the score is unchanged.
    assert latest["totals"] == {"pass": 14, "fail": 3, "warn": 5, "info": 1, "waived": 1, "checks": 24}
    assert latest["score"] == 82.4
    assert [(f["id"], f["nodes"]) for f in latest["failing"]] == [
        ("1.2.16", ["cp1"]),
        ("4.2.6", ["worker2"]),
        ("5.1.6", ["cp1"]),
    ]
    assert all(f["remediation"] for f in latest["failing"])
    assert latest["skipped_checks"] == [
        {"id": "1.2.9", "reason": "EventRateLimit is replaced by API priority and fairness on this platform."}
    ]
    assert latest["min_score"] == 50.0
    assert "score 82.4 % (threshold 50 %)" in run.stdout
    # The collection's default waivers are listed, 1.1.12 even though its check is not in the results.
    assert [(w["control"], w["nodes"]) for w in latest["waivers"]] == [("1.1.12", []), ("1.2.1", ["cp1"])]
    assert "1.2.1" not in [w["id"] for w in latest["warnings"]]
    assert all(w["reason"] and w["decided_by"] for w in latest["waivers"])


def test_the_defaults_demand_100_and_name_every_waiver_with_reason_and_decider():
    defaults = yaml.safe_load((ROOT / "roles/compliance/defaults/main.yml").read_text())
    assert defaults["compliance_min_score"] == 100
    assert [w["control"] for w in defaults["compliance_waivers"]] == ["1.1.12", "1.2.1"]
    for waiver in defaults["compliance_waivers"]:
        assert set(waiver) == {"control", "reason", "decided_by"}
        assert len(waiver["reason"]) > 80 and waiver["decided_by"]
        assert f"`{waiver['control']}`" in DOC.read_text()  # documented in docs/compliance.md


def waivers_arg(*controls):
    return json.dumps({"compliance_waivers": [
        {"control": c, "reason": f"test waiver of {c}", "decided_by": "the test"} for c in controls
    ]})


def test_a_failing_check_not_waived_fails_the_run_at_the_default_100(tmp_path):
    run = run_report(tmp_path)
    assert run.returncode != 0
    assert "score 82.4 % is below compliance_min_score (100 %)" in run.stdout
    assert "1 waived (1.1.12, 1.2.1)" in run.stdout  # the default waivers; only 1.2.1 is in the results


def test_a_waiver_leaves_its_check_out_of_the_score(tmp_path):
    run = run_report(tmp_path, "-e", waivers_arg("5.1.6"), "-e", "compliance_min_score=50")
    assert run.returncode == 0, run.stdout[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["score"] == round(100 * 14 / 16, 1) == 87.5
    assert report["totals"]["waived"] == 1 and report["totals"]["fail"] == 2
    assert [f["id"] for f in report["failing"]] == ["1.2.16", "4.2.6"]
    assert report["waivers"] == [{"control": "5.1.6", "reason": "test waiver of 5.1.6", "decided_by": "the test",
                                  "nodes": ["cp1"], "failing_nodes": ["cp1"]}]
    assert "1 waived (5.1.6)" in run.stdout


def test_every_failure_waived_passes_at_100(tmp_path):
    run = run_report(tmp_path, "-e", waivers_arg("1.2.16", "4.2.6", "5.1.6"))
    assert run.returncode == 0, run.stdout[-3000:]
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["score"] == 100.0 and report["failing"] == [] and report["min_score"] == 100.0


@pytest.mark.parametrize("waiver", [
    {"control": "5.1.6", "reason": "no one decided"},
    {"control": "5.1.6", "decided_by": "the test"},
    {"control": "five", "reason": "x", "decided_by": "the test"},
])
def test_a_waiver_without_control_reason_or_decider_is_refused(tmp_path, waiver):
    run = run_report(tmp_path, "-e", json.dumps({"compliance_waivers": [waiver]}), "-e", "compliance_min_score=0")
    assert run.returncode != 0
    assert "waiver" in run.stdout
    assert not (tmp_path / "latest.json").exists()


def test_the_play_fails_below_the_threshold_and_names_the_fixes(tmp_path):
    run = run_report(tmp_path, "-e", "compliance_min_score=90")
    assert run.returncode != 0
    assert "score 82.4 % is below compliance_min_score (90 %)" in run.stdout
    assert "1.2.16 on cp1" in run.stdout and "--profiling=false" in run.stdout
    assert "4.2.6 on worker2" in run.stdout
    # The report is still written for the investigation.
    assert json.loads((tmp_path / "latest.json").read_text())["score"] == 82.4


def test_every_report_field_is_documented(report_run):
    out, _ = report_run
    report = json.loads((out / "latest.json").read_text())
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_.\[\]]+)` \|", text, re.MULTILINE))
    fields = set(report)
    fields |= {f"totals.{k}" for k in report["totals"]}
    fields |= {f"nodes[].{k}" for k in report["nodes"][0]}
    fields |= {f"failing[].{k}" for k in report["failing"][0]}
    fields |= {f"checks[].{k}" for k in report["checks"][0]}
    fields |= {f"skipped_checks[].{k}" for k in report["skipped_checks"][0]}
    fields |= {f"waivers[].{k}" for k in report["waivers"][0]}
    assert fields <= documented, f"undocumented report fields: {sorted(fields - documented)}"
    assert documented - fields <= {"warnings[].*"}, f"documented but absent: {sorted(documented - fields)}"
