# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Private: the decision and requests of the csr_approve module (kubelet serving certificates).

A kubelet with serverTLSBootstrap asks for its serving certificate through a
CertificateSigningRequest of signer kubernetes.io/kubelet-serving; the controller manager signs it
only once something approves it. `decide()` is the whole policy: a CSR is approved only when it is
pending, was sent by the node itself (username system:node:<name>, group system:nodes), names that
node in its subject (CN system:node:<name>, O system:nodes, nothing else), lists as subject
alternative names only the node's own addresses and DNS names (taken from the inventory, not from
the request), carries a valid self-signature and asks for exactly the usages a kubelet asks for
(digital signature + key encipherment + server auth for an RSA key; digital signature + server auth
otherwise). Anything else is left alone, with the reason.
"""

import base64
import ipaddress
import json
import time

try:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    HAS_CRYPTOGRAPHY = True
except ImportError:  # reported by the module
    HAS_CRYPTOGRAPHY = False

SIGNER = "kubernetes.io/kubelet-serving"
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
NODE_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
USAGES_RSA = frozenset(["digital signature", "key encipherment", "server auth"])
USAGES_OTHER = frozenset(["digital signature", "server auth"])
APPROVAL_REASON = "OrchestratorPlatformApprove"


class CsrError(Exception):
    """A failure the module reports as is; `result` holds what was done so far."""

    def __init__(self, msg, **result):
        super().__init__(msg)
        self.result = result


def _conditions(csr):
    return [c.get("type") for c in (csr.get("status") or {}).get("conditions") or []]


def is_pending(csr):
    return not set(_conditions(csr)) & {"Approved", "Denied", "Failed"}


def is_approved(csr):
    types = set(_conditions(csr))
    return "Approved" in types and not types & {"Denied", "Failed"}


def node_of(csr):
    """The node a CSR claims to come from (its requesting user), or None."""
    username = (csr.get("spec") or {}).get("username") or ""
    if username.startswith(NODE_PREFIX) and len(username) > len(NODE_PREFIX):
        return username[len(NODE_PREFIX):]
    return None


def _normalize_identity(identity):
    addresses = set()
    for value in identity.get("addresses") or []:
        addresses.add(ipaddress.ip_address(str(value).strip()))
    dns_names = set(str(n).strip().lower().rstrip(".") for n in identity.get("dns_names") or [] if str(n).strip())
    return addresses, dns_names


def _requester_problem(csr, name, identities):
    spec = csr.get("spec") or {}
    if spec.get("signerName") != SIGNER:
        return "signer is %s, not %s" % (spec.get("signerName"), SIGNER)
    if not is_pending(csr):
        return "not pending (%s)" % ", ".join(_conditions(csr))
    if name is None:
        return "requested by %r, not by a node (system:node:<name>)" % spec.get("username")
    if NODES_GROUP not in (spec.get("groups") or []):
        return "requester is not in the group %s" % NODES_GROUP
    if name not in identities:
        return "node %s is not in the inventory" % name
    return None


def _san_problem(request, identity):
    addresses, dns_names = _normalize_identity(identity)
    try:
        sans = list(request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    if not sans:
        return "the request has no subject alternative name"
    for san in sans:
        if isinstance(san, x509.IPAddress):
            if san.value not in addresses:
                return "IP address %s is not one of the node's addresses" % san.value
        elif isinstance(san, x509.DNSName):
            if san.value.lower().rstrip(".") not in dns_names:
                return "DNS name %s is not one of the node's names" % san.value
        else:
            return "subject alternative name %s is neither an IP address nor a DNS name" % san
    return None


def _request_problem(csr, name, identity):
    try:
        request = x509.load_pem_x509_csr(base64.b64decode(csr["spec"].get("request") or ""))
    except (ValueError, TypeError) as exc:
        return "the request is not a PEM certificate request (%s)" % exc
    if not request.is_signature_valid:
        return "the request's signature does not verify"
    subject = sorted((attr.oid.dotted_string, attr.value) for attr in request.subject)
    expected_subject = sorted([(NameOID.COMMON_NAME.dotted_string, NODE_PREFIX + name),
                               (NameOID.ORGANIZATION_NAME.dotted_string, NODES_GROUP)])
    if subject != expected_subject:
        return "subject is %s, not CN=system:node:%s, O=system:nodes" % (request.subject.rfc4514_string(), name)
    problem = _san_problem(request, identity)
    if problem:
        return problem
    usages = csr["spec"].get("usages") or []
    expected = USAGES_RSA if isinstance(request.public_key(), rsa.RSAPublicKey) else USAGES_OTHER
    if len(usages) != len(set(usages)) or set(usages) != expected:
        return "usages %s are not exactly %s" % (sorted(usages), sorted(expected))
    return None


def decide(csr, identities):
    """(approve, node name or None, reason) for one CertificateSigningRequest object.

    `identities` maps a node name to {"addresses": [...], "dns_names": [...]}, the node's own
    identity from the inventory. Only a CSR of a node listed there can be approved.
    """
    name = node_of(csr)
    problem = _requester_problem(csr, name, identities) or _request_problem(csr, name, identities[name])
    if problem:
        return False, name, problem
    return True, name, "the node's own serving certificate"


class CsrApi:
    """The two requests the module sends, through a kubernetes DynamicClient's ApiClient."""

    def __init__(self, client, dry_run=False):
        self.client = client
        self.dry_run = dry_run

    def _request(self, method, path, body=None, write=False):
        params = {"serialize": False}
        if body is not None:
            params["content_type"] = "application/json"
        if write and self.dry_run:
            params["dry_run"] = "All"
        response = self.client.request(method, path, body=body, **params)
        data = response.data
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        return json.loads(data) if data else {}

    def list(self):
        return self._request("GET", CSR_PATH).get("items") or []

    def approve(self, csr, message):
        body = json.loads(json.dumps(csr))
        status = body.setdefault("status", {})
        status.setdefault("conditions", []).append({
            "type": "Approved", "status": "True", "reason": APPROVAL_REASON, "message": message,
        })
        return self._request("PUT", "%s/%s/approval" % (CSR_PATH, csr["metadata"]["name"]), body=body, write=True)


def identities_from_params(nodes):
    out = {}
    for node in nodes:
        out[node["name"]] = {"addresses": node.get("addresses") or [], "dns_names": node.get("dns_names") or []}
    return out


class CsrApprover:
    """Lists the CSRs, approves the ones `decide()` accepts, and waits (optionally) until each node
    of `wait_for` has an approved kubelet-serving CSR."""

    def __init__(self, api, params, check_mode=False, clock=time.monotonic, sleep=time.sleep):
        self.api = api
        self.params = params
        self.check_mode = check_mode
        self.clock = clock
        self.sleep = sleep
        self.identities = identities_from_params(params["nodes"])
        self.approved = []
        self.left = {}

    def _round(self):
        items = self.api.list()
        satisfied = set()
        self.left = {}
        for csr in items:
            csr_name = csr.get("metadata", {}).get("name")
            ok, node, reason = decide(csr, self.identities)
            if ok:
                self.api.approve(csr, "approved by orchestrator.platform.csr_approve: %s" % reason)
                self.approved.append({"name": csr_name, "node": node})
                satisfied.add(node)
            else:
                if (csr.get("spec") or {}).get("signerName") == SIGNER and is_approved(csr) and node:
                    satisfied.add(node)
                if (csr.get("spec") or {}).get("signerName") == SIGNER and is_pending(csr):
                    self.left[csr_name] = {"node": node, "reason": reason}
        return satisfied

    def run(self):
        wait_for = set(self.params.get("wait_for") or [])
        unknown = sorted(wait_for - set(self.identities))
        if unknown:
            raise CsrError("wait_for names nodes that are not in nodes: %s" % ", ".join(unknown))
        deadline = self.clock() + (self.params.get("wait_timeout") or 0)
        satisfied = set()
        while True:
            satisfied |= self._round()
            missing = sorted(wait_for - satisfied)
            if not missing or self.check_mode or self.clock() >= deadline:
                break
            self.sleep(self.params.get("wait_sleep") or 2)
        result = {"changed": bool(self.approved), "approved": self.approved,
                  "left_pending": [dict(name=k, **v) for k, v in sorted(self.left.items())]}
        if missing and not self.check_mode:
            raise CsrError("no approvable kubelet serving CSR of %s within %s s" % (
                ", ".join(missing), self.params.get("wait_timeout") or 0), **result)
        return result
