"""daily.yml's real gathering path, without the recorded seam: the Kubernetes answers come from a
read-only stand-in API (recorded objects, shifted to the time of the test), the etcd answers from a
REAL etcd (Debian's etcd server) with TLS and client-certificate authentication through etcdctl,
the certificates from a kubeadm-shaped PKI the test generates, the backup metric from a textfile.

Two control planes: cp1 is healthy; cp2 has no etcd listening and an expired certificate. A run
with cp1 alone passes (exit 0), a run with both fails (exit 2) naming cp2's problems. The etcd
backup timer: not read on cp1 (maintenance_etcd_backup_timer empty); on cp2 the real systemctl of
this machine is asked about a unit that does not exist, which must fail the backups check. A third
run (cp1, an inventory with Falco, Argo CD and Velero off) goes to a stand-in API of its own, so
that what it asked for can be told apart: no Falco pod, Application or Velero Backup.
"""

from __future__ import annotations

import calendar
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from day2_standin_api import StandInApi
from day2_support import FIXTURES, Pki, playbook
from prerequisites import missing

ETCD = "/usr/bin/etcd"
TS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")


@pytest.fixture(scope="module", autouse=True)
def _etcd_installed():
    """Every test here runs a real etcd: skipped without it, failed under CI."""
    if not Path(ETCD).exists():
        missing("scripts/setup.sh installs Debian's etcd")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _shift(value, seconds: float):
    """Every RFC 3339 time in recorded data moved by `seconds` (the recording becomes 'now')."""
    if isinstance(value, dict):
        return {k: _shift(v, seconds) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, seconds) for v in value]
    if isinstance(value, str):

        def move(match):
            stamp = time.strptime(match.group(0)[:19], "%Y-%m-%dT%H:%M:%S")
            moved = time.gmtime(calendar.timegm(stamp) + int(seconds))
            return time.strftime("%Y-%m-%dT%H:%M:%S", moved) + (match.group(1) or "") + "Z"

        return TS.sub(move, value)
    return value


@pytest.fixture(scope="module")
def world():
    tmp = Path(tempfile.mkdtemp(prefix="orch-rp-gather-", dir="/tmp"))
    # the PKI of cp1: etcd's server and client certificates are part of it, as with kubeadm
    cp1 = Pki(tmp / "cp1")
    cp1.write("pki/etcd/ca.crt", cp1.pem(cp1.ca))
    server, server_key = cp1.leaf("cp1", days=365, ips=("127.0.0.1",))
    cp1.write("pki/etcd/server.crt", cp1.pem(server))
    cp1.write("pki/etcd/server.key", cp1.key_pem(server_key))
    client, client_key = cp1.leaf("kube-etcd-healthcheck-client", days=365)
    cp1.write("pki/etcd/healthcheck-client.crt", cp1.pem(client))
    cp1.write("pki/etcd/healthcheck-client.key", cp1.key_pem(client_key))
    apiserver, _ = cp1.leaf("kube-apiserver", days=200)
    cp1.write("pki/apiserver.crt", cp1.pem(apiserver))
    admin, admin_key = cp1.leaf("kubernetes-admin", org="kubeadm:cluster-admins", days=300)
    cp1.kubeconfig("admin.conf", admin, admin_key)
    for path in (tmp / "cp1").rglob("*.key"):
        path.chmod(0o600)
    # cp2: an expired API server certificate, no etcd
    cp2 = Pki(tmp / "cp2")
    expired, _ = cp2.leaf("kube-apiserver", days=-1)
    cp2.write("pki/apiserver.crt", cp2.pem(expired))

    client_port, peer_port = _port(), _port()
    etcd_dir = tmp / "etcd"
    log = open(tmp / "etcd.log", "w")  # noqa: SIM115 - closed below
    etcd = subprocess.Popen(
        [
            ETCD,
            "--name",
            "cp1",
            "--data-dir",
            str(etcd_dir),
            "--listen-client-urls",
            f"https://127.0.0.1:{client_port}",
            "--advertise-client-urls",
            f"https://127.0.0.1:{client_port}",
            "--listen-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-advertise-peer-urls",
            f"http://127.0.0.1:{peer_port}",
            "--initial-cluster",
            f"cp1=http://127.0.0.1:{peer_port}",
            "--cert-file",
            str(tmp / "cp1/pki/etcd/server.crt"),
            "--key-file",
            str(tmp / "cp1/pki/etcd/server.key"),
            "--client-cert-auth",
            "--trusted-ca-file",
            str(tmp / "cp1/pki/etcd/ca.crt"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    recorded = json.loads((FIXTURES / "daily-healthy.json").read_text())
    shift = time.time() - recorded["recorded_at"]
    inputs = _shift(recorded["inputs"], shift)
    objects = inputs["nodes"] + inputs["pods"] + inputs["applications"] + inputs["velero_backups"]
    falco_pods = [p for p in inputs["pods"] if p["metadata"]["namespace"] == "falco"]
    for pod in falco_pods:
        pod["metadata"]["labels"]["app.kubernetes.io/name"] = "falco"
    logs = {("falco", falco_pods[0]["metadata"]["name"], "falco"): "\n".join(inputs["falco"]) + "\n"}
    api = StandInApi(objects, logs)
    bare_api = StandInApi(objects, logs)  # the run of an inventory without Falco, Argo CD and Velero
    (tmp / "bare").mkdir()
    # Argo CD and Velero switched on, but their CRDs were never installed: the API serves neither kind
    crdless_api = StandInApi(objects, logs, without=("Application", "Backup"))
    (tmp / "crdless").mkdir()

    (tmp / "cp1/etcd_backup.prom").write_text(
        "orchestrator_etcd_backup_last_success_timestamp_seconds %d\n" % (time.time() - 3600)
    )
    deadline = time.time() + 30
    while time.time() < deadline and b"ready to serve client requests" not in (tmp / "etcd.log").read_bytes():
        time.sleep(0.2)
    yield {"tmp": tmp, "api": api, "bare_api": bare_api, "crdless_api": crdless_api, "etcd_port": client_port}
    api.stop()
    bare_api.stop()
    crdless_api.stop()
    etcd.terminate()
    etcd.wait(timeout=30)
    log.close()
    shutil.rmtree(tmp)


def _host(world, name: str, etcd_port: int) -> dict:
    root = world["tmp"] / name
    return {
        "ansible_connection": "local",
        "ansible_become": False,
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "maintenance_cert_paths": [f"{root}/pki/*.crt", f"{root}/pki/etcd/*.crt"],
        "maintenance_cert_kubeconfigs": [f"{root}/admin.conf"],
        "maintenance_etcd_endpoint": f"https://127.0.0.1:{etcd_port}",
        "maintenance_etcd_cacert": f"{world['tmp']}/cp1/pki/etcd/ca.crt",
        "maintenance_etcd_cert": f"{world['tmp']}/cp1/pki/etcd/healthcheck-client.crt",
        "maintenance_etcd_key": f"{world['tmp']}/cp1/pki/etcd/healthcheck-client.key",
        "maintenance_etcd_backup_metric_file": f"{root}/etcd_backup.prom",
        # cp1: the timer is not read; cp2: systemctl is asked about a timer this machine does not have
        "maintenance_etcd_backup_timer": "" if name == "cp1" else "orch-day2-test-absent.timer",
    }


@pytest.fixture(scope="module")
def runs(world):
    tmp = world["tmp"]
    out = {}
    procs = {}
    for name, hosts in (("cp1", ["cp1"]), ("both", ["cp1", "cp2", "cp3"]), ("bare", ["cp1"]), ("crdless", ["cp1"])):
        dead = _port()  # nothing listens there
        inventory = tmp / f"inventory-{name}.yml"
        inventory.write_text(
            yaml.safe_dump(
                {
                    "all": {
                        "hosts": {
                            "localhost": {
                                "ansible_connection": "local",
                                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                            }
                        },
                        "children": {
                            "control_plane": {
                                "hosts": {
                                    h: _host(world, h, world["etcd_port"] if h == "cp1" else dead)
                                    if h != "cp3"
                                    # a control plane that is down: SSH to a port where nothing listens
                                    else {
                                        "ansible_connection": "ssh",
                                        "ansible_host": "127.0.0.1",
                                        "ansible_port": dead,
                                        "ansible_ssh_common_args": "-o ConnectTimeout=5 -o StrictHostKeyChecking=no",
                                    }
                                    for h in hosts
                                }
                            }
                        },
                    }
                }
            )
        )
        api = world.get(f"{name}_api", world["api"])
        extra = {
            "maintenance_kubeconfig": str(api.kubeconfig(tmp / name if f"{name}_api" in world else tmp)),
            # The stand-in is not this inventory's API endpoint: the kubeconfig check's escape hatch.
            "cluster_kubeconfig_server": f"http://127.0.0.1:{api.port}",
            "maintenance_report_dir": str(tmp / f"reports-{name}"),
            "cluster_name": "lab",
        }
        if name == "bare":
            extra.update(falco_enabled=False, argocd_enabled=False, velero_enabled=False)
        procs[name] = playbook("playbooks/maintenance/daily.yml", tmp, extra, inventory=inventory)
    for name, proc in procs.items():
        rc = proc.wait(timeout=300)
        proc.log_file.close()
        out[name] = (rc, Path(proc.log_path).read_text(), tmp / f"reports-{name}")
    return out


def _report(runs, name):
    rc, log, reports = runs[name]
    return rc, log, json.loads((reports / "daily-latest.json").read_text())


def test_healthy_control_plane_passes(runs):
    rc, log, report = _report(runs, "cp1")
    assert rc == 0, log[-4000:]
    assert report["verdict"] == "ok", json.dumps(report["checks"], indent=1)[:4000]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["nodes"]["data"] == {"total": 5, "ready": 5}
    assert checks["pods"]["data"]["total"] == 32  # the Pods of the platform namespaces only
    assert checks["applications"]["data"] == {"total": 2, "synced_healthy": 2}
    assert checks["falco"]["data"]["alerts"] == 1  # the log's JSON line, not its start-up lines
    # the real etcd, read through etcdctl with TLS client authentication
    assert checks["etcd"]["data"]["healthy"] == 1
    assert checks["etcd"]["data"]["db_size_bytes"]["cp1"] > 0
    # the generated PKI: apiserver, etcd ca/server/healthcheck-client, admin.conf
    assert checks["certificates"]["data"]["count"] == 5
    assert 199 < checks["certificates"]["data"]["soonest_days"] < 201
    assert checks["backups"]["status"] == "ok"


def test_broken_control_plane_fails_and_is_named(runs):
    """cp2 answers badly, cp3 does not answer at all: the report is written, the run fails (2 for
    the failed checks, or 4 as ansible-playbook reports the unreachable host)."""
    rc, log, report = _report(runs, "both")
    assert rc in (2, 4), log[-4000:]
    assert "Stop with an error when a check needs a human" in log
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "nodes": "ok",
        "pods": "ok",
        "certificates": "fail",
        "etcd": "fail",
        "applications": "ok",
        "falco": "ok",
        "backups": "fail",
    }
    findings = {(c["name"], f["status"], f["object"]) for c in report["checks"] for f in c["findings"]}
    assert ("certificates", "fail", f"cert/cp2:{runs['both'][2].parent}/cp2/pki/apiserver.crt") in findings
    assert ("etcd", "fail", "etcd/cp2") in findings
    assert ("etcd", "fail", "etcd") in findings  # 1 of 2 members healthy: quorum at risk
    assert ("backups", "warn", "etcd-backup/cp2") in findings  # no metric file on cp2
    assert ("backups", "fail", "etcd-backup/cp2") in findings  # and its timer is not there
    timer = next(
        f["message"]
        for c in report["checks"]
        for f in c["findings"]
        if f["status"] == "fail" and f["object"] == "etcd-backup/cp2"
    )
    assert "orch-day2-test-absent.timer is not running" in timer and "not enabled at boot" in timer, timer
    assert ("certificates", "fail", "cert/cp3:-") in findings
    assert ("etcd", "fail", "etcd/cp3") in findings
    etcd = next(c for c in report["checks"] if c["name"] == "etcd")
    assert etcd["data"]["healthy"] == 1 and etcd["data"]["expected"] == 3


def test_requests_the_gathering_sent(world, runs):
    paths = [(p, q) for p, q, _auth in world["api"].requests]
    assert all(auth == "Bearer day2-stand-in-token" for _p, _q, auth in world["api"].requests)
    logs = [q for p, q in paths if p.endswith("/log")]
    assert logs and all(q["container"] == ["falco"] and q["sinceSeconds"] == ["86400"] for q in logs)
    assert any(
        p == "/api/v1/namespaces/falco/pods" and q.get("labelSelector") == ["app.kubernetes.io/name=falco"]
        for p, q in paths
    )
    assert "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications" in [p for p, _q in paths]
    assert "/apis/velero.io/v1/namespaces/velero/backups" in [p for p, _q in paths]


def test_without_platform_parts_their_objects_are_not_asked_for(world, runs):
    rc, log, report = _report(runs, "bare")
    assert rc == 0, log[-4000:]
    assert [c["name"] for c in report["checks"]] == ["nodes", "pods", "certificates", "etcd", "backups"]
    backups = next(c for c in report["checks"] if c["name"] == "backups")
    assert backups["status"] == "ok" and backups["data"]["velero"] == {}, backups
    assert list(backups["data"]["etcd"]) == ["cp1"] and backups["data"]["etcd"]["cp1"]
    paths = [p for p, _q, _auth in world["bare_api"].requests]
    assert "/api/v1/pods" in paths  # the run did read this API
    asked = [p for p in paths if "velero" in p or "argoproj" in p or "falco" in p]
    assert asked == [], asked


def test_an_api_the_cluster_does_not_serve_fails_its_check(world, runs):
    """Argo CD and Velero on, their CRDs missing: k8s_info finds no API (api_found false, no
    resources), which must not read as an empty, passing list."""
    rc, log, report = _report(runs, "crdless")
    assert rc == 2, log[-4000:]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {n: "fail" if n in ("applications", "backups") else "ok" for n in statuses}, statuses
    assert list(statuses) == ["nodes", "pods", "certificates", "etcd", "applications", "falco", "backups"]
    messages = {c["name"]: [f["message"] for f in c["findings"]] for c in report["checks"]}
    assert messages["applications"] == [
        'not gathered: Failed to find API for resource with apiVersion "argoproj.io/v1alpha1" and kind "Application"'
    ], messages
    assert messages["backups"] == [
        'not gathered: Failed to find API for resource with apiVersion "velero.io/v1" and kind "Backup"'
    ], messages
    paths = [p for p, _q, _auth in world["crdless_api"].requests]
    assert "/apis" in paths and not [p for p in paths if p.startswith(("/apis/argoproj.io/", "/apis/velero.io/"))]
