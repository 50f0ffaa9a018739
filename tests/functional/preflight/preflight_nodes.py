"""Node containers for the preflight catalogue (used by conftest.py): start, fingerprint, remove.

Four Debian 12 node containers (the project's node image) on the podman network orch-pf-test
(10.89.102.0/24, static addresses): orch-pf-t1..t3 resolve each other through /etc/hosts entries
(podman's CNI backend here has no DNS plugin), and orch-pf-t4 is a "cloned machine" whose host name
is orch-pf-t3. Three stand-ins give the rules that need them something real to find:
- an offline mirror: a directory of this machine, mounted read-only in every node at /srv/pf-mirror,
  whose apt index (packages/kubernetes-apt/Packages) lists kubeadm at the collection's pinned
  version (an index only: preflight reads the index, never a package);
- a second network interface on orch-pf-t3 (a veth in its own network namespace, 10.89.103.13/24,
  like a storage network), so an address outside the default route's network exists;
- a stray listener on orch-pf-t4 port 6443 (python3's socket module), a port kubeadm needs.
The fingerprint of a node is its dpkg package list plus the sha256 of every file (and the target
of every symlink) under /etc, read with `podman exec`.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

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
MIRROR_IN_NODES = "/srv/pf-mirror"
SECOND_ADDRESS = ("orch-pf-t3", "10.89.103.13/24")
STRAY_LISTENER = ("orch-pf-t4", 6443)
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


def write_mirror(directory: Path) -> None:
    """The stand-in mirror's apt index: kubeadm at the pinned cluster_kubernetes_version."""
    defaults = yaml.safe_load((ROOT / "roles" / "cluster" / "defaults" / "main.yml").read_text())
    index = directory / "packages" / "kubernetes-apt"
    index.mkdir(parents=True)
    (index / "Packages").write_text(
        f"Package: kubeadm\nVersion: {defaults['cluster_kubernetes_version']}-1.1\nArchitecture: amd64\n"
    )
    for path in (directory, *directory.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


def add_stand_ins() -> None:
    """The second interface of orch-pf-t3 and the stray listener of orch-pf-t4 (see above)."""
    node, address = SECOND_ADDRESS
    podman("exec", node, "sh", "-ec",
           "ip link add pf-storage type veth peer name pf-storage-peer;"
           f" ip addr add {address} dev pf-storage; ip link set pf-storage up")
    node, port = STRAY_LISTENER
    listener = (f"import socket,time; s=socket.socket(); s.bind(('0.0.0.0', {port})); s.listen();"
                " time.sleep(100000)")
    podman("exec", "-d", node, "python3", "-c", listener)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        listening = f":{port:04X} 00000000:0000 0A"
        if podman("exec", node, "grep", "-qi", listening, "/proc/net/tcp", check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"the stand-in listener on {node}:{port} did not start")


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
