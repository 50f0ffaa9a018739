# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The exact HTTP request of every rollout action, for every observed state that changes it.

See rollout_fakes: the requests go through the real kubernetes client down to urllib3.
"""

import copy
import datetime

import pytest
import urllib3
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import (
    RolloutError,
    RolloutManager,
    wait_rollout,
)
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.rollout_fakes import (
    BASE,
    DEPLOYMENT,
    MERGE,
    STATUS,
    FakeServer,
    deployment,
    make_api,
    rollout,
    workload_ref_rollout,
)
from kubernetes.dynamic.exceptions import DynamicApiError


def run(obj, check_mode=False, **params):
    server = FakeServer(obj)
    base = {"name": "orchestrator", "namespace": "orchestrator", "action": None, "container": "*", "image": None,
            "restart_in": 0, "wait": False, "wait_for": "healthy", "wait_step": None, "wait_timeout": 60,
            "wait_sleep": 1.0}
    base.update(params)
    now = datetime.datetime(2026, 11, 22, 19, 0, 0, tzinfo=datetime.UTC)
    manager = RolloutManager(make_api(server, dry_run=check_mode), base, check_mode=check_mode, diff=True,
                             now=lambda: now)
    return manager.run(), server


PAUSE_STEP = [{"reason": "CanaryPauseStep", "startTime": "2026-11-22T18:50:00Z"}]
INCONCLUSIVE_RUN = {"name": "orchestrator-bbb222-2-7", "status": "Inconclusive", "message": "no data"}

# (id, action, observed rollout, expected writes [(method, path, content type, body)])
CASES = [
    ("promote-at-pause-step", "promote",
     rollout(status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP, "controllerPause": True}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None}})]),
    ("promote-inconclusive-analysis", "promote",
     rollout(status={"currentStepIndex": 2, "controllerPause": True,
                     "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-11-22T18:55:00Z"}],
                     "canary": {"currentStepAnalysisRunStatus": INCONCLUSIVE_RUN}}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None, "controllerPause": False,
                                           "currentStepIndex": 3}})]),
    ("promote-inconclusive-without-controller-pause", "promote",
     rollout(status={"currentStepIndex": 2,
                     "pauseConditions": [{"reason": "InconclusiveAnalysisRun", "startTime": "2026-11-22T18:55:00Z"}],
                     "canary": {"currentStepAnalysisRunStatus": INCONCLUSIVE_RUN}}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None}})]),
    ("promote-during-analysis-step", "promote",
     rollout(status={"currentStepIndex": 2,
                     "canary": {"currentStepAnalysisRunStatus": {"name": "r", "status": "Running"}}}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None, "currentStepIndex": 3}})]),
    ("promote-unset-index", "promote",
     rollout(),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None, "currentStepIndex": 1}})]),
    ("promote-manually-paused-canary", "promote",
     rollout(spec={"paused": True}, status={"currentStepIndex": 4}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None, "currentStepIndex": 5}}),
      ("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-paused-with-pause-conditions", "promote",
     rollout(spec={"paused": True}, status={"currentStepIndex": 4, "pauseConditions": PAUSE_STEP,
                                            "controllerPause": True}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None}}),
      ("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-last-step", "promote",
     rollout(status={"currentStepIndex": 10}),
     [("PATCH", STATUS, MERGE, {"status": {"pauseConditions": None, "currentStepIndex": 11}})]),
    ("promote-never-past-the-steps", "promote",
     rollout(spec={"paused": True}, status={"currentStepIndex": 11}),
     [("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-canary-without-steps", "promote",
     rollout(spec={"paused": True}, steps=[]),
     [("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-full-canary", "promote_full",
     rollout(status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP, "controllerPause": True}),
     [("PATCH", STATUS, MERGE, {"status": {"promoteFull": True}})]),
    ("promote-full-paused", "promote_full",
     rollout(spec={"paused": True}, status={"currentStepIndex": 1}),
     [("PATCH", STATUS, MERGE, {"status": {"promoteFull": True}}),
      ("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-full-already-stable-but-paused", "promote_full",
     rollout(spec={"paused": True}, status={"currentPodHash": "aaa111"}),
     [("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("promote-full-already-stable", "promote_full", rollout(status={"currentPodHash": "aaa111"}), []),
    ("abort", "abort", rollout(status={"currentStepIndex": 3}),
     [("PATCH", STATUS, MERGE, {"status": {"abort": True}})]),
    ("abort-aborted", "abort", rollout(status={"abort": True}), []),
    ("retry-aborted", "retry", rollout(status={"abort": True}),
     [("PATCH", STATUS, MERGE, {"status": {"abort": False}})]),
    ("retry-not-aborted", "retry", rollout(), []),
    ("pause", "pause", rollout(status={"currentStepIndex": 3}),
     [("PATCH", BASE, MERGE, {"spec": {"paused": True}})]),
    ("pause-paused", "pause", rollout(spec={"paused": True}), []),
    ("resume-paused", "resume",
     rollout(spec={"paused": True}, status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP}),
     [("PATCH", BASE, MERGE, {"spec": {"paused": False}})]),
    ("resume-step-pause-only", "resume",
     rollout(status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP, "controllerPause": True}), []),
]


@pytest.mark.parametrize("action,observed,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_action_sends_exactly(action, observed, expected):
    result, server = run(observed, action=action)
    assert server.writes() == [(*w, None) for w in expected]
    assert server.requests[0]["method"] == "GET" and server.requests[0]["path"] == BASE
    assert result["changed"] is bool(expected)
    assert [(s["subresource"], s["body"]) for s in result["sent"]] == [
        ("status" if w[1] == STATUS else "", w[3]) for w in expected]


@pytest.mark.parametrize("action,observed,expected", [c[1:] for c in CASES if c[3]],
                         ids=[c[0] for c in CASES if c[3]])
def test_check_mode_is_a_server_dry_run(action, observed, expected):
    result, server = run(observed, check_mode=True, action=action)
    assert server.writes() == [(*w, ["All"]) for w in expected]
    assert server.requests[0]["query"] == {}
    assert result["changed"] is True
    assert server.obj == observed  # the recorder kept the object: nothing was persisted


def test_promote_reports_the_servers_answer_and_diff():
    observed = rollout(spec={"paused": True}, status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP})
    result, _server = run(observed, action="promote")
    assert result["rollout"]["spec"]["paused"] is False
    assert "pauseConditions" not in result["rollout"]["status"]
    assert result["diff"]["before"]["spec"]["paused"] is True
    assert result["diff"]["after"]["spec"]["paused"] is False


def test_restart_sets_restart_at_in_rfc3339_utc():
    result, server = run(rollout(), action="restart", restart_in=90)
    assert server.writes() == [("PATCH", BASE, MERGE, {"spec": {"restartAt": "2026-11-22T19:01:30Z"}}, None)]
    assert result["changed"] is True


def _images(obj):
    pod = obj["spec"]["template"]["spec"]
    return {c["name"]: c["image"] for kind in ("initContainers", "containers", "ephemeralContainers")
            for c in pod.get(kind, [])}


def test_set_image_named_container_is_a_full_update():
    observed = rollout()
    result, server = run(observed, action="set_image", container="orchestrator", image="orch:1.1")
    (method, path, content_type, body, dry_run), = server.writes()
    assert (method, path, content_type, dry_run) == ("PUT", BASE, "application/json", None)
    assert _images(body) == {"migrate": "orch:1.0", "orchestrator": "orch:1.1", "sidecar": "proxy:2.0"}
    assert body["metadata"]["resourceVersion"] == "1001"  # optimistic concurrency
    expected = copy.deepcopy(observed)
    expected["spec"]["template"]["spec"]["containers"][0]["image"] = "orch:1.1"
    assert body == expected
    assert result["changed"] is True


def test_set_image_star_changes_every_kind_of_container():
    observed = rollout()
    observed["spec"]["template"]["spec"]["ephemeralContainers"] = [{"name": "debug", "image": "busybox:1"}]
    _result, server = run(observed, action="set_image", container="*", image="orch:2.0")
    assert set(_images(server.writes()[0][3]).values()) == {"orch:2.0"}


def test_set_image_unchanged_sends_nothing():
    result, server = run(rollout(), action="set_image", container="orchestrator", image="orch:1.0")
    assert server.writes() == []
    assert result["changed"] is False


def test_set_image_unknown_container_fails():
    with pytest.raises(RolloutError, match='no container named "nope"'):
        run(rollout(), action="set_image", container="nope", image="orch:1.1")


def test_set_image_on_a_workload_ref_rollout_updates_its_deployment():
    """Like `kubectl argo rollouts set image`: the Rollout has no template of its own, so the
    Deployment of spec.workloadRef is read and replaced; the Rollout itself is not written."""
    observed = workload_ref_rollout()
    server = FakeServer(observed, others={DEPLOYMENT: deployment()})
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "orchestrator", "image": "orch:1.1"}
    result = RolloutManager(make_api(server), params, diff=True).run()
    expected_requests = [("GET", BASE), ("GET", DEPLOYMENT), ("PUT", DEPLOYMENT)]
    assert [(r["method"], r["path"]) for r in server.requests] == expected_requests
    (_method, _path, content_type, body, dry_run), = server.writes()
    assert (content_type, dry_run) == ("application/json", None)
    expected = deployment(image="orch:1.1")
    assert body == expected  # the whole object, resourceVersion included (optimistic concurrency)
    assert result["changed"] is True
    assert result["sent"][0]["kind"] == "Deployment" and result["sent"][0]["name"] == "orchestrator"
    assert result["workload"] == expected and result["rollout"] == observed
    assert result["diff"]["before_header"] == "Deployment orchestrator/orchestrator"
    assert result["diff"]["after"]["spec"]["template"]["spec"]["containers"][0]["image"] == "orch:1.1"


def test_set_image_on_a_workload_ref_rollout_in_check_mode_is_a_dry_run():
    server = FakeServer(workload_ref_rollout(), others={DEPLOYMENT: deployment()})
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "*", "image": "orch:1.1"}
    result = RolloutManager(make_api(server, dry_run=True), params, check_mode=True).run()
    assert [(w[0], w[1], w[4]) for w in server.writes()] == [("PUT", DEPLOYMENT, ["All"])]
    assert server.others[DEPLOYMENT] == deployment()
    assert result["changed"] is True


def test_set_image_on_a_workload_ref_rollout_unchanged_sends_nothing():
    server = FakeServer(workload_ref_rollout(), others={DEPLOYMENT: deployment(image="orch:1.1")})
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "orchestrator", "image": "orch:1.1"}
    result = RolloutManager(make_api(server), params).run()
    assert server.writes() == [] and result["changed"] is False


def test_set_image_on_a_workload_ref_rollout_retries_everything_on_conflict():
    observed = workload_ref_rollout()
    newer = deployment()
    newer["metadata"]["resourceVersion"] = "502"
    server = FakeServer(observed, script=[observed, deployment(), (409, {"kind": "Status", "message": "conflict"}),
                                          observed, newer, newer])
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "orchestrator", "image": "orch:1.1"}
    result = RolloutManager(make_api(server), params).run()
    assert [(r["method"], r["path"]) for r in server.requests] == [
        ("GET", BASE), ("GET", DEPLOYMENT), ("PUT", DEPLOYMENT), ("GET", BASE), ("GET", DEPLOYMENT),
        ("PUT", DEPLOYMENT)]
    assert server.requests[5]["body"]["metadata"]["resourceVersion"] == "502"
    assert result["changed"] is True


def test_set_image_gives_up_after_five_conflicts():
    observed = rollout()
    conflict = (409, {"kind": "Status", "message": "conflict"})
    server = FakeServer(observed, script=[observed, conflict] + [observed, conflict] * 4)
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "orchestrator", "image": "orch:1.1"}
    with pytest.raises(RolloutError, match="conflicted 5 times"):
        RolloutManager(make_api(server), params).run()
    assert [r["method"] for r in server.requests] == ["GET", "PUT"] * 5


def test_set_image_retries_on_conflict():
    observed = rollout()
    newer = copy.deepcopy(observed)
    newer["metadata"]["resourceVersion"] = "1002"
    server = FakeServer(observed, script=[observed, (409, {"kind": "Status", "message": "conflict"}), newer, newer])
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image",
              "container": "orchestrator", "image": "orch:1.1"}
    result = RolloutManager(make_api(server), params).run()
    expected = [("GET", BASE), ("PUT", BASE), ("GET", BASE), ("PUT", BASE)]
    assert [(r["method"], r["path"]) for r in server.requests] == expected
    assert server.requests[1]["body"]["metadata"]["resourceVersion"] == "1001"
    assert server.requests[3]["body"]["metadata"]["resourceVersion"] == "1002"
    assert result["changed"] is True


# ------------------------------------------------------------------------------------------------
# Waiting: one GET per poll, failures reported within one poll, transient errors retried.


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


HEALTHY = rollout(status={"currentStepIndex": 11, "stableRS": "bbb222", "phase": "Healthy", "updatedReplicas": 3,
                          "replicas": 3, "availableReplicas": 3})
PAUSED_1 = rollout(status={"currentStepIndex": 1, "phase": "Paused", "message": "CanaryPauseStep",
                           "pauseConditions": PAUSE_STEP, "controllerPause": True})
PROGRESSING_3 = rollout(status={"currentStepIndex": 3, "phase": "Progressing", "message": "more replicas"})
DEGRADED = rollout(status={"currentStepIndex": 5, "abort": True, "phase": "Degraded",
                           "message": "RolloutAborted: metric success-rate assessed Failed",
                           "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}}})


def wait(script, wait_for="healthy", wait_step=None, timeout=60, sleep=5.0):
    server = FakeServer(script[0], script=script)
    clock = Clock()
    api = make_api(server)
    try:
        result = wait_rollout(api, "orchestrator", "orchestrator", wait_for=wait_for, wait_step=wait_step,
                              timeout=timeout, sleep_seconds=sleep, clock=clock.clock, sleep=clock.sleep)
    except (RolloutError, DynamicApiError) as exc:
        return exc, server, clock
    return result, server, clock


def test_wait_healthy_polls_once_per_interval():
    (_obj, summary, polls), server, clock = wait([PROGRESSING_3, PAUSED_1, HEALTHY])
    assert summary["phase"] == "Healthy" and polls == 3
    assert [r["method"] for r in server.requests] == ["GET"] * 3
    assert clock.sleeps == [5.0, 5.0]


def test_wait_healthy_fails_on_the_poll_that_sees_degraded():
    exc, server, clock = wait([PROGRESSING_3, DEGRADED, HEALTHY])
    assert isinstance(exc, RolloutError)
    assert "Degraded: RolloutAborted" in str(exc)
    assert len(server.requests) == 2 and clock.sleeps == [5.0]
    assert exc.result["status"]["aborted"] is True


def test_wait_retries_lost_connections_and_5xx_with_back_off():
    lost = urllib3.exceptions.ProtocolError("Connection aborted.")
    (_obj, summary, polls), _server, clock = wait(
        [PROGRESSING_3, lost, (503, {"message": "etcd leader changed"}), lost, HEALTHY], sleep=2.0)
    assert summary["phase"] == "Healthy" and polls == 5
    assert clock.sleeps == [2.0, 4.0, 8.0, 16.0]


def test_wait_timeout_reports_the_last_observed_state():
    lost = urllib3.exceptions.ProtocolError("Connection refused")
    exc, _server, clock = wait([PAUSED_1] + [lost] * 20, wait_for="healthy", timeout=30, sleep=5.0)
    assert isinstance(exc, RolloutError)
    assert "Timed out after 30s" in str(exc)
    assert "last observed: phase Paused (CanaryPauseStep), step 1/11" in str(exc)
    assert "ProtocolError" in str(exc)
    assert clock.now == 30


def test_wait_does_not_retry_a_missing_rollout():
    exc, server, _clock = wait([PAUSED_1, (404, {"message": "not found"})], wait_for="healthy")
    assert len(server.requests) == 2
    assert getattr(exc, "status", None) == 404


@pytest.mark.parametrize("states,wait_for,wait_step,polls,outcome", [
    ([PROGRESSING_3, PAUSED_1], "paused", None, 2, "done"),
    ([rollout(status={"currentStepIndex": 1, "phase": "Progressing"}), PAUSED_1], "paused", 1, 2, "done"),
    ([PAUSED_1], "paused", 4, 1, "wait"),
    ([PROGRESSING_3], "paused", 1, 1, "moved past step 1"),
    ([HEALTHY], "paused", None, 1, "Healthy without pausing"),
    ([rollout(status={"currentStepIndex": 1, "phase": "Progressing"}), PAUSED_1], "step", 1, 2, "done"),
    ([PROGRESSING_3], "step", 1, 1, "done"),
    ([PAUSED_1], "step", 4, 1, "wait"),
    ([rollout(status={"currentStepIndex": 2, "phase": "Paused", "message": "InconclusiveAnalysisRun",
                      "controllerPause": True, "pauseConditions": [{"reason": "InconclusiveAnalysisRun"}]})],
     "step", 4, 1, "done"),
    ([rollout(spec={"paused": True}, status={"currentStepIndex": 3, "phase": "Paused",
                                             "message": "manually paused"})], "step", 4, 1, "done"),
    ([HEALTHY], "step", 4, 1, "done"),
    ([DEGRADED], "step", 6, 1, "Degraded"),
    ([DEGRADED], "degraded", None, 1, "done"),
    ([HEALTHY], "degraded", None, 1, "Healthy, not degraded"),
])
def test_wait_conditions(states, wait_for, wait_step, polls, outcome):
    script = states if outcome != "wait" else states * 3
    result, server, _clock = wait(script, wait_for=wait_for, wait_step=wait_step, timeout=10, sleep=5.0)
    if outcome == "done":
        assert not isinstance(result, Exception)
        assert result[2] == polls
    elif outcome == "wait":
        assert isinstance(result, RolloutError) and "Timed out" in str(result)
    else:
        assert isinstance(result, RolloutError) and outcome in str(result)
        assert len(server.requests) == polls


def test_wait_degraded_waits_for_traffic_back_on_stable():
    draining = copy.deepcopy(DEGRADED)
    draining["status"]["canary"]["weights"]["canary"]["weight"] = 25
    (_obj, summary, polls), _server, _clock = wait([PAUSED_1, draining, DEGRADED], wait_for="degraded")
    assert polls == 3 and summary["actual_weight"] == 0


def test_manager_waits_after_the_action():
    server = FakeServer(PAUSED_1, script=[PAUSED_1, PROGRESSING_3, PROGRESSING_3, HEALTHY])
    clock = Clock()
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "promote", "wait": True,
              "wait_for": "healthy", "wait_step": None, "wait_timeout": 60, "wait_sleep": 3.0}
    result = RolloutManager(make_api(server), params, clock=clock.clock, sleep=clock.sleep).run()
    assert [r["method"] for r in server.requests] == ["GET", "PATCH", "GET", "GET"]
    assert result["polls"] == 2 and result["status"]["phase"] == "Healthy"


def test_manager_skips_the_wait_in_check_mode():
    server = FakeServer(PAUSED_1)
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "promote", "wait": True,
              "wait_for": "healthy", "wait_step": None, "wait_timeout": 60, "wait_sleep": 3.0}
    result = RolloutManager(make_api(server, dry_run=True), params, check_mode=True).run()
    assert [r["method"] for r in server.requests] == ["GET", "PATCH"]
    assert result["polls"] == 0


def test_wait_refuses_a_busy_loop():
    exc, server, _clock = wait([PAUSED_1], sleep=0)
    assert isinstance(exc, RolloutError) and "greater than 0" in str(exc)
    assert server.requests == []


def test_wait_after_set_image_on_a_workload_ref_ignores_the_previous_release():
    """After the Deployment's PUT the Rollout still shows the finished release (Healthy, same
    generation) until the controller reacts: the wait must not take that for the new release."""
    finished = workload_ref_rollout(status={"currentStepIndex": 11, "stableRS": "aaa111", "currentPodHash": "aaa111",
                                            "phase": "Healthy", "updatedReplicas": 3, "replicas": 3})
    started = workload_ref_rollout(status={"currentStepIndex": 0, "currentPodHash": "ccc333",
                                           "phase": "Progressing", "message": "more replicas need to be updated"})
    paused = workload_ref_rollout(status={"currentStepIndex": 1, "currentPodHash": "ccc333", "phase": "Paused",
                                          "message": "CanaryPauseStep", "pauseConditions": PAUSE_STEP,
                                          "controllerPause": True})
    server = FakeServer(finished, script=[finished, deployment(), deployment(image="orch:1.1"), finished, finished,
                                          started, paused])
    clock = Clock()
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image", "container": "orchestrator",
              "image": "orch:1.1", "wait": True, "wait_for": "paused", "wait_step": 1, "wait_timeout": 60,
              "wait_sleep": 2.0}
    result = RolloutManager(make_api(server), params, clock=clock.clock, sleep=clock.sleep).run()
    assert result["changed"] is True and result["polls"] == 4
    assert result["status"]["phase"] == "Paused" and result["status"]["current_hash"] == "ccc333"


def test_wait_after_set_image_times_out_naming_the_previous_release():
    finished = workload_ref_rollout(status={"currentStepIndex": 11, "stableRS": "aaa111", "currentPodHash": "aaa111",
                                            "phase": "Healthy", "updatedReplicas": 3, "replicas": 3})
    server = FakeServer(finished, others={DEPLOYMENT: deployment()})
    clock = Clock()
    params = {"name": "orchestrator", "namespace": "orchestrator", "action": "set_image", "container": "orchestrator",
              "image": "orch:1.1", "wait": True, "wait_for": "healthy", "wait_step": None, "wait_timeout": 10,
              "wait_sleep": 2.0}
    with pytest.raises(RolloutError, match="controller has not taken up the new pod template"):
        RolloutManager(make_api(server), params, clock=clock.clock, sleep=clock.sleep).run()


def test_check_mode_diff_shows_both_dry_run_patches_of_a_promote():
    observed = rollout(spec={"paused": True}, status={"currentStepIndex": 1, "pauseConditions": PAUSE_STEP,
                                                      "controllerPause": True})
    result, server = run(observed, check_mode=True, action="promote")
    assert [w[4] for w in server.writes()] == [["All"], ["All"]]
    assert server.obj == observed
    assert result["diff"]["before"]["spec"]["paused"] is True and result["diff"]["after"]["spec"]["paused"] is False
    assert "pauseConditions" in result["diff"]["before"]["status"]
    assert "pauseConditions" not in result["diff"]["after"]["status"]
