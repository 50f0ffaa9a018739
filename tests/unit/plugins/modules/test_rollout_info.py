# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The phase and the summary of real-shaped Rollouts, and rollout_info's single read."""


import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import rollout_phase, summarize
from ansible_collections.orchestrator.platform.plugins.modules import rollout_info
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.module_runner import run_module
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.rollout_fakes import (
    BASE,
    FakeServer,
    make_api,
    rollout,
)


def with_status(status=None, spec=None, generation=2, drop_phase=False, **kwargs):
    obj = rollout(spec=spec, status=status, generation=generation, **kwargs)
    if drop_phase:
        obj["status"].pop("phase", None)
        obj["status"].pop("message", None)
    return obj


HEALTHY_STATUS = {"stableRS": "bbb222", "currentPodHash": "bbb222", "currentStepIndex": 11, "replicas": 3,
                  "updatedReplicas": 3, "availableReplicas": 3, "readyReplicas": 3}
BLUE_GREEN = {"blueGreen": {"activeService": "orchestrator", "previewService": "orchestrator-preview"}}

# (id, rollout, expected (phase, message)). Objects without status.phase take the client-side
# computation, as for controllers before v1.0.
PHASES = [
    ("generation-not-observed",
     with_status({"phase": "Healthy", **HEALTHY_STATUS, "observedGeneration": "2"}, generation=3),
     ("Progressing", "waiting for rollout spec update to be observed")),
    ("legacy-hash-observed-generation",
     with_status({"phase": "Healthy", **HEALTHY_STATUS, "observedGeneration": "7d9f8c6b5"}, generation=3),
     ("Healthy", "")),
    ("unpausing", with_status({"phase": "Paused", "message": "CanaryPauseStep", "controllerPause": True}),
     ("Progressing", "waiting for rollout to unpause")),
    ("controller-phase-paused",
     with_status({"phase": "Paused", "message": "CanaryPauseStep", "controllerPause": True,
                  "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T18:00:00Z"}]}),
     ("Paused", "CanaryPauseStep")),
    ("controller-phase-degraded",
     with_status({"phase": "Degraded", "message": "RolloutAborted: Rollout aborted update to revision 4",
                  "abort": True}),
     ("Degraded", "RolloutAborted: Rollout aborted update to revision 4")),
    ("invalid-spec", with_status({"conditions": [
        {"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec",
         "message": "The Rollout \"orchestrator\" is invalid: spec.strategy.canary.steps[1].pause.duration"}]},
        drop_phase=True),
     ("Degraded",
      "InvalidSpec: The Rollout \"orchestrator\" is invalid: spec.strategy.canary.steps[1].pause.duration")),
    ("aborted", with_status({"abort": True, "conditions": [
        {"type": "Progressing", "status": "False", "reason": "RolloutAborted",
         "message": "Rollout aborted update to revision 4: metric \"success-rate\" assessed Failed"}]},
        drop_phase=True),
     ("Degraded", "RolloutAborted: Rollout aborted update to revision 4: metric \"success-rate\" assessed Failed")),
    ("progress-deadline", with_status({"conditions": [
        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
         "message": "ReplicaSet \"orchestrator-bbb222\" has timed out progressing."}]}, drop_phase=True),
     ("Degraded", "ProgressDeadlineExceeded: ReplicaSet \"orchestrator-bbb222\" has timed out progressing.")),
    ("manually-paused", with_status({"currentStepIndex": 3}, spec={"paused": True}, drop_phase=True),
     ("Paused", "manually paused")),
    ("pause-step", with_status({"currentStepIndex": 1, "controllerPause": True, "pauseConditions": [
        {"reason": "CanaryPauseStep", "startTime": "2026-11-22T18:00:00Z"}]}, drop_phase=True),
     ("Paused", "CanaryPauseStep")),
    ("replicas-to-update", with_status({"currentStepIndex": 0, "updatedReplicas": 1}, drop_phase=True),
     ("Progressing", "more replicas need to be updated")),
    ("updated-not-available",
     with_status({**HEALTHY_STATUS, "availableReplicas": 2}, drop_phase=True),
     ("Progressing", "updated replicas are still becoming available")),
    ("steps-remaining", with_status({**HEALTHY_STATUS, "stableRS": "aaa111", "currentStepIndex": 5},
                                    drop_phase=True),
     ("Progressing", "waiting for all steps to complete")),
    ("healthy", with_status(HEALTHY_STATUS, drop_phase=True), ("Healthy", "")),
    ("basic-canary-old-replicas",
     with_status({**HEALTHY_STATUS, "replicas": 4}, spec={"strategy": {"canary": {"steps": []}}}, drop_phase=True),
     ("Progressing", "old replicas are pending termination")),
    ("blue-green-cutover",
     with_status({**HEALTHY_STATUS, "blueGreen": {"activeSelector": "aaa111"}}, spec={"strategy": BLUE_GREEN},
                 drop_phase=True),
     ("Progressing", "active service cutover pending")),
    ("restarting",
     with_status({**HEALTHY_STATUS, "restartedAt": "2026-11-22T18:00:00Z"}, spec={"restartAt": "2026-11-22T19:00:00Z"},
                 drop_phase=True),
     ("Progressing", "rollout is restarting")),
    ("restarted",
     with_status({**HEALTHY_STATUS, "restartedAt": "2026-11-22T19:00:00Z"}, spec={"restartAt": "2026-11-22T19:00:00Z"},
                 drop_phase=True),
     ("Healthy", "")),
    ("restart-paused-first",
     with_status({"currentStepIndex": 3}, spec={"paused": True, "restartAt": "2026-11-22T19:00:00Z"},
                 drop_phase=True),
     ("Paused", "manually paused")),
    ("blue-green-post-promotion-analysis",
     with_status({**HEALTHY_STATUS, "stableRS": "aaa111", "blueGreen": {"activeSelector": "bbb222"}},
                 spec={"strategy": {"blueGreen": {**BLUE_GREEN["blueGreen"],
                                                  "postPromotionAnalysis": {"templates": [{"templateName": "t"}]}}}},
                 drop_phase=True),
     ("Progressing", "waiting for analysis to complete")),
    ("blue-green-post-promotion-verification",
     with_status({**HEALTHY_STATUS, "stableRS": "aaa111", "blueGreen": {"activeSelector": "bbb222"}},
                 spec={"strategy": BLUE_GREEN}, drop_phase=True),
     ("Progressing", "waiting for post-promotion verification to complete")),
    ("blue-green-healthy",
     with_status({**HEALTHY_STATUS, "blueGreen": {"activeSelector": "bbb222"}}, spec={"strategy": BLUE_GREEN},
                 drop_phase=True),
     ("Healthy", "")),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in PHASES], ids=[c[0] for c in PHASES])
def test_phase(obj, expected):
    assert rollout_phase(obj) == expected


@pytest.mark.parametrize("index,abort,weight", [
    (None, False, 10), (0, False, 10), (1, False, 10), (2, False, 10), (3, False, 25), (6, False, 50),
    (9, False, 75), (10, False, 100), (11, False, 100), (4, True, 0),
])
def test_set_weight_follows_the_last_set_weight_step(index, abort, weight):
    status = {"abort": abort}
    if index is not None:
        status["currentStepIndex"] = index
    assert summarize(rollout(status=status))["set_weight"] == weight


def test_summary_of_a_canary_in_its_analysis_step():
    obj = rollout(status={
        "currentStepIndex": 2, "phase": "Progressing", "message": "more replicas need to be updated",
        "canary": {"weights": {"canary": {"weight": 10, "podTemplateHash": "bbb222"},
                               "stable": {"weight": 90, "podTemplateHash": "aaa111"}},
                   "currentStepAnalysisRunStatus": {"name": "orchestrator-bbb222-4-2", "status": "Running"}},
    })
    summary = summarize(obj)
    assert summary["phase"] == "Progressing"
    assert (summary["step_index"], summary["step_count"]) == (2, 11)
    assert summary["current_step"] == obj["spec"]["strategy"]["canary"]["steps"][2]
    assert (summary["set_weight"], summary["actual_weight"]) == (10, 10)
    assert (summary["stable_hash"], summary["current_hash"]) == ("aaa111", "bbb222")
    assert summary["step_analysis_run"] == {"name": "orchestrator-bbb222-4-2", "status": "Running", "message": ""}
    assert summary["aborted"] is False and summary["paused"] is False


def _basic_canary(status):
    obj = rollout(status=status)
    del obj["spec"]["strategy"]["canary"]["trafficRouting"]
    return obj


WEIGHTS_10 = {"weights": {"canary": {"weight": 10}, "stable": {"weight": 90}}}


# The CLI's actual weight (info.NewRolloutInfo), for the states that change it.
@pytest.mark.parametrize("obj,weight", [
    (rollout(status={"currentStepIndex": 3, "canary": WEIGHTS_10}), 10),  # what the router reports
    (rollout(status={"currentStepIndex": 3}), 25),  # traffic routing, no report yet: the set weight
    (rollout(status={"currentStepIndex": 3, "availableReplicas": 0, "canary": WEIGHTS_10}), 0),  # nothing available
    (rollout(status={"currentStepIndex": 11, "canary": WEIGHTS_10}), 100),  # past the last step
    (rollout(status={"currentStepIndex": 3, "abort": True,
                     "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}}}), 0),
    (rollout(status={"currentStepIndex": 3, "canary": {"weights": {"stable": {"weight": 100}}}}), 0),
    (_basic_canary({"currentStepIndex": 3}), None),  # the CLI counts ReplicaSet pods: not in one read
    (_basic_canary({"currentStepIndex": 11}), 100),
], ids=["router", "router-not-reporting", "none-available", "done", "aborted", "no-canary-weight",
        "basic-canary", "basic-canary-done"])
def test_actual_weight_as_the_cli_shows_it(obj, weight):
    assert summarize(obj)["actual_weight"] == weight


def test_workload_ref_rollout_from_the_repository_shape():
    obj = rollout()
    del obj["spec"]["template"]
    obj["spec"]["workloadRef"] = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "orchestrator",
                                  "scaleDown": "progressively"}
    assert summarize(obj)["workload_ref"]["name"] == "orchestrator"


def _run_module(monkeypatch, server, **params):
    class _Client:
        client = make_api(server).client

    monkeypatch.setattr(rollout_info, "get_api_client", lambda module: _Client())
    return run_module(monkeypatch, rollout_info.main, params)


def test_module_reads_once(monkeypatch):
    obj = rollout(status={"currentStepIndex": 1, "phase": "Paused", "message": "CanaryPauseStep",
                          "controllerPause": True, "pauseConditions": [{"reason": "CanaryPauseStep"}]})
    server = FakeServer(obj)
    result = _run_module(monkeypatch, server, name="orchestrator", namespace="orchestrator")
    assert not result["failed"] and result["changed"] is False
    assert [(r["method"], r["path"]) for r in server.requests] == [("GET", BASE)]
    assert result["status"]["phase"] == "Paused" and result["status"]["step_index"] == 1
    assert result["rollout"] == obj


def test_module_reports_a_missing_rollout(monkeypatch):
    not_found = {"kind": "Status", "message": 'rollouts.argoproj.io "x" not found'}
    server = FakeServer(rollout(), script=[(404, not_found)])
    result = _run_module(monkeypatch, server, name="x", namespace="orchestrator")
    assert result["failed"] is True
    assert result["msg"] == 'Kubernetes API error: 404 Not Found: rollouts.argoproj.io "x" not found'
    assert [r["path"] for r in server.requests] == ["/apis/argoproj.io/v1alpha1/namespaces/orchestrator/rollouts/x"]
