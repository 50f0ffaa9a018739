#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: cert_expiry
short_description: Read the expiry of a control plane's kubeadm certificates
version_added: "0.1.0"
description:
  - Reads every certificate kubeadm leaves on a control plane - the PKI files, the client
    certificates embedded (C(client-certificate-data)) in the component kubeconfigs, and the
    kubelet's rotating client certificate - and returns, for each, its subject, C(notAfter),
    the days left and a status against two horizons.
  - Only C(CERTIFICATE) blocks are decoded; private keys in the same file (the kubelet's
    C(kubelet-client-current.pem) holds both) are never read into the result.
  - Files that do not exist are listed in RV(missing) and are not an error (C(super-admin.conf)
    exists only on the first control plane). When no certificate at all is found - every pattern
    matches nothing, every file is missing - RV(status) is V(fail) with RV(msg) saying so - nothing
    was checked, which is not V(ok). It is a status, not a failed task, so a report that gathers
    other checks of the node in the same play still gets them.
  - Parses with the C(cryptography) library when the node has it, else with C(openssl x509),
    else with a small DER reader of the collection's own (Debian minimal images have neither).
options:
  paths:
    description: Certificate files or glob patterns (PEM).
    type: list
    elements: str
    default:
      - /etc/kubernetes/pki/*.crt
      - /etc/kubernetes/pki/etcd/*.crt
      - /var/lib/kubelet/pki/kubelet-client-current.pem
  kubeconfigs:
    description: Kubeconfig files or glob patterns whose embedded client certificates are read.
    type: list
    elements: str
    default:
      - /etc/kubernetes/admin.conf
      - /etc/kubernetes/super-admin.conf
      - /etc/kubernetes/controller-manager.conf
      - /etc/kubernetes/scheduler.conf
  warn_days:
    description: A certificate with fewer days left has status V(warn). Not below O(fail_days).
    type: int
    default: 30
  fail_days:
    description: A certificate with fewer days left (or expired) has status V(fail).
    type: int
    default: 7
  parser:
    description:
      - V(auto) picks V(cryptography), else V(openssl) (the command on the node's PATH), else V(builtin).
    type: str
    choices: [auto, cryptography, openssl, builtin]
    default: auto
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: Only reads.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: none
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Read the certificate expiry of the control planes
  orchestrator.platform.cert_expiry:
    warn_days: 30
    fail_days: 7
  register: __certs

- name: Read one more certificate, with openssl
  orchestrator.platform.cert_expiry:
    paths: [/etc/kubernetes/pki/front-proxy-client.crt]
    kubeconfigs: []
    parser: openssl
"""

RETURN = r"""
certificates:
  description: One entry per certificate found (a file may hold several).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The file.
      type: str
    source:
      description: V(file) or V(kubeconfig).
      type: str
    index:
      description: Position of the certificate in the file.
      type: int
    subject:
      description: The subject, attributes in certificate order (C(O=system:masters, CN=kubernetes-admin)).
      type: str
    not_after:
      description: Expiry, UTC, RFC 3339.
      type: str
    days_left:
      description: Days until expiry (negative when expired), two decimals.
      type: float
    expired:
      description: Whether the certificate has expired.
      type: bool
    status:
      description: V(ok), V(warn) or V(fail) (V(fail) too for a file that cannot be parsed).
      type: str
    error:
      description: Why the file or certificate could not be read (only then).
      type: str
  sample:
    - path: /etc/kubernetes/pki/apiserver.crt
      source: file
      index: 0
      subject: CN=kube-apiserver
      not_after: "2027-11-30T20:00:00Z"
      days_left: 364.99
      expired: false
      status: ok
missing:
  description: Files named in O(paths) or O(kubeconfigs) (not patterns) that do not exist.
  returned: always
  type: list
  elements: str
status:
  description: The worst status of all certificates; V(fail) when none was found.
  returned: always
  type: str
soonest_days:
  description: The fewest days left of any certificate; null when none was found.
  returned: always
  type: float
parser:
  description: The parser used.
  returned: always
  type: str
msg:
  description: Why RV(status) is V(fail) although no certificate is listed.
  returned: when no certificate was found
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.orchestrator.platform.plugins.module_utils._cert_expiry import (
    cryptography_available,
    parse_builtin,
    parse_cryptography,
    parse_openssl,
    scan,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="str", default=[
                "/etc/kubernetes/pki/*.crt",
                "/etc/kubernetes/pki/etcd/*.crt",
                "/var/lib/kubelet/pki/kubelet-client-current.pem",
            ]),
            kubeconfigs=dict(type="list", elements="str", default=[
                "/etc/kubernetes/admin.conf",
                "/etc/kubernetes/super-admin.conf",
                "/etc/kubernetes/controller-manager.conf",
                "/etc/kubernetes/scheduler.conf",
            ]),
            warn_days=dict(type="int", default=30),
            fail_days=dict(type="int", default=7),
            parser=dict(type="str", default="auto", choices=["auto", "cryptography", "openssl", "builtin"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["fail_days"] > params["warn_days"]:
        module.fail_json(msg="fail_days (%d) must not be above warn_days (%d): fail_days is the nearer horizon"
                         % (params["fail_days"], params["warn_days"]))
    parser = params["parser"]
    openssl = None
    if parser in ("auto", "openssl"):
        openssl = module.get_bin_path("openssl", required=parser == "openssl")
    if parser == "auto":
        parser = "cryptography" if cryptography_available() else "openssl" if openssl else "builtin"
    if parser == "cryptography" and not cryptography_available():
        module.fail_json(msg="parser=cryptography but the Python cryptography library is not installed on the node")
    parse = {
        "cryptography": parse_cryptography,
        "openssl": lambda der: parse_openssl(der, module.run_command, openssl),
        "builtin": parse_builtin,
    }[parser]
    found, missing = scan(params["paths"], params["kubeconfigs"], parse, now=time.time(),
                          warn_days=params["warn_days"], fail_days=params["fail_days"])
    rank = {"ok": 0, "warn": 1, "fail": 2}
    extra = {}
    if found:
        status = max((c["status"] for c in found), key=lambda s: rank[s])
    else:
        status = "fail"
        extra["msg"] = ("no certificate found: paths and kubeconfigs match no file (%d pattern(s), %d missing file(s))"
                        % (len(params["paths"]) + len(params["kubeconfigs"]), len(missing)))
    days = [c["days_left"] for c in found if "days_left" in c]
    module.exit_json(changed=False, certificates=found, missing=missing, status=status,
                     soonest_days=min(days) if days else None, parser=parser, **extra)


if __name__ == "__main__":
    main()
