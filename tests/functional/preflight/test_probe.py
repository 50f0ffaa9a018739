"""The read-only node probe of preflight (roles/preflight/files/probe.py), run on this machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler

from preflight_nodes import ROOT

PROBE = ROOT / "roles" / "preflight" / "files" / "probe.py"


def probe(**args) -> dict:
    run = subprocess.run(
        [sys.executable, str(PROBE), json.dumps(args)], capture_output=True, text=True, check=True, timeout=60,
    )
    return json.loads(run.stdout)


def test_probe_reports_this_machine():
    found = probe(names=["localhost", "no-such-node.invalid"])
    with open("/proc/meminfo", encoding="utf-8") as handle:
        memtotal_kb = int(handle.readline().split()[1])
    assert found["memtotal_mb"] == memtotal_kb // 1024
    assert found["cpus"] >= 1
    assert found["os_id"] and found["architecture"]
    assert "127.0.0.1" in found["resolved"]["localhost"]
    assert found["resolved"]["no-such-node.invalid"] == []
    assert all(not address.startswith("127.") for address in found["ipv4_addresses"])
    if found["default_ipv4"]:
        assert found["default_ipv4"]["address"] in found["ipv4_addresses"]
        assert 0 < found["default_ipv4"]["prefix"] <= 32
    assert found["mirror"] == {} and found["disks"] == []


def test_probe_reads_the_cgroup_mode_like_stat():
    """cgroup2fs is v2; tmpfs is v1 or hybrid (what `stat -fc %T /sys/fs/cgroup` says)."""
    fstype = subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True, check=True).stdout
    mode = probe()["cgroup"]["mode"]
    assert (mode == "v2") == (fstype.strip() == "cgroup2fs"), (mode, fstype)
    assert mode in ("v2", "v1", "hybrid")


def test_probe_measures_the_filesystem_of_a_path_not_created_yet(tmp_path):
    missing = tmp_path / "not" / "yet"
    found = probe(disk_paths=[str(missing), str(tmp_path)])["disks"]
    stats = os.statvfs(tmp_path)
    assert [disk["checked"] for disk in found] == [str(tmp_path), str(tmp_path)]
    assert found[0]["dev"] == found[1]["dev"] == os.stat(tmp_path).st_dev
    assert abs(found[0]["free_mb"] - stats.f_bavail * stats.f_frsize // 2**20) < 64


def test_probe_sees_a_listening_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port in probe()["listening_tcp"]
    assert port not in probe()["listening_tcp"]


def test_probe_reads_the_mirror_index_from_a_directory_and_over_http(tmp_path):
    repo = tmp_path / "packages" / "kubernetes-apt"
    repo.mkdir(parents=True)
    (repo / "Packages").write_text(
        "Package: kubelet\nVersion: 1.36.4-1.1\n\n"
        "Package: kubeadm\nVersion: 1.36.4-1.1\n\n"
        "Package: kubeadm\nVersion: 1.36.3-1.1\n"
    )
    found = probe(mirror_index=f"file://{repo}/", timeout=3)["mirror"]
    assert found["reachable"] and found["index"].endswith("/Packages")
    assert found["kubeadm"] == ["1.36.4-1.1", "1.36.3-1.1"]
    # A directory without an index is reachable but lists nothing; a missing one is unreachable.
    empty = probe(mirror_index=f"file://{tmp_path}/packages", timeout=3)["mirror"]
    assert empty["reachable"] and not empty["index"] and empty["kubeadm"] == []
    gone = probe(mirror_index=f"file://{tmp_path}/nothing/", timeout=3)["mirror"]
    assert not gone["reachable"] and "no such directory" in gone["error"]
    server = HTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}/packages/kubernetes-apt"
        over_http = probe(mirror_index=base, timeout=3)["mirror"]
        assert over_http["reachable"] and over_http["kubeadm"] == ["1.36.4-1.1", "1.36.3-1.1"]
        not_found = probe(mirror_index=f"http://127.0.0.1:{server.server_port}/nothing/", timeout=3)["mirror"]
        assert not_found["reachable"] and "HTTP 404" in not_found["error"]
    finally:
        server.shutdown()
    refused = probe(mirror_index=f"http://127.0.0.1:{server.server_port}/x/", timeout=3)["mirror"]
    assert not refused["reachable"] and refused["error"]
