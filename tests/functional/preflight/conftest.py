"""The session fixture of the preflight catalogue: four node containers and their stand-ins
(preflight_nodes.py), removed at the end."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import pytest
from preflight_nodes import (
    MIRROR_IN_NODES,
    NETWORK,
    NODES,
    RESOLVABLE,
    SUBNET,
    add_stand_ins,
    fingerprints,
    podman,
    raise_interrupt,
    remove_nodes,
    wait_running,
    write_mirror,
)


@pytest.fixture(scope="session")
def nodes():
    """Start the four node containers; yield their initial fingerprints; always remove them."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run scripts/setup.sh")
    image = os.environ.get("ORCH_NODE_IMAGE", "")
    if not image or podman("image", "exists", image, check=False).returncode != 0:
        pytest.fail(f"node image {image!r} is missing: run scripts/setup.sh (it builds it)")
    remove_nodes()
    # A CI time-out (SIGTERM) still runs the clean-up below.
    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    mirror = tempfile.TemporaryDirectory(prefix="orch-pf-mirror-")
    try:
        write_mirror(Path(mirror.name) / "mirror")
        podman("network", "create", "--subnet", SUBNET, NETWORK)
        add_hosts = [f"--add-host={name}:{NODES[name][0]}" for name in RESOLVABLE]
        for name, (address, hostname) in NODES.items():
            podman(
                "run", "-d", "--name", name, "--hostname", hostname,
                "--network", NETWORK, "--ip", address, *add_hosts,
                "-v", f"{mirror.name}/mirror:{MIRROR_IN_NODES}:ro",
                "--privileged", "--systemd=always", "--runtime", "runc",
                "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
                image, "/sbin/init",
            )
        deadline = time.monotonic() + 120
        for name in NODES:
            wait_running(name, deadline)
        add_stand_ins()
        yield fingerprints()
    finally:
        remove_nodes()
        mirror.cleanup()
        signal.signal(signal.SIGTERM, previous)
