"""The read-only node probe of preflight (roles/preflight/files/probe.py), run on this machine."""

from __future__ import annotations

import json
import subprocess
import sys

from preflight_nodes import ROOT

PROBE = ROOT / "roles" / "preflight" / "files" / "probe.py"


def test_probe_reports_this_machine():
    run = subprocess.run(
        [sys.executable, str(PROBE), "localhost", "no-such-node.invalid"],
        capture_output=True, text=True, check=True, timeout=60,
    )
    found = json.loads(run.stdout)
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
