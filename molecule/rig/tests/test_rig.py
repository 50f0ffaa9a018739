"""The rig end to end: systemd nodes on one network, chrony serving and syncing between them."""

import ipaddress
import re
import time

import pytest

NODES = ["orch-rig-n1", "orch-rig-n2", "orch-rig-n3"]


def test_systemd_is_pid_1_and_running(host):
    assert host.check_output("ps -o comm= -p 1") == "systemd"
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), state


def test_chrony_is_running_and_enabled(host):
    service = host.service("chrony")
    assert service.is_running
    assert service.is_enabled


def test_chronyd_never_sets_the_shared_clock(host):
    assert 'DAEMON_OPTS="-F 1 -x"' in host.file("/etc/default/chrony").content_string
    cmdline = host.check_output("cat /proc/$(pidof chronyd | cut -d' ' -f1)/cmdline | tr '\\0' ' '")
    assert " -x" in cmdline


@pytest.mark.parametrize("peer", NODES)
def test_nodes_reach_each_other_by_name(host, peer):
    resolved = host.run(f"getent hosts {peer}")
    assert resolved.rc == 0, resolved.stderr
    assert host.run(f"ping -c 1 -W 2 {peer}").rc == 0


def _server_ip(host):
    return host.check_output("getent hosts orch-rig-n1 | awk '{print $1}'")


def test_time_server_configuration(host):
    config = host.file("/etc/chrony/chrony.conf").content_string
    if host.backend.hostname == "orch-rig-n1":
        address = host.check_output("ip -o -4 addr show scope global | awk '{print $4}' | head -n1")
        network = ipaddress.ip_interface(address).network
        assert f"allow {network}" in config
        assert "local stratum 10" in config
        assert not re.search(r"^(server|pool) ", config, re.M)
    else:
        assert "server orch-rig-n1 iburst minpoll 2 maxpoll 4" in config
        assert "allow" not in config


def test_clients_receive_ntp_replies_from_the_server(host):
    """Real NTP traffic: the client's source has a non-zero reach register."""
    if host.backend.hostname == "orch-rig-n1":
        pytest.skip("the server has no source to reach")
    server = _server_ip(host)
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        sources = host.check_output("chronyc -n -c sources")
        line = next((row for row in sources.splitlines() if row.split(",")[2] == server), "")
        # CSV: mode,state,address,stratum,poll,reach,...; reach is octal, 0 means no reply yet.
        if line and int(line.split(",")[5], 8) > 0:
            assert line.split(",")[3] == "10", line  # the server's local stratum
            return
        time.sleep(2)
    pytest.fail(f"no NTP reply from {server} within 60 s: {line or 'source missing'}")
