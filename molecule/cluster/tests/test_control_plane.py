"""Steps 2-4 on the cluster scenario, read from the nodes after converge AND the idempotence run.

kubeadm is the REAL one of the pinned release. The rig records each call (tests/rig/nodes.yml: a
wrapper that logs time, argv with secret values redacted and exit status to
/var/log/rig-kubeadm.log, then runs the real binary). What is verified here is our orchestration:
which node ran what, in which order, with which configuration; that the second converge called
kubeadm zero times; that the rendered configuration and the encryption key file are what the
nodes hold. What the cluster does with it is tests/test_cluster.py.
"""

from __future__ import annotations

import datetime
import os

import pytest
import testinfra
import yaml
from rig import ADDRESSES, CONTROL_PLANES, VIP_ENDPOINT, WORKERS, kubeadm_calls, kubectl_json

ENCRYPTION = "/etc/kubernetes/orchestrator/encryption-config.yaml"
calls = kubeadm_calls


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
    assert init["rc"] == 0
    assert "--upload-certs" in init["argv"]
    assert {"--skip-token-print", "--skip-certificate-key-print"} <= set(init["argv"])
    assert flag(init, "--config") == "/etc/kubernetes/kubeadm-config.yaml"
    config = host.file("/etc/kubernetes/kubeadm-config.yaml")
    assert config.mode == 0o600
    docs = [d for d in yaml.safe_load_all(config.content_string) if d]
    assert [d["kind"] for d in docs] == [
        "InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration",
    ]
    assert docs[1]["controlPlaneEndpoint"] == VIP_ENDPOINT


def test_no_other_node_ran_init(host):
    if host.backend.get_hostname() == CONTROL_PLANES[0]:
        pytest.skip("the first control plane runs init")
    assert not [e for e in calls(host) if e["argv"][0] == "init" and "phase" not in e["argv"]]


def test_fresh_credentials_for_each_join_made_on_members_and_nothing_else():
    entries = []
    for name in CONTROL_PLANES:
        entries += [dict(e, on=name) for e in calls(testinfra.get_host(f"podman://{name}"))
                    if e["argv"][0] not in ("join", "config")]
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
            assert flag(entry, "--certificate-key") is None and flag(entry, "--config")
        assert entry["rc"] == 0, entry


def test_control_planes_joined_once_as_control_planes_through_the_vip(host):
    name = host.backend.get_hostname()
    if name not in CONTROL_PLANES[1:]:
        pytest.skip("joining control planes only")
    joins = [e for e in calls(host) if e["argv"][0] == "join"]
    assert len(joins) == 1, joins
    assert joins[0]["rc"] == 0 and flag(joins[0], "--config") == "/etc/kubernetes/kubeadm-join.yaml"
    # the join configuration (it held the token and the certificate key) is gone, the node is a member
    assert not host.file("/etc/kubernetes/kubeadm-join.yaml").exists
    assert not host.file("/etc/kubernetes/.orchestrator-kubeadm-in-progress").exists
    # kubeadm points a control plane's kubelet at its own API server (workers: the VIP)
    kubelet_conf = host.file("/etc/kubernetes/kubelet.conf")
    assert kubelet_conf.exists and f"server: https://{ADDRESSES[name]}:6443" in kubelet_conf.content_string
    # a control plane: its own static pods and the certificates the key let it download
    for manifest in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert host.file(f"/etc/kubernetes/manifests/{manifest}.yaml").exists, manifest
    cp1 = testinfra.get_host(f"podman://{CONTROL_PLANES[0]}")
    for shared in ("ca.crt", "sa.pub", "front-proxy-ca.crt", "etcd/ca.crt"):
        path = f"/etc/kubernetes/pki/{shared}"
        assert host.file(path).sha256sum == cp1.file(path).sha256sum, path


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
    assert joins[0]["rc"] == 0
    kubelet_conf = host.file("/etc/kubernetes/kubelet.conf")
    assert kubelet_conf.exists and f"server: https://{VIP_ENDPOINT}" in kubelet_conf.content_string
    assert not host.file("/etc/kubernetes/kubeadm-join.yaml").exists
    assert not host.file("/etc/kubernetes/manifests/kube-apiserver.yaml").exists
    # what the join configuration asked for, as the API server has it
    item = kubectl_json("get", "node", name)
    labels, taints = item["metadata"]["labels"], item["spec"].get("taints", [])
    if name == "orch-cl-w1":
        assert labels["orchestrator.io/pool"] == "general" and labels["topology.kubernetes.io/zone"] == "zone-a"
        assert taints == []
    else:
        assert labels["orchestrator.io/pool"] == "agents"
        assert [t["key"] for t in taints] == ["orchestrator.io/agents"]


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
