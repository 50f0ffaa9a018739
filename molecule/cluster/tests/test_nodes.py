"""Step 1 on five nodes, against the real services: containerd, chrony, the host firewall, sysctl
and audit files, the held Kubernetes packages (the real release, from the signed local mirror),
and the API endpoint: VIP through HAProxy to the real kube-apiservers, failover of the VIP, HAProxy
leaving a control plane whose API server is gone."""

import re

import pytest
import testinfra
from rig import until as _until

CONTROL_PLANES = ["orch-cl-cp1", "orch-cl-cp2", "orch-cl-cp3"]
WORKERS = ["orch-cl-w1", "orch-cl-w2"]
VIP = "10.213.40.250"
API_PORT = 8443
APISERVER_PORT = 6443
VERSION = "1.36.4-1.1"
REGISTRY = "10.213.250.2:5000"
MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
PARKED = "/etc/kubernetes/kube-apiserver.yaml.parked"


def _host(name):
    return testinfra.get_host(f"podman://{name}")


def _name(host):
    return host.backend.hostname


# containerd -------------------------------------------------------------------------------------

def test_containerd_runs_with_the_rendered_config(host):
    service = host.service("containerd")
    assert service.is_running and service.is_enabled
    # What containerd actually parsed, not just the file.
    dump = host.check_output("containerd config dump")
    assert "SystemdCgroup = true" in dump
    assert f'sandbox_image = "{REGISTRY}/pause:3.10.2"' in dump
    assert 'config_path = "/etc/containerd/certs.d"' in dump
    assert host.run("ctr version").rc == 0


def test_crictl_points_at_containerd(host):
    config = host.file("/etc/crictl.yaml").content_string
    assert "runtime-endpoint: unix:///run/containerd/containerd.sock" in config


# time -------------------------------------------------------------------------------------------

def test_chrony_runs_and_workers_sync_from_the_first_control_plane(host):
    assert host.service("chrony").is_running
    if _name(host) not in WORKERS:
        return
    server = host.check_output("getent hosts orch-cl-cp1 | awk '{print $1}'")

    def reached():
        for row in host.check_output("chronyc -n -c sources").splitlines():
            fields = row.split(",")
            if fields[2] == server and int(fields[5], 8) > 0:
                return row
        return None

    assert _until(reached, timeout=60, interval=2), "no NTP reply from orch-cl-cp1 through the firewall"


# OS preparation ---------------------------------------------------------------------------------

def test_sysctl_files_are_written_and_net_settings_applied(host):
    net = host.file("/etc/sysctl.d/90-kubernetes-net.conf").content_string
    for line in ("net.bridge.bridge-nf-call-iptables = 1", "net.ipv4.ip_forward = 1"):
        assert line in net
    # Host-global settings: the file only (applying them would change the machine, RIG.md).
    glob = host.file("/etc/sysctl.d/91-kubernetes-host.conf").content_string
    for line in ("vm.overcommit_memory = 1", "kernel.panic = 10", "kernel.panic_on_oops = 1",
                 "kernel.keys.root_maxkeys = 1000000", "fs.inotify.max_user_watches = 524288"):
        assert line in glob
    assert host.check_output("sysctl -n net.ipv4.ip_forward") == "1"
    assert host.check_output("sysctl -n net.bridge.bridge-nf-call-iptables") == "1"


def test_kernel_modules_persisted(host):
    modules = host.file("/etc/modules-load.d/kubernetes.conf").content_string.split()
    assert "overlay" in modules and "br_netfilter" in modules


def test_audit_rules_written(host):
    rules = host.file("/etc/audit/rules.d/kubernetes.rules")
    assert rules.mode == 0o640
    assert "-w /etc/kubernetes/ -p wa -k kubernetes" in rules.content_string
    assert host.package("auditd").is_installed


def test_tools_installed(host):
    for package in ("conntrack", "socat", "ebtables", "nftables"):
        assert host.package(package).is_installed, package


# firewall ---------------------------------------------------------------------------------------

def test_firewall_table_is_loaded(host):
    assert host.service("orchestrator-firewall").is_running  # oneshot + RemainAfterExit: active
    table = host.check_output("nft list table inet orchestrator")
    assert "policy drop" in table
    if _name(host) in CONTROL_PLANES:
        assert "2379-2380" in table and f"{API_PORT}" in table
    else:
        assert "30000-32767" in table and "2379-2380" not in table


PROBE = (
    "python3 -c 'import socket,sys\n"
    "s=socket.socket(); s.settimeout(3)\n"
    "try:\n s.connect((sys.argv[1], int(sys.argv[2]))); print(\"open\")\n"
    "except ConnectionRefusedError: print(\"refused\")\n"
    "except OSError: print(\"timeout\")' {} {}"
)


def _connect(source, target, port):
    address = source.check_output(f"getent hosts {target} | awk '{{print $1}}'")
    return source.check_output(PROBE.format(address, port))


def test_firewall_drops_a_worker_on_the_etcd_port_but_not_a_control_plane():
    # 2380 (etcd peers) is open only to control planes: from a worker the SYN is dropped (timeout);
    # from a control plane the packet arrives (refused when nothing listens, open when etcd runs).
    assert _connect(_host("orch-cl-w1"), "orch-cl-cp1", 2380) == "timeout"
    assert _connect(_host("orch-cl-cp2"), "orch-cl-cp1", 2380) in ("refused", "open")


def test_firewall_lets_nodes_reach_the_etcd_metrics_port_of_a_control_plane_only():
    # 2381 (etcd's plain-HTTP metrics, scraped by Prometheus) is open to the nodes and the pod network
    # on the control planes; workers keep it closed.
    assert _connect(_host("orch-cl-w1"), "orch-cl-cp1", 2381) in ("refused", "open")
    assert _connect(_host("orch-cl-cp1"), "orch-cl-w1", 2381) == "timeout"


def test_firewall_lets_nodes_reach_the_kubelet_port():
    assert _connect(_host("orch-cl-cp1"), "orch-cl-w1", 10250) in ("refused", "open")
    assert _connect(_host("orch-cl-w1"), "orch-cl-w2", 2380) == "timeout"


# Kubernetes packages ----------------------------------------------------------------------------

def test_kubernetes_packages_installed_at_the_pinned_version_and_held(host):
    holds = host.check_output("apt-mark showhold").split()
    for package in ("kubeadm", "kubelet", "kubectl"):
        assert host.check_output(f"dpkg-query -W -f '${{Version}}' {package}") == VERSION
        assert package in holds, package
    # The real release, built from its Go modules.
    assert host.check_output("kubelet --version") == "Kubernetes v1.36.4"
    assert host.check_output("kubectl version --client -o json").count('"gitVersion": "v1.36.4"') == 1


def test_kubernetes_repository_is_signed_and_verified(host):
    source = host.file("/etc/apt/sources.list.d/kubernetes.sources").content_string
    assert "Signed-By: /etc/apt/keyrings/kubernetes-apt-keyring.asc" in source
    assert "file:///srv/molecule/mirror/packages/kubernetes-apt/" in source
    # apt accepted the repository's InRelease with that key (an unsigned one would be refused).
    lists = host.check_output("ls /var/lib/apt/lists/")
    assert "kubernetes-apt_InRelease" in lists
    assert "kubernetes-apt_Packages" in lists or "kubernetes-apt_._Packages" in lists


# API endpoint -----------------------------------------------------------------------------------

def _vip_holders():
    return [n for n in CONTROL_PLANES if f" {VIP}/" in _host(n).check_output("ip -4 -o addr show")]


def _through_vip(count=9):
    """Which API server answered each of <count> TLS connections to the VIP: HAProxy passes TLS
    through, so the serving certificate names the control plane behind it (its own DNS name)."""
    client = _host("orch-cl-w1")
    answers = []
    for _ in range(count):
        out = client.run(
            f"openssl s_client -connect {VIP}:{API_PORT} </dev/null 2>/dev/null"
            " | openssl x509 -noout -ext subjectAltName")
        names = [n for n in re.findall(r"DNS:([^,\s]+)", out.stdout) if n in CONTROL_PLANES]
        answers.append(names[0] if out.rc == 0 and len(names) == 1 else f"error {out.rc} {out.stdout!r}")
    return answers


def _stop_apiserver(name):
    """Take the static pod's manifest away: the kubelet stops the kube-apiserver of that node."""
    _host(name).check_output(f"mv {MANIFEST} {PARKED}")
    assert _until(lambda: _host(name).run(f"curl -sk --max-time 2 https://127.0.0.1:{APISERVER_PORT}/readyz").rc != 0,
                  timeout=60), f"{name}: kube-apiserver still answers"


def _start_apiserver(name):
    _host(name).check_output(f"mv {PARKED} {MANIFEST}")
    assert _until(lambda: _host(name).run(
        f"curl -sk --max-time 2 https://127.0.0.1:{APISERVER_PORT}/readyz").stdout.strip() == "ok", timeout=120), \
        f"{name}: kube-apiserver did not come back"


def _backend_status(holder, backend):
    stat = _host(holder).check_output("echo 'show stat' | socat stdio /run/haproxy/admin.sock")
    for row in stat.splitlines():
        fields = row.split(",")
        if len(fields) > 17 and fields[0] == "kube-apiserver" and fields[1] == backend:
            return fields[17]
    return None


def test_haproxy_and_keepalived_run_on_the_control_planes_only(host):
    expected = _name(host) in CONTROL_PLANES
    for service in ("haproxy", "keepalived"):
        assert host.service(service).is_running == expected, service
    if expected:
        assert host.file("/etc/keepalived/keepalived.conf").mode == 0o600


def test_exactly_one_control_plane_holds_the_vip():
    assert len(_until(_vip_holders, timeout=15)) == 1


def test_the_vip_reaches_every_apiserver_through_haproxy():
    answers = _through_vip(12)
    assert set(answers) == set(CONTROL_PLANES), answers


def test_haproxy_leaves_a_control_plane_whose_apiserver_died():
    holder = _until(_vip_holders)[0]
    victim = next(n for n in CONTROL_PLANES if n != holder)
    _stop_apiserver(victim)
    try:
        assert _until(lambda: (_backend_status(holder, victim) or "").startswith("DOWN"), timeout=20), \
            _backend_status(holder, victim)
        answers = _through_vip(9)
        assert victim not in answers and all(not a.startswith("error") for a in answers), answers
    finally:
        _start_apiserver(victim)
    assert _until(lambda: _backend_status(holder, victim) == "UP", timeout=20)


def test_the_vip_moves_when_the_keepalived_master_stops():
    holder = _until(_vip_holders)[0]
    _host(holder).run("systemctl stop keepalived")
    try:
        moved = _until(lambda: [n for n in _vip_holders() if n != holder], timeout=15)
        assert len(moved) == 1, moved
        assert set(_through_vip(6)) <= set(CONTROL_PLANES)
    finally:
        _host(holder).run("systemctl start keepalived")
    assert len(_until(lambda: len(_vip_holders()) == 1 and _vip_holders(), timeout=15)) == 1


def test_the_vip_leaves_a_control_plane_whose_local_apiserver_died():
    holder = _until(_vip_holders)[0]
    _stop_apiserver(holder)
    try:
        moved = _until(lambda: [n for n in _vip_holders() if n != holder], timeout=20)
        assert len(moved) == 1, moved
    finally:
        _start_apiserver(holder)


@pytest.mark.parametrize("node", WORKERS)
def test_workers_run_no_load_balancer(node):
    assert not _host(node).package("haproxy").is_installed
