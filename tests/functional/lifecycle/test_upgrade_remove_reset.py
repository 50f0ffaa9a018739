"""upgrade.yml, remove_node.yml and reset.yml on real node containers (podman, systemd), with the
RECORDING STAND-IN kubeadm/kubelet/kubectl packages of tests/standins in a signed local apt
repository holding two versions, and a stand-in Kubernetes API on the controller
(lifecycle_standins.StandinNodesAPI) for the version checks, drain, uncordon and Node deletion.

The recording STAND-IN etcdctl (standins/etcdctl, copied onto the control planes by the tests
that remove a control plane) answers member list / endpoint health from a state file the test
sets and records member remove: the rig runs no etcd. The etcd snapshot the upgrade checks for is
a STAND-IN file (random bytes with the .sha256 etcd-backup writes): the check reads only its age
and checksum.

What is real: the package pin/unhold/upgrade/hold (apt, dpkg), the kubelet restart (systemd), the
play ordering, serial and failure handling of Ansible, reachability of a stopped container. What is
a stand-in: kubeadm (records its argv with a timestamp), the API server. The UTC timestamps of the
nodes' kubeadm log and of the API requests prove the order.

The playbooks reach the nodes over SSH as on real servers (a throwaway key authorized for root,
fixed addresses, ControlMaster sockets in the rig's temporary directory, closed at the end): a
podman exec per module made every playbook run several times slower. The checks read the nodes
with podman exec.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from lifecycle_standins import StandinNodesAPI
from prerequisites import missing

pytestmark = pytest.mark.nodes

ROOT = Path(__file__).resolve().parents[3]
NETWORK, SUBNET = "orch-lc", "10.213.43.0/24"
CPS, WORKERS = ["orch-lc-cp1", "orch-lc-cp2"], ["orch-lc-w1"]
NODES = CPS + WORKERS
ADDRESSES = {name: f"10.213.43.{11 + n}" for n, name in enumerate(NODES)}
# No host key is recorded (the nodes are new each run); ServerAlive ends a session to a stopped node.
SSH_ARGS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
            "-o ServerAliveInterval=5 -o ServerAliveCountMax=3")
FROM, TO = "1.36.4", "1.37.0"


def sh(*argv, check=True, **kw):
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, **kw)


def wait_for_sshd(address: str, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection((address, 22), timeout=5) as conn:
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"sshd does not answer on {address}")
        time.sleep(0.5)


def destroy():
    for name in NODES:
        sh("podman", "rm", "-f", "-t", "0", name, check=False)
    sh("podman", "network", "rm", "-f", NETWORK, check=False)


class Rig:
    def __init__(self, root: Path):
        self.root = root
        self.api = StandinNodesAPI(NODES, FROM)
        mirror = root / "mirror"
        sh(str(ROOT / "tests/standins/build-debs.sh"), str(mirror), FROM,
           env=dict(os.environ, STANDIN_EXTRA_VERSIONS=TO))
        destroy()
        sh("podman", "network", "create", "--subnet", SUBNET, NETWORK)
        image = os.environ["ORCH_NODE_IMAGE"]
        for name in NODES:
            sh("podman", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
               "--ip", ADDRESSES[name], "--privileged",
               "--systemd=always", "--runtime", "runc", "--ulimit", "nofile=20000:20000",
               "--ulimit", "nproc=32768:32768", "-v", f"{mirror}:/srv/mirror:ro", image, "/sbin/init")
        self.key = root / "ssh" / "id_ed25519"
        self.key.parent.mkdir(mode=0o700)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "orch-lc", "-f", str(self.key))
        self.control_dir = root / "ssh" / "cp"
        deadline = time.monotonic() + 120
        for name in NODES:
            sh("podman", "exec", name, "systemctl", "is-system-running", "--wait", check=False, timeout=120)
            sh("podman", "exec", "-i", name, "sh", "-c",
               "umask 077 && mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys",
               input=self.key.with_suffix(".pub").read_text())
            wait_for_sshd(ADDRESSES[name], deadline)
        self.inventory = root / "inventory.yml"
        self.write_inventory(FROM)

    def write_inventory(self, version: str):
        node = {"ansible_connection": "ssh", "ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": str(self.key), "ansible_ssh_common_args": SSH_ARGS,
                "ansible_control_path_dir": str(self.control_dir)}
        inventory = {"all": {
            "vars": {"cluster_kubernetes_version": version, "cluster_mirror": "/srv/mirror",
                     "cluster_kubeconfig": str(self.api.kubeconfig(self.root / "kubeconfig")),
                     # The stand-in API is not this inventory's endpoint: the kubeconfig check's escape hatch.
                     "cluster_kubeconfig_server": f"http://127.0.0.1:{self.api.port}",
                     "cluster_lifecycle_drain_timeout": 30},
            "children": {"control_plane": {"hosts": {n: dict(node, ansible_host=ADDRESSES[n]) for n in CPS}},
                         "workers": {"hosts": {n: dict(node, ansible_host=ADDRESSES[n]) for n in WORKERS}}}}}
        self.inventory.write_text(yaml.safe_dump(inventory))

    def playbook(self, path: Path, *extra: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-tmp"))
        return subprocess.run(["ansible-playbook", "-i", str(self.inventory), str(path), *extra],
                              capture_output=True, text=True, env=env, cwd=ROOT, timeout=900, check=False,
                              stdin=subprocess.DEVNULL)

    def close_ssh(self) -> None:
        """End the ControlMaster processes the playbook runs left (ControlPersist)."""
        for control in self.control_dir.glob("*") if self.control_dir.is_dir() else ():
            sh("ssh", "-o", f"ControlPath={control}", "-O", "exit", "orch-lc", check=False, timeout=30)

    def kubeadm_log(self, node: str) -> list[dict]:
        out = sh("podman", "exec", node, "cat", "/var/log/orchestrator-standin/kubeadm.log", check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def kubeadm_calls(self, since: float, words=("upgrade", "reset")) -> list[tuple[float, str, str]]:
        calls = []
        for node in NODES:
            if sh("podman", "container", "inspect", "-f", "{{.State.Running}}", node).stdout.strip() != "true":
                continue
            for entry in self.kubeadm_log(node):
                if entry["argv"][:1] and entry["argv"][0] in words:
                    when = datetime.datetime.fromisoformat(entry["time"]).timestamp()
                    if when >= since:
                        calls.append((when, node, " ".join(entry["argv"])))
        return sorted(calls)

    def package(self, node: str, name: str) -> tuple[str, str]:
        version = sh("podman", "exec", node, "dpkg-query", "-W", "-f", "${Version}", name).stdout
        selection = sh("podman", "exec", node, "dpkg", "--get-selections", name).stdout.split()[-1]
        return version, selection


@pytest.fixture(scope="module")
def rig():
    if not shutil.which("podman") or not os.environ.get("ORCH_NODE_IMAGE"):
        missing("needs podman and the node image (scripts/setup.sh, scripts/env.sh)")
    root = Path(tempfile.mkdtemp(prefix="orch-lc-", dir="/tmp"))
    rig = None
    try:
        rig = Rig(root)
        proc = rig.playbook(Path(__file__).with_name("setup_nodes.yml"))
        assert proc.returncode == 0, proc.stdout[-5000:]
        yield rig
    finally:
        if rig:
            rig.close_ssh()
        destroy()
        if rig:
            rig.api.stop()
        shutil.rmtree(root, ignore_errors=True)


def ok(proc):
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]


def merged(rig, since):
    """kubeadm calls and API node events in one time line: (time, node, what)."""
    events = rig.kubeadm_calls(since) + [(t, n, what) for t, n, what in rig.api.node_events() if t >= since]
    return sorted(events)


SNAPSHOT_DIR = "/var/backups/etcd"


def put_snapshot(rig, age_seconds: int, good_checksum: bool = True) -> str:
    """A STAND-IN etcd snapshot on the first control plane, as etcd-backup leaves it (.db + .sha256)."""
    name = f"etcd-orch-lc-cp1-{int(time.time()) - age_seconds}.db"
    digest = f"sha256sum {name}" if good_checksum else f"echo '{'0' * 64}  {name}'"
    sh("podman", "exec", CPS[0], "sh", "-c",
       f"set -e; rm -rf {SNAPSHOT_DIR}; mkdir -p -m 0700 {SNAPSHOT_DIR}; cd {SNAPSHOT_DIR};"
       f" head -c 4096 /dev/urandom > {name}; {digest} > {name}.sha256;"
       f" touch -d @$(( $(date +%s) - {age_seconds} )) {name}")
    return name


def api_writes(rig, since: float) -> list[tuple[str, str]]:
    """Every request that changes something (cordon, uncordon, eviction, deletion) since `since`."""
    return [(r["method"], r["path"]) for r in rig.api.requests
            if r["time"] >= since and r["method"] in ("POST", "PATCH", "PUT", "DELETE")]


def flat(proc) -> str:
    """The run's output with every run of white space as one blank (messages may be wrapped)."""
    return " ".join(proc.stdout.split())


def now() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


def test_upgrade_refuses_without_a_recent_etcd_snapshot(rig):
    rig.write_inventory(TO)
    sh("podman", "exec", CPS[0], "rm", "-rf", SNAPSHOT_DIR)
    cases = [(None, True, r"newest: none"), (2 * 86400, True, r"\.db, 1728[0-9][0-9] s old, checksum ok"),
             (60, False, r"\.db, [0-9]+ s old, checksum missing or wrong")]
    for age, good, why in cases:
        if age is not None:
            put_snapshot(rig, age, good)
        start = now()
        proc = rig.playbook(ROOT / "playbooks/upgrade.yml")
        assert proc.returncode != 0, proc.stdout[-3000:]
        text = " ".join(proc.stdout.split())
        assert "no etcd snapshot younger than 86400 s" in text and re.search(why, text), proc.stdout[-3000:]
        assert merged(rig, start) == [] and api_writes(rig, start) == []
        for node in NODES:
            assert rig.package(node, "kubeadm") == (f"{FROM}-1.1", "hold"), node


def test_upgrade_limited_to_a_worker_is_refused_before_the_control_plane(rig):
    put_snapshot(rig, 60)
    start = now()
    proc = rig.playbook(ROOT / "playbooks/upgrade.yml", "-l", "orch-lc-w1")
    assert proc.returncode != 0
    text = " ".join(proc.stdout.split())
    assert "the first control plane of the inventory (orch-lc-cp1) is not in the play" in text, proc.stdout[-3000:]
    assert merged(rig, start) == [] and api_writes(rig, start) == []
    assert rig.package("orch-lc-w1", "kubelet") == (f"{FROM}-1.1", "hold")


def test_upgrade_limited_to_a_worker_and_the_first_control_plane_is_refused(rig):
    # cp2 left out while behind the target: its API server would be older than the worker's kubelet.
    put_snapshot(rig, 60)
    start = now()
    proc = rig.playbook(ROOT / "playbooks/upgrade.yml", "-l", "orch-lc-cp1,orch-lc-w1")
    assert proc.returncode != 0
    text = " ".join((proc.stdout + proc.stderr).split())
    assert "upgrades the workers orch-lc-w1 while the control planes orch-lc-cp2" in text, text[-3000:]
    assert merged(rig, start) == [] and api_writes(rig, start) == []
    for node in NODES:
        assert rig.package(node, "kubelet") == (f"{FROM}-1.1", "hold"), node


def test_upgrade_check_mode_drains_nothing_and_reports_the_plan(rig):
    put_snapshot(rig, 60)
    start = now()
    proc = rig.playbook(ROOT / "playbooks/upgrade.yml", "--check")
    ok(proc)
    # Nothing cordoned, evicted or uncordoned, no kubeadm upgrade, no package moved.
    assert api_writes(rig, start) == []
    assert merged(rig, start) == []
    assert all(not n["unschedulable"] for n in rig.api.nodes.values())
    assert sorted(rig.api.pods) == sorted(f"app-{n}" for n in NODES)
    for node in NODES:
        assert f"would cordon and drain {node}, evicting 1 pods (orchestrator/app-{node}" in flat(proc), node
        assert rig.package(node, "kubeadm") == (f"{FROM}-1.1", "hold"), node
        assert rig.package(node, "kubelet") == (f"{FROM}-1.1", "hold"), node


def test_upgrade_one_node_at_a_time_with_drain_and_uncordon(rig):
    for node in NODES:
        assert rig.package(node, "kubeadm") == (f"{FROM}-1.1", "hold")
    rig.write_inventory(TO)
    start = datetime.datetime.now(datetime.UTC).timestamp()
    ok(rig.playbook(ROOT / "playbooks/upgrade.yml"))
    line = [(node, what) for _, node, what in merged(rig, start)]
    assert line == [
        ("orch-lc-cp1", f"upgrade plan v{TO}"), ("orch-lc-cp1", f"upgrade apply v{TO} --yes"),
        ("orch-lc-cp1", "cordon"), ("orch-lc-cp1", "uncordon"),
        ("orch-lc-cp2", "upgrade node"), ("orch-lc-cp2", "cordon"), ("orch-lc-cp2", "uncordon"),
        ("orch-lc-w1", "upgrade node"), ("orch-lc-w1", "cordon"), ("orch-lc-w1", "uncordon"),
    ]
    # Each node's pod was evicted while the node was cordoned, before its uncordon.
    evictions = [r for r in rig.api.requests if r["path"].endswith("/eviction")]
    assert len(evictions) == 3
    for node in NODES:
        assert rig.package(node, "kubeadm") == (f"{TO}-1.1", "hold"), node
        assert rig.package(node, "kubelet") == (f"{TO}-1.1", "hold"), node
        assert rig.package(node, "kubectl") == (f"{TO}-1.1", "hold"), node
        state = sh("podman", "exec", node, "systemctl", "is-active", "kubelet", check=False).stdout.strip()
        assert state == "active", node
        version = sh("podman", "exec", node, "kubelet", "--version").stdout
        assert f"v{TO}" in version


def test_upgrade_resumes_and_stops_at_the_first_failure(rig):
    # The API now reports the first control plane upgraded (a rerun skips it); the stand-in's switch
    # makes kubeadm fail on the second control plane.
    rig.api.version = TO
    rig.api.nodes["orch-lc-cp1"]["kubelet"] = TO
    sh("podman", "exec", "orch-lc-cp2", "sh", "-c",
       "mkdir -p /var/lib/orchestrator-standin && touch /var/lib/orchestrator-standin/fail-upgrade")
    start = datetime.datetime.now(datetime.UTC).timestamp()
    proc = rig.playbook(ROOT / "playbooks/upgrade.yml")
    sh("podman", "exec", "orch-lc-cp2", "rm", "-f", "/var/lib/orchestrator-standin/fail-upgrade")
    assert proc.returncode != 0
    assert "upgrade failed on purpose" in flat(proc)
    # cp1 is not touched again, cp2's kubeadm fails and cp2 is not drained; the worker is never touched.
    assert [(node, what) for _, node, what in merged(rig, start)] == [("orch-lc-cp2", "upgrade node")]
    assert all(not n["unschedulable"] for n in rig.api.nodes.values())


def test_version_skew_is_refused_before_any_change(rig):
    rig.write_inventory("1.35.0")
    start = datetime.datetime.now(datetime.UTC).timestamp()
    proc = rig.playbook(ROOT / "playbooks/upgrade.yml")
    rig.write_inventory(TO)
    assert proc.returncode != 0
    assert "cannot upgrade to 1.35.0" in flat(proc)
    assert merged(rig, start) == []


ETCD_IDS = {"orch-lc-cp1": 0x1A2B3C4D5E6F7081, "orch-lc-cp2": 0x2B3C4D5E6F708192}


def standin_etcd(rig, healthy: dict[str, bool]) -> None:
    """Install the STAND-IN etcdctl on the control planes, with these members and their health."""
    state = json.dumps({"members": [{"ID": ETCD_IDS[n], "name": n, "clientURLs": [f"https://{ADDRESSES[n]}:2379"],
                                     "healthy": h} for n, h in healthy.items()]})
    script = (Path(__file__).with_name("standins") / "etcdctl").read_text()
    for node in CPS:
        sh("podman", "exec", "-i", node, "sh", "-c", "cat >/usr/local/bin/etcdctl && chmod 0755 /usr/local/bin/etcdctl",
           input=script)
        sh("podman", "exec", "-i", node, "sh", "-c",
           "mkdir -p /var/lib/orchestrator-standin && cat >/var/lib/orchestrator-standin/etcd.json", input=state)
        sh("podman", "exec", node, "rm", "-f", "/var/log/orchestrator-standin/etcdctl.log")


def etcdctl_calls(node: str) -> list[list[str]]:
    out = sh("podman", "exec", node, "cat", "/var/log/orchestrator-standin/etcdctl.log", check=False).stdout
    return [json.loads(line)["argv"] for line in out.splitlines() if line.strip()]


def remove(rig, node, *extra):
    return rig.playbook(ROOT / "playbooks/remove_node.yml", "-e", f"cluster_lifecycle_remove_node={node}", *extra)


def test_remove_node_refuses_without_confirmation_a_limit_or_a_quorum(rig):
    standin_etcd(rig, {"orch-lc-cp1": True, "orch-lc-cp2": False})
    start = now()
    # No confirmation (no terminal): fails at once naming the variable.
    proc = remove(rig, "orch-lc-w1")
    assert proc.returncode != 0 and "-e remove_node_confirm=true" in flat(proc), proc.stdout[-3000:]
    # A limit to the control plane alone: its etcd member could not be removed from a survivor.
    proc = remove(rig, "orch-lc-cp1", "-e", "remove_node_confirm=true", "-l", "orch-lc-cp1")
    assert proc.returncode != 0
    assert "leaves out every other control plane (orch-lc-cp2)" in flat(proc), proc.stdout[-3000:]
    # A limit that leaves out the node itself.
    proc = remove(rig, "orch-lc-cp1", "-e", "remove_node_confirm=true", "-l", "orch-lc-cp2")
    assert proc.returncode != 0 and "leaves out orch-lc-cp1, the node to remove" in flat(proc), proc.stdout[-3000:]
    assert etcdctl_calls("orch-lc-cp2") == []
    # The other member is unhealthy: removing cp1 would leave etcd without a quorum.
    proc = remove(rig, "orch-lc-cp1", "-e", "remove_node_confirm=true")
    assert proc.returncode != 0
    assert "refusing to remove the etcd member orch-lc-cp1: of 2 members" in flat(proc), proc.stdout[-3000:]
    assert "unhealthy: orch-lc-cp2" in flat(proc)
    assert ["member", "remove", f"{ETCD_IDS['orch-lc-cp1']:x}"] not in etcdctl_calls("orch-lc-cp2")
    assert [c[:2] for c in etcdctl_calls("orch-lc-cp2")] == [["member", "list"], ["endpoint", "health"]]
    # Nothing changed anywhere.
    assert api_writes(rig, start) == [] and rig.kubeadm_calls(start) == []
    assert set(rig.api.nodes) == set(NODES)
    for node in NODES:
        assert sh("podman", "exec", node, "test", "-e", "/etc/kubernetes/kubelet.conf", check=False).returncode == 0


def test_remove_node_check_mode_changes_nothing(rig):
    standin_etcd(rig, {"orch-lc-cp1": True, "orch-lc-cp2": True})
    sh("podman", "exec", "orch-lc-cp1", "sh", "-c",
       "mkdir -p /var/lib/etcd/member /etc/cni/net.d && touch /var/lib/etcd/member/x /etc/cni/net.d/x")
    rig.api.pods["app-orch-lc-cp1"] = "orch-lc-cp1"
    start = now()
    proc = remove(rig, "orch-lc-cp1", "-e", "remove_node_confirm=true", "--check")
    ok(proc)
    assert "would cordon and drain orch-lc-cp1, evicting 1 pods (orchestrator/app-orch-lc-cp1" in flat(proc)
    assert "remove its etcd member orch-lc-cp1 through orch-lc-cp2" in flat(proc)
    assert api_writes(rig, start) == [] and rig.kubeadm_calls(start) == []
    assert not rig.api.nodes["orch-lc-cp1"]["unschedulable"] and "app-orch-lc-cp1" in rig.api.pods
    assert all(call[:2] != ["member", "remove"] for call in etcdctl_calls("orch-lc-cp2"))
    for path in ("/etc/kubernetes/kubelet.conf", "/var/lib/etcd/member/x", "/etc/cni/net.d/x"):
        assert sh("podman", "exec", "orch-lc-cp1", "test", "-e", path, check=False).returncode == 0, path
    state = sh("podman", "exec", "orch-lc-cp1", "systemctl", "is-active", "kubelet", check=False).stdout.strip()
    assert state == "active"


def test_etcd_restore_limited_to_one_member_is_refused(rig):
    proc = rig.playbook(ROOT / "playbooks/etcd_restore.yml", "-e", "etcd_restore_confirm=true", "-l", "orch-lc-cp1")
    assert proc.returncode != 0
    assert "leaves out orch-lc-cp2 of the control_plane group of the inventory" in flat(proc), proc.stdout[-3000:]
    assert sh("podman", "exec", "orch-lc-cp1", "test", "-e", "/var/lib/etcd-restore", check=False).returncode == 1
    assert sh("podman", "exec", "orch-lc-cp1", "test", "-e",
              "/etc/kubernetes/manifests/kube-apiserver.yaml", check=False).returncode == 0


def test_recover_control_plane_limited_to_the_replacement_is_refused(rig):
    # Three control planes are needed to recover one: a third one is added to a copy of the
    # inventory (never contacted: the refusal comes before any task reaches a node).
    inventory = yaml.safe_load(rig.inventory.read_text())
    cps = inventory["all"]["children"]["control_plane"]["hosts"]
    cps["orch-lc-cp3"] = dict(cps["orch-lc-cp2"], ansible_host="192.0.2.1")
    path = rig.root / "inventory-3cp.yml"
    path.write_text(yaml.safe_dump(inventory))
    start = now()
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(rig.root / "ansible-tmp"))
    proc = subprocess.run(["ansible-playbook", "-i", str(path), str(ROOT / "playbooks/recover_control_plane.yml"),
                           "-e", "recover_control_plane_failed=orch-lc-cp2", "-e", "recover_control_plane_confirm=true",
                           "-l", "orch-lc-cp2"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                          check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "leaves out orch-lc-cp1, orch-lc-cp3" in flat(proc), proc.stdout[-3000:]
    assert api_writes(rig, start) == [] and rig.kubeadm_calls(start) == []


def test_remove_a_dead_worker(rig):
    sh("podman", "stop", "-t", "0", "orch-lc-w1")
    start = datetime.datetime.now(datetime.UTC).timestamp()
    proc = rig.playbook(ROOT / "playbooks/remove_node.yml", "-e", "cluster_lifecycle_remove_node=orch-lc-w1",
                        "-e", "remove_node_confirm=true")
    ok(proc)
    assert [(n, what) for _, n, what in rig.api.node_events() if _ >= start] == [("orch-lc-w1", "delete")]
    assert "orch-lc-w1" not in rig.api.nodes
    assert rig.kubeadm_calls(start) == []


def test_reset_refuses_without_confirmation_then_resets(rig):
    sh("podman", "start", "orch-lc-w1")
    sh("podman", "exec", "orch-lc-w1", "systemctl", "is-system-running", "--wait", check=False, timeout=120)
    # The restarted container has a new MAC address behind its old IP: wait until SSH reaches it again.
    wait_for_sshd(ADDRESSES["orch-lc-w1"], time.monotonic() + 60)
    start = datetime.datetime.now(datetime.UTC).timestamp()
    proc = rig.playbook(ROOT / "playbooks/reset.yml")
    assert proc.returncode != 0
    assert "reset_confirm=true" in flat(proc)
    assert rig.kubeadm_calls(start) == []
    # A --limit neither skips the confirmation nor resets part of the cluster.
    proc = rig.playbook(ROOT / "playbooks/reset.yml", "-l", "orch-lc-w1")
    assert proc.returncode != 0 and "leaves out orch-lc-cp1, orch-lc-cp2" in flat(proc), proc.stdout[-3000:]
    proc = rig.playbook(ROOT / "playbooks/reset.yml", "-e", "reset_confirm=true", "-l", "orch-lc-w1")
    assert proc.returncode != 0 and "a partial reset leaves a broken cluster" in flat(proc), proc.stdout[-3000:]
    assert rig.kubeadm_calls(start) == []
    assert sh("podman", "exec", "orch-lc-w1", "test", "-e", "/etc/kubernetes/kubelet.conf", check=False).returncode == 0
    ok(rig.playbook(ROOT / "playbooks/reset.yml", "-e", "reset_confirm=true"))
    calls = rig.kubeadm_calls(start)
    assert sorted(n for _, n, _ in calls) == sorted(NODES)
    assert all(what == "reset --force" for _, _, what in calls)
    # Workers first: the worker's reset ends before the first control plane's starts.
    assert calls[0][1] == "orch-lc-w1"
    # emptied, not removed (a mount point cannot be removed; containerd watches /etc/cni/net.d)
    for node in NODES:
        left = sh("podman", "exec", node, "ls", "-A", "/etc/kubernetes", check=False)
        assert left.returncode == 0 and left.stdout.strip() == "", (node, left.stdout)


def test_remove_a_control_plane_removes_its_etcd_member_from_the_survivor(rig):
    standin_etcd(rig, {"orch-lc-cp1": True, "orch-lc-cp2": True})
    start = now()
    ok(remove(rig, "orch-lc-cp1", "-e", "remove_node_confirm=true"))
    assert [(n, what) for t, n, what in rig.api.node_events() if t >= start] == [
        ("orch-lc-cp1", "cordon"), ("orch-lc-cp1", "delete")]
    calls = etcdctl_calls("orch-lc-cp2")
    assert [c[:2] for c in calls] == [["member", "list"], ["endpoint", "health"], ["member", "remove"]]
    assert calls[2][2] == f"{ETCD_IDS['orch-lc-cp1']:x}"
    assert etcdctl_calls("orch-lc-cp1") == []
