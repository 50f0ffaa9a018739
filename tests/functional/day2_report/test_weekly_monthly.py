"""weekly.yml and policy_review.yml on recorded answers (their exit code and report), the order and
the upgrade guard of monthly.yml (with recording stand-ins for the playbooks it imports), and the
Velero Restore the restore test sends, validated against Velero's CRD schema."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from day2_support import FIXTURES, ROOT, localhost_inventory, playbook
from k8s_schema import validate_object

RUNS = {
    # name: (playbook, recorded, rc, verdict, {check: status})
    "weekly-ok": (
        "weekly.yml",
        "weekly-ok.json",
        0,
        "warn",
        {"kube_bench": "ok", "vulnerabilities": "warn", "resources": "ok", "restore_test": "ok"},
    ),
    "weekly-regressed": (
        "weekly.yml",
        "weekly-regressed.json",
        2,
        "fail",
        {"kube_bench": "fail", "vulnerabilities": "fail", "resources": "ok", "restore_test": "fail"},
    ),
    "policy-clean": ("policy_review.yml", "policy-clean.json", 0, "ok", {"policy": "ok"}),
    "policy-findings": ("policy_review.yml", "policy-findings.json", 2, "fail", {"policy": "fail"}),
}
IMPORTED = ("rotate_certificates", "rotate_encryption_key", "rotate_external_secrets", "upgrade", "dr_drill")


@pytest.fixture(scope="module")
def tmp():
    path = Path(tempfile.mkdtemp(prefix="orch-rp-weekly-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


@pytest.fixture(scope="module")
def runs(tmp):
    procs = {}
    for name, (book, recorded, *_rest) in RUNS.items():
        extra = {"maintenance_recorded": str(FIXTURES / recorded), "maintenance_report_dir": str(tmp / name)}
        procs[name] = playbook(f"playbooks/maintenance/{book}", tmp, extra)
    out = {}
    for name, proc in procs.items():
        rc = proc.wait(timeout=300)
        proc.log_file.close()
        out[name] = (rc, Path(proc.log_path).read_text(), tmp / name)
    return out


@pytest.mark.parametrize("name", sorted(RUNS))
def test_recorded_runs(runs, name):
    book, _recorded, rc_expected, verdict, statuses = RUNS[name]
    rc, log, report_dir = runs[name]
    assert rc == rc_expected, log[-3000:]
    kind = "policy" if book == "policy_review.yml" else "weekly"
    report = json.loads((report_dir / f"{kind}-latest.json").read_text())
    assert report["verdict"] == verdict
    assert {c["name"]: c["status"] for c in report["checks"]} == statuses
    assert f"VERDICT: {verdict.upper()}" in (report_dir / f"{kind}-latest.txt").read_text()


def test_weekly_findings(runs):
    report = json.loads((runs["weekly-regressed"][2] / "weekly-latest.json").read_text())
    found = {(c["name"], f["status"], f["object"]) for c in report["checks"] for f in c["findings"]}
    assert ("kube_bench", "fail", "w1:4.2.6") in found
    assert ("restore_test", "fail", "secret/restore-canary") in found
    assert ("restore_test", "fail", "configmap/restore-canary") in found
    assert ("vulnerabilities", "fail", "image/registry.example.com/orchestrator/zookeeper:3.8.4") in found
    ok = json.loads((runs["weekly-ok"][2] / "weekly-latest.json").read_text())
    restore = next(c for c in ok["checks"] if c["name"] == "restore_test")
    # 7 objects compared although uids, cluster IPs, Velero labels and the RoleBinding's subject namespace differ
    assert restore["data"]["compared"] == 7 and restore["findings"] == []


def test_policy_findings_use_the_cluster_exemptions(runs):
    report = json.loads((runs["policy-findings"][2] / "policy-latest.json").read_text())
    objects = {f["object"]: f["status"] for f in report["checks"][0]["findings"]}
    # kube-system and falco enforce privileged: exempt in roles/cluster's defaults, so no finding
    assert "namespace/kube-system" not in objects and "namespace/falco" not in objects
    assert objects["namespace/team-sandbox"] == "fail"
    assert objects["clusterrolebinding/debug-alice"] == "fail"
    assert objects["rolebinding/orchestrator/ci-admin"] == "fail"
    assert objects["constraint/K8sAllowedRepos/allowed-repos"] == "warn"


def _monthly_tree(tmp: Path) -> Path:
    """monthly.yml beside recording stand-ins of the playbooks it imports (each appends its name and
    the cluster_kubernetes_version it sees to a log), and the real policy review."""
    tree = tmp / "monthly" / "playbooks"
    shutil.copytree(ROOT / "playbooks" / "maintenance", tree / "maintenance")
    (tmp / "monthly" / "roles").symlink_to(ROOT / "roles")
    for name in IMPORTED:
        (tree / f"{name}.yml").write_text(
            yaml.safe_dump(
                [
                    {
                        "name": f"Stand-in {name}",
                        "hosts": "localhost",
                        "gather_facts": False,
                        "tasks": [
                            {
                                "name": "Record the run",
                                "ansible.builtin.lineinfile": {
                                    "path": str(tmp / "monthly" / "order.log"),
                                    "create": True,
                                    "mode": "0600",
                                    "line": f"{name} {{{{ cluster_kubernetes_version | default('unset') }}}}",
                                    "insertafter": "EOF",
                                },
                            }
                        ],
                    }
                ]
            )
        )
    return tree / "maintenance" / "monthly.yml"


@pytest.mark.parametrize("version", ["", "1.36.5"])
def test_monthly_order_and_upgrade_guard(tmp, version):
    book = _monthly_tree(tmp / version) if version else _monthly_tree(tmp / "none")
    log = book.parents[2] / "order.log"
    extra = {
        "maintenance_recorded": str(FIXTURES / "policy-clean.json"),
        "maintenance_report_dir": str(book.parents[2] / "reports"),
    }
    if version:
        extra["maintenance_upgrade_version"] = version
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(localhost_inventory(book.parents[2])), str(book), "-e", json.dumps(extra)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = log.read_text().splitlines()
    expected = [n for n in IMPORTED if version or n != "upgrade"]
    assert [line.split()[0] for line in lines] == expected
    if version:
        assert f"upgrade {version}" in lines
    assert (book.parents[2] / "reports" / "policy-latest.json").exists()  # the policy review ran last


def test_restore_test_objects_are_valid(tmp):
    """The canary objects and the Restore the restore test sends, rendered from their templates,
    against the pinned Kubernetes schema and Velero's CRD schema."""
    templates = ROOT / "playbooks" / "maintenance" / "templates"
    out = {name: tmp / f"{name}.json" for name in ("restore", "canary")}
    copy = {
        "dest": "{{ item.dest }}",
        "mode": "0600",
        "content": "{{ lookup('ansible.builtin.template', item.src)"
        " | ansible.builtin.from_yaml_all | list | to_json }}",
    }
    play = tmp / "render-restore.yml"
    play.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render the restore test's objects",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "vars_files": [str(ROOT / "playbooks/maintenance/vars/defaults.yml")],
                    "vars": {
                        "_maintenance_restore_name": "restore-test-20261130060000",
                        "_maintenance_restore_backup": "daily-cluster-20261130013000",
                    },
                    "tasks": [
                        {
                            "name": "Write them",
                            "ansible.builtin.copy": copy,
                            "loop": [
                                {"src": str(templates / "velero-restore.yml.j2"), "dest": str(out["restore"])},
                                {"src": str(templates / "restore-canary.yml.j2"), "dest": str(out["canary"])},
                            ],
                        }
                    ],
                }
            ]
        )
    )
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(localhost_inventory(tmp)), str(play)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    (restore,) = json.loads(out["restore"].read_text())
    validate_object(restore)
    assert restore["spec"]["namespaceMapping"] == {"maintenance-restore-canary": "maintenance-restore-canary-scratch"}
    assert restore["spec"]["backupName"] == "daily-cluster-20261130013000"
    canary = json.loads(out["canary"].read_text())
    for obj in canary:
        validate_object(obj)
    kinds = [o["kind"] for o in canary]
    assert kinds == [
        "Namespace",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Service",
        "Deployment",
    ]
    assert next(o for o in canary if o["kind"] == "Deployment")["spec"]["replicas"] == 0  # a restore starts nothing
    # every kind the canary holds (but the Namespace) is one the comparison reads
    defaults = yaml.safe_load((ROOT / "playbooks/maintenance/vars/defaults.yml").read_text())
    assert all(f"'kind': '{kind}'" in defaults["_maintenance_restore_kinds"] for kind in kinds[1:])


def _without_server_metadata(obj):
    """What the render-strict validator accepts of metadata; every other field is checked as recorded."""
    clean = dict(obj)
    clean["metadata"] = {
        k: v for k, v in obj["metadata"].items() if k in ("name", "namespace", "labels", "annotations")
    }
    return clean


@pytest.mark.parametrize(
    "fixture", ["daily-healthy.json", "daily-crashloop.json", "weekly-regressed.json", "policy-findings.json"]
)
def test_recorded_objects_have_the_real_shape(fixture):
    """Recorded objects validate against the pinned Kubernetes schema and the CRD schemas (core
    kinds whole, custom resources without server-set metadata): no invented field."""
    data = json.loads((FIXTURES / fixture).read_text())["inputs"]
    objects = []
    for key in ("nodes", "pods", "applications", "velero_backups", "vulnerability_reports", "namespaces", "bindings"):
        objects += data.get(key, [])
    restore = data.get("restore_test") or {}
    objects += restore.get("source", []) + restore.get("restored", []) + ([restore["restore"]] if restore else [])
    objects += (data.get("resources") or {}).get("pods", [])
    assert objects
    errors = []
    for obj in objects:
        core = "/" not in obj["apiVersion"] or obj["apiVersion"].split("/")[0] in ("apps", "rbac.authorization.k8s.io")
        try:
            validate_object(obj if core else _without_server_metadata(obj))
        except AssertionError as exc:
            errors.append(str(exc))
    assert not errors, "\n".join(errors[:5])
