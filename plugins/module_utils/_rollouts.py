
# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private code shared by the rollout, rollout_info and canary_gate modules.

Not a public API: names and signatures may change in any release.

The requests mirror what the Argo Rollouts CLI (kubectl argo rollouts) sends; the phase is
computed the way Argo Rollouts computes it (GetRolloutPhase / CalculateRolloutPhase).
"""

import copy
import datetime
import json
import sys
import time

try:
    from urllib3.exceptions import HTTPError as TransportError
except ImportError:
    TransportError = OSError

GROUP_VERSION = "argoproj.io/v1alpha1"
MERGE_PATCH = "application/merge-patch+json"
DRY_RUN_ALL = "All"

PHASE_HEALTHY = "Healthy"
PHASE_DEGRADED = "Degraded"
PHASE_PAUSED = "Paused"
PHASE_PROGRESSING = "Progressing"

WAIT_FOR_CHOICES = ("healthy", "paused", "step", "degraded")
ACTION_CHOICES = ("promote", "promote_full", "abort", "retry", "pause", "resume", "restart", "set_image")
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
CONFLICT_RETRIES = 5


def _api_errors():
    """(ConflictError, DynamicApiError) of the kubernetes client, or (None, None) while it is not
    loaded: an API error cannot have happened then, and canary_gate does not pay for the import."""
    errors = sys.modules.get("kubernetes.dynamic.exceptions")
    if errors is None:
        return None, None
    return errors.ConflictError, errors.DynamicApiError


class RolloutError(Exception):
    """A failure the module reports as is; `result` holds the return values known so far."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


def rollout_path(namespace, name, subresource=None):
    path = "/apis/%s/namespaces/%s/rollouts/%s" % (GROUP_VERSION, namespace, name)
    if subresource:
        path += "/" + subresource
    return path


def deployment_path(namespace, name):
    """The Deployment a Rollout takes its pod template from (spec.workloadRef): like the CLI, the
    reference is always read as an apps/v1 Deployment in the Rollout's namespace."""
    return "/apis/apps/v1/namespaces/%s/deployments/%s" % (namespace, name)


def api_error_message(exc):
    """A one-line message for an API or transport error."""
    _conflict, api_error = _api_errors()
    if api_error is not None and isinstance(exc, api_error):
        body = getattr(exc, "body", None)
        try:
            detail = json.loads(body).get("message") if body else None
        except (TypeError, ValueError, AttributeError):
            detail = None
        return "%s %s%s" % (exc.status, exc.reason, (": " + detail) if detail else "")
    return "%s: %s" % (type(exc).__name__, exc)


def is_transient(exc):
    """True for errors worth retrying while waiting: lost connections, 5xx and 429."""
    _conflict, api_error = _api_errors()
    if api_error is not None and isinstance(exc, api_error):
        status = exc.status or 0
        return status >= 500 or status in {0, 429}
    return isinstance(exc, (TransportError, OSError))


class RolloutApi:
    """The few requests the modules send, through a kubernetes DynamicClient.

    Paths are built here (no resource discovery per call): one GET reads a Rollout, every write
    is a JSON merge patch or a full update, dry-run on the server when `dry_run` is set.
    """

    def __init__(self, client, dry_run=False, request_timeout=None):
        self.client = client
        self.dry_run = dry_run
        self.request_timeout = request_timeout

    def _request(self, method, path, body=None, content_type=None, write=False):
        params = {"serialize": False}
        if content_type:
            params["content_type"] = content_type
        if write and self.dry_run:
            params["dry_run"] = DRY_RUN_ALL
        if self.request_timeout:
            params["_request_timeout"] = self.request_timeout
        response = self.client.request(method, path, body=body, **params)
        data = response.data
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data) if data else {}

    def get(self, namespace, name):
        return self._request("GET", rollout_path(namespace, name))

    def patch(self, namespace, name, body, subresource=None):
        return self._request("PATCH", rollout_path(namespace, name, subresource), body=body,
                             content_type=MERGE_PATCH, write=True)

    def replace(self, namespace, name, body):
        return self._request("PUT", rollout_path(namespace, name), body=body,
                             content_type="application/json", write=True)

    def get_deployment(self, namespace, name):
        return self._request("GET", deployment_path(namespace, name))

    def replace_deployment(self, namespace, name, body):
        return self._request("PUT", deployment_path(namespace, name), body=body,
                             content_type="application/json", write=True)


# ---------------------------------------------------------------------------------------------
# Reading a Rollout the way Argo Rollouts does.


def _get(obj, *keys, default=None):
    for key in keys:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(key)
        if obj is None:
            return default
    return obj


def canary_steps(rollout):
    return _get(rollout, "spec", "strategy", "canary", "steps", default=[]) or []


def current_canary_step(rollout):
    """(step, index) like replicasetutil.GetCurrentCanaryStep: (None, None) without steps,
    (None, index) once past the last step; an unset index counts as 0."""
    steps = canary_steps(rollout)
    if _get(rollout, "spec", "strategy", "canary") is None or not steps:
        return None, None
    index = _get(rollout, "status", "currentStepIndex", default=0) or 0
    if index >= len(steps):
        return None, index
    return steps[index], index


def current_set_weight(rollout):
    """The desired canary weight (replicasetutil.GetCurrentSetWeight)."""
    if _get(rollout, "status", "abort", default=False):
        return 0
    step, index = current_canary_step(rollout)
    if step is None:
        return 100
    steps = canary_steps(rollout)
    for i in range(index, -1, -1):
        weight = steps[i].get("setWeight")
        if weight is not None:
            return weight
    return 0


def actual_canary_weight(rollout):
    """The canary weight as the CLI shows it (info.NewRolloutInfo): 100 once past the last step (or
    without steps), 0 while no replica is available, else with traffic routing the weight the
    router reports (status.canary.weights), or the set weight before it reports one.

    None for a basic canary (no traffic routing) in the middle of its steps: the CLI computes that
    weight from the ReplicaSets' available pods, which one read of the Rollout does not show.
    """
    step, _index = current_canary_step(rollout)
    if step is None:
        return 100
    if (_get(rollout, "status", "availableReplicas", default=0) or 0) <= 0:
        return 0
    if _get(rollout, "spec", "strategy", "canary", "trafficRouting") is None:
        return None
    weights = _get(rollout, "status", "canary", "weights")
    if weights is not None:
        return _get(weights, "canary", "weight", default=0) or 0
    return current_set_weight(rollout)


def _generation_observed(rollout):
    generation = _get(rollout, "metadata", "generation", default=0) or 0
    observed = _get(rollout, "status", "observedGeneration")
    try:
        observed = int(observed)
    except (TypeError, ValueError):
        # Rollouts before v0.10 kept a hash here: nothing to compare.
        return True
    return observed >= generation


def is_unpausing(rollout):
    """A pause was cleared (pause conditions gone) but the controller has not reacted yet."""
    status = rollout.get("status") or {}
    return bool(status.get("controllerPause")) and not status.get("pauseConditions")


def _replicas(rollout):
    replicas = _get(rollout, "spec", "replicas")
    return 1 if replicas is None else replicas


def _degraded_or_paused(spec, status):
    for cond in status.get("conditions") or []:
        if cond.get("type") == "InvalidSpec":
            return PHASE_DEGRADED, "InvalidSpec: %s" % cond.get("message", "")
        if cond.get("reason") in ("RolloutAborted", "ProgressDeadlineExceeded"):
            return PHASE_DEGRADED, "%s: %s" % (cond.get("reason"), cond.get("message", ""))
    if spec.get("paused"):
        return PHASE_PAUSED, "manually paused"
    for cond in status.get("pauseConditions") or []:
        return PHASE_PAUSED, cond.get("reason", "")
    return None


def _parse_time(value):
    """An RFC 3339 time of the API as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_restarting(spec, status):
    """spec.restartAt set and not yet the restart the controller reports in status.restartedAt."""
    restart_at = _parse_time(spec.get("restartAt"))
    if restart_at is None:
        return False
    return _parse_time(status.get("restartedAt")) != restart_at


_ANALYSIS_COMPLETED = ("Successful", "Failed", "Error", "Inconclusive")


def _waiting_for_post_promotion_analysis(strategy, status):
    if _get(strategy, "blueGreen", "postPromotionAnalysis") is None:
        return False
    run_phase = _get(status, "blueGreen", "postPromotionAnalysisRunStatus", "status")
    return run_phase not in _ANALYSIS_COMPLETED


def _progressing_reason(rollout, spec, status):
    """Why a rollout that is neither degraded nor paused is still progressing; None when it is not."""
    updated = status.get("updatedReplicas") or 0
    strategy = spec.get("strategy") or {}
    stable = status.get("stableRS") or ""
    current = status.get("currentPodHash") or ""
    checks = [
        (_is_restarting(spec, status), "rollout is restarting"),
        (updated < _replicas(rollout), "more replicas need to be updated"),
        ((status.get("availableReplicas") or 0) < updated, "updated replicas are still becoming available"),
    ]
    if strategy.get("blueGreen") is not None:
        active = _get(status, "blueGreen", "activeSelector", default="")
        checks += [
            (not active or active != current, "active service cutover pending"),
            (not stable or stable != current,
             "waiting for analysis to complete" if _waiting_for_post_promotion_analysis(strategy, status)
             else "waiting for post-promotion verification to complete"),
        ]
    elif strategy.get("canary") is not None:
        checks += [
            (strategy["canary"].get("trafficRouting") is None and (status.get("replicas") or 0) > updated,
             "old replicas are pending termination"),
            (not stable or stable != current, "waiting for all steps to complete"),
        ]
    for failed, reason in checks:
        if failed:
            return reason
    return None


def calculate_phase(rollout):
    """CalculateRolloutPhase: the controller-side computation, for rollouts without status.phase."""
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    found = _degraded_or_paused(spec, status)
    if found:
        return found
    reason = _progressing_reason(rollout, spec, status)
    if reason:
        return PHASE_PROGRESSING, reason
    return PHASE_HEALTHY, ""


def rollout_phase(rollout):
    """GetRolloutPhase: (phase, message) as the CLI and the UI show them.

    Its third check (a template resolved from a workloadRef whose generation is not observed yet)
    reads spec.templateResolvedFromRef, a field the API never serializes (json:"-"): it is false
    on every object a client reads, so the CLI never takes that branch and neither does this.
    """
    if not _generation_observed(rollout):
        return PHASE_PROGRESSING, "waiting for rollout spec update to be observed"
    if is_unpausing(rollout):
        return PHASE_PROGRESSING, "waiting for rollout to unpause"
    status = rollout.get("status") or {}
    if status.get("phase"):
        return status["phase"], status.get("message", "")
    return calculate_phase(rollout)


def _analysis_run(status):
    if not status:
        return None
    return {"name": status.get("name"), "status": status.get("status"), "message": status.get("message", "")}


def summarize(rollout):
    """Everything rollout_info returns, from one Rollout object."""
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    strategy = spec.get("strategy") or {}
    phase, message = rollout_phase(rollout)
    step, index = current_canary_step(rollout)
    is_canary = strategy.get("canary") is not None
    weights = _get(status, "canary", "weights")
    return {
        "name": _get(rollout, "metadata", "name"),
        "namespace": _get(rollout, "metadata", "namespace"),
        "phase": phase,
        "message": message,
        "strategy": "canary" if is_canary else ("blueGreen" if strategy.get("blueGreen") is not None else None),
        "step_index": index,
        "step_count": len(canary_steps(rollout)),
        "current_step": step,
        "set_weight": current_set_weight(rollout) if is_canary else None,
        "actual_weight": actual_canary_weight(rollout) if is_canary else None,
        "weights": weights,
        "stable_hash": status.get("stableRS"),
        "current_hash": status.get("currentPodHash"),
        "paused": bool(spec.get("paused")),
        "pause_conditions": status.get("pauseConditions") or [],
        "controller_pause": bool(status.get("controllerPause")),
        "aborted": bool(status.get("abort")),
        "promote_full": bool(status.get("promoteFull")),
        "step_analysis_run": _analysis_run(_get(status, "canary", "currentStepAnalysisRunStatus")),
        "background_analysis_run": _analysis_run(_get(status, "canary", "currentBackgroundAnalysisRunStatus")),
        "generation": _get(rollout, "metadata", "generation"),
        "observed_generation": status.get("observedGeneration"),
        "workload_ref": spec.get("workloadRef"),
        "replicas": status.get("replicas", 0),
        "updated_replicas": status.get("updatedReplicas", 0),
        "ready_replicas": status.get("readyReplicas", 0),
        "available_replicas": status.get("availableReplicas", 0),
    }


# ---------------------------------------------------------------------------------------------
# The requests of each action, decided from one observed Rollout (as the CLI decides them).


def _is_inconclusive(rollout):
    return (_get(rollout, "spec", "strategy", "canary") is not None
            and _get(rollout, "status", "canary", "currentStepAnalysisRunStatus", "status") == "Inconclusive")


def _next_index(rollout):
    """The index after the current one, never past the number of steps; None without steps."""
    _step, index = current_canary_step(rollout)
    if index is None:
        return None
    return min(index + 1, len(canary_steps(rollout)))


UNPAUSE = {"spec": {"paused": False}}


def plan_promote(rollout):
    """[(subresource, body)] of `kubectl argo rollouts promote` (no flags)."""
    status = rollout.get("status") or {}
    plan = []
    pause_conditions = status.get("pauseConditions") or []
    if _is_inconclusive(rollout) and pause_conditions and status.get("controllerPause"):
        index = _next_index(rollout)
        if index is not None:
            plan.append(("status", {"status": {"pauseConditions": None, "controllerPause": False,
                                               "currentStepIndex": index}}))
    elif pause_conditions:
        plan.append(("status", {"status": {"pauseConditions": None}}))
    elif _get(rollout, "spec", "strategy", "canary") is not None:
        index = _next_index(rollout)
        if index is not None:
            plan.append(("status", {"status": {"pauseConditions": None, "currentStepIndex": index}}))
    if _get(rollout, "spec", "paused"):
        plan.append((None, UNPAUSE))
    return plan


def plan_promote_full(rollout):
    status = rollout.get("status") or {}
    plan = []
    if status.get("currentPodHash") != status.get("stableRS"):
        plan.append(("status", {"status": {"promoteFull": True}}))
    if _get(rollout, "spec", "paused"):
        plan.append((None, UNPAUSE))
    return plan


def _plan_restart(_rollout, now=None, restart_in=0):
    when = (now or utc_now()) + datetime.timedelta(seconds=restart_in or 0)
    return [(None, {"spec": {"restartAt": when.strftime("%Y-%m-%dT%H:%M:%SZ")}})]


PLANS = {
    "pause": lambda rollout, **_kw: [(None, {"spec": {"paused": True}})],
    "resume": lambda rollout, **_kw: [(None, UNPAUSE)] if _get(rollout, "spec", "paused") else [],
    "abort": lambda rollout, **_kw: [("status", {"status": {"abort": True}})],
    "retry": lambda rollout, **_kw: [("status", {"status": {"abort": False}})],
    "restart": _plan_restart,
    "promote": lambda rollout, **_kw: plan_promote(rollout),
    "promote_full": lambda rollout, **_kw: plan_promote_full(rollout),
}


def plan_simple(action, rollout, now=None, restart_in=0):
    """[(subresource or None, merge patch)] the CLI command `action` would send for this Rollout."""
    if action not in PLANS:
        raise RolloutError("Unknown action %s" % action)
    return PLANS[action](rollout, now=now, restart_in=restart_in)


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)  # noqa: UP017 - datetime.UTC needs Python 3.11


def merge_patch(target, patch):
    """Apply an RFC 7386 JSON merge patch to a copy of target."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _prune(value):
    """Drop false and null members: the API omits them (omitempty), so absent equals false."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None and v is not False}
    return value


def patch_changes(rollout, body):
    """True when the merge patch changes the parts of the object it touches."""
    before = {key: rollout.get(key) for key in body if rollout.get(key) is not None}
    return _prune(merge_patch(before, body)) != _prune(before)


def workload_ref_name(rollout):
    """The name of the Deployment of spec.workloadRef; None for a Rollout with its own template."""
    ref = _get(rollout, "spec", "workloadRef")
    if not ref:
        return None
    name = ref.get("name") if isinstance(ref, dict) else None
    if not isinstance(name, str) or not name:
        raise RolloutError("spec.workloadRef.name of Rollout %s is not a string: %r"
                           % (_get(rollout, "metadata", "name"), name))
    return name


def set_image(obj, container, image):
    """(new object, changed) with the image of `container` ('*' = all) set in the pod template of
    obj (a Rollout, or the Deployment of its workloadRef): init, regular and ephemeral containers."""
    what = "%s %s" % (obj.get("kind") or "object", _get(obj, "metadata", "name"))
    updated = copy.deepcopy(obj)
    pod_spec = _get(updated, "spec", "template", "spec")
    if pod_spec is None:
        raise RolloutError("%s has no spec.template.spec" % what)
    found = False
    changed = False
    for kind in CONTAINER_KINDS:
        for item in pod_spec.get(kind) or []:
            if container in ("*", item.get("name")):
                found = True
                if item.get("image") != image:
                    item["image"] = image
                    changed = True
    if not found:
        raise RolloutError('%s has no container named "%s"' % (what, container))
    return updated, changed


# ---------------------------------------------------------------------------------------------
# Waiting.


def _verdict_degraded(summary):
    if summary["phase"] == PHASE_DEGRADED:
        # The weight the traffic router reports, not the CLI's derived value: only the router's
        # own report says the stable version serves all traffic again.
        weight = _get(summary, "weights", "canary", "weight", default=0) if summary["weights"] else None
        if summary["aborted"] and weight not in (None, 0):
            return "wait", "aborted, canary still receives %s%% of the traffic" % weight
        return "done", ""
    if summary["phase"] == PHASE_HEALTHY:
        return "fail", "the rollout is Healthy, not degraded"
    return "wait", ""


def _verdict_paused(summary, wait_step):
    phase = summary["phase"]
    index = summary["step_index"]
    if phase == PHASE_PAUSED and (wait_step is None or index == wait_step):
        return "done", ""
    if phase == PHASE_HEALTHY:
        return "fail", "the rollout became Healthy without pausing%s" % (
            "" if wait_step is None else " at step %s" % wait_step)
    if wait_step is not None and index is not None and index > wait_step:
        return "fail", "the rollout moved past step %s (now at step %s) without pausing there" % (wait_step, index)
    return "wait", ""


def _verdict_step(summary, wait_step):
    """Paused at the step, past it, finished; or held earlier for a decision (a manual pause, an
    inconclusive analysis). An earlier timed or indefinite pause step (CanaryPauseStep) is waited out."""
    index = summary["step_index"]
    step = wait_step or 0
    phase = summary["phase"]
    reached = index is not None and (index > step or (phase == PHASE_PAUSED and (
        index == step or summary["message"] != "CanaryPauseStep")))
    return ("done", "") if reached or phase == PHASE_HEALTHY else ("wait", "")


def wait_verdict(summary, wait_for, wait_step=None):
    """('done' | 'wait' | 'fail', reason) for one observed state."""
    if wait_for == "degraded":
        return _verdict_degraded(summary)
    if summary["phase"] == PHASE_DEGRADED:
        return "fail", "the rollout is Degraded: %s" % summary["message"]
    if wait_for == "healthy":
        return ("done", "") if summary["phase"] == PHASE_HEALTHY else ("wait", "")
    if wait_for == "paused":
        return _verdict_paused(summary, wait_step)
    return _verdict_step(summary, wait_step)


def wait_rollout(api, namespace, name, *, wait_for, wait_step, timeout, sleep_seconds,
                 clock=time.monotonic, sleep=time.sleep, stale_hash=None):
    """Poll with one GET per interval until the wait condition holds.

    Returns (rollout, summary, polls). Raises RolloutError on failure or timeout, carrying the
    last observed state. Lost connections and 5xx are retried with back-off until the timeout.
    With `stale_hash` (the current pod hash before a new pod template was written), states that
    still show it are the previous release, not yet judged: the controller has not reacted.
    """
    if sleep_seconds <= 0:
        raise RolloutError("wait_sleep must be greater than 0 (a wait never polls in a busy loop)")
    deadline = clock() + timeout
    polls = 0
    last = None
    last_summary = None
    last_error = None
    backoff = sleep_seconds
    while True:
        polls += 1
        try:
            last = api.get(namespace, name)
        except Exception as exc:  # pylint: disable=broad-except
            if not is_transient(exc):
                raise
            last_error = api_error_message(exc)
            remaining = deadline - clock()
            if remaining <= 0:
                break
            backoff = min(max(backoff * 2, sleep_seconds), max(sleep_seconds * 8, 30))
            sleep(min(backoff, remaining))
            continue
        backoff = sleep_seconds
        last_error = None
        last_summary = summarize(last)
        if stale_hash is not None and last_summary["current_hash"] == stale_hash:
            verdict, reason = "wait", ""
        else:
            stale_hash = None
            verdict, reason = wait_verdict(last_summary, wait_for, wait_step)
        if verdict == "done":
            return last, last_summary, polls
        if verdict == "fail":
            raise RolloutError("Rollout %s/%s: %s" % (namespace, name, reason),
                               rollout=last, status=last_summary, polls=polls)
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(sleep_seconds, remaining))
    msg = "Timed out after %ss waiting for rollout %s/%s to be %s%s" % (
        timeout, namespace, name, wait_for, "" if wait_step is None else " (step %s)" % wait_step)
    raise RolloutError(msg + _last_observed(last_summary, last_error, stale_hash),
                       rollout=last, status=last_summary, polls=polls)


def _last_observed(summary, error, stale_hash):
    """The end of a timeout message: the last state seen, and the last error."""
    msg = ""
    if summary:
        msg += "; last observed: phase %s%s, step %s/%s" % (
            summary["phase"], (" (%s)" % summary["message"]) if summary["message"] else "",
            summary["step_index"], summary["step_count"])
        if stale_hash is not None and summary["current_hash"] == stale_hash:
            msg += " (still the previous release: the controller has not taken up the new pod template)"
    if error:
        msg += "; last error: %s" % error
    return msg


# ---------------------------------------------------------------------------------------------
# The manager of the rollout module.


class RolloutManager:
    """Runs one action (or none) and the optional wait; every write goes through _write."""

    def __init__(self, api, params, *, check_mode=False, diff=False, clock=time.monotonic, sleep=time.sleep,
                 now=utc_now):
        self.api = api
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.clock = clock
        self.sleep = sleep
        self.now = now
        self.sent = []

    @property
    def namespace(self):
        return self.params["namespace"]

    @property
    def name(self):
        return self.params["name"]

    def _write(self, method, subresource, body, deployment=None):
        """The one place that sends a write (dry run on the server in check mode): a merge patch of
        the Rollout or its status, a full update of the Rollout, or of the Deployment `deployment`."""
        self.sent.append({"method": method, "kind": "Deployment" if deployment else "Rollout",
                          "name": deployment or self.name, "subresource": subresource or "", "body": body,
                          "dry_run": self.check_mode})
        if deployment:
            return self.api.replace_deployment(self.namespace, deployment, body)
        if method == "PUT":
            return self.api.replace(self.namespace, self.name, body)
        return self.api.patch(self.namespace, self.name, body, subresource=subresource)

    def _apply_plan(self, observed, plan):
        changed = False
        result = observed
        for subresource, body in plan:
            if not patch_changes(observed, body):
                continue
            answer = self._write("PATCH", subresource, body)
            if self.check_mode and subresource != "status":
                # A dry run persists nothing: the answer to the spec patch does not show the status
                # patch dry-run before it. Keep that one's status, so the diff shows both.
                answer = dict(answer, status=result.get("status"))
            result = answer
            changed = True
        return changed, result

    def _set_image(self, observed):
        """kubectl argo rollouts set image: read, change the container, full update; on a conflict
        read everything again and retry. A Rollout with a workloadRef takes its template from a
        Deployment: that Deployment is updated (and the Rollout follows it), as the CLI does.

        Returns (changed, target before, target after, deployment name or None)."""
        rollout = observed
        for attempt in range(CONFLICT_RETRIES):
            if attempt:
                rollout = self.api.get(self.namespace, self.name)
            deployment = workload_ref_name(rollout)
            target = self.api.get_deployment(self.namespace, deployment) if deployment else rollout
            updated, changed = set_image(target, self.params["container"], self.params["image"])
            if not changed:
                return False, target, target, deployment
            try:
                return True, target, self._write("PUT", None, updated, deployment=deployment), deployment
            except Exception as exc:  # pylint: disable=broad-except
                conflict, _api_error = _api_errors()
                if conflict is None or not isinstance(exc, conflict):
                    raise
        raise RolloutError("Rollout %s/%s: the update conflicted %s times in a row"
                           % (self.namespace, self.name, CONFLICT_RETRIES))

    def run(self):
        action = self.params.get("action")
        observed = self.api.get(self.namespace, self.name)
        changed = False
        result = observed
        out = {}
        stale_hash = None
        if action == "set_image":
            changed, before, after, deployment = self._set_image(observed)
            if changed:
                # Until the controller takes the new template up, the Rollout shows the previous
                # release (for a workloadRef even with an unchanged generation).
                stale_hash = _get(observed, "status", "currentPodHash")
            if deployment:
                out["workload"] = after
            else:
                result = after
            diff = {"before": {"spec": before.get("spec")}, "after": {"spec": after.get("spec")},
                    "before_header": "%s %s/%s" % ("Deployment" if deployment else "Rollout", self.namespace,
                                                   deployment or self.name)}
            diff["after_header"] = diff["before_header"]
        else:
            if action:
                plan = plan_simple(action, observed, now=self.now(), restart_in=self.params.get("restart_in") or 0)
                changed, result = self._apply_plan(observed, plan)
            keys = ("spec",) if action in ("pause", "resume", "restart") else ("spec", "status")
            diff = {"before": {k: observed.get(k) for k in keys}, "after": {k: result.get(k) for k in keys}}
        out.update(changed=changed, sent=self.sent)
        if self.diff:
            out["diff"] = diff
        out["polls"] = 0
        if self.params.get("wait") and not self.check_mode:
            result, summary, polls = wait_rollout(
                self.api, self.namespace, self.name, wait_for=self.params["wait_for"],
                wait_step=self.params.get("wait_step"), timeout=self.params["wait_timeout"],
                sleep_seconds=self.params["wait_sleep"], clock=self.clock, sleep=self.sleep, stale_hash=stale_hash)
            out["polls"] = polls
            out["status"] = summary
        else:
            out["status"] = summarize(result)
        out["rollout"] = result
        return out


def rollout_argument_spec(auth_spec):
    spec = copy.deepcopy(auth_spec)
    spec.update(
        name=dict(type="str", required=True),
        namespace=dict(type="str", required=True),
        action=dict(type="str", choices=list(ACTION_CHOICES)),
        container=dict(type="str", default="*"),
        image=dict(type="str"),
        restart_in=dict(type="int", default=0),
        wait=dict(type="bool", default=False),
        wait_for=dict(type="str", default="healthy", choices=list(WAIT_FOR_CHOICES)),
        wait_step=dict(type="int"),
        wait_timeout=dict(type="int", default=600),
        wait_sleep=dict(type="float", default=5.0),
    )
    return spec


def failure(exc):
    """The fail_json arguments for any exception: the one path from an error to a failed task."""
    if isinstance(exc, RolloutError):
        result = dict(exc.result)
        result["msg"] = str(exc)
        return result
    _conflict, api_error = _api_errors()
    if api_error is not None and isinstance(exc, api_error):
        return {"msg": "Kubernetes API error: %s" % api_error_message(exc), "status_code": exc.status}
    if isinstance(exc, (TransportError, OSError)):
        return {"msg": "Cannot reach the Kubernetes API: %s" % api_error_message(exc)}
    return {"msg": "%s: %s" % (type(exc).__name__, exc)}
