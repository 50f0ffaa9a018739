"""Steps 2-4 on the cluster scenario, read from the nodes after converge AND the idempotence run.

kubeadm and kubelet are RECORDING STAND-INS here (tests/standins/): they log every call to
/var/log/orchestrator-standin/kubeadm.log. What is verified is our orchestration: which node ran
what, in which order, with which configuration; that the second converge called kubeadm zero
times; that the rendered configuration and the encryption key file are what the nodes hold.
"""

from __future__ import annotations

import datetime
import json
import os

import pytest
import testinfra
import yaml

CONTROL_PLANES = ["orch-cl-cp1", "orch-cl-cp2", "orch-cl-cp3"]
WORKERS = ["orch-cl-w1", "orch-cl-w2"]
VIP_ENDPOINT = "10.213.40.250:8443"
ENCRYPTION = "/etc/kubernetes/orchestrator/encryption-config.yaml"


def calls(host) -> list[dict]:
    log = host.file("/var/log/orchestrator-standin/kubeadm.log")
    if not log.exists:
        return []
    entries = [json.loads(line) for line in log.content_string.splitlines() if line.strip()]
    # `kubeadm version` is a read-only probe; everything else counts.
    return [e for e in entries if e["argv"] and e["argv"][0] not in ("version", "--version")]


def when(entry: dict) -> datetime.datetime:
    return datetime.datetime.fromisoformat(entry["time"])


def verb(entry: dict) -> str:
    """The subcommand: the words before the first flag."""
    words = []
    for word in entry["argv"]:
        if word.startswith("-"):
            break
        words.append(word)
    return " ".join(words)


def flag(entry: dict, name: str) -> str | None:
    argv = entry["argv"]
    return argv[argv.index(name) + 1] if name in argv else None


@pytest.mark.parametrize("name", CONTROL_PLANES[:1])
def test_init_ran_exactly_once_on_the_first_control_plane(host, name):
    if host.backend.get_hostname() != name:
        pytest.skip("runs on the first control plane")
    inits = [e for e in calls(host) if e["argv"][0] == "init" and "phase" not in e["argv"]]
    assert len(inits) == 1, inits
    init = inits[0]
    assert init["result"] == "ok"
    assert "--upload-certs" in init["argv"]
    assert {"--skip-token-print", "--skip-certificate-key-print"} <= set(init["argv"])
    assert init["config"]["path"] == "/etc/kubernetes/kubeadm-config.yaml"
    assert init["config"]["kinds"] == [
        "InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration",
    ]
    assert init["config"]["controlPlaneEndpoint"] == VIP_ENDPOINT
    assert init["config"]["mode"] == "0o600"


def test_no_other_node_ran_init(host):
    if host.backend.get_hostname() == CONTROL_PLANES[0]:
        pytest.skip("the first control plane runs init")
    assert not [e for e in calls(host) if e["argv"][0] == "init" and "phase" not in e["argv"]]


def test_fresh_credentials_for_each_join_made_on_members_and_nothing_else():
    entries = []
    for name in CONTROL_PLANES:
        entries += [dict(e, on=name) for e in calls(testinfra.get_host(f"podman://{name}")) if e["argv"][0] != "join"]
    entries.sort(key=when)
    # init on cp1, then per joining control plane a certificate key, upload-certs and a token made
    # on a control plane that is already a member, then one token for the single worker batch.
    # Any further call (for example in the idempotence run) fails this.
    assert [verb(e) for e in entries] == [
        "init",
        "certs certificate-key", "init phase upload-certs", "token create",
        "certs certificate-key", "init phase upload-certs", "token create",
        "token create",
    ], [(e["on"], verb(e)) for e in entries]
    assert entries[0]["on"] == CONTROL_PLANES[0]
    assert [flag(e, "--description") for e in entries if verb(e) == "token create"] == [
        "control-plane join of orch-cl-cp2",
        "control-plane join of orch-cl-cp3",
        "worker join of orch-cl-w1 orch-cl-w2",
    ]
    for entry in entries[1:4]:
        assert entry["on"] == CONTROL_PLANES[0], "cp2's credentials come from cp1, the only member then"
    for entry in entries:
        if verb(entry) == "token create":
            assert flag(entry, "--ttl") == "10m0s"
        if verb(entry) == "init phase upload-certs":
            # the key is never on the command line (ps): it is in a 0600 InitConfiguration file
            assert flag(entry, "--certificate-key") is None
            assert entry["config"]["has_certificate_key"] and entry["config"]["mode"] == "0o600"


def test_control_planes_joined_with_the_certificate_key_in_order(host):
    name = host.backend.get_hostname()
    if name not in CONTROL_PLANES[1:]:
        pytest.skip("joining control planes only")
    joins = [e for e in calls(host) if e["argv"][0] == "join"]
    assert len(joins) == 1, joins
    join = joins[0]
    assert join["result"] == "ok" and join["control_plane"] is True
    assert join["config"]["kinds"] == ["JoinConfiguration"]
    for field in ("has_certificate_key", "has_token", "has_ca_cert_hashes"):
        assert join["config"][field], field
    assert join["config"]["apiServerEndpoint"] == VIP_ENDPOINT
    assert join["config"]["mode"] == "0o600"
    # the join configuration (it holds the token) is gone, the node is a member
    assert not host.file("/etc/kubernetes/kubeadm-join.yaml").exists
    assert not host.file("/etc/kubernetes/.orchestrator-kubeadm-in-progress").exists
    assert host.file("/etc/kubernetes/kubelet.conf").exists


def test_cp2_joined_before_cp3():
    cp2 = testinfra.get_host("podman://orch-cl-cp2")
    cp3 = testinfra.get_host("podman://orch-cl-cp3")
    join2 = [e for e in calls(cp2) if e["argv"][0] == "join"]
    join3 = [e for e in calls(cp3) if e["argv"][0] == "join"]
    assert join2 and join3
    assert when(join2[0]) < when(join3[0])


def test_workers_joined_once_with_their_labels_and_taints(host):
    name = host.backend.get_hostname()
    if name not in WORKERS:
        pytest.skip("workers only")
    joins = [e for e in calls(host) if e["argv"][0] == "join"]
    assert len(joins) == 1, joins
    join = joins[0]
    assert join["result"] == "ok" and join["control_plane"] is False
    assert not join["config"]["has_certificate_key"]
    if name == "orch-cl-w1":
        assert join["config"]["node_labels"] == ["orchestrator.io/pool=general,topology.kubernetes.io/zone=zone-a"]
        assert join["config"]["taints"] == []
    else:
        assert join["config"]["node_labels"] == ["orchestrator.io/pool=agents"]
        assert join["config"]["taints"] == ["orchestrator.io/agents"]
    assert host.file("/etc/kubernetes/kubelet.conf").exists
    assert not host.file("/etc/kubernetes/kubeadm-join.yaml").exists


def test_rendered_kubeadm_config_on_the_control_planes(host):
    if host.backend.get_hostname() not in CONTROL_PLANES:
        pytest.skip("control planes only")
    config = host.file("/etc/kubernetes/kubeadm-config.yaml")
    assert config.mode == 0o600 and config.user == "root"
    docs = {d["kind"]: d for d in yaml.safe_load_all(config.content_string) if d}
    cluster = docs["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster["controlPlaneEndpoint"] == VIP_ENDPOINT
    api = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert api["profiling"] == "false"
    assert api["enable-admission-plugins"] == "NodeRestriction,EventRateLimit,PodSecurity"
    for flag in ("audit-policy-file", "admission-control-config-file", "encryption-provider-config"):
        assert host.file(api[flag]).exists, flag
        assert host.file(api[flag]).mode == 0o600, flag
    cm = {a["name"]: a["value"] for a in cluster["controllerManager"]["extraArgs"]}
    assert cm["leader-elect"] == "true" and "RotateKubeletServerCertificate=true" in cm["feature-gates"]
    kubelet = docs["KubeletConfiguration"]
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["readOnlyPort"] == 0 and kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["serverTLSBootstrap"] and kubelet["rotateCertificates"]
    assert kubelet["protectKernelDefaults"] and kubelet["seccompDefault"]


def test_encryption_key_file_identical_on_every_control_plane_and_never_rewritten():
    digests, mtimes = {}, {}
    for name in CONTROL_PLANES:
        node = testinfra.get_host(f"podman://{name}")
        key_file = node.file(ENCRYPTION)
        assert key_file.mode == 0o600 and key_file.user == "root"
        digests[name] = key_file.sha256sum
        mtimes[name] = key_file.mtime
        first_kubeadm = calls(node)[0]
        # written before this node's kubeadm init/join and untouched by every later run
        assert key_file.mtime.timestamp() <= when(first_kubeadm).timestamp() + 1, name
    assert len(set(digests.values())) == 1, digests


def test_admin_kubeconfig_came_back_to_the_controller_0600():
    ephemeral = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not ephemeral:
        pytest.skip("needs the molecule scenario (control_plane_admin_kubeconfig_dest in its ephemeral directory)")
    local = testinfra.get_host("local://").file(f"{ephemeral}/admin.conf")
    assert local.exists and local.mode == 0o600
    cp1 = testinfra.get_host("podman://orch-cl-cp1")
    assert local.content_string == cp1.file("/etc/kubernetes/admin.conf").content_string
