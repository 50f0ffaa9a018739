"""Certificate rotation on the cluster's REAL control planes (issue 17 item 2).

playbooks/rotate_certificates.yml runs from the controller against the scenario's inventory: on
each control plane in turn the real `kubeadm certs renew all` (the rig's recording wrapper logs
each call and runs the package's kubeadm), then the real kubelet stops and starts etcd,
kube-apiserver, kube-controller-manager and kube-scheduler (their manifests moved out and back).
Meanwhile a thread asks the API server for /readyz through the VIP (10.213.40.250:8443: keepalived
+ HAProxy) from orch-cl-w1 with the kubelet's credentials, about every half second.

Proved, from what the nodes and the API server say:
- every leaf certificate and every kubeconfig client certificate kubeadm manages (read with
  openssl on each node) has a new serial, a notAfter not earlier than before, the same subject
  and SANs; kubeadm renewed them once per control plane, in inventory order;
- each of the four static pods of every control plane runs in a new container (crictl: new id,
  startedAt within the run), and the restart windows of the control planes do not overlap: the
  next control plane's certificates are renewed only after the previous one's pods all started;
- the API answered through the VIP during the whole run: the longest gap between two answered
  probes stays under GAP_BOUND (printed, with the playbook's duration);
- the controller's admin kubeconfig (the scenario's $MOLECULE_EPHEMERAL_DIRECTORY/admin.conf) holds
  the first control plane's renewed client certificate and still reads the cluster's Nodes through
  the VIP from the controller (Python's ssl with that certificate: no kubectl needed there);
- before that, `--check` renews nothing and restarts nothing: same serials, same containers, the
  same controller kubeconfig, and kubeadm called only for check-expiration.
A second real run is not an idempotence check here: renewing always issues new certificates.

Not in conftest.LAST: the rotation leaves the cluster as it found it (same etcd members, every
static pod running and healthy, certificates valid a year from now), so no later test depends on
its running last. Alphabetical order runs it after test_control_plane.py (which counts every
kubeadm call on the control planes and would see the `certs` calls) and before the two LAST files,
which take the cluster apart (a rotation on a cluster they left broken would prove nothing).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import ssl
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations, pairwise
from urllib.parse import urlsplit

import pytest
from rig import (
    CONTROL_PLANES,
    CRICTL,
    EPHEMERAL,
    VIP_ENDPOINT,
    WORKERS,
    kubeadm_calls,
    node,
    run_playbooks,
    until,
    vip_readyz,
)

COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
# Leaf certificates under /etc/kubernetes/pki that `kubeadm certs renew all` renews (the CAs are not
# renewed), and the kubeconfigs whose embedded client certificate it renews (super-admin.conf exists
# on the first control plane only; kubelet.conf's certificate is the kubelet's own, rotated by it).
PKI = [
    "apiserver.crt", "apiserver-kubelet-client.crt", "apiserver-etcd-client.crt", "front-proxy-client.crt",
    "etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt",
]
KUBECONFIGS = ["admin.conf", "controller-manager.conf", "scheduler.conf"]
OPENSSL = "openssl x509 -noout -serial -enddate -subject -ext subjectAltName"
CONTROLLER_ADMIN = EPHEMERAL / "admin.conf"
PROBE = ["podman", "exec", WORKERS[0], *vip_readyz("2s")]
# The longest the API may stay unanswered through the VIP while one control plane's API server is
# down. The VIP holder's keepalived sees its own API server fail after fall 2 checks 2 s apart (each
# curl up to 2 s: <= ~6 s) and gives the VIP to the next control plane at its next advert (1 s), and
# takes it back the same way once its API server rises; HAProxy (inter 2 s, fall 2) sends new
# connections to a stopped or not yet ready API server for up to ~4-6 s, but only the one in three
# it round-robins there fails. One probe (podman exec + kubectl, --request-timeout 2 s) takes 1-3 s
# on this 2-core machine while an API server starts. Expected worst case: one VIP move plus two
# probe lengths, ~8-10 s; 15 s leaves room for the machine's load, is half the 30 s test_cluster.py
# allows after an unannounced SIGKILL (this restart is announced: the port is closed first), and is
# well below a control plane's restart here (tens of seconds), which one backend alone would expose.
GAP_BOUND = 15.0


@dataclass(frozen=True)
class Cert:
    serial: str
    not_after: datetime
    identity: str  # subject and SANs as openssl prints them


def parse_openssl(out: str) -> Cert:
    """The output of OPENSSL for one certificate."""
    lines = [line.rstrip() for line in out.strip().splitlines()]
    fields = dict(line.split("=", 1) for line in lines if line.startswith(("serial=", "notAfter=")))
    end = datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    identity = "\n".join(line.strip() for line in lines if not line.startswith(("serial=", "notAfter=")))
    return Cert(fields["serial"], end, identity)


def node_certs(name: str) -> dict[str, Cert]:
    """Every certificate of PKI and KUBECONFIGS on a control plane, read with one shell."""
    script = ["set -e"]
    script += [f"echo '== {f}'; {OPENSSL} -in /etc/kubernetes/pki/{f}" for f in PKI]
    script += [f"echo '== {k}'; sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/{k} | base64 -d | {OPENSSL}"
               for k in KUBECONFIGS]
    out = node(name).check_output("\n".join(script))
    sections = re.split(r"^== (\S+)\n", out, flags=re.MULTILINE)[1:]
    certs = {sections[i]: parse_openssl(sections[i + 1]) for i in range(0, len(sections), 2)}
    assert sorted(certs) == sorted(PKI + KUBECONFIGS), (name, out)
    return certs


def static_pod_containers(name: str) -> dict[str, tuple[str, datetime]]:
    """component -> (id, startedAt) of the running container of each control-plane static pod."""
    host = node(name)
    running = json.loads(host.check_output(f"{CRICTL} ps --state running -o json"))["containers"]
    found = {}
    for component in COMPONENTS:
        ids = [c["id"] for c in running if c["metadata"]["name"] == component
               and c.get("labels", {}).get("io.kubernetes.pod.namespace") == "kube-system"]
        assert len(ids) == 1, (name, component, ids)
        status = json.loads(host.check_output(f"{CRICTL} inspect -o json {ids[0]}"))["status"]
        found[component] = (ids[0], datetime.fromisoformat(status["startedAt"]))
    return found


def kubeconfig_field(text: str, key: str) -> str:
    match = re.search(rf"^\s*{key}:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert match, f"no {key} in the kubeconfig"
    return match.group(1)


def controller_admin() -> tuple[Cert, str]:
    """The client certificate of the controller's admin kubeconfig (openssl on the controller), and
    the file's sha256."""
    text = CONTROLLER_ADMIN.read_text()
    pem = base64.b64decode(kubeconfig_field(text, "client-certificate-data")).decode()
    done = subprocess.run(OPENSSL.split(), input=pem, capture_output=True, text=True, check=True, timeout=30)
    return parse_openssl(done.stdout), hashlib.sha256(text.encode()).hexdigest()


def snapshot() -> dict:
    return {
        "certs": {cp: node_certs(cp) for cp in CONTROL_PLANES},
        "containers": {cp: static_pod_containers(cp) for cp in CONTROL_PLANES},
        "admin": controller_admin(),
    }


def kubeadm_log_lengths() -> dict[str, int]:
    return {cp: len(kubeadm_calls(node(cp))) for cp in CONTROL_PLANES}


def kubeadm_calls_since(lengths: dict[str, int]) -> dict[str, list[dict]]:
    return {cp: kubeadm_calls(node(cp))[lengths[cp]:] for cp in CONTROL_PLANES}


class VipPoller(threading.Thread):
    """PROBE about every 0.5 s until stopped; each probe kept as (began, ended, answered ok)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.halt = threading.Event()
        self.probes: list[tuple[datetime, datetime, bool]] = []

    def run(self):
        while not self.halt.is_set():
            began = datetime.now(UTC)
            try:
                done = subprocess.run(PROBE, capture_output=True, text=True, timeout=10, check=False)
                ok = done.returncode == 0 and done.stdout.strip() == "ok"
            except subprocess.TimeoutExpired:
                ok = False
            self.probes.append((began, datetime.now(UTC), ok))
            self.halt.wait(0.5)

    def answered(self) -> list[datetime]:
        """When each answered probe got its answer."""
        return [ended for _, ended, ok in list(self.probes) if ok]

    def stop(self):
        self.halt.set()
        self.join(30)


@dataclass
class Rotation:
    before: dict
    after: dict
    started: datetime
    finished: datetime
    probes: list[tuple[datetime, datetime, bool]]
    calls: dict[str, list[dict]]  # the kubeadm calls of the run, per control plane

    def renewed_at(self, cp: str) -> datetime:
        renewals = [e for e in self.calls[cp] if e["argv"] == ["certs", "renew", "all"]]
        return datetime.fromisoformat(renewals[0]["time"])


def test_check_mode_renews_nothing_and_restarts_nothing():
    before = snapshot()
    lengths = kubeadm_log_lengths()
    planned = run_playbooks(["rotate_certificates.yml"], "--check", timeout=900)
    assert planned.returncode == 0, planned.stdout[-4000:] + planned.stderr[-2000:]
    # The play reached every control plane and read the expiry (before and after), nothing more.
    for cp, calls in kubeadm_calls_since(lengths).items():
        assert [" ".join(e["argv"]) for e in calls] == ["certs check-expiration"] * 2, (cp, calls)
    assert snapshot() == before


@pytest.fixture(scope="module")
def rotation() -> Rotation:
    before = snapshot()
    lengths = kubeadm_log_lengths()
    poller = VipPoller()
    poller.start()
    try:
        assert until(poller.answered, timeout=60, interval=0.5), f"the VIP never answered: {poller.probes[-3:]}"
        started = datetime.now(UTC)
        run = run_playbooks(["rotate_certificates.yml"], timeout=2400)
        finished = datetime.now(UTC)
        # Keep polling until the API answers once after the run (or give up: the VIP test says so).
        until(lambda: [t for t in poller.answered() if t > finished], timeout=60, interval=0.5)
    finally:
        poller.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    print(f"rotate_certificates.yml: {(finished - started).total_seconds():.0f} s")
    return Rotation(before, snapshot(), started, finished, poller.probes, kubeadm_calls_since(lengths))


def test_kubeadm_checked_renewed_and_checked_again_on_each_control_plane_in_turn(rotation):
    for cp, calls in rotation.calls.items():
        assert [" ".join(e["argv"]) for e in calls] == [
            "certs check-expiration", "certs renew all", "certs check-expiration"], (cp, calls)
        assert all(e["rc"] == 0 for e in calls), (cp, calls)
        assert rotation.started < rotation.renewed_at(cp) < rotation.finished, cp
    renewed = [rotation.renewed_at(cp) for cp in CONTROL_PLANES]
    assert renewed == sorted(renewed), dict(zip(CONTROL_PLANES, renewed, strict=True))


def test_every_certificate_has_a_new_serial_a_later_expiry_and_the_same_names(rotation):
    for cp in CONTROL_PLANES:
        old, new = rotation.before["certs"][cp], rotation.after["certs"][cp]
        for name in PKI + KUBECONFIGS:
            assert new[name].serial != old[name].serial, (cp, name, old[name].serial)
            # kubeadm issues the renewed certificate for its validity from now: its notAfter moves
            # on by the time since the last issue (never back).
            assert new[name].not_after >= old[name].not_after, (cp, name, old[name], new[name])
            assert new[name].identity == old[name].identity, (cp, name, old[name].identity, new[name].identity)
        # One kubeadm call renewed them all: their expiries lie within a minute of each other.
        ends = [new[name].not_after for name in PKI + KUBECONFIGS]
        assert max(ends) - min(ends) <= timedelta(seconds=60), (cp, min(ends), max(ends))
        print(f"{cp} apiserver.crt notAfter {old['apiserver.crt'].not_after} -> {new['apiserver.crt'].not_after}, "
              f"serial {old['apiserver.crt'].serial} -> {new['apiserver.crt'].serial}")
    # ... and the control planes were renewed one after the other (a restart lies between them).
    for first, second in pairwise(CONTROL_PLANES):
        latest = max(c.not_after for c in rotation.after["certs"][first].values())
        earliest = min(c.not_after for c in rotation.after["certs"][second].values())
        assert latest < earliest, (first, latest, second, earliest)


def restart_windows(rotation: Rotation) -> dict[str, tuple[datetime, datetime]]:
    """Per control plane: the first and last startedAt of its new static pod containers."""
    windows = {}
    for cp in CONTROL_PLANES:
        starts = [started for _, started in rotation.after["containers"][cp].values()]
        windows[cp] = (min(starts), max(starts))
    return windows


def test_each_static_pod_runs_in_a_new_container_one_control_plane_at_a_time(rotation):
    for cp in CONTROL_PLANES:
        old, new = rotation.before["containers"][cp], rotation.after["containers"][cp]
        for component in COMPONENTS:
            (old_id, old_start), (new_id, new_start) = old[component], new[component]
            assert new_id != old_id, (cp, component, old_id)
            assert new_start > old_start, (cp, component, old_start, new_start)
            assert rotation.started < new_start < rotation.finished, (cp, component, new_start)
    windows = restart_windows(rotation)
    for cp, (first, last) in windows.items():
        print(f"{cp}: renewed {rotation.renewed_at(cp):%H:%M:%S}, pods started {first:%H:%M:%S.%f}"
              f"..{last:%H:%M:%S.%f} ({(last - first).total_seconds():.1f} s)")
        # Renewed first, then restarted on the renewed files.
        assert rotation.renewed_at(cp) < first, (cp, rotation.renewed_at(cp), first)
    for first, second in combinations(CONTROL_PLANES, 2):  # inventory order
        # Every pod of the earlier control plane had started before the later one was touched.
        assert windows[first][1] < rotation.renewed_at(second) < windows[second][0], (
            first, windows[first], second, rotation.renewed_at(second), windows[second])


def test_the_api_answers_through_the_vip_throughout_the_rotation(rotation):
    answered = [ended for _, ended, ok in rotation.probes if ok]
    failed = [began for began, _, ok in rotation.probes if not ok]
    assert answered and answered[0] < rotation.started, "no answer through the VIP before the run"
    assert answered[-1] > rotation.finished, f"no answer through the VIP after the run (last {answered[-1]})"
    longest, since, then = max(((b - a).total_seconds(), a, b) for a, b in pairwise(answered))
    during = [cp for cp in CONTROL_PLANES if rotation.renewed_at(cp) <= then][-1:] or ["before any renewal"]
    slowest = max((ended - began).total_seconds() for began, ended, ok in rotation.probes if ok)
    print(f"VIP probes: {len(rotation.probes)}, answered {len(answered)}, failed {len(failed)}; "
          f"longest gap {longest:.1f} s ({since:%H:%M:%S.%f}..{then:%H:%M:%S.%f}, while {during[0]} rotated); "
          f"slowest answered probe {slowest:.1f} s; run {(rotation.finished - rotation.started).total_seconds():.0f} s")
    assert longest <= GAP_BOUND, (longest, since, then, during)


def api_get(path: str, kubeconfig: str, tmp_path) -> dict:
    """GET path from the kubeconfig's server with its CA and client certificate (from the controller)."""
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    for target, field in ((cert, "client-certificate-data"), (key, "client-key-data")):
        target.touch(mode=0o600)
        target.write_bytes(base64.b64decode(kubeconfig_field(kubeconfig, field)))
    context = ssl.create_default_context(
        cadata=base64.b64decode(kubeconfig_field(kubeconfig, "certificate-authority-data")).decode())
    context.load_cert_chain(str(cert), str(key))
    server = urlsplit(kubeconfig_field(kubeconfig, "server"))
    assert server.scheme == "https" and f"{server.hostname}:{server.port}" == VIP_ENDPOINT, server
    connection = http.client.HTTPSConnection(server.hostname, server.port, context=context, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    assert response.status == 200, (path, response.status, body[:500])
    return json.loads(body)


def test_the_controllers_admin_kubeconfig_is_the_renewed_one_and_works(rotation, tmp_path):
    (old, old_digest), (new, new_digest) = rotation.before["admin"], rotation.after["admin"]
    assert new.serial != old.serial and new_digest != old_digest, (old, new)
    assert new.not_after >= old.not_after and new.identity == old.identity, (old, new)
    # It is the first control plane's renewed admin.conf (read there by the node's openssl: compare
    # serial and expiry, not the printed names).
    first = rotation.after["certs"][CONTROL_PLANES[0]]["admin.conf"]
    assert (new.serial, new.not_after) == (first.serial, first.not_after), (new, first)
    assert CONTROLLER_ADMIN.stat().st_mode & 0o777 == 0o600
    nodes = api_get("/api/v1/nodes", CONTROLLER_ADMIN.read_text(), tmp_path)
    assert sorted(n["metadata"]["name"] for n in nodes["items"]) == sorted(CONTROL_PLANES + WORKERS)
