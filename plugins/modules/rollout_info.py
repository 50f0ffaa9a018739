#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rollout_info
short_description: Read the state of an Argo Rollout the way the Argo Rollouts CLI shows it
version_added: "0.1.0"
description:
  - Reads one Rollout (one GET) and computes its phase as Argo Rollouts does - Progressing while
    C(status.observedGeneration) lags behind C(metadata.generation) or while a cleared pause has not
    been observed yet, otherwise the controller's C(status.phase) (Paused with its reason,
    Degraded for an invalid spec, an abort or a progress-deadline timeout, Healthy), computed
    from the spec and status for controllers that do not write it (before v1.0), restarts and
    blue-green post-promotion analysis included.
  - Returns the current step index and the number of steps, the desired (set) and the actual
    canary weight, the stable and current pod-template hashes, the step analysis run, the pause
    conditions and the message.
options:
  name:
    description: Name of the Rollout.
    type: str
    required: true
  namespace:
    description: Namespace of the Rollout.
    type: str
    required: true
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
    details: Read-only.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
requirements:
  - kubernetes >= 24.2.0
seealso:
  - module: orchestrator.platform.rollout
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Read the state of the orchestrator's canary
  orchestrator.platform.rollout_info:
    name: orchestrator
    namespace: orchestrator
  register: __canary

- name: Show where the canary stands
  ansible.builtin.debug:
    msg: >-
      {{ __canary.status.phase }} at step {{ __canary.status.step_index }}/{{ __canary.status.step_count }},
      canary weight {{ __canary.status.actual_weight }} %
"""

RETURN = r"""
status:
  description: The state of the Rollout.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the Rollout.
      type: str
    namespace:
      description: Namespace of the Rollout.
      type: str
    phase:
      description: C(Healthy), C(Progressing), C(Paused) or C(Degraded).
      type: str
      sample: Paused
    message:
      description: Why the Rollout is in that phase (the pause reason, the degradation cause).
      type: str
      sample: CanaryPauseStep
    strategy:
      description: C(canary), C(blueGreen), or null.
      type: str
    step_index:
      description:
        - C(status.currentStepIndex) (0 when unset); null without canary steps.
        - Equal to RV(status.step_count) when every step is done.
      type: int
      sample: 1
    step_count:
      description: Number of canary steps.
      type: int
      sample: 10
    current_step:
      description: The step at RV(status.step_index), null past the last one.
      type: dict
      sample: {pause: {duration: 5m}}
    set_weight:
      description:
        - The desired canary weight at this step (0 when aborted, 100 when every step is done); null for blue-green.
      type: int
      sample: 10
    actual_weight:
      description:
        - The canary weight as C(kubectl argo rollouts get) shows it - 100 past the last step, 0 while
          no replica is available, else with traffic routing the weight the router reports
          (C(status.canary.weights)), or the set weight while it reports none.
        - Null for a canary without traffic routing in the middle of its steps - the CLI counts the
          ReplicaSets' available pods for it, which one read of the Rollout does not show.
      type: int
      sample: 10
    weights:
      description: C(status.canary.weights) as the controller wrote it.
      type: dict
    stable_hash:
      description: Pod-template hash of the stable version (C(status.stableRS)).
      type: str
    current_hash:
      description: Pod-template hash of the version being rolled out (C(status.currentPodHash)).
      type: str
    paused:
      description: C(spec.paused), a manual pause.
      type: bool
    pause_conditions:
      description: C(status.pauseConditions).
      type: list
      elements: dict
    controller_pause:
      description: C(status.controllerPause).
      type: bool
    aborted:
      description: C(status.abort).
      type: bool
    promote_full:
      description: C(status.promoteFull).
      type: bool
    step_analysis_run:
      description: Name, status and message of the analysis run of the current analysis step, or null.
      type: dict
      sample: {name: orchestrator-6d4f-2-2, status: Running, message: ""}
    background_analysis_run:
      description: Name, status and message of the background analysis run, or null.
      type: dict
    generation:
      description: C(metadata.generation).
      type: int
    observed_generation:
      description: C(status.observedGeneration) (a string, as the controller writes it).
      type: str
    workload_ref:
      description: C(spec.workloadRef) when the pod template comes from another workload.
      type: dict
    replicas:
      description: C(status.replicas).
      type: int
    updated_replicas:
      description: C(status.updatedReplicas), the pods of the current version.
      type: int
    ready_replicas:
      description: C(status.readyReplicas).
      type: int
    available_replicas:
      description: C(status.availableReplicas).
      type: int
rollout:
  description: The Rollout object as read.
  returned: always
  type: dict
"""

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.orchestrator.platform.plugins.module_utils._rollouts import (
    RolloutApi,
    failure,
    summarize,
)


def main():
    argument_spec = dict(AUTH_ARG_SPEC)
    argument_spec.update(name=dict(type="str", required=True), namespace=dict(type="str", required=True))
    module = AnsibleK8SModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        api = RolloutApi(get_api_client(module=module).client)
        rollout = api.get(module.params["namespace"], module.params["name"])
        result = {"changed": False, "status": summarize(rollout), "rollout": rollout}
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(**failure(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
