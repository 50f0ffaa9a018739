"""etcd restore on the cluster's REAL stacked etcd (issue 17 item 1; runs last, see conftest.py).

Known objects (200 ConfigMaps, 50 Secrets) are written through the API; playbooks/etcd_backup.yml
takes the snapshot and playbooks/dr_drill.yml restores it into a scratch etcd of the cluster's
version and compares it with its manifest; one more ConfigMap is written after it. Then etcd's data is destroyed on all
three control planes (static pod stopped by moving its manifest away, member directory deleted,
manifest put back: the first control plane starts an empty one-member etcd, the two others cannot
join it). playbooks/etcd_restore.yml (static_pod runtime: the real kubelet stops and starts etcd
and the other control-plane pods) must bring every object back with its data, not the one written
after the snapshot, answer through the VIP, with three members of equal hashkv, every node Ready.
It uses the etcdctl/etcdutl of the cluster's own etcd image (3.6), not Debian's 3.4.

Before anything is destroyed, `--check` and a `--limit` that leaves out a control plane must
leave etcd as it was: same members, every manifest in place, the same etcd and API server
containers still running (none restarted).
"""

from __future__ import annotations

import json
import time

from rig import (
    CONTROL_PLANES,
    CRICTL,
    ETCDCTL,
    MANIFESTS,
    WORKERS,
    etcd_state,
    kubectl,
    kubectl_json,
    node,
    run_playbooks,
    until,
    vip_readyz,
)

NAMESPACE = "restore-test"
CONFIGMAPS, SECRETS = 200, 50
PARKED = "/root/etcd.yaml.parked-by-test"


def known_objects() -> dict:
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"known-{i:03d}", "namespace": NAMESPACE},
         "data": {"index": str(i), "payload": f"configmap {i} " + "x" * (i % 50)}}
        for i in range(CONFIGMAPS)
    ] + [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"known-secret-{i:03d}", "namespace": NAMESPACE},
         "type": "Opaque", "stringData": {"token": f"secret-{i}-{'y' * (i % 20)}"}}
        for i in range(SECRETS)
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def stored() -> dict[tuple[str, str], dict]:
    """(kind, name) -> data of every ConfigMap and Secret of the namespace, read through the API."""
    listed = kubectl_json("get", "configmaps,secrets", "-n", NAMESPACE)["items"]
    return {(o["kind"], o["metadata"]["name"]): o.get("data", {}) for o in listed
            if o["metadata"]["name"].startswith("known-") or o["metadata"]["name"] == "after-the-backup"}


def test_etcdctl_and_etcdutl_are_the_clusters_own_version():
    image = node(CONTROL_PLANES[0]).check_output(f"grep -o 'image: .*' {MANIFESTS}/etcd.yaml").split()[-1]
    tag = image.rsplit(":", 1)[-1]  # e.g. 3.6.5-0
    for cp in CONTROL_PLANES:
        host = node(cp)
        assert host.check_output("command -v etcdutl") == "/usr/local/bin/etcdutl"
        assert host.check_output("readlink -f /usr/local/bin/etcdctl").startswith("/usr/local/lib/orchestrator/etcd/")
        version = host.check_output("etcdutl version")
        assert f"etcdutl version: {tag.split('-')[0]}" in version, (cp, image, version)
        assert tag.startswith("3.6"), image


def test_check_mode_and_a_limit_leave_etcd_as_it_was():
    kubectl("create", "namespace", NAMESPACE)
    # A restore plans from the newest snapshot: take one (step 3's backup service), so this test does
    # not depend on test_etcd_backup having run before it.
    node(CONTROL_PLANES[0]).check_output("systemctl start etcd-backup.service")
    before = etcd_state()
    assert len(before["members"]) == 3 and all(before[cp]["etcd"] for cp in CONTROL_PLANES)
    planned = run_playbooks(["etcd_restore.yml"], "--check", "-e", "etcd_restore_confirm=true", timeout=900)
    assert planned.returncode == 0, planned.stdout[-4000:]
    assert "etcd_restore (check mode)" in planned.stdout and "Nothing was stopped or changed" in planned.stdout
    refused = run_playbooks(["etcd_restore.yml"], "--limit", "orch-cl-cp1,orch-cl-cp2",
                            "-e", "etcd_restore_confirm=true", timeout=900)
    assert refused.returncode != 0
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "leaves out orch-cl-cp3" in said, said[-3000:]
    assert etcd_state() == before


def test_restore_brings_back_every_object_after_every_members_data_is_destroyed():
    first = node(CONTROL_PLANES[0])
    kubectl("apply", "-f", "-", stdin=json.dumps(known_objects()), timeout=300)
    known = stored()
    assert len(known) == CONFIGMAPS + SECRETS

    started = time.monotonic()
    backup = run_playbooks(["etcd_backup.yml"], "--limit", CONTROL_PLANES[0], timeout=900)
    assert backup.returncode == 0, backup.stdout[-4000:]
    snapshot = first.check_output("ls -1t /var/backups/etcd/etcd-*.db | head -n 1")
    assert first.file(snapshot + ".manifest.json").exists
    print(f"backup: {time.monotonic() - started:.0f} s, {snapshot}")
    # The monthly DR drill on the same snapshot: restored into a scratch etcd of the cluster's own
    # version (etcd copied from its image) on the first control plane, compared with its manifest.
    started = time.monotonic()
    drill = run_playbooks(["dr_drill.yml"], timeout=900)
    assert drill.returncode == 0, drill.stdout[-4000:]
    report = json.loads(first.check_output("cat /var/lib/etcd-drill/latest.json"))
    assert report["status"] == "success" and report["snapshot"]["file"] == snapshot, report
    assert report["scratch"]["version"].startswith("3.6") and report["scratch_stopped"], report
    assert report["scratch"]["hashkv"] == report["reference"]["hashkv"], report
    assert report["scratch"]["key_count"] == report["reference"]["key_count"] >= CONFIGMAPS + SECRETS, report
    print(f"dr_drill.yml: {time.monotonic() - started:.0f} s, RTO {report['rto_seconds']} s")
    kubectl("create", "configmap", "after-the-backup", "-n", NAMESPACE, "--from-literal=written=after")

    # The disaster: every member's data is gone (the kubelet stops etcd when its manifest leaves).
    for cp in CONTROL_PLANES:
        node(cp).check_output(f"mv {MANIFESTS}/etcd.yaml {PARKED}")
    for cp in CONTROL_PLANES:
        stopped = until(lambda cp=cp: not node(cp).check_output(f"{CRICTL} ps --name '^etcd$' -q").strip(), timeout=120)
        assert stopped, cp
    for cp in CONTROL_PLANES:
        node(cp).check_output(f"rm -rf /var/lib/etcd/member && mv {PARKED} {MANIFESTS}/etcd.yaml")
    # The first control plane's etcd starts empty (a new one-member cluster): the objects are gone.
    assert until(lambda: first.run(f"{ETCDCTL} get /registry/namespaces/kube-system --keys-only").rc == 0
                 and not first.check_output(f"{ETCDCTL} get /registry/configmaps/{NAMESPACE}/ --prefix --keys-only"),
                 timeout=180)

    # A member that could not start (the other two: they cannot join the empty one) may have written
    # no member directory: only those that have one get it moved aside.
    had_member = [cp for cp in CONTROL_PLANES if node(cp).file("/var/lib/etcd/member").is_directory]
    assert CONTROL_PLANES[0] in had_member
    started = time.monotonic()
    restored = run_playbooks(["etcd_restore.yml"], "-e", "etcd_restore_confirm=true", timeout=1800)
    took = time.monotonic() - started
    assert restored.returncode == 0, restored.stdout[-6000:]
    assert f"restored {snapshot}" in " ".join(restored.stdout.split()), restored.stdout[-3000:]
    print(f"etcd_restore.yml: {took:.0f} s")

    # Through the VIP, as every client of the cluster reaches it.
    probe = " ".join(vip_readyz("5s"))
    assert until(lambda: node(WORKERS[0]).run(probe).rc == 0, timeout=180)
    back = until(lambda: stored() or None, timeout=120)
    assert ("ConfigMap", "after-the-backup") not in back
    assert back == known
    # Three members, one data: equal hashkv at one revision, bumped past the snapshot's.
    members = json.loads(first.check_output(f"{ETCDCTL} member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == CONTROL_PLANES
    hashes = json.loads(first.check_output(f"{ETCDCTL} endpoint hashkv --cluster -w json"))
    assert len(hashes) == 3 and len({h["HashKV"]["hash"] for h in hashes}) == 1, hashes
    # The old data is kept aside, never deleted; the held manifests are all back.
    for cp in CONTROL_PLANES:
        host = node(cp)
        assert (host.run("ls -d /var/lib/etcd/member.before-restore-*").rc == 0) == (cp in had_member), cp
        assert sorted(host.check_output(f"ls -1 {MANIFESTS}").split()) == [
            "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"]
    # The kubelets and controllers carry on with the restored state: every node Ready again.
    def all_ready():
        nodes = kubectl_json("get", "nodes")["items"]
        ready = [n["metadata"]["name"] for n in nodes
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
        return len(ready) == len(CONTROL_PLANES) + len(WORKERS)
    assert until(all_ready, timeout=300, interval=5)
    print(f"restore to every node Ready: {time.monotonic() - started:.0f} s")
