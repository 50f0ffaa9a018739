"""State after molecule/etcd_dr's side effect: backup, data destroyed, restore, DR drills.

Every member is read on its own (serializable reads of its local data), against the 500 keys and
values prepare.yml wrote and kept in the ephemeral directory; the drill reports are the files the
playbooks copied to the controller.
"""

import base64
import glob
import json
import os

import pytest

EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
MEMBERS = ["orch-dr-cp1", "orch-dr-cp2", "orch-dr-cp3"]
ETCDCTL = (
    "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
    "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
)


def member(host):
    return host.backend.get_hostname() in MEMBERS


def expected_keys():
    assert EPHEMERAL, "MOLECULE_EPHEMERAL_DIRECTORY is not set: run through molecule"
    with open(os.path.join(EPHEMERAL, "keys.json")) as handle:
        keys = json.load(handle)
    assert len(keys) == 500 and len(set(keys.values())) == 500
    return keys


def local_kvs(host, prefix):
    """Every key and value under prefix in this member's own data (serializable read)."""
    out = host.check_output(f"{ETCDCTL} get {prefix} --prefix --consistency=s --write-out json")
    kvs = json.loads(out).get("kvs", [])
    return {base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"]).decode() for kv in kvs}


def report(name):
    files = sorted(glob.glob(os.path.join(EPHEMERAL, name, "etcd-drill-*.json")))
    assert len(files) == 1, f"{name}: {files}"
    with open(files[0]) as handle:
        return json.load(handle)


def test_every_key_and_value_is_back_on_every_member(host):
    if not member(host):
        pytest.skip("not an etcd member")
    assert local_kvs(host, "/registry/dr-test/") == expected_keys()


def test_keys_written_after_the_backup_are_not_restored(host):
    if not member(host):
        pytest.skip("not an etcd member")
    assert local_kvs(host, "/registry/dr-after-backup/") == {}


def test_the_cluster_has_three_healthy_members_with_the_same_data(host):
    if not member(host):
        pytest.skip("not an etcd member")
    members = json.loads(host.check_output(f"{ETCDCTL} member list --write-out json"))["members"]
    assert sorted(m["name"] for m in members) == MEMBERS
    health = json.loads(host.check_output(f"{ETCDCTL} endpoint health --cluster --write-out json"))
    assert len(health) == 3 and all(h["health"] for h in health)
    hashes = json.loads(host.check_output(f"{ETCDCTL} endpoint hashkv --cluster --write-out json"))
    assert len({h["HashKV"]["hash"] for h in hashes}) == 1


def test_the_restored_cluster_has_a_new_cluster_token_and_the_old_data_was_kept(host):
    if not member(host):
        pytest.skip("not an etcd member")
    kept = host.check_output("ls -d /var/lib/etcd/member.before-restore-* 2>/dev/null || true").split()
    assert len(kept) == 1
    # The data moved aside (the emptied cluster's) is kept, never deleted.
    assert host.file(kept[0] + "/wal").is_directory
    assert host.file("/var/lib/etcd/member").mode == 0o700
    assert not host.file("/var/lib/etcd-restore").exists or host.check_output("ls -A /var/lib/etcd-restore") == ""
    assert host.service("etcd").is_running


def test_the_drill_on_the_newest_snapshot_passed_with_figures(host):
    if host.backend.get_hostname() != "orch-dr-cp1":
        pytest.skip("the drill runs on the first control plane")
    result = report("drill-ok")
    assert result["status"] == "success", result["reason"]
    assert result["reference"]["source"] == "manifest"
    assert result["scratch"]["key_count"] == 500 == result["reference"]["key_count"]
    assert result["scratch"]["hashkv"] == result["reference"]["hashkv"]
    assert result["scratch"]["revision"] == result["snapshot"]["revision"]
    assert 0 < result["rto_seconds"] < 120
    assert result["snapshot"]["embedded_sha256"] == "ok" and result["snapshot"]["sidecar_sha256"] == "ok"
    assert result["scratch_stopped"] is True


def test_the_drill_without_manifest_used_the_live_cluster(host):
    if host.backend.get_hostname() != "orch-dr-cp1":
        pytest.skip("the drill runs on the first control plane")
    result = report("drill-nomanifest")
    assert result["status"] == "success", result["reason"]
    assert result["reference"]["source"] == "live cluster"
    assert result["scratch"]["key_count"] == 500 and result["scratch"]["hashkv"] == result["reference"]["hashkv"]
    # The last successful drill (this one: the failing drills in between must not touch the metrics).
    metrics = host.file("/var/lib/node_exporter/textfile_collector/etcd_drill.prom").content_string
    assert "orchestrator_etcd_drill_last_success_timestamp_seconds " in metrics
    assert f"orchestrator_etcd_drill_rto_seconds {result['rto_seconds']}\n" in metrics


def test_the_drill_on_a_corrupt_snapshot_failed_and_says_why(host):
    if host.backend.get_hostname() != "orch-dr-cp1":
        pytest.skip("the drill runs on the first control plane")
    result = report("drill-corrupt")
    assert result["status"] == "failure"
    assert "embedded sha256 mismatch" in result["reason"] and "differs from" in result["reason"]
    assert result["snapshot"]["embedded_sha256"] == "mismatch"
    assert result["rto_seconds"] is None and result["scratch"] == {}


def test_the_drill_with_a_tampered_manifest_failed_after_the_scratch_etcd_ran(host):
    if host.backend.get_hostname() != "orch-dr-cp1":
        pytest.skip("the drill runs on the first control plane")
    result = report("drill-tampered")
    assert result["status"] == "failure"
    assert "does not match" in result["reason"]
    assert result["scratch"]["key_count"] == 500 and result["reference"]["key_count"] == 501
    assert result["scratch_stopped"] is True


def test_no_scratch_etcd_is_left(host):
    if not member(host):
        pytest.skip("not an etcd member")
    assert not host.service("orchestrator-etcd-drill").is_running
    assert not host.socket("tcp://127.0.0.1:23790").is_listening
    assert not host.socket("tcp://127.0.0.1:23800").is_listening
    assert host.check_output("ls -d /var/tmp/etcd-drill-* 2>/dev/null || true") == ""
    assert host.check_output("pgrep -f -c '[e]tcd --name drill' || true") == "0"


def test_the_backup_playbook_copied_snapshots_off_node(host):
    if host.backend.get_hostname() != "orch-dr-ops":
        pytest.skip("the off-node copies are on the operations host")
    for name in MEMBERS:
        copies = host.check_output(f"ls /srv/etcd-backups/{name}/").split()
        assert any(c.endswith(".db") for c in copies) and any(c.endswith(".db.sha256") for c in copies), copies
    for name in MEMBERS:
        fetched = glob.glob(os.path.join(EPHEMERAL, "backups", name, "etcd-*.db.manifest.json"))
        assert fetched
        for snapshot in glob.glob(os.path.join(EPHEMERAL, "backups", name, "etcd-*.db")):
            assert os.stat(snapshot).st_mode & 0o777 == 0o600, snapshot
        for path in fetched:
            with open(path) as handle:
                manifest = json.load(handle)
            assert manifest["reference"]["key_count"] == 500
            assert manifest["reference"]["members"] == MEMBERS
