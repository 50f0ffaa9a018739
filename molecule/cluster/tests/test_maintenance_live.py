"""The maintenance playbooks (docs/day2-maintenance.md) against the cluster scenario's REAL cluster:
playbooks/maintenance/daily.yml, weekly.yml and policy_review.yml run from the controller on the
scenario's inventory (the admin kubeconfig step 2 fetched, cluster_kubeconfig; SSH to the control
planes), and their JSON reports are compared with what the API and the nodes say.

The rig runs no Falco, Velero or Argo CD controller (steps 5-11 are not applied here; only the CRDs
of tests/rig/crds.py are), so every daily run is given the inventory switches of a cluster built
without them (falco_enabled, velero_enabled, argocd_enabled false): the daily report then holds
nodes, pods, certificates, etcd and backups, and backups judges the etcd snapshots and the
etcd-backup.timer of each control plane only.

Daily cases (each restores the healthy state in a finally: the test files after this one need it):
- healthy: exit 0, verdict ok;
- a cordoned worker: `nodes` warns (check_nodes: spec.unschedulable is a warning), exit 0 by default
  and exit 2 with maintenance_fail_on=warn (both runs at once, on the same cordon);
- a crash-looping pod in kube-system (the cluster's own etcd image from the rig's registry, started
  with a flag etcd refuses): exit 2, `pods` fails naming the pod;
- etcd-backup.timer stopped on orch-cl-cp2: exit 2, `backups` fails naming orch-cl-cp2.
Before them a module fixture takes an etcd snapshot on every control plane (etcd-backup.service, as
the timer does), so that each has a young snapshot metric.

One allowance, in the healthy comparison of `pods` only: kube-controller-manager and kube-scheduler
exit and are restarted by the kubelet when they lose their leader lease, which a busy 2-core machine
causes (test_day2_safety.py leaves their restart counts out for the same reason). Three restarts in
a day make the pods check warn about them; such a warning, and only it, is accepted where `pods`
is expected ok, and the expected verdict then is warn. Any other finding fails the test.

Weekly: only `resources` can gather here (kube_bench needs step 12's reports, restore_test Velero,
vulnerabilities the Trivy operator's VulnerabilityReports, whose API the rig does not serve):
its per-node allocatable and requests and its namespaces are compared with kubectl's. Policy
review: the cluster-admin subjects, the namespaces without a Pod Security enforce label and the
Gatekeeper constraints it counts are compared with kubectl's. The healthy daily, the weekly and the
policy review only read, and run at the same time; the cordon, crash-loop and timer cases each
change the daily verdict and run one after the other.

Not destructive (every change is undone): not in conftest.py's LAST.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from rig import (
    CONTROL_PLANES,
    MANIFESTS,
    NODES,
    REGISTRY,
    ROOT,
    WORKERS,
    kubectl,
    kubectl_json,
    node,
    run_playbooks,
    until,
)

PLATFORM_OFF = ("-e", "falco_enabled=false", "-e", "velero_enabled=false", "-e", "argocd_enabled=false")
DAILY_CHECKS = ["nodes", "pods", "certificates", "etcd", "backups"]
RANK = {"ok": 0, "warn": 1, "fail": 2}
TIMER = "etcd-backup.timer"
CORDONED = WORKERS[0]  # orch-cl-w1
STOPPED_TIMER_ON = CONTROL_PLANES[1]  # orch-cl-cp2
CRASHLOOP = "maintenance-live-crashloop"
PROM = "/var/lib/node_exporter/textfile_collector/etcd_backup.prom"  # maintenance_etcd_backup_metric_file
METRIC = "orchestrator_etcd_backup_last_success_timestamp_seconds"
# Restarted by the kubelet when they lose their leader lease (see the module docstring).
LEASE_RESTARTS = ("pod/kube-system/kube-controller-manager-", "pod/kube-system/kube-scheduler-")
# What Pod Security "restricted" asks of a container (kube-system is exempt; the pod need not rely on it).
RESTRICTED = {
    "runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}
# The subjects the policy review allows to hold cluster-admin (vars/defaults.yml, kubeadm's two).
ADMINS_ALLOWED = {"Group:system:masters", "Group:kubeadm:cluster-admins"}
PSS = {"privileged": 0, "baseline": 1, "restricted": 2}
_SUFFIX = {"": 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
           "Ki": 1024.0, "Mi": 1024.0 ** 2, "Gi": 1024.0 ** 3, "Ti": 1024.0 ** 4}


def quantity(value) -> float:
    if value in (None, ""):
        return 0.0
    match = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value))
    assert match and match[2] in _SUFFIX, value
    return float(match[1]) * _SUFFIX[match[2]]


def play(label: str, playbook: str, report_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """One maintenance playbook on the scenario's inventory, its report written to report_dir."""
    started = time.monotonic()
    done = run_playbooks([f"maintenance/{playbook}"], "-e", f"maintenance_report_dir={report_dir}", *extra,
                         timeout=900)
    print(f"{label}: {time.monotonic() - started:.0f} s, rc {done.returncode}")
    return done


def daily(label: str, report_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return play(label, "daily.yml", report_dir, *PLATFORM_OFF, *extra)


def output(done: subprocess.CompletedProcess) -> str:
    return (done.stdout[-5000:] + "\n" + done.stderr[-2000:]).strip()


def read_report(done: subprocess.CompletedProcess, report_dir: Path, kind: str) -> dict:
    path = report_dir / f"{kind}-latest.json"
    assert path.is_file(), output(done)
    rep = json.loads(path.read_text())
    assert rep["format"] == "orchestrator.platform/maintenance-report", rep
    assert rep["needs_human"] is (done.returncode != 0), (rep["verdict"], output(done))
    return rep


def findings(rep: dict) -> list[tuple[str, str, str, str]]:
    return [(c["name"], f["status"], f["object"], f["message"]) for c in rep["checks"] for f in c["findings"]]


def lease_restart(check: str, status: str, obj: str, message: str) -> bool:
    return check == "pods" and status == "warn" and obj.startswith(LEASE_RESTARTS) and " restarted " in message


def assert_daily(rep: dict, **wanted: str) -> str:
    """The daily report holds the five checks at the wanted status (ok unless named), its verdict is
    the worst of them; returns the verdict. `pods` expected ok may warn for lease restarts alone."""
    assert rep["kind"] == "daily" and [c["name"] for c in rep["checks"]] == DAILY_CHECKS, rep["checks"]
    statuses = {c["name"]: c["status"] for c in rep["checks"]}
    for name, status in statuses.items():
        want = wanted.get(name, "ok")
        if name == "pods" and want == "ok" and status == "warn":
            pods = [f for f in findings(rep) if f[0] == "pods"]
            assert pods and all(lease_restart(*f) for f in pods), pods
            print("accepted (leader lease restarts):", pods)
            continue
        assert status == want, (name, status, next(c for c in rep["checks"] if c["name"] == name))
    verdict = max(statuses.values(), key=RANK.__getitem__)
    assert rep["verdict"] == verdict, rep["verdict"]
    return verdict


def assert_backups_young(rep: dict, since: float) -> None:
    """Every control plane's snapshot metric, as the report read it, is the one the fixture took."""
    backups = next(c for c in rep["checks"] if c["name"] == "backups")
    assert backups["data"]["velero"] == {}, backups
    assert sorted(backups["data"]["etcd"]) == CONTROL_PLANES, backups
    assert all(stamp and stamp >= since for stamp in backups["data"]["etcd"].values()), (since, backups)


@pytest.fixture(scope="module")
def snapshots() -> float:
    """An etcd snapshot on every control plane (etcd-backup.service, what the timer starts; one at a
    time), so that each has the metric the backups check reads; returns the time before they were
    taken (the nodes share the machine's clock)."""
    since = None
    for cp in CONTROL_PLANES:
        host = node(cp)
        assert host.check_output(f"systemctl is-active {TIMER}") == "active", cp
        assert host.check_output(f"systemctl is-enabled {TIMER}") == "enabled", cp
        since = since or float(host.check_output("date +%s"))
        # a oneshot service: `systemctl start` returns when the snapshot is taken, copied and counted
        run = host.run("systemctl start etcd-backup.service")
        assert run.rc == 0, (cp, host.run("journalctl -u etcd-backup.service --no-pager -n 30").stdout)
        values = [float(line.split()[-1]) for line in host.check_output(f"cat {PROM}").splitlines()
                  if line.startswith(f"{METRIC} ") or line.startswith(f"{METRIC}{{")]
        assert values and max(values) >= since, (cp, values, since)
    return since


# ---------------------------------------------------------------------------- what kubectl says


def resources_reading() -> dict:
    """Per node: allocatable and the requests of its Running pods; the namespaces with Running pods."""
    nodes = {n["metadata"]["name"]: n for n in kubectl_json("get", "nodes")["items"]}
    requests = {name: [0.0, 0.0] for name in nodes}
    namespaces = set()
    for pod in kubectl_json("get", "pods", "--all-namespaces")["items"]:
        if pod.get("status", {}).get("phase") != "Running":
            continue
        namespaces.add(pod["metadata"]["namespace"])
        row = requests.get(pod["spec"].get("nodeName"))
        for container in pod["spec"]["containers"]:
            asked = container.get("resources", {}).get("requests", {})
            if row is not None:
                row[0] += quantity(asked.get("cpu"))
                row[1] += quantity(asked.get("memory"))
    return {
        "allocatable": {name: (quantity(n["status"]["allocatable"]["cpu"]),
                               quantity(n["status"]["allocatable"]["memory"])) for name, n in nodes.items()},
        "requests": {name: tuple(v) for name, v in requests.items()},
        "namespaces": sorted(namespaces),
    }


def policy_reading() -> dict:
    """The cluster-admin subjects; outside the Pod Security exemptions (roles/cluster defaults, which
    the scenario keeps) the namespaces without an enforce label and those enforcing less than the
    default; the count of Gatekeeper constraints."""
    defaults = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
    exempt = {e["namespace"] for e in defaults["cluster_pod_security_exemptions"]}
    exempt |= {"kube-public", "kube-node-lease", "default"}
    floor = PSS[defaults["cluster_pod_security_default"]]
    namespaces = kubectl_json("get", "namespaces")["items"]
    levels = {n["metadata"]["name"]: (n["metadata"].get("labels") or {}).get("pod-security.kubernetes.io/enforce")
              for n in namespaces}
    unlabelled = sorted(name for name, level in levels.items() if name not in exempt and level is None)
    below = sorted(name for name, level in levels.items()
                   if name not in exempt and level is not None and PSS.get(level, -1) < floor)
    admins = []
    for binding in kubectl_json("get", "clusterrolebindings,rolebindings", "--all-namespaces")["items"]:
        if binding["roleRef"]["kind"] != "ClusterRole" or binding["roleRef"]["name"] != "cluster-admin":
            continue
        for subject in binding.get("subjects") or []:
            namespace = subject.get("namespace")
            admins.append(f"{subject['kind']}:{namespace + '/' if namespace else ''}{subject['name']}")
    templates = kubectl_json("get", "constrainttemplates.templates.gatekeeper.sh")["items"]
    kinds = [t["spec"]["crd"]["spec"]["names"]["kind"].lower() for t in templates]
    constraints = sum(len(kubectl_json("get", f"{kind}.constraints.gatekeeper.sh")["items"]) for kind in kinds)
    return {"admins": sorted(admins), "unlabelled": unlabelled, "below": below, "namespaces": len(namespaces),
            "constraints": constraints}


# ---------------------------------------------------------------------------- healthy, weekly, policy


@pytest.fixture(scope="module")
def reading_runs(snapshots, tmp_path_factory) -> dict:
    """The healthy daily run, the weekly run and the policy review at once (all three only read),
    with kubectl's readings just before and just after them."""
    dirs = {name: tmp_path_factory.mktemp(name) for name in ("daily", "weekly", "policy")}
    before = {"resources": resources_reading(), "policy": policy_reading()}
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {
            "daily": pool.submit(daily, "daily.yml healthy", dirs["daily"]),
            "weekly": pool.submit(play, "weekly.yml", "weekly.yml", dirs["weekly"], "-e",
                                  json.dumps({"maintenance_weekly_checks": ["resources"]})),
            "policy": pool.submit(play, "policy_review.yml", "policy_review.yml", dirs["policy"]),
        }
        done = {name: future.result() for name, future in futures.items()}
    after = {"resources": resources_reading(), "policy": policy_reading()}
    return {"done": done, "dirs": dirs, "before": before, "after": after, "snapshots": snapshots}


def test_daily_on_the_healthy_cluster_passes(reading_runs):
    done = reading_runs["done"]["daily"]
    rep = read_report(done, reading_runs["dirs"]["daily"], "daily")
    assert done.returncode == 0, output(done)
    verdict = assert_daily(rep)
    leases = [f for f in findings(rep) if lease_restart(*f)]
    assert verdict == ("warn" if leases else "ok"), findings(rep)
    checks = {c["name"]: c for c in rep["checks"]}
    assert checks["nodes"]["data"] == {"total": len(NODES), "ready": len(NODES)}
    etcd = checks["etcd"]
    assert etcd["data"]["healthy"] == etcd["data"]["expected"] == len(CONTROL_PLANES), etcd
    assert sorted(etcd["data"]["db_size_bytes"]) == CONTROL_PLANES, etcd
    assert checks["certificates"]["data"]["count"] > 0 and checks["certificates"]["data"]["soonest_days"] > 30
    assert_backups_young(rep, reading_runs["snapshots"])


def test_weekly_resources_list_what_the_api_lists(reading_runs):
    done = reading_runs["done"]["weekly"]
    rep = read_report(done, reading_runs["dirs"]["weekly"], "weekly")
    assert done.returncode == 0, output(done)  # resources can only warn
    assert rep["kind"] == "weekly" and [c["name"] for c in rep["checks"]] == ["resources"], rep["checks"]
    (check,) = rep["checks"]
    assert check["status"] == ("warn" if check["findings"] else "ok") == rep["verdict"], check
    nodes = check["data"]["nodes"]
    assert sorted(nodes) == sorted(NODES), nodes
    readings = (reading_runs["before"]["resources"], reading_runs["after"]["resources"])
    for name, row in nodes.items():
        cpu, memory = readings[0]["allocatable"][name]
        assert row["cpu_allocatable"] == pytest.approx(cpu) and row["memory_allocatable"] == pytest.approx(memory)
        assert any(
            row["cpu_requests"] == pytest.approx(r["requests"][name][0])
            and row["memory_requests"] == pytest.approx(r["requests"][name][1])
            for r in readings
        ), (name, row, [r["requests"][name] for r in readings])
    assert any(sorted(check["data"]["namespaces"]) == r["namespaces"] for r in readings), check["data"]["namespaces"]
    # metrics.k8s.io (metrics-server, step 11): without it every node is named for having no NodeMetrics
    served = kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1", check=False).returncode == 0
    no_metrics = sorted(f["object"] for f in check["findings"] if f["message"] == "no NodeMetrics (metrics-server)")
    if served:
        assert no_metrics == [], check["findings"]
    else:
        assert no_metrics == sorted(f"node/{n}" for n in NODES), check["findings"]
        assert all(row["cpu_usage"] is None for row in nodes.values()), nodes


def test_policy_review_reads_the_apis_bindings_and_namespaces(reading_runs):
    done = reading_runs["done"]["policy"]
    rep = read_report(done, reading_runs["dirs"]["policy"], "policy")
    assert rep["kind"] == "monthly" and [c["name"] for c in rep["checks"]] == ["policy"], rep["checks"]
    (check,) = rep["checks"]
    failed = [f for f in check["findings"] if f["status"] == "fail"]
    assert done.returncode == (2 if failed else 0), output(done)
    readings = (reading_runs["before"]["policy"], reading_runs["after"]["policy"])
    admins = sorted(a["subject"] for a in check["data"]["cluster_admins"])
    assert any(admins == r["admins"] for r in readings), (admins, [r["admins"] for r in readings])
    assert set(admins) >= ADMINS_ALLOWED, admins  # kubeadm binds both
    # what fails: a namespace enforcing less than the default, cluster-admin bound to another subject
    below = sorted(f["object"].removeprefix("namespace/") for f in failed if f["object"].startswith("namespace/"))
    assert any(below == r["below"] for r in readings), (failed, [r["below"] for r in readings])
    bound = sorted(m[1] for f in failed if (m := re.fullmatch(r"binds cluster-admin to (.+) \(not allowed\)",
                                                                f["message"])))
    assert bound == sorted(a for a in admins if a not in ADMINS_ALLOWED), failed
    assert len(failed) == len(below) + len(bound), failed
    unlabelled = sorted(f["object"].removeprefix("namespace/") for f in check["findings"]
                        if "no pod-security.kubernetes.io/enforce label" in f["message"])
    assert any(unlabelled == r["unlabelled"] for r in readings), (unlabelled, [r["unlabelled"] for r in readings])
    assert any(
        check["summary"].startswith(f"{check['data']['violations']} Gatekeeper violation(s) in {r['constraints']} "
                                    f"constraint(s), {r['namespaces']} namespace(s), {len(admins)} cluster-admin")
        for r in readings
    ), (check["summary"], readings)


# ---------------------------------------------------------------------------- one fault at a time


def test_a_cordoned_worker_warns_and_pages_only_with_fail_on_warn(snapshots, tmp_path):
    kubectl("cordon", CORDONED)
    try:
        assert kubectl_json("get", "node", CORDONED)["spec"].get("unschedulable") is True
        with ThreadPoolExecutor(max_workers=2) as pool:
            default = pool.submit(daily, "daily.yml cordoned", tmp_path / "default")
            paging = pool.submit(daily, "daily.yml cordoned, fail_on warn", tmp_path / "paging",
                                 "-e", "maintenance_fail_on=warn")
            runs = {"default": default.result(), "paging": paging.result()}
    finally:
        kubectl("uncordon", CORDONED)
    assert not kubectl_json("get", "node", CORDONED)["spec"].get("unschedulable")
    for name, done in runs.items():
        rep = read_report(done, tmp_path / name, "daily")
        assert done.returncode == (0 if name == "default" else 2), (name, output(done))
        assert assert_daily(rep, nodes="warn") == "warn"
        nodes = [f[1:] for f in findings(rep) if f[0] == "nodes"]
        assert nodes == [("warn", f"node/{CORDONED}", "cordoned (spec.unschedulable)")], nodes
        assert_backups_young(rep, snapshots)


def crash_looping() -> dict | None:
    """The test pod once its container waits in CrashLoopBackOff after three restarts (the back-off
    is then 40 s or more: the daily run reads it waiting, not in its sub-second run)."""
    pod = kubectl_json("get", "pod", "-n", "kube-system", CRASHLOOP)
    for status in pod.get("status", {}).get("containerStatuses") or []:
        waiting = status.get("state", {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff" and status.get("restartCount", 0) >= 3:
            return pod
    return None


def remove_crashloop_pod() -> None:
    kubectl("delete", "pod", "-n", "kube-system", CRASHLOOP, "--grace-period=0", "--force", "--ignore-not-found")
    gone = until(lambda: not kubectl("get", "pod", "-n", "kube-system", CRASHLOOP, "--ignore-not-found",
                                     "-o", "name").stdout.strip(), timeout=120, interval=2)
    assert gone, f"pod {CRASHLOOP} is still there"


def test_a_crash_looping_pod_in_kube_system_fails_pods(snapshots, tmp_path):
    # The cluster's own etcd image (kubeadm's manifest; the rig's registry serves it): `etcd` refuses
    # an unknown flag and exits non-zero, and the kubelet restarts it (restartPolicy Always).
    image = node(CONTROL_PLANES[0]).check_output(f"grep -o 'image: .*' {MANIFESTS}/etcd.yaml").split()[-1]
    assert image.startswith(f"{REGISTRY}/etcd:"), image
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": CRASHLOOP, "namespace": "kube-system", "labels": {"app.kubernetes.io/name": CRASHLOOP}},
        "spec": {
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "etcd", "image": image, "imagePullPolicy": "IfNotPresent",
                            "command": ["etcd", "--no-such-flag"], "securityContext": RESTRICTED}],
        },
    }
    remove_crashloop_pod()  # left by an interrupted run
    kubectl("create", "-f", "-", stdin=json.dumps(pod))
    try:
        looping = until(crash_looping, timeout=300, interval=3)
        assert looping, kubectl("get", "pod", "-n", "kube-system", CRASHLOOP, "-o", "yaml").stdout
        last = looping["status"]["containerStatuses"][0]["lastState"]["terminated"]
        assert last["exitCode"] != 0, last
        done = daily("daily.yml crash loop", tmp_path)
    finally:
        remove_crashloop_pod()
    rep = read_report(done, tmp_path, "daily")
    assert done.returncode == 2, output(done)
    assert assert_daily(rep, pods="fail") == "fail"
    failed = [f for f in findings(rep) if f[1] == "fail"]
    assert [f[:3] for f in failed] == [("pods", "fail", f"pod/kube-system/{CRASHLOOP}")], failed
    assert "container etcd is crash-looping" in failed[0][3], failed
    assert_backups_young(rep, snapshots)


def test_a_stopped_backup_timer_fails_backups_naming_the_control_plane(snapshots, tmp_path):
    host = node(STOPPED_TIMER_ON)
    host.check_output(f"systemctl stop {TIMER}")
    try:
        assert host.run(f"systemctl is-active {TIMER}").stdout.strip() == "inactive"
        done = daily(f"daily.yml, {TIMER} stopped on {STOPPED_TIMER_ON}", tmp_path)
    finally:
        host.check_output(f"systemctl start {TIMER}")
    assert host.check_output(f"systemctl is-active {TIMER}") == "active"
    rep = read_report(done, tmp_path, "daily")
    assert done.returncode == 2, output(done)
    assert assert_daily(rep, backups="fail") == "fail"
    backups = [f[1:] for f in findings(rep) if f[0] == "backups"]
    assert [f[:2] for f in backups] == [("fail", f"etcd-backup/{STOPPED_TIMER_ON}")], backups
    assert f"{TIMER} is not running (is-active: inactive)" in backups[0][2], backups
    assert "not enabled" not in backups[0][2], backups  # stopped, still enabled at boot
    # the snapshots themselves are young: only the timer's state failed the check
    assert_backups_young(rep, snapshots)
