"""The canary modules (orchestrator.platform.rollout and rollout_info) on the rig's real API server.

The Rollout CRD is the rig's (tests/rig/crds.py, from ../shared/schemas, with the status and scale
subresources): the real server validates, prunes and stores what the modules send, applies their
JSON merge patches and honours dryRun. No Argo Rollouts controller runs here, so the test plays
the controller: between two module calls it writes `status` through the status subresource, as
the controller would, and every assertion reads what the server stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rig import kubectl, kubectl_json

ROOT = Path(__file__).resolve().parents[3]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
KUBECONFIG = EPHEMERAL / "admin.conf"
NAMESPACE = "rig-rollout"
IMAGES = ["10.213.250.2:5000/pause:3.10.2", "10.213.250.2:5000/pause:rig-canary"]


def pod_template(app: str) -> dict:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "main", "image": IMAGES[0]}]}}


CANARY = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "it", "namespace": NAMESPACE},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "rollout-it"}},
        "template": pod_template("rollout-it"),
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}, {"pause": {}}]}},
    },
}
# A Rollout that takes its pod template from a Deployment (workloadRef); the Deployment has no
# replicas of its own (the Rollout's controller would run them).
WORKLOAD = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "it-workload", "namespace": NAMESPACE},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "rollout-ref"}},
        "template": pod_template("rollout-ref"),
    },
}
REFERRING = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "it-ref", "namespace": NAMESPACE},
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "rollout-ref"}},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "it-workload"},
        "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
    },
}


def module(plugin: str, check: bool = False, **args) -> dict:
    """One call of an orchestrator.platform module on the controller, against the rig's API (the VIP)."""
    args = {"kubeconfig": str(KUBECONFIG), "namespace": NAMESPACE, **args}
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    argv = ["ansible", "localhost", "-m", f"orchestrator.platform.{plugin}", "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=300)
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError as err:
        raise AssertionError(f"{plugin} {args}: not JSON: {done.stdout[-2000:]} {done.stderr[-2000:]}") from err
    return out["plays"][0]["tasks"][0]["hosts"]["localhost"]


def rollout(name: str = "it") -> dict:
    return kubectl_json("get", "rollouts.v1alpha1.argoproj.io", name, "-n", NAMESPACE)


def controller_writes(status: dict, name: str = "it", observe: bool = False) -> None:
    """Play the Argo Rollouts controller: a merge patch of status through the status subresource
    (observe: also report the Rollout's current generation as observed, as the controller does
    once it has acted on a spec change)."""
    if observe:
        status = {**status, "observedGeneration": str(rollout(name)["metadata"]["generation"])}
    kubectl(
        "patch",
        "rollouts.v1alpha1.argoproj.io",
        name,
        "-n",
        NAMESPACE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


PAUSED_AT_1 = {
    "phase": "Paused",
    "message": "CanaryPauseStep",
    "currentStepIndex": 1,
    "currentPodHash": "canary1",
    "stableRS": "stable0",
    "controllerPause": True,
    "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-12-07T00:00:00Z"}],
    "observedGeneration": "1",
}


@pytest.fixture(scope="module", autouse=True)
def objects():
    kubectl("create", "namespace", NAMESPACE, check=False)
    for obj in (CANARY, WORKLOAD, REFERRING):
        kubectl("apply", "--server-side", "--field-manager=rig-test", "-f", "-", stdin=json.dumps(obj))
    yield
    kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)


def test_the_server_stores_the_rollout_with_its_status_subresource():
    controller_writes(PAUSED_AT_1)
    stored = rollout()
    assert stored["spec"]["strategy"]["canary"]["steps"][1] == {"pause": {}}
    assert stored["status"]["currentStepIndex"] == 1
    assert stored["status"]["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    # A status write through the main resource is ignored: the subresource is real.
    kubectl(
        "patch",
        "rollouts.v1alpha1.argoproj.io",
        "it",
        "-n",
        NAMESPACE,
        "--type=merge",
        "-p",
        json.dumps({"status": {"currentStepIndex": 3}}),
    )
    assert rollout()["status"]["currentStepIndex"] == 1


def test_pause_sets_spec_paused_once_and_check_mode_sends_a_dry_run():
    planned = module("rollout", check=True, name="it", action="pause")
    assert planned["changed"] is True
    assert not rollout()["spec"].get("paused"), "check mode changed the stored Rollout"
    first = module("rollout", name="it", action="pause")
    second = module("rollout", name="it", action="pause")
    assert first["changed"] is True and second["changed"] is False
    assert rollout()["spec"]["paused"] is True


def test_resume_clears_the_manual_pause_and_skips_no_step():
    done = module("rollout", name="it", action="resume")
    stored = rollout()
    assert done["changed"] is True
    assert not stored["spec"].get("paused")
    assert stored["status"]["currentStepIndex"] == 1
    assert stored["status"]["pauseConditions"], "resume must not clear the step's pause"


def test_promote_with_pause_conditions_clears_them_and_keeps_the_step():
    # State 2 of 3: pause conditions and no inconclusive analysis: only the conditions go.
    controller_writes({**PAUSED_AT_1, "controllerPause": False})
    done = module("rollout", name="it", action="promote")
    stored = rollout()["status"]
    assert done["changed"] is True
    assert "pauseConditions" not in stored or stored["pauseConditions"] is None
    assert stored["currentStepIndex"] == 1


def test_promote_without_pause_conditions_moves_to_the_next_step():
    # State 3 of 3: a canary with steps and nothing paused: currentStepIndex N+1.
    controller_writes({"currentStepIndex": 2, "phase": "Progressing", "pauseConditions": None})
    done = module("rollout", name="it", action="promote")
    assert done["changed"] is True
    assert rollout()["status"]["currentStepIndex"] == 3


def test_promote_of_an_inconclusive_step_analysis_clears_the_controller_pause_and_moves_on():
    # State 1 of 3: inconclusive step analysis, pause conditions and a controller pause.
    controller_writes(
        {
            **PAUSED_AT_1,
            "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-12-07T00:00:00Z"}],
            "canary": {"currentStepAnalysisRunStatus": {"name": "it-1", "status": "Inconclusive"}},
        }
    )
    done = module("rollout", name="it", action="promote")
    stored = rollout()["status"]
    assert done["changed"] is True
    assert not stored.get("pauseConditions")
    assert stored["controllerPause"] is False
    assert stored["currentStepIndex"] == 2


def test_abort_then_retry_write_the_abort_flag_through_the_status_subresource():
    aborted = module("rollout", name="it", action="abort")
    assert aborted["changed"] is True and rollout()["status"]["abort"] is True
    retried = module("rollout", name="it", action="retry")
    assert retried["changed"] is True and rollout()["status"].get("abort") is False


def test_promote_full_sets_promote_full_while_the_canary_is_not_stable():
    controller_writes({"currentPodHash": "canary1", "stableRS": "stable0", "promoteFull": False})
    done = module("rollout", name="it", action="promote_full")
    assert done["changed"] is True and rollout()["status"]["promoteFull"] is True


def test_restart_sets_restart_at_to_now():
    before = datetime.now(UTC).replace(microsecond=0)
    done = module("rollout", name="it", action="restart")
    restart_at = datetime.strptime(rollout()["spec"]["restartAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert done["changed"] is True
    assert 0 <= (restart_at - before).total_seconds() < 120


def test_set_image_on_a_workload_ref_rollout_changes_the_deployment():
    done = module("rollout", name="it-ref", action="set_image", container="main", image=IMAGES[1])
    deployment = kubectl_json("get", "deployment", "it-workload", "-n", NAMESPACE)
    assert done["changed"] is True
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES[1]
    assert "template" not in rollout("it-ref")["spec"]
    again = module("rollout", name="it-ref", action="set_image", container="main", image=IMAGES[1])
    assert again["changed"] is False


def test_set_image_on_the_rollout_puts_the_whole_object_back():
    done = module("rollout", name="it", action="set_image", container="main", image=IMAGES[1])
    assert done["changed"] is True
    assert rollout()["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGES[1]


def test_wait_returns_when_the_controller_reports_healthy_and_info_reads_it():
    controller_writes(
        {
            "phase": "Progressing",
            "message": "more replicas need to be updated",
            "abort": False,
            "pauseConditions": None,
            "controllerPause": False,
        }
    )

    def controller():
        time.sleep(6)
        controller_writes(
            {
                "phase": "Healthy",
                "message": "",
                "stableRS": "canary1",
                "currentPodHash": "canary1",
                "currentStepIndex": 4,
            },
            observe=True,
        )

    thread = threading.Thread(target=controller)
    started = time.monotonic()
    thread.start()
    done = module("rollout", name="it", wait=True, wait_for="healthy", wait_timeout=60, wait_sleep=1)
    thread.join()
    assert done.get("failed") is not True, done
    assert 5 <= time.monotonic() - started < 60
    assert done["status"]["phase"] == "Healthy"
    info = module("rollout_info", name="it")
    assert info["status"]["stable_hash"] == info["status"]["current_hash"] == "canary1"


def test_wait_for_degraded_fails_at_once_on_a_healthy_rollout():
    done = module("rollout", name="it", wait=True, wait_for="degraded", wait_timeout=60, wait_sleep=1)
    assert done.get("failed") is True
    assert "Healthy" in done["msg"], done["msg"]
