"""etcd backups against the cluster's REAL etcd (kubeadm's stacked etcd: a static pod on each
control plane, three members, TLS with kubeadm's certificates): the timer is scheduled, its
service takes verified snapshots, keeps the newest etcd_backup_keep (3 in this scenario) and
copies each to orch-cl-w2, which keeps etcd_backup_rsync_keep (2) per control plane; a snapshot
that cannot be taken fails the service and leaves nothing behind.
"""

from __future__ import annotations

import time

import pytest
import testinfra
from rig import until

CONTROL_PLANES = ["orch-cl-cp1", "orch-cl-cp2", "orch-cl-cp3"]
TARGET = "orch-cl-w2"
KEEP, REMOTE_KEEP = 3, 2
ETCDCTL = (
    "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
    "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
)


def snapshots(node, directory: str) -> list[str]:
    out = node.run(f"ls -1 {directory} 2>/dev/null | grep -E '^etcd-.*\\.db$' || true").stdout.split()
    return sorted(out)


def test_timer_is_enabled_and_scheduled(host):
    if host.backend.get_hostname() not in CONTROL_PLANES:
        pytest.skip("control planes only")
    timer = host.service("etcd-backup.timer")
    assert timer.is_enabled and timer.is_running
    next_run = host.check_output("systemctl show etcd-backup.timer -p NextElapseUSecRealtime --value")
    assert next_run.strip() not in ("", "n/a", "0")
    assert host.file("/etc/etcd-backup/etcd-backup.env").mode == 0o600
    assert host.file("/etc/etcd-backup/id_ed25519").mode == 0o600


PROM = "/var/lib/node_exporter/textfile_collector/etcd_backup.prom"


def metrics(node) -> dict[str, float]:
    values = {}
    for line in node.check_output(f"cat {PROM}").splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name.removeprefix("orchestrator_etcd_backup_")] = float(value)
    return values


def test_service_takes_verified_snapshots_prunes_and_copies_off_node():
    cp = testinfra.get_host("podman://orch-cl-cp1")
    target = testinfra.get_host(f"podman://{TARGET}")
    started = int(cp.check_output("date +%s"))
    marker = f"backup-test-{int(time.time())}"
    cp.check_output(f"{ETCDCTL} put /registry/orchestrator-test/marker {marker}")
    for _ in range(KEEP + 2):
        run = cp.run("systemctl start etcd-backup.service")
        assert run.rc == 0, cp.run("journalctl -u etcd-backup.service --no-pager -n 30").stdout
        time.sleep(1.1)  # snapshot names carry the second
    local = snapshots(cp, "/var/backups/etcd")
    assert len(local) == KEEP, local
    assert cp.run("cd /var/backups/etcd && sha256sum -c --quiet ./*.sha256").rc == 0
    newest = local[-1]
    # etcd 3.6 (the cluster's own tools, roles/cluster etcd_tools) reads snapshots with etcdutl.
    status = cp.check_output(f"etcdutl snapshot status /var/backups/etcd/{newest} -w json")
    assert '"totalKey":' in status and int(status.split('"totalKey":')[1].split(",")[0].split("}")[0]) >= 6
    # The snapshot holds the key written just before: restore it into a scratch dir and read it back.
    restore = cp.run(
        f"rm -rf /tmp/restore && etcdutl snapshot restore /var/backups/etcd/{newest} "
        "--data-dir /tmp/restore/data >/dev/null 2>&1 && "
        "grep -a -c " + marker + " /tmp/restore/data/member/snap/db; rm -rf /tmp/restore"
    )
    assert restore.stdout.strip() not in ("", "0"), restore.stdout + restore.stderr
    remote_dir = "/srv/etcd-backups/orch-cl-cp1"
    remote = snapshots(target, remote_dir)
    assert len(remote) == REMOTE_KEEP, remote
    assert remote == local[-REMOTE_KEEP:]
    assert target.run(f"cd {remote_dir} && sha256sum -c --quiet ./*.sha256").rc == 0
    assert target.file("/srv/etcd-backups").mode == 0o700
    # Each snapshot carries the encryption configuration of its moment (0600), on both sides.
    for node, directory, kept in ((cp, "/var/backups/etcd", local), (target, remote_dir, remote)):
        for snapshot in kept:
            key = node.file(f"{directory}/{snapshot}.encryption-config.yaml")
            assert key.exists and key.mode == 0o600 and key.user == "root", (directory, snapshot)
            assert "EncryptionConfiguration" in key.content_string
    # The metric step 9's "backup age" alert reads, for node-exporter's textfile collector (0644).
    values = metrics(cp)
    assert values["last_success_timestamp_seconds"] >= started
    assert values["last_size_bytes"] == int(cp.check_output(f"stat -c %s /var/backups/etcd/{newest}"))
    assert values["last_keys"] >= 6 and "last_failure_timestamp_seconds" not in values
    assert cp.file(PROM).mode == 0o644
    assert cp.file(PROM.rsplit("/", 1)[0]).mode == 0o755


def test_a_failed_snapshot_fails_the_service_and_leaves_nothing():
    cp = testinfra.get_host("podman://orch-cl-cp2")
    assert cp.run("systemctl start etcd-backup.service").rc == 0
    good = metrics(cp)
    before = snapshots(cp, "/var/backups/etcd")
    # kubeadm's etcd is a static pod: without its manifest the kubelet stops this member (the other
    # two keep the quorum).
    cp.check_output("mv /etc/kubernetes/manifests/etcd.yaml /etc/kubernetes/etcd.yaml.parked")
    try:
        assert until(lambda: cp.run(f"{ETCDCTL} --command-timeout=2s endpoint health").rc != 0, timeout=60)
        run = cp.run("systemctl start etcd-backup.service")
        assert run.rc != 0
        # The failure is recorded; the last success stays what it was, so the backup age keeps growing.
        after = metrics(cp)
        assert after["last_failure_timestamp_seconds"] >= good["last_success_timestamp_seconds"]
        assert after["last_success_timestamp_seconds"] == good["last_success_timestamp_seconds"]
        state = cp.check_output("systemctl show etcd-backup.service -p Result --value")
        assert state.strip() != "success"
        assert snapshots(cp, "/var/backups/etcd") == before
        assert not cp.run("ls -A /var/backups/etcd | grep -E 'tmp|part'").stdout.strip()
    finally:
        cp.check_output("mv /etc/kubernetes/etcd.yaml.parked /etc/kubernetes/manifests/etcd.yaml")
    assert until(lambda: cp.run(f"{ETCDCTL} --command-timeout=2s endpoint health").rc == 0, timeout=120), \
        "the member did not come back"
