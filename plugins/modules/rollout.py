#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rollout
short_description: Promote, abort, retry, pause, resume, restart or re-image an Argo Rollout
version_added: "0.1.0"
description:
  - Drives an Argo Rollouts C(Rollout) the way C(kubectl argo rollouts) does, sending the same
    JSON merge patches (C(application/merge-patch+json)) to the same place - the Rollout itself for
    C(spec) changes, its C(status) subresource for C(status) changes.
  - The request of each action is decided from one read of the Rollout, as the CLI decides it.
    A patch that would change nothing is not sent (the CLI sends it; the server ignores it), so
    pausing a paused Rollout reports no change. C(promote), C(abort), C(retry) and C(restart)
    change the Rollout whenever the CLI's would.
  - Optionally waits, after the action, for the Rollout to be healthy, paused, at a step, or
    degraded, with one GET per poll. A degraded (aborted, timed out, invalid) Rollout ends any
    other wait within one poll interval. Lost connections and server errors during the wait are
    retried with back-off until O(wait_timeout); the failure then reports the last observed state.
  - Without O(action), only reads (and waits, with O(wait=true)).
options:
  name:
    description: Name of the Rollout.
    type: str
    required: true
  namespace:
    description: Namespace of the Rollout.
    type: str
    required: true
  action:
    description:
      - V(promote) is C(kubectl argo rollouts promote) without flags. On the C(status) subresource it
        sends C({"status":{"pauseConditions":null,"controllerPause":false,"currentStepIndex":N+1}})
        when the step analysis is Inconclusive with pause conditions and a controller pause;
        C({"status":{"pauseConditions":null}}) when there are pause conditions; otherwise, for a
        canary with steps, C({"status":{"pauseConditions":null,"currentStepIndex":N+1}}) (N is the
        current step index, 0 when unset, and N+1 never exceeds the number of steps). Then, if
        C(spec.paused), C({"spec":{"paused":false}}) on the Rollout.
      - V(promote_full) sends C({"status":{"promoteFull":true}}) to the C(status) subresource when the
        current pod hash is not the stable one, then un-pauses C(spec.paused) as V(promote) does.
      - V(abort) sends C({"status":{"abort":true}}), V(retry) C({"status":{"abort":false}}), both to the
        C(status) subresource.
      - V(pause) sets C(spec.paused=true); V(resume) clears a manual pause (C(spec.paused=false)) and
        skips no step.
      - V(restart) sets C(spec.restartAt) to now (UTC, RFC 3339) plus O(restart_in) seconds.
      - V(set_image) reads the Rollout, sets O(image) on the container O(container) (V(*) for all) of
        C(initContainers), C(containers) and C(ephemeralContainers) of its pod template, and sends the
        whole object back (PUT, so the C(resourceVersion) read guards against lost updates); on a
        conflict it reads again and retries, up to 5 attempts. A Rollout that takes its pod template
        from a workload (C(spec.workloadRef)) has none of its own - as the CLI does, the module
        updates that C(apps/v1) Deployment (same namespace) instead, and the Rollout follows it.
        Under Argo CD change the image in Git instead, or the next sync reverts it.
    type: str
    choices: [promote, promote_full, abort, retry, pause, resume, restart, set_image]
  container:
    description: Container whose image O(action=set_image) changes; V(*) changes every container.
    type: str
    default: "*"
  image:
    description: The new image for O(action=set_image).
    type: str
  restart_in:
    description: Seconds from now at which O(action=restart) restarts the pods.
    type: int
    default: 0
  wait:
    description: Wait after the action (and in a read-only call) until O(wait_for) holds. Not done in check mode.
    type: bool
    default: false
  wait_for:
    description:
      - V(healthy) - phase Healthy; fails as soon as the Rollout is Degraded.
      - V(paused) - phase Paused (at step O(wait_step) when given); fails when the Rollout is
        Degraded, becomes Healthy, or moves past O(wait_step).
      - V(step) - the Rollout is paused at step O(wait_step), has moved past it, or has finished
        (Healthy); or it is held at an earlier step for a decision (a manual pause, an inconclusive
        analysis - any pause but a C(CanaryPauseStep), which is waited out). Fails when it is
        Degraded. The canary playbook follows a release with it.
      - V(degraded) - phase Degraded (aborted, progress deadline exceeded, invalid spec) and, for an
        aborted Rollout with traffic routing, the canary weight back to 0, that is the stable
        version serving all traffic again; fails when the Rollout is Healthy.
    type: str
    default: healthy
    choices: [healthy, paused, step, degraded]
  wait_step:
    description: Step index for O(wait_for=paused) and O(wait_for=step) (0-based, as C(status.currentStepIndex)).
    type: int
  wait_timeout:
    description: Seconds to wait before failing.
    type: int
    default: 600
  wait_sleep:
    description: Seconds between two polls (one GET each); must be greater than 0.
    type: float
    default: 5.0
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
attributes:
  action_group:
    description: Use C(group/orchestrator.platform.k8s) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - orchestrator.platform.k8s
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Every write is sent as a server-side dry run (C(dryRun=All)); the wait is skipped.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: partial
    details: >-
      V(pause), V(resume), V(abort), V(retry), V(set_image) and V(promote_full) are idempotent (a
      patch that would change nothing is not sent); V(promote) moves one step further and V(restart)
      restarts again each time, like the CLI commands.
requirements:
  - kubernetes >= 24.2.0
notes:
  - Needs C(get) and C(patch) (and C(update) for V(set_image)) on C(rollouts) and C(rollouts/status)
    of C(argoproj.io); for V(set_image) on a Rollout with a C(workloadRef), C(get) and C(update) on
    C(deployments) of C(apps).
  - Unlike the CLI, no fallback for Argo Rollouts older than v0.10 (no C(status) subresource).
seealso:
  - module: orchestrator.platform.rollout_info
  - module: orchestrator.platform.canary_gate
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Promote the canary past its current pause
  orchestrator.platform.rollout:
    name: orchestrator
    namespace: orchestrator
    action: promote

- name: Abort the canary and wait until the stable version serves all traffic again
  orchestrator.platform.rollout:
    name: orchestrator
    namespace: orchestrator
    action: abort
    wait: true
    wait_for: degraded
    wait_timeout: 300

- name: Start a release (on the Deployment of spec.workloadRef when the Rollout has one)
  orchestrator.platform.rollout:
    name: api
    namespace: shop
    action: set_image
    container: api
    image: registry.example.com/shop/api:1.4.2

- name: Wait until the canary holds at its first pause
  orchestrator.platform.rollout:
    name: orchestrator
    namespace: orchestrator
    wait: true
    wait_for: paused
    wait_step: 1
    wait_sleep: 10
"""

RETURN = r"""
changed:
  description: Whether a write was sent (or would have been, in check mode).
  returned: always
  type: bool
sent:
  description: The writes sent, in order.
  returned: always
  type: list
  elements: dict
  contains:
    method:
      description: C(PATCH) (merge patch) or C(PUT).
      type: str
    kind:
      description: C(Rollout), or C(Deployment) for V(set_image) on a Rollout with a C(workloadRef).
      type: str
    name:
      description: Name of the object written.
      type: str
    subresource:
      description: C(status) for the status subresource, empty for the Rollout itself.
      type: str
    body:
      description: The request body.
      type: dict
    dry_run:
      description: Whether the write was a server-side dry run (check mode).
      type: bool
  sample: [{method: PATCH, kind: Rollout, name: orchestrator, subresource: status,
            body: {status: {pauseConditions: null}}, dry_run: false}]
polls:
  description: Number of GETs made while waiting.
  returned: always
  type: int
  sample: 3
rollout:
  description: The Rollout after the action (the server's answer to the last write) or at the end of the wait.
  returned: success
  type: dict
workload:
  description: >-
    The Deployment after V(set_image) on a Rollout with a C(workloadRef) (the server's answer, or
    as read when unchanged).
  returned: O(action=set_image) on a Rollout with a C(workloadRef)
  type: dict
status:
  description: The Rollout's state, as M(orchestrator.platform.rollout_info) returns it.
  returned: success, and on a failed wait when the Rollout could be read
  type: dict
  sample:
    phase: Paused
    message: CanaryPauseStep
    step_index: 1
    step_count: 10
    set_weight: 10
    actual_weight: 10
diff:
  description: >-
    C(spec) (and C(status)) before and after, in diff mode; for V(set_image) the C(spec) of the
    object updated.
  returned: diff mode
  type: dict
"""

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import (
    RolloutApi,
    RolloutManager,
    failure,
    rollout_argument_spec,
)


def main():
    module = AnsibleK8SModule(
        argument_spec=rollout_argument_spec(AUTH_ARG_SPEC),
        required_if=[("action", "set_image", ("image",))],
        supports_check_mode=True,
    )
    try:
        client = get_api_client(module=module)
        api = RolloutApi(client.client, dry_run=module.check_mode)
        result = RolloutManager(api, module.params, check_mode=module.check_mode, diff=module._diff).run()
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
