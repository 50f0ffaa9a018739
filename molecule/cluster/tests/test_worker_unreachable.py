"""A worker lost in the middle of step 4 (runs last: it re-joins the workers).

Both workers are reset with the real `kubeadm reset` and their Node objects deleted; step 4 runs
for real against the scenario's inventory, and orch-cl-w2 is killed (podman kill: a power cut) as
soon as its real `kubeadm join` process runs. Expected: the run fails with a message naming
orch-cl-w2 and saying what happened; orch-cl-w1 (same batch) is joined fully; orch-cl-w2 carries
the in-progress marker; once it is back, the next run resets it and joins it, and leaves
orch-cl-w1 untouched. No bootstrap token the cluster holds appears in Ansible's output.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import threading
import time
from pathlib import Path

import pytest
import testinfra

ROOT = Path(__file__).resolve().parents[3]
MARKER = "/etc/kubernetes/.orchestrator-kubeadm-in-progress"
W1, W2, CP1 = "orch-cl-w1", "orch-cl-w2", "orch-cl-cp1"
# Commands on the machine running the test (ansible-playbook, podman) go through testinfra's local backend.
LOCAL = testinfra.get_host("local://")


def inventory() -> str:
    explicit = os.environ.get("MOLECULE_INVENTORY_FILE")
    if explicit and Path(explicit).exists():
        return str(Path(explicit).parent)  # the directory: its group_vars/ and host_vars/ too
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not ephemeral:
        pytest.skip("needs the molecule scenario's inventory (run through molecule verify)")
    return str(Path(ephemeral) / "inventory")


class Step4(threading.Thread):
    """ansible-playbook of step 4 against the scenario's inventory, in the background."""

    def __init__(self):
        super().__init__(daemon=True)
        self.result = None

    def run(self):
        command = " ".join(
            [
                "ANSIBLE_NOCOLOR=1 ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default",
                "ansible-playbook -i", shlex.quote(inventory()),
                shlex.quote(str(ROOT / "playbooks/04_join_workers.yml")), "2>&1",
            ]
        )
        self.result = LOCAL.run(command)

    def finish(self, timeout: float = 600):
        self.join(timeout)
        assert self.result is not None, "step 4 did not finish in time"
        return self.result.rc, self.result.stdout


def calls(node) -> list[dict]:
    """The real kubeadm's calls on a node, from the rig's recording wrapper (tests/rig/nodes.yml)."""
    log = node.file("/var/log/rig-kubeadm.log")
    lines = log.content_string.splitlines() if log.exists else []
    return [e for e in map(json.loads, filter(None, lines)) if e["argv"][:1] not in (["version"], ["--version"])]


def joins(node) -> list[dict]:
    return [e for e in calls(node) if e["argv"][:1] == ["join"]]


def bootstrap_tokens() -> set[str]:
    """Every bootstrap token the cluster holds (<id>.<secret>), read from its Secrets."""
    cp = testinfra.get_host(f"podman://{CP1}")
    secrets = json.loads(cp.check_output(
        "kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get secrets "
        "--field-selector type=bootstrap.kubernetes.io/token -o json"))["items"]
    def field(secret: dict, name: str) -> str:
        return base64.b64decode(secret["data"][name]).decode()

    return {field(x, "token-id") + "." + field(x, "token-secret") for x in secrets}


def assert_no_secret_in(output: str) -> None:
    tokens = bootstrap_tokens()
    assert tokens, "the cluster holds no bootstrap token: nothing to look for"
    for token in tokens:
        assert token not in output and token.split(".")[1] not in output, "a bootstrap token was printed"


def wait_running(name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = LOCAL.run(f"podman exec {name} systemctl is-system-running").stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    pytest.fail(f"{name} did not come back")


def test_worker_lost_mid_join_stops_the_batch_and_leaves_no_half_joined_node():
    w1, w2 = testinfra.get_host(f"podman://{W1}"), testinfra.get_host(f"podman://{W2}")
    before_w1 = len(joins(w1))
    inventory()  # skips early outside molecule
    cp = testinfra.get_host(f"podman://{CP1}")
    for node in (w1, w2):
        node.check_output("kubeadm reset --force >/dev/null 2>&1")
    cp.check_output(f"kubectl --kubeconfig /etc/kubernetes/admin.conf delete node {W1} {W2} --wait=true")
    run = Step4()
    run.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and LOCAL.run(f"podman exec {W2} pgrep -f '^/usr/bin/kubeadm.real join'").rc != 0:
        assert run.is_alive(), run.finish()[1][-3000:]
        time.sleep(0.2)
    assert w2.file(MARKER).exists, "orch-cl-w2 never started its join"
    LOCAL.run_test(f"podman kill {W2}")
    try:
        returncode, output = run.finish()
        assert returncode != 0, output[-3000:]
        lost = "worker_join: orch-cl-w2 became unreachable (or was interrupted) during its kubeadm join"
        assert lost in output, output[-3000:]
        assert "other workers of this batch (orch-cl-w1) finished their own join" in output
        # w1: joined fully (one new successful join, no marker, no leftover join configuration)
        assert len(joins(w1)) == before_w1 + 1 and joins(w1)[-1]["rc"] == 0
        assert w1.file("/etc/kubernetes/kubelet.conf").exists
        assert not w1.file(MARKER).exists and not w1.file("/etc/kubernetes/kubeadm-join.yaml").exists
        assert_no_secret_in(output)
    finally:
        LOCAL.run(f"podman start {W2}")
        wait_running(W2)
    w2 = testinfra.get_host(f"podman://{W2}")
    # w2 came back marked for a reset (its join was cut at an unknown point)
    assert w2.file(MARKER).exists
    w1_joins = len(joins(w1))
    again = Step4()
    again.start()
    returncode, output = again.finish()
    assert returncode == 0, output[-3000:]
    log = calls(w2)
    assert [e["argv"][0] for e in log[-2:]] == ["reset", "join"] and log[-1]["rc"] == 0, log[-3:]
    assert w2.file("/etc/kubernetes/kubelet.conf").exists and not w2.file(MARKER).exists
    assert len(joins(w1)) == w1_joins, "the run after the failure touched orch-cl-w1 again"
    assert_no_secret_in(output)
