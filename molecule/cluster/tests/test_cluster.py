"""The REAL cluster steps 1-4 built on five node containers: kubeadm, kubelet, etcd, the API server,
the controller manager, the scheduler, kube-proxy and CoreDNS of the pinned release, pulled from
the rig's registry. Read through kubectl with the admin kubeconfig on the first control plane.

The pod network is the rig's (tests/rig/nodes.yml: bridge CNI + routes), not Calico (step 5).
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from rig import (
    ADDRESSES,
    CONTROL_PLANES,
    KUBERNETES_VERSION,
    NODES,
    REGISTRY,
    VIP,
    WORKERS,
    kubectl,
    kubectl_json,
    node,
    until,
    vip_readyz,
)

NAMESPACE = "rig-test"
ETCDCTL = (
    "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt "
    "--cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
)
# Pod Security "restricted" asks every container for this.
RESTRICTED = {
    "runAsNonRoot": True, "runAsUser": 65534, "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def _ready(item: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in item["status"].get("conditions", []))


def _workload() -> str:
    """A namespace enforcing Pod Security "restricted", the test server on each worker behind a
    Service, and a client pod (the kube-proxy image: Debian with bash) to call it from inside."""
    server_pod = {
        "metadata": {"labels": {"app": "test-server"}},
        "spec": {
            "affinity": {
                "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": WORKERS}]}]}},
                "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "test-server"}},
                     "topologyKey": "kubernetes.io/hostname"}]},
            },
            "tolerations": [{"key": "orchestrator.io/agents", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{
                "name": "server", "image": f"{REGISTRY}/orchestrator/test-server:v1",
                "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 2},
                "securityContext": RESTRICTED,
            }],
        },
    }
    docs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted"}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "test-server", "namespace": NAMESPACE},
         "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "test-server"}}, "template": server_pod}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "test-server", "namespace": NAMESPACE},
         "spec": {"selector": {"app": "test-server"}, "ports": [{"port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client", "namespace": NAMESPACE}, "spec": {
            "tolerations": [{"key": "orchestrator.io/agents", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "client", "image": f"{REGISTRY}/kube-proxy:{KUBERNETES_VERSION}",
                            "command": ["sleep", "3600"], "securityContext": RESTRICTED}]}},
    ]
    return "\n".join(json.dumps(d) for d in docs)


@pytest.fixture(scope="module")
def workload():
    kubectl("apply", "-f", "-", stdin=_workload())
    kubectl("-n", NAMESPACE, "rollout", "status", "deployment/test-server", "--timeout=180s", timeout=200)
    kubectl("-n", NAMESPACE, "wait", "--for=condition=Ready", "pod/client", "--timeout=180s", timeout=200)
    return kubectl_json("-n", NAMESPACE, "get", "pods", "-l", "app=test-server")["items"]


# Nodes and system pods ---------------------------------------------------------------------------

def test_all_five_nodes_are_ready_on_the_pinned_release():
    nodes = until(lambda: [n for n in kubectl_json("get", "nodes")["items"] if _ready(n)], timeout=180, interval=5)
    nodes = kubectl_json("get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(NODES)
    not_ready = [n["metadata"]["name"] for n in nodes if not _ready(n)]
    assert not not_ready, not_ready
    for item in nodes:
        info = item["status"]["nodeInfo"]
        assert info["kubeletVersion"] == KUBERNETES_VERSION
        assert info["containerRuntimeVersion"].startswith("containerd://")
        internal = [a["address"] for a in item["status"]["addresses"] if a["type"] == "InternalIP"]
        assert internal == [ADDRESSES[item["metadata"]["name"]]], internal


def test_control_planes_and_workers_carry_their_roles_labels_and_taints():
    nodes = {n["metadata"]["name"]: n for n in kubectl_json("get", "nodes")["items"]}
    for name in CONTROL_PLANES:
        assert "node-role.kubernetes.io/control-plane" in nodes[name]["metadata"]["labels"]
        taints = [t["key"] for t in nodes[name]["spec"].get("taints", [])]
        assert "node-role.kubernetes.io/control-plane" in taints
    w1, w2 = (nodes[name] for name in WORKERS)
    assert w1["metadata"]["labels"]["orchestrator.io/pool"] == "general"
    assert w1["metadata"]["labels"]["topology.kubernetes.io/zone"] == "zone-a"
    assert not w1["spec"].get("taints")
    assert w2["metadata"]["labels"]["orchestrator.io/pool"] == "agents"
    assert [(t["key"], t["value"], t["effect"]) for t in w2["spec"]["taints"]] == [
        ("orchestrator.io/agents", "true", "NoSchedule")]


def test_control_plane_pods_coredns_and_kube_proxy_run_from_the_rig_registry():
    pods = kubectl_json("-n", "kube-system", "get", "pods")["items"]
    running = {}
    for pod in pods:
        ready = pod["status"].get("phase") == "Running" and all(
            c.get("ready") for c in pod["status"].get("containerStatuses", []))
        running.setdefault(pod["metadata"].get("labels", {}).get("component")
                           or pod["metadata"].get("labels", {}).get("k8s-app"), []).append(
            (pod["spec"]["nodeName"], ready, pod["spec"]["containers"][0]["image"]))
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert sorted(n for n, ready, _ in running[component] if ready) == CONTROL_PLANES, running[component]
    assert sorted(n for n, ready, _ in running["kube-proxy"] if ready) == sorted(NODES), running["kube-proxy"]
    assert len([1 for _, ready, _ in running["kube-dns"] if ready]) == 2, running["kube-dns"]
    for component, entries in running.items():
        for _, _, image in entries:
            assert image.startswith(REGISTRY + "/"), (component, image)


def test_every_kubelet_serving_certificate_request_was_approved_and_issued():
    csrs = kubectl_json("get", "csr")["items"]
    serving = [c for c in csrs if c["spec"]["signerName"] == "kubernetes.io/kubelet-serving"]
    requesters = sorted(c["spec"]["username"] for c in serving)
    assert sorted(set(requesters)) == sorted(f"system:node:{n}" for n in NODES), requesters
    for csr in serving:
        conditions = [c["type"] for c in csr["status"].get("conditions", [])]
        assert conditions == ["Approved"] and csr["status"].get("certificate"), (csr["metadata"]["name"], conditions)


@pytest.mark.parametrize("name", NODES)
def test_each_kubelet_serves_a_certificate_for_its_own_name_and_address(name):
    cp = node("orch-cl-cp1")
    out = cp.check_output(
        f"openssl s_client -connect {ADDRESSES[name]}:10250 -CAfile /etc/kubernetes/pki/ca.crt "
        f"-verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName")
    assert f"CN = system:node:{name}" in out or f"CN=system:node:{name}" in out, out
    assert f"IP Address:{ADDRESSES[name]}" in out and f"DNS:{name}" in out, out
    assert VIP not in out


# A workload through a Service, by DNS; logs and exec ---------------------------------------------

def test_a_pod_on_each_worker_answers_through_the_service_by_its_dns_name(workload):
    assert sorted(p["spec"]["nodeName"] for p in workload) == WORKERS
    names = {p["metadata"]["name"] for p in workload}
    seen: set[str] = set()
    call = ("exec 3<>/dev/tcp/test-server.rig-test.svc.cluster.local/80 && "
            "printf 'GET / HTTP/1.0\\r\\nHost: test-server\\r\\n\\r\\n' >&3 && tail -n 1 <&3")
    deadline = time.monotonic() + 60
    while seen != names and time.monotonic() < deadline:
        answer = kubectl("-n", NAMESPACE, "exec", "client", "--", "bash", "-c", call, check=False)
        if answer.returncode == 0:
            seen.add(answer.stdout.strip())
    assert seen == names, seen


def test_kubectl_logs_reads_a_pod_on_a_worker(workload):
    pod = workload[0]["metadata"]["name"]
    logs = kubectl("-n", NAMESPACE, "logs", pod).stdout
    assert "test-server" in logs and "listening on :8080" in logs, logs


def test_kubectl_exec_runs_a_command_in_a_pod(workload):
    # The API server reaches the kubelet's serving endpoint (its certificate approved in step 4).
    out = kubectl("-n", NAMESPACE, "exec", "client", "--", "id", "-u").stdout.strip()
    assert out == "65534", out


# etcd, encryption at rest, audit, admission ------------------------------------------------------

def test_etcd_has_three_healthy_members_speaking_tls_only():
    cp = node("orch-cl-cp1")
    members = json.loads(cp.check_output(f"{ETCDCTL} member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == CONTROL_PLANES
    for member in members:
        assert all(u.startswith("https://") for u in member["peerURLs"] + member["clientURLs"]), member
    health = cp.run(f"{ETCDCTL} endpoint health --cluster -w json")
    assert health.rc == 0, health.stderr
    assert sorted(h["health"] for h in json.loads(health.stdout)) == [True, True, True]
    # Without a client certificate etcd refuses the TLS handshake; plain HTTP gets no answer.
    assert cp.run("curl -sk --max-time 3 https://127.0.0.1:2379/health").rc != 0
    assert cp.run("curl -s --max-time 3 http://127.0.0.1:2379/health").rc != 0


def test_a_secret_is_encrypted_at_rest_with_our_provider():
    kubectl("-n", "default", "delete", "secret", "rig-encrypted", "--ignore-not-found")
    kubectl("-n", "default", "create", "secret", "generic", "rig-encrypted", "--from-literal=word=plaintext-marker")
    cp = node("orch-cl-cp1")
    raw = cp.check_output(f"{ETCDCTL} get /registry/secrets/default/rig-encrypted --print-value-only | base64 -w0")
    value = base64.b64decode(raw)
    config = cp.file("/etc/kubernetes/orchestrator/encryption-config.yaml").content_string
    key_name = re.search(r"- name: (\S+)", config).group(1)
    assert value.startswith(f"k8s:enc:secretbox:v1:{key_name}:".encode()), value[:40]
    assert b"plaintext-marker" not in value
    # and the API reads it back
    word = kubectl("-n", "default", "get", "secret", "rig-encrypted", "-o", "jsonpath={.data.word}").stdout
    assert base64.b64decode(word) == b"plaintext-marker"


def test_the_audit_log_records_the_request_on_the_api_server_that_served_it():
    marker = f"rig-audit-{int(time.time())}"
    kubectl("-n", "default", "create", "configmap", marker)
    found = until(lambda: [n for n in CONTROL_PLANES
                           if marker in node(n).run("cat /var/log/kubernetes/audit/audit.log").stdout],
                  timeout=20)
    assert found, "no audit event for the ConfigMap on any control plane"
    event = next(json.loads(line) for line in node(found[0]).check_output(
        "cat /var/log/kubernetes/audit/audit.log").splitlines() if marker in line)
    assert event["objectRef"]["resource"] == "configmaps" and event["verb"] == "create"
    for name in CONTROL_PLANES:
        log = node(name).file("/var/log/kubernetes/audit/audit.log")
        assert log.exists and log.mode == 0o600, name


def test_event_rate_limit_refuses_a_burst_of_events_in_one_namespace():
    # kubeadm_config_event_rate_limits: Namespace qps 10, burst 50. 150 Events sent back to back.
    events = [{"apiVersion": "v1", "kind": "Event", "metadata": {"name": f"rig-burst-{i}", "namespace": "default"},
               "involvedObject": {"kind": "Namespace", "name": "default"}, "reason": "RigBurst",
               "message": "burst", "type": "Normal"} for i in range(150)]
    done = kubectl("create", "-f", "-", stdin="\n".join(json.dumps(e) for e in events), check=False)
    created = done.stdout.count(" created")
    assert "Too many requests" in done.stderr, done.stderr[-500:]
    assert 50 <= created < 150, created
    kubectl("-n", "default", "delete", "events", "--field-selector", "reason=RigBurst", check=False)


def test_pod_security_restricted_refuses_a_privileged_pod(workload):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rig-privileged", "namespace": NAMESPACE},
           "spec": {"containers": [{"name": "c", "image": f"{REGISTRY}/pause:3.10.2",
                                    "securityContext": {"privileged": True}}]}}
    done = kubectl("create", "-f", "-", stdin=json.dumps(pod), check=False)
    assert done.returncode != 0
    assert 'violates PodSecurity "restricted:' in done.stderr, done.stderr
    assert kubectl("-n", NAMESPACE, "get", "pod", "rig-privileged", check=False).returncode != 0


# The API endpoint: the VIP holder's API server killed ------------------------------------------

def _vip_holders() -> list[str]:
    return [n for n in CONTROL_PLANES if f" {VIP}/" in node(n).check_output("ip -4 -o addr show")]


def test_kubectl_through_the_vip_answers_again_soon_after_the_holders_api_server_is_killed():
    """The kube-apiserver container of the VIP holder is killed (SIGKILL to its process). keepalived's
    check of the local API server moves the VIP; HAProxy on every control plane leaves the dead
    backend. kubectl through the VIP must answer again within BOUND seconds."""
    bound = 30
    holder = until(_vip_holders, timeout=15)[0]
    worker = node("orch-cl-w1")
    probe = " ".join(vip_readyz("2s"))
    assert worker.run(probe).rc == 0
    start = time.monotonic()
    node(holder).check_output("pkill -KILL -f '^kube-apiserver '")
    answered_at = None
    while time.monotonic() - start < bound + 30:
        if worker.run(probe).rc == 0:
            answered_at = time.monotonic() - start
            break
        time.sleep(0.5)
    assert answered_at is not None and answered_at <= bound, answered_at
    print(f"kubectl through the VIP answered {answered_at:.1f} s after the kill; VIP holders now {_vip_holders()}")
    # The kubelet restarts the static pod; the node serves again.
    assert until(lambda: node(holder).run(
        f"curl -sk --max-time 2 https://{ADDRESSES[holder]}:6443/readyz").stdout.strip() == "ok", timeout=120)
    # One holder again once the recovered node takes the VIP back (one read per poll: two reads could
    # straddle the hand-over, when both hold it for up to an advert interval).
    def one_holder():
        now = _vip_holders()
        return now if len(now) == 1 else None

    holders = until(one_holder, timeout=30)
    assert holders is not None and len(holders) == 1, _vip_holders()
