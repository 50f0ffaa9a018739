"""playbooks/rotate_encryption_key.yml run phase by phase against three stand-in control planes.

The playbook runs for real (ansible-playbook, local connection, one directory per control plane
holding its encryption configuration, its static pod manifest and the rotation marker); the API
servers, the kubelet and the Secrets API are the stand-ins of lifecycle_standins.py. After each
phase the files are asserted (key order, key material, marker), and throughout the run the
stand-ins check that every stored Secret stays readable by every running API server.

The four scenarios that run the playbook are independent (each its own rig: directories, ports,
stand-ins), so the `scenarios` fixture runs them at the same time, one thread each, and each test
re-raises what its scenario raised. Each run is one ansible-playbook process, mostly in plays with
serial: 1 (one host at a time, about one core busy), so on the 2 cores of the test machine the
scenarios overlap instead of queueing.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from lifecycle_standins import StandinCluster, loaded_keys

ROOT = Path(__file__).resolve().parents[3]
NODES = ["cp1", "cp2", "cp3"]
OLD = {"name": "key-202601010000", "secret": base64.b64encode(b"o" * 32).decode()}
HEADER = "# Encryption at rest of orchestrator: THE SOURCE OF TRUTH for the keys (test copy).\n"
# A guard against a hung run, not a performance limit: the scenarios' runs share the cores.
RUN_TIMEOUT = 900


def initial_config() -> str:
    """The shape roles/kubeadm_config/templates/.../encryption-config.yaml.j2 writes."""
    doc = {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
           "resources": [{"resources": ["secrets"],
                          "providers": [{"secretbox": {"keys": [OLD]}}, {"identity": {}}]}]}
    return HEADER + yaml.safe_dump(doc, sort_keys=False)


class Rig:
    def __init__(self, root: Path):
        self.root = root
        self.runs = 0  # playbook runs started
        for name in NODES:
            (root / name / "manifests").mkdir(parents=True)
            (root / name / "manifests" / "kube-apiserver.yaml").write_text("# stand-in static pod\n")
            config = root / name / "encryption-config.yaml"
            config.write_text(initial_config())
            config.chmod(0o600)
        self.cluster = StandinCluster(root, NODES, OLD["name"])
        self.cluster.start()
        hosts = {}
        for name, node in self.cluster.nodes.items():
            hosts[name] = {
                "ansible_connection": "local",
                "ansible_python_interpreter": sys.executable,
                "encryption_rotation_config": str(node.config),
                "encryption_rotation_state_file": str(root / name / "encryption-rotation.json"),
                "cluster_lifecycle_manifests_dir": str(root / name / "manifests"),
                "cluster_lifecycle_parked_dir": str(root / name / "parked"),
                "cluster_lifecycle_health_urls": {"kube-apiserver": f"http://127.0.0.1:{node.port}/healthz"},
                "cluster_lifecycle_stop_timeout": 10,
                "cluster_lifecycle_health_timeout": 6,
                "etcd_backup_dir": str(root / name / "backups"),
            }
        # The stand-in is not this inventory's API endpoint: the kubeconfig check's escape hatch.
        inventory = {"all": {"vars": {"cluster_kubeconfig": str(self.cluster.kubeconfig(root / "kubeconfig")),
                                      "cluster_kubeconfig_server": f"http://127.0.0.1:{self.cluster.port}"},
                             "children": {"control_plane": {"hosts": hosts}}}}
        self.inventory = root / "inventory.yml"
        self.inventory.write_text(yaml.safe_dump(inventory))

    def run(self, stop_after: int | None = None, *more: str) -> subprocess.CompletedProcess:
        self.runs += 1
        extra = (["-e", f"encryption_rotation_stop_after={stop_after}"] if stop_after else []) + list(more)
        env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-tmp"))
        return subprocess.run(
            ["ansible-playbook", "-i", str(self.inventory), str(ROOT / "playbooks/rotate_encryption_key.yml"), *extra],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=RUN_TIMEOUT, check=False)

    def keys(self, name: str) -> list[dict]:
        doc = yaml.safe_load((self.root / name / "encryption-config.yaml").read_text())
        return doc["resources"][0]["providers"][0]["secretbox"]["keys"]

    def marker(self, name: str) -> dict | None:
        path = self.root / name / "encryption-rotation.json"
        return json.loads(path.read_text()) if path.exists() else None

    def restarts(self) -> list[str]:
        return [node for _, node, what, _ in self.cluster.events if what == "stop"]


def new_rig() -> Rig:
    return Rig(Path(tempfile.mkdtemp(prefix="orch-lc-enc-", dir="/tmp")))


def remove_rig(rig: Rig) -> None:
    rig.cluster.shutdown()
    subprocess.run(["rm", "-rf", str(rig.root)], check=False)


@pytest.fixture
def rig():
    rig = new_rig()
    yield rig
    remove_rig(rig)


def ok(proc: subprocess.CompletedProcess):
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


def phase_by_phase(rig):
    # Phase 1: the new key is the SECOND key on every control plane, every API server restarted
    # once, one at a time; the Secrets are still stored with the old key.
    ok(rig.run(stop_after=1))
    new = rig.keys("cp1")[1]
    assert new["name"] != OLD["name"] and len(base64.b64decode(new["secret"])) == 32
    for name in NODES:
        assert rig.keys(name) == [OLD, new], name
        assert rig.cluster.nodes[name].keys == [OLD["name"], new["name"]], name
        marker = rig.marker(name)
        assert marker["phase"] == 1 and marker["new"] == new and marker["old"] == [OLD["name"]]
        assert stat.S_IMODE(os.stat(rig.root / name / "encryption-rotation.json").st_mode) == 0o600
        assert stat.S_IMODE(os.stat(rig.root / name / "encryption-config.yaml").st_mode) == 0o600
        assert (rig.root / name / "encryption-config.yaml").read_text().startswith(HEADER)
    assert rig.restarts() == NODES
    assert rig.cluster.stored_keys() == {OLD["name"]}

    # Phase 2 (a second run resumes from the marker, with the SAME key): the new key first.
    ok(rig.run(stop_after=2))
    for name in NODES:
        assert rig.keys(name) == [new, OLD], name
        assert rig.cluster.nodes[name].keys == [new["name"], OLD["name"]], name
        assert rig.marker(name)["phase"] == 2
    assert rig.restarts() == NODES * 2
    assert rig.cluster.stored_keys() == {OLD["name"]}

    # Phase 3: every Secret written back, now stored with the new key; no file and no API server changes.
    ok(rig.run(stop_after=3))
    assert rig.cluster.stored_keys() == {new["name"]}
    patches = [path for method, path in rig.cluster.requests if method == "PATCH"]
    assert len(patches) == len(rig.cluster.store)
    for name in NODES:
        assert rig.keys(name) == [new, OLD] and rig.marker(name)["phase"] == 3
    assert rig.restarts() == NODES * 2

    for name in NODES:
        assert not (rig.root / name / "backups" / "retired-keys").exists()

    # Phase 4: the old key removed everywhere, one restart each, the marker (which held the key) gone.
    ok(rig.run())
    for name in NODES:
        assert rig.keys(name) == [new], name
        assert rig.cluster.nodes[name].keys == [new["name"]]
        assert rig.marker(name) is None
        # ...but archived first (etcd_backup's retired-key archive): older snapshots need it.
        retired = rig.root / name / "backups" / "retired-keys"
        assert stat.S_IMODE(retired.stat().st_mode) == 0o700
        archives = sorted(retired.glob("encryption-config.retired-*.yaml"))
        assert len(archives) == 1, archives
        archived = yaml.safe_load(archives[0].read_text())["resources"][0]["providers"][0]["secretbox"]["keys"]
        assert archived == [new, OLD], name
        assert stat.S_IMODE(archives[0].stat().st_mode) == 0o600
        check = subprocess.run(["sha256sum", "-c", archives[0].name + ".sha256"], cwd=retired, check=False)
        assert check.returncode == 0
    assert rig.restarts() == NODES * 3
    assert rig.cluster.max_down() == 1
    assert rig.cluster.violations == []


def interrupted(rig):
    # cp2's kubelet does not bring its API server back: the run stops there, cp3 is not touched.
    rig.cluster.nodes["cp2"].broken = True
    proc = rig.run()
    assert proc.returncode != 0
    assert "cp2" in proc.stdout
    new = rig.keys("cp1")[1]
    assert rig.keys("cp2") == [OLD, new]          # written, restart pending
    assert rig.keys("cp3") == [OLD]               # never touched
    assert "cp3" not in rig.restarts()
    assert rig.marker("cp1")["phase"] == 0 and rig.marker("cp1")["new"] == new
    assert (rig.root / "cp2" / "encryption-rotation.json.restart-pending").exists()

    # The kubelet works again: the rerun restarts cp2 although its file is already written, and
    # finishes the rotation with the key generated by the first run.
    rig.cluster.nodes["cp2"].broken = False
    ok(rig.run())
    for name in NODES:
        assert rig.keys(name) == [new], name
        assert rig.cluster.nodes[name].keys == [new["name"]]
        assert not (rig.root / name / "encryption-rotation.json.restart-pending").exists()
    assert rig.cluster.stored_keys() == {new["name"]}
    assert rig.cluster.violations == []


def check_mode(rig):
    before = {name: (rig.root / name / "encryption-config.yaml").read_text() for name in NODES}
    proc = rig.run(None, "--check")
    ok(proc)
    for phase in (1, 2, 4):
        assert f"Write the key list of phase {phase}]" in proc.stdout, phase
    assert {name: (rig.root / name / "encryption-config.yaml").read_text() for name in NODES} == before
    assert all(rig.marker(name) is None for name in NODES)
    assert not any((rig.root / name / "backups").exists() for name in NODES)  # no key archived
    assert rig.restarts() == []
    assert rig.cluster.stored_keys() == {OLD["name"]}


def disagreeing(rig):
    config = rig.root / "cp3" / "encryption-config.yaml"
    config.write_text(config.read_text().replace(OLD["name"], "key-other"))
    proc = rig.run()
    assert proc.returncode != 0
    assert "identical" in proc.stdout
    assert rig.restarts() == []
    assert all(rig.marker(name) is None for name in NODES)


# Each scenario and the number of playbook runs it makes (checked: a scenario that stopped early
# without an error would otherwise pass).
SCENARIOS = {
    "phase_by_phase": (phase_by_phase, 4),
    "interrupted": (interrupted, 2),
    "check_mode": (check_mode, 1),
    "disagreeing": (disagreeing, 1),
}


@pytest.fixture(scope="module")
def scenarios():
    """Every scenario above, at the same time, each on its own rig: what each raised (or None) and
    how many playbook runs it made."""
    rigs = {name: new_rig() for name in SCENARIOS}
    try:
        with ThreadPoolExecutor(max_workers=len(SCENARIOS)) as pool:
            futures = {name: pool.submit(scenario, rigs[name]) for name, (scenario, _runs) in SCENARIOS.items()}
            outcome = {name: (future.exception(), rigs[name].runs) for name, future in futures.items()}
    finally:
        for rig in rigs.values():
            remove_rig(rig)
    return outcome


def outcome_of(scenarios, name: str) -> None:
    """Re-raise what the scenario raised (its traceback points at the failed assertion); else check
    that it made all its playbook runs."""
    error, runs = scenarios[name]
    if error is not None:
        raise error
    assert runs == SCENARIOS[name][1], f"scenario {name}: {runs} playbook runs instead of {SCENARIOS[name][1]}"


def test_rotation_phase_by_phase_keeps_every_secret_readable(scenarios):
    outcome_of(scenarios, "phase_by_phase")


def test_interrupted_rotation_resumes_with_the_same_key(scenarios):
    outcome_of(scenarios, "interrupted")


def test_check_mode_plans_every_phase_and_changes_nothing(scenarios):
    outcome_of(scenarios, "check_mode")


def test_disagreeing_control_planes_are_refused(scenarios):
    outcome_of(scenarios, "disagreeing")


def test_the_invariant_check_catches_a_new_key_written_before_every_server_reads_it(rig):
    """The harness itself can fail: a rotation that puts the new key first on one API server while
    another does not know it yet (phase 1 skipped) is reported as a violation."""
    cluster = rig.cluster
    config = cluster.nodes["cp1"].config
    doc = yaml.safe_load(config.read_text())
    doc["resources"][0]["providers"][0]["secretbox"]["keys"].insert(0, {"name": "key-new", "secret": OLD["secret"]})
    config.write_text(yaml.safe_dump(doc))
    manifest = cluster.nodes["cp1"].manifest
    manifest.rename(manifest.with_suffix(".out"))
    while cluster.nodes["cp1"].keys is not None:
        pass
    manifest.with_suffix(".out").rename(manifest)
    while cluster.nodes["cp1"].keys is None:
        pass
    assert loaded_keys(config)[0] == "key-new"
    # Write every secret through cp1 only (the others are "behind the load balancer" later).
    for node in ("cp2", "cp3"):
        cluster.nodes[node].keys, saved = None, cluster.nodes[node].keys
        cluster.nodes[node].saved = saved
    cluster.handle("PATCH", "/api/v1/namespaces/default/secrets/secret-1",
                   json.dumps([{"op": "test", "path": "/metadata/uid",
                                "value": cluster.store[("default", "secret-1")]["uid"]}]).encode())
    cluster.nodes["cp2"].keys = cluster.nodes["cp2"].saved
    cluster.check("cp2 back")
    assert any("cp2" in v and "key-new" in v for v in cluster.violations)
