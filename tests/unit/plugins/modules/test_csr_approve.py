# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""csr_approve: which kubelet serving CSRs are approved (real CSRs made with cryptography, one
changed property per refused case), and the exact request an approval sends through the real
kubernetes client (urllib3's pool manager replaced by a recorder)."""

import base64
import copy
import ipaddress
import json

import kubernetes
import pytest
from ansible_collections.orchestrator.platform.plugins.module_utils._csr_approve import (
    CSR_PATH,
    CsrApi,
    CsrApprover,
    CsrError,
    decide,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from kubernetes.dynamic import DynamicClient

IDENTITIES = {
    "w1": {"addresses": ["10.213.40.14"], "dns_names": ["w1", "w1.lab.test"]},
    "cp1": {"addresses": ["10.213.40.11", "fd00::11"], "dns_names": ["cp1"]},
}
_KEYS = {}


def _key(kind):
    if kind not in _KEYS:
        _KEYS[kind] = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa"
                       else ec.generate_private_key(ec.SECP256R1()))
    return _KEYS[kind]


def make_csr(name="w1", *, key="ec", cn=None, orgs=("system:nodes",), ips=("10.213.40.14",), dns=("w1",),
             uris=(), usages=None, username=None, groups=("system:nodes", "system:authenticated"),
             signer="kubernetes.io/kubelet-serving", conditions=(), tamper=False, extra_subject=()):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn if cn is not None else "system:node:" + name)]
    attrs += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs += list(extra_subject)
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    sans = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips] + [x509.DNSName(d) for d in dns]
    sans += [x509.UniformResourceIdentifier(u) for u in uris]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    pem = builder.sign(_key(key), hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    if tamper:  # the same request signed by another key's signature: flip one byte of the signature
        der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0xFF
        pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    if usages is None:
        usages = (["digital signature", "key encipherment", "server auth"] if key == "rsa"
                  else ["digital signature", "server auth"])
    return {
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr-%s-%s" % (name, key), "resourceVersion": "7"},
        "spec": {"signerName": signer, "request": base64.b64encode(pem).decode(),
                 "username": username if username is not None else "system:node:" + name,
                 "groups": list(groups), "usages": list(usages)},
        "status": {"conditions": [{"type": t, "status": "True"} for t in conditions]} if conditions else {},
    }


GOOD = [
    pytest.param(dict(), id="ecdsa-ip-and-name"),
    pytest.param(dict(key="rsa"), id="rsa-with-key-encipherment"),
    pytest.param(dict(ips=(), dns=("w1.lab.test", "W1")), id="dns-names-only-case-insensitive"),
    pytest.param(dict(name="cp1", ips=("10.213.40.11", "fd00::11"), dns=("cp1",)), id="control-plane-ipv6"),
]

BAD = [
    pytest.param(dict(signer="kubernetes.io/kube-apiserver-client-kubelet"), "signer", id="client-signer"),
    pytest.param(dict(conditions=("Approved",)), "not pending", id="already-approved"),
    pytest.param(dict(conditions=("Denied",)), "not pending", id="denied"),
    pytest.param(dict(username="system:serviceaccount:kube-system:x"), "not by a node", id="not-a-node"),
    pytest.param(dict(groups=("system:authenticated",)), "group system:nodes", id="not-in-nodes-group"),
    pytest.param(dict(name="w9", dns=("w9",), ips=()), "not in the inventory", id="unknown-node"),
    pytest.param(dict(username="system:node:cp1"), "subject", id="cn-of-another-node"),
    pytest.param(dict(cn="system:node:cp1"), "subject", id="cn-not-the-requester"),
    pytest.param(dict(orgs=("system:masters",)), "subject", id="o-system-masters"),
    pytest.param(dict(orgs=("system:nodes", "system:masters")), "subject", id="extra-organization"),
    pytest.param(dict(extra_subject=[x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")]), "subject",
                 id="extra-subject-attr"),
    pytest.param(dict(ips=("10.213.40.250",)), "10.213.40.250", id="the-vip"),
    pytest.param(dict(ips=("10.213.40.11",)), "10.213.40.11", id="ip-of-another-node"),
    pytest.param(dict(dns=("kubernetes.default.svc",)), "kubernetes.default.svc", id="foreign-dns-name"),
    pytest.param(dict(dns=("cp1",)), "DNS name cp1", id="dns-of-another-node"),
    pytest.param(dict(uris=("spiffe://x/y",)), "neither", id="uri-san"),
    pytest.param(dict(ips=(), dns=()), "no subject alternative name", id="no-san"),
    pytest.param(dict(usages=["digital signature", "server auth", "client auth"]), "usages", id="client-auth"),
    pytest.param(dict(usages=["digital signature", "key encipherment", "server auth"]), "usages",
                 id="ecdsa-key-encipherment"),
    pytest.param(dict(key="rsa", usages=["digital signature", "server auth"]), "usages",
                 id="rsa-without-key-encipherment"),
    pytest.param(dict(usages=["server auth"]), "usages", id="no-digital-signature"),
    pytest.param(dict(usages=["digital signature", "server auth", "server auth"]), "usages", id="duplicated-usage"),
    pytest.param(dict(tamper=True), "signature", id="bad-signature"),
]


@pytest.mark.parametrize("kwargs", GOOD)
def test_approves_the_nodes_own_serving_request(kwargs):
    ok, node, reason = decide(make_csr(**kwargs), IDENTITIES)
    assert ok, reason
    assert node == kwargs.get("name", "w1")


@pytest.mark.parametrize("kwargs,why", BAD)
def test_leaves_every_other_request(kwargs, why):
    ok, _node, reason = decide(make_csr(**kwargs), IDENTITIES)
    assert not ok
    assert why in reason


def test_garbage_request_is_refused():
    csr = make_csr()
    csr["spec"]["request"] = base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n").decode()
    ok, _node, reason = decide(csr, IDENTITIES)
    assert not ok and "not a PEM certificate request" in reason


# ---------------------------------------------------------------------------------------------
# Requests on the wire.


class _Response:
    def __init__(self, status, body):
        self.status = status
        self.reason = "OK" if status == 200 else "Error"
        self.data = json.dumps(body).encode()
        self.headers = {"content-type": "application/json"}

    def getheaders(self):
        return self.headers

    def getheader(self, name, default=None):
        return self.headers.get(name, default)


class CsrServer:
    """Answers the CSR list from `rounds` (one list per GET, the last one repeated) and records writes."""

    def __init__(self, *rounds):
        self.rounds = [copy.deepcopy(r) for r in rounds]
        self.requests = []

    def request(self, method, url, body=None, headers=None, **_kwargs):
        path, _sep, query = url.partition("?")
        path = path.split("k8s.test:6443", 1)[-1]
        self.requests.append((method, path, query, (headers or {}).get("Content-Type"),
                              json.loads(body) if body else None))
        if method == "GET":
            items = self.rounds[0] if len(self.rounds) == 1 else self.rounds.pop(0)
            return _Response(200, {"kind": "CertificateSigningRequestList", "items": items})
        return _Response(200, json.loads(body))

    def writes(self):
        return [r for r in self.requests if r[0] != "GET"]


def make_api(server, dry_run=False):
    config = kubernetes.client.Configuration()
    config.host = "https://k8s.test:6443"
    api_client = kubernetes.client.ApiClient(config)
    api_client.rest_client.pool_manager = server
    client = DynamicClient.__new__(DynamicClient)
    client.client = api_client
    client.configuration = config
    return CsrApi(client, dry_run=dry_run)


def params(**kwargs):
    out = {"nodes": [dict(name=k, **v) for k, v in IDENTITIES.items()], "wait_for": [], "wait_timeout": 0,
           "wait_sleep": 1}
    out.update(kwargs)
    return out


def test_approval_is_a_put_of_the_approval_subresource_with_one_approved_condition():
    good, bad = make_csr(), make_csr(name="cp1", ips=("10.213.40.250",), dns=("cp1",))
    server = CsrServer([good, bad])
    result = CsrApprover(make_api(server), params()).run()
    assert result["changed"] is True
    assert result["approved"] == [{"name": "csr-w1-ec", "node": "w1"}]
    assert result["left_pending"] == [{"name": "csr-cp1-ec", "node": "cp1",
                                       "reason": "IP address 10.213.40.250 is not one of the node's addresses"}]
    [(method, path, query, ctype, body)] = server.writes()
    assert (method, path, query, ctype) == ("PUT", CSR_PATH + "/csr-w1-ec/approval", "", "application/json")
    assert body["spec"] == good["spec"] and body["metadata"] == good["metadata"]
    [cond] = body["status"]["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Approved", "True", "OrchestratorPlatformApprove")


def test_check_mode_sends_a_server_side_dry_run_and_does_not_wait():
    server = CsrServer([make_csr()])
    result = CsrApprover(make_api(server, dry_run=True), params(wait_for=["cp1"], wait_timeout=60),
                         check_mode=True, sleep=pytest.fail).run()
    assert result["changed"] is True
    [(method, _path, query, _ctype, _body)] = server.writes()
    assert method == "PUT" and query == "dryRun=All"


def test_nothing_pending_is_no_change():
    approved = make_csr(conditions=("Approved",))
    server = CsrServer([approved])
    result = CsrApprover(make_api(server), params(wait_for=["w1"])).run()
    assert result == {"changed": False, "approved": [], "left_pending": []}
    assert server.writes() == []


def test_waits_until_the_node_sends_its_request():
    clock = iter(range(0, 1000, 2))
    server = CsrServer([], [], [make_csr()])
    result = CsrApprover(make_api(server), params(wait_for=["w1"], wait_timeout=30),
                         clock=lambda: next(clock), sleep=lambda _s: None).run()
    assert [a["node"] for a in result["approved"]] == ["w1"]
    assert [r[0] for r in server.requests] == ["GET", "GET", "GET", "PUT"]


def test_a_node_whose_request_is_refused_fails_after_the_timeout_with_the_reason():
    clock = iter(range(0, 1000, 5))
    server = CsrServer([make_csr(ips=("10.9.9.9",))])
    with pytest.raises(CsrError) as err:
        CsrApprover(make_api(server), params(wait_for=["w1"], wait_timeout=10),
                    clock=lambda: next(clock), sleep=lambda _s: None).run()
    assert "w1" in str(err.value)
    assert err.value.result["left_pending"][0]["reason"].startswith("IP address 10.9.9.9")
    assert server.writes() == []


def test_wait_for_an_unknown_node_is_refused():
    with pytest.raises(CsrError, match="not in nodes: w7"):
        CsrApprover(make_api(CsrServer([])), params(wait_for=["w7"])).run()
