#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: csr_approve
short_description: Approve the kubelet serving-certificate requests of known nodes, and only those
version_added: "0.1.0"
description:
  - Kubelets that run with C(serverTLSBootstrap) ask for their serving certificate through a
    CertificateSigningRequest of signer C(kubernetes.io/kubelet-serving), which nothing in Kubernetes
    approves. Without an approval C(kubectl logs), C(kubectl exec) and every client that checks the
    kubelet's certificate fail.
  - Lists the CSRs once per round and approves a CSR only when all of these hold. It is pending
    (no Approved, Denied or Failed condition). Its signer is C(kubernetes.io/kubelet-serving). It was
    sent by a node (C(spec.username) C(system:node:<name>), C(spec.groups) containing
    C(system:nodes)) that is listed in O(nodes). The request's self-signature verifies. Its subject
    is exactly C(CN=system:node:<name>, O=system:nodes). It carries at least one subject alternative
    name, and every one is an IP address or DNS name of that node in O(nodes) - the node's identity
    comes from the inventory, never from the request. Its usages are exactly C(digital signature),
    C(key encipherment), C(server auth) for an RSA key, or C(digital signature), C(server auth)
    otherwise.
  - Every other pending kubelet-serving CSR is left as it is and reported in RV(left_pending) with
    the reason; nothing is ever denied.
  - The approval is an update of the CSR's C(approval) subresource adding an C(Approved) condition;
    in check mode it is sent as a server-side dry run.
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
    details: Approvals are sent as a server-side dry run (C(dryRun=All)); nothing is waited for.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
    details: An approved request is no longer pending, so a second run approves nothing.
options:
  nodes:
    description: The nodes whose serving certificates may be approved, with their own identity.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The node name (the kubelet's C(--hostname-override) or host name).
        type: str
        required: true
      addresses:
        description: The node's own IP addresses. Do not list shared addresses such as an API VIP.
        type: list
        elements: str
        default: []
      dns_names:
        description: The node's own DNS names.
        type: list
        elements: str
        default: []
  wait_for:
    description:
      - Nodes (names from O(nodes)) that must end with an approved kubelet-serving CSR. The module
        polls until each has one (approved now or before) or O(wait_timeout) passes, and then fails
        naming the nodes still missing.
    type: list
    elements: str
    default: []
  wait_timeout:
    description: Seconds to wait for the nodes of O(wait_for).
    type: int
    default: 120
  wait_sleep:
    description: Seconds between two rounds while waiting.
    type: int
    default: 2
requirements:
  - kubernetes >= 24.2.0
  - cryptography
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Approve the serving certificate of the node that just joined
  orchestrator.platform.csr_approve:
    kubeconfig: ~/.kube/orchestrator-admin.conf
    nodes:
      - name: worker-1
        addresses: [10.0.0.21]
        dns_names: [worker-1, worker-1.example.org]
    wait_for: [worker-1]
  delegate_to: localhost
"""

RETURN = r"""
approved:
  description: The CSRs approved in this run.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the CertificateSigningRequest.
      type: str
    node:
      description: The node it was for.
      type: str
left_pending:
  description: Pending kubelet-serving CSRs that were not approved, with the reason.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the CertificateSigningRequest.
      type: str
    node:
      description: The node the CSR claims to come from (null when the requester is not a node).
      type: str
    reason:
      description: Why it was left alone.
      type: str
"""

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.orchestrator.platform.plugins.module_utils._csr_approve import (
    HAS_CRYPTOGRAPHY,
    CsrApi,
    CsrApprover,
    CsrError,
)


def argument_spec():
    spec = dict(AUTH_ARG_SPEC)
    spec.update(
        nodes=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            addresses=dict(type="list", elements="str", default=[]),
            dns_names=dict(type="list", elements="str", default=[]),
        )),
        wait_for=dict(type="list", elements="str", default=[]),
        wait_timeout=dict(type="int", default=120),
        wait_sleep=dict(type="int", default=2),
    )
    return spec


def main():
    module = AnsibleK8SModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    try:
        client = get_api_client(module=module)
        api = CsrApi(client.client, dry_run=module.check_mode)
        result = CsrApprover(api, module.params, check_mode=module.check_mode).run()
    except CsrError as exc:
        module.fail_json(msg=str(exc), **exc.result)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="%s: %s" % (type(exc).__name__, exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
