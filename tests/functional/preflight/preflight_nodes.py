"""Node containers for the preflight catalogue (used by conftest.py): start, fingerprint, remove.

Four Debian 12 node containers (the project's node image) on the podman network orch-pf-test
(10.89.102.0/24, static addresses): orch-pf-t1..t3 resolve each other through /etc/hosts entries
(podman's CNI backend here has no DNS plugin), and orch-pf-t4 is a "cloned machine" whose host name
is orch-pf-t3. The fingerprint of a node is its dpkg package list plus the sha256 of every file
(and the target of every symlink) under /etc, read with `podman exec`.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
NETWORK = "orch-pf-test"
SUBNET = "10.89.102.0/24"
NODES = {
    # name: (address, host name)
    "orch-pf-t1": ("10.89.102.11", "orch-pf-t1"),
    "orch-pf-t2": ("10.89.102.12", "orch-pf-t2"),
    "orch-pf-t3": ("10.89.102.13", "orch-pf-t3"),
    "orch-pf-t4": ("10.89.102.14", "orch-pf-t3"),
}
RESOLVABLE = ("orch-pf-t1", "orch-pf-t2", "orch-pf-t3")
FINGERPRINT = (
    "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' | sort; "
    "find /etc -type f -print0 | sort -z | xargs -0 sha256sum; "
    "find /etc -type l -printf '%p -> %l\\n' | sort"
)


def podman(*args: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def remove_nodes() -> None:
    for name in NODES:
        podman("rm", "-f", "-t", "0", name, check=False)
    podman("network", "rm", "-f", NETWORK, check=False)


def fingerprint(name: str) -> str:
    out = podman("exec", name, "sh", "-c", FINGERPRINT, timeout=120)
    assert "/etc/" in out.stdout and "systemd" in out.stdout, f"empty fingerprint of {name}"
    return out.stdout


def fingerprints() -> dict[str, str]:
    """The fingerprints of all nodes, read in parallel (one `podman exec` each)."""
    with ThreadPoolExecutor(max_workers=len(NODES)) as pool:
        return dict(zip(NODES, pool.map(fingerprint, NODES), strict=True))


def wait_running(name: str, deadline: float) -> None:
    state = ""
    while time.monotonic() < deadline:
        state = podman("exec", name, "systemctl", "is-system-running", check=False, timeout=30).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{name}: systemd did not come up (state {state!r})")


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
