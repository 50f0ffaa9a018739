"""Encryption-key rotation with the cluster's REAL API servers (issue 17 item 3).

playbooks/rotate_encryption_key.yml runs against the three kubeadm control planes: stop after
phase 1 (new key second); run again to stop after phase 2, but that run is KILLED (SIGKILL to its
process group, as a controller that dies) as soon as the first control plane's file shows the new
key first (its API server restart due or under way); run again to stop after phase 2 (the marker
is there, so the run resumes with the SAME key: nothing new is generated; the interrupted restart
is finished, the new key first everywhere); then run to the end (phase 3 writes every Secret back,
phase 4 removes the old key and the marker). After each run every Secret of the test namespace is
read through EACH API server (its own address, so all three are asserted, not whichever the VIP
picked) with its data, each control plane's configuration and marker are read, and etcdctl shows
the key each stored Secret is encrypted with: the prefix of the stored value,
k8s:enc:<provider>:v1:<key name>:, moves from the old key to the new one in phase 3 and not
before; a Secret written after phase 2 is stored with the new key at once. Phases 1, 2 and 4 each
restart every API server (new kube-apiserver container). Throughout the runs a reader thread lists
the Secrets through the VIP every second: none may ever come back unreadable or with other data,
and the longest stretch without an answer is bounded (see BOUND).

Before anything changes, `--check` and a `--limit` that leaves out a control plane must change
nothing: same configuration checksum, no marker, the same API server containers, every stored
Secret untouched (same key, same mod_revision). The limit's refusal is the first check of
roles/encryption_rotation/tasks/main.yml.

Not in conftest.py's LAST: the rotation restarts each API server three times, one at a time, and
leaves a healthy cluster with a single (new) key, which the tests that follow read like any other
(test_etcd_restore's snapshot is taken after it and carries the new configuration). If the
rotation test fails half-way, the module's teardown runs the playbook once more to finish it (the
role's own resume path), so the later tests do not meet control planes with different key lists.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest
from rig import (
    ADDRESSES,
    CONTROL_PLANES,
    CRICTL,
    ETCDCTL,
    INVENTORY,
    ROOT,
    VIP_ENDPOINT,
    by_hand,
    kubectl,
    node,
    run_playbooks,
    until,
)

# About 12 minutes on the rig (three rolling API server restarts per phase, the rewrite, a killed
# and a resumed run): by hand, with `make test-long` (ORCH_RIG_LONG=1), not in the CI gate.
pytestmark = by_hand("the encryption-key rotation", 12)
NAMESPACE = "rotation-test"
SECRETS = 30
PLAYBOOK = "rotate_encryption_key.yml"
FIRST = CONTROL_PLANES[0]
APISERVER_PORT = 6443  # each API server's own port (the VIP's HAProxy listens on 8443)
CONFIG = "/etc/kubernetes/orchestrator/encryption-config.yaml"
MARKER = "/etc/kubernetes/orchestrator/encryption-rotation.json"
PENDING = MARKER + ".restart-pending"
PARKED = "/etc/kubernetes/orchestrator/parked-manifests"  # cluster_lifecycle's restart moves manifests here
BACKUPS = "/var/backups/etcd"
RETIRED = f"{BACKUPS}/retired-keys"
OFF_NODE, OFF_NODE_DIR = "orch-cl-w2", "/srv/etcd-backups"
RUN_TIMEOUT = 2400  # a guard against a hung run: three API server restarts on a shared 2-core machine
# Longest time the VIP may leave the reader without a good answer. One API server is down at a time
# (the phase plays run with serial: 1). The VIP holder's keepalived sees its own API server fail
# after fall 2 checks 2 s apart (each curl up to 2 s: <= ~6 s) and gives the VIP away at the next
# advert (1 s), and takes it back the same way; HAProxy (inter 2 s, fall 2) sends one connection in
# three to a stopped or not yet ready API server for up to ~4-6 s. One read (podman exec + kubectl,
# one LIST, --request-timeout 2 s) takes 1-3 s here while an API server starts, one READ_INTERVAL
# apart. Expected worst case: one VIP move plus the interval and two reads, ~10-12 s. 15 s is
# test_rotate_certificates.py's bound for the same restarts, half the 30 s test_cluster.py allows
# after an unannounced SIGKILL, and below one control plane's restart here (tens of seconds), which
# a VIP or HAProxy that does not move away from the restarting API server would expose.
BOUND = 15
READ_INTERVAL = 1
NAME_LINE = re.compile(r"""^\s*(?:-\s+)?name:\s*['"]?([^'"\s]+)""", re.M)
SECRET_LINE = re.compile(r"""^\s*(?:-\s+)?secret:\s*['"]?([A-Za-z0-9+/=]+)""", re.M)
PROVIDER_LINE = re.compile(r"providers:\s*\n\s*-\s+(\w+):")
STORED_PREFIX = re.compile(rb"k8s:enc:(\w+):v1:([^:]+):")
UNREADABLE = re.compile(r"transform|decrypt|no matching prefix", re.I)


def token(i: int) -> str:
    return f"rotation-secret-{i:02d}-" + "z" * (i % 13)


def the_secrets() -> dict:
    items = [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": f"secret-{i:02d}", "namespace": NAMESPACE},
              "stringData": {"token": token(i)}} for i in range(SECRETS)]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def tokens_of(listed: dict) -> dict[str, str]:
    """name -> decoded token of every Secret in a kubectl -o json answer (a List, or one object)."""
    items = listed["items"] if listed.get("kind") == "List" else [listed]
    return {o["metadata"]["name"]: base64.b64decode(o.get("data", {}).get("token", "")).decode() for o in items}


# What the control planes hold ---------------------------------------------------------------------

def config_text(cp: str) -> str:
    return node(cp).file(CONFIG).content_string


def fingerprint(secret: str) -> str:
    """What the test compares and shows of key material (a failed assertion prints its operands)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def keys_of(text: str) -> list[tuple[str, str]]:
    """(name, fingerprint of the secret) of every key of the configuration, in order (one provider
    with keys; identity has none)."""
    names, secrets = NAME_LINE.findall(text), SECRET_LINE.findall(text)
    assert len(names) == len(secrets), (names, len(secrets))
    return [(name, fingerprint(secret)) for name, secret in zip(names, secrets, strict=True)]


def marker(cp: str) -> dict | None:
    """The rotation marker (0600 root), its new key's secret checked (32 bytes) and replaced by its fingerprint."""
    file = node(cp).file(MARKER)
    if not file.exists:
        return None
    assert file.mode == 0o600 and file.user == "root", (cp, oct(file.mode), file.user)
    found = json.loads(file.content_string)
    secret = found["new"].pop("secret")
    size = len(base64.b64decode(secret))
    assert size == 32, (cp, size)
    found["new"]["fingerprint"] = fingerprint(secret)
    return found


def apiserver_ids() -> dict[str, list[str]]:
    return {cp: sorted(node(cp).check_output(f"{CRICTL} ps --name '^kube-apiserver$' -q").split())
            for cp in CONTROL_PLANES}


def assert_each_api_server_restarted(before: dict[str, list[str]]) -> None:
    """One running kube-apiserver container on every control plane, another one than before the run."""
    after = apiserver_ids()
    for cp in CONTROL_PLANES:
        assert len(before[cp]) == 1 and len(after[cp]) == 1 and after[cp] != before[cp], (cp, before[cp], after[cp])


def stored() -> dict[str, dict]:
    """name -> provider, key name and mod_revision of every Secret of the namespace as etcd holds it
    (etcdctl's JSON carries keys and values base64-encoded: the values are binary)."""
    out = node(FIRST).check_output(f"{ETCDCTL} get /registry/secrets/{NAMESPACE}/ --prefix -w json")
    found = {}
    for kv in json.loads(out).get("kvs", []):
        name = base64.b64decode(kv["key"]).decode().rsplit("/", 1)[-1]
        value = base64.b64decode(kv["value"])
        prefix = STORED_PREFIX.match(value)
        assert prefix, (name, value[:40])  # encrypted, not identity
        assert b"rotation-secret-" not in value and b"after-phase-2" not in value, name
        found[name] = {"provider": prefix.group(1).decode(), "key": prefix.group(2).decode(),
                       "revision": int(kv["mod_revision"])}
    return found


def read_on_each_api_server(expected: dict[str, str], control_planes: list[str] = CONTROL_PLANES) -> None:
    """Every Secret read by name (a GET each, from etcd) through each control plane's own API
    server, with its data."""
    for cp in control_planes:
        deadline, done = time.monotonic() + 60, None
        while done is None or (done.returncode != 0 and time.monotonic() < deadline):
            if done is not None:
                time.sleep(3)
            done = kubectl("--server", f"https://{ADDRESSES[cp]}:{APISERVER_PORT}", "--request-timeout=10s",
                           "-n", NAMESPACE, "get", "secrets", *sorted(expected), "-o", "json", on=cp, check=False)
            if done.returncode != 0:
                assert not UNREADABLE.search(done.stderr), (cp, done.stderr[-2000:])
        assert done.returncode == 0, (cp, done.stderr[-2000:])
        assert tokens_of(json.loads(done.stdout)) == expected, cp


def no_rotation_in_progress() -> tuple[str, str, str]:
    """The provider and the single key (name, fingerprint) every control plane holds; no marker anywhere."""
    texts = {cp: config_text(cp) for cp in CONTROL_PLANES}
    assert len(set(texts.values())) == 1, "the control planes hold different encryption configurations"
    for cp in CONTROL_PLANES:
        assert marker(cp) is None, f"{cp}: a rotation is in progress ({MARKER}); finish it first"
    text = texts[FIRST]
    provider = PROVIDER_LINE.search(text).group(1)
    assert provider in ("secretbox", "aescbc"), provider
    keys = keys_of(text)
    assert len(keys) == 1, [name for name, _ in keys]
    return provider, keys[0][0], keys[0][1]


# The reader through the VIP -------------------------------------------------------------------------

class VipReader(threading.Thread):
    """Lists the namespace's Secrets through the VIP (admin kubeconfig on the first control plane,
    one LIST request) every READ_INTERVAL s; each original Secret must be there with its data. A
    wrong answer, or an error saying a stored value cannot be decrypted, is a violation; any other
    failure (connection refused, timeout, 5xx) only counts towards the gap between two good answers."""

    def __init__(self, expected: dict[str, str]):
        super().__init__(daemon=True)
        self.expected = expected
        self.label = "start"
        self.done = threading.Event()
        self.reads = 0
        self.failures: list[tuple[str, str]] = []
        self.violations: list[tuple[str, str]] = []
        self.longest = (0.0, "")

    def probe(self) -> bool:
        argv = ["podman", "exec", FIRST, "kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf",
                "--server", f"https://{VIP_ENDPOINT}", "--request-timeout=2s",
                "-n", NAMESPACE, "get", "secrets", "-o", "json"]
        try:
            answer = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
        except subprocess.TimeoutExpired:
            self.failures.append((self.label, "no answer in 15 s"))
            return False
        if answer.returncode != 0:
            said = answer.stderr.strip()[-300:]
            (self.violations if UNREADABLE.search(said) else self.failures).append((self.label, said))
            return False
        try:
            got = {name: data for name, data in tokens_of(json.loads(answer.stdout)).items() if name in self.expected}
        except (ValueError, KeyError) as error:
            self.violations.append((self.label, f"unparsable answer: {error}"))
            return False
        if got != self.expected:
            wrong = sorted(n for n in self.expected if got.get(n) != self.expected[n])
            self.violations.append((self.label, f"other data for {wrong}"))
            return False
        return True

    def run(self):
        last = time.monotonic()
        while not self.done.is_set():
            good = self.probe()
            now = time.monotonic()
            if good:
                self.reads += 1
                if now - last > self.longest[0]:
                    self.longest = (now - last, self.label)
                last = now
            self.done.wait(READ_INTERVAL)
        if time.monotonic() - last > self.longest[0]:
            self.longest = (time.monotonic() - last, self.label + " (to the end)")

    def stop(self):
        self.done.set()
        self.join(timeout=60)

    def assert_answered_throughout(self):
        gap, during = self.longest
        print(f"VIP reader: {self.reads} good reads, {len(self.failures)} failed, longest gap {gap:.1f} s "
              f"during {during}; failures {self.failures[:10]}")
        assert not self.violations, self.violations[:10]
        assert self.reads > 0
        assert gap <= BOUND, (gap, during, self.failures[-10:])


def rotate(reader: VipReader | None, label: str, *extra: str) -> str:
    """One run of the playbook; its stdout with whitespace folded (ansible wraps long messages)."""
    if reader:
        reader.label = label
    started = time.monotonic()
    done = run_playbooks([PLAYBOOK], *extra, timeout=RUN_TIMEOUT)
    print(f"{PLAYBOOK} {label}: {time.monotonic() - started:.0f} s, rc={done.returncode}")
    if reader:
        reader.label = f"checks after {label}"
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    return " ".join(done.stdout.split())


def assert_control_planes_hold(keys: list[tuple[str, str]], expected_marker: dict | None,
                               gone: tuple[str, str] | None = None) -> None:
    """Every control plane's key list (names and material, in order) and marker; no restart pending,
    no manifest left parked; the key `gone` (name, fingerprint) nowhere in the file, not only not in
    the key list."""
    for cp in CONTROL_PLANES:
        text = config_text(cp)
        assert keys_of(text) == keys, cp
        assert not node(cp).file(f"{PARKED}/kube-apiserver.yaml").exists, cp
        if gone:
            words = re.findall(r"[A-Za-z0-9+/=]{40,}", text)
            left = gone[0] in text or any(fingerprint(word) == gone[1] for word in words)
            assert not left, cp
        assert marker(cp) == expected_marker, cp
        assert not node(cp).file(PENDING).exists, cp


def backups_state() -> dict[str, dict]:
    """Per control plane: its snapshots, those kept for it off the node, its retired-key archive."""
    return {cp: {"here": node(cp).run(f"ls -1 {BACKUPS}/etcd-*.db 2>/dev/null").stdout.split(),
                 "off_node": node(OFF_NODE).run(f"ls -1 {OFF_NODE_DIR}/{cp}/etcd-*.db 2>/dev/null").stdout.split(),
                 "retired": set(node(cp).run(f"ls -A {RETIRED} 2>/dev/null").stdout.split())}
            for cp in CONTROL_PLANES}


def assert_old_key_archived(before: dict[str, dict], archived_keys: list[tuple[str, str]]) -> None:
    """Phase 4 archived the configuration holding the old key where a snapshot still needs it
    (etcd_backup prunes an archive once every snapshot kept beside it is newer, so a control plane
    without snapshots keeps none), here and off the node."""
    for cp in CONTROL_PLANES:
        host = node(cp)
        archived = sorted(set(host.run(f"ls -A {RETIRED} 2>/dev/null").stdout.split()) - before[cp]["retired"])
        print(f"{cp}: {len(before[cp]['here'])} snapshots here, {len(before[cp]['off_node'])} off the node; "
              f"archived {archived}")
        if not before[cp]["here"]:
            continue
        archive = [name for name in archived if name.endswith(".yaml")]
        assert len(archive) == 1, (cp, archived)
        assert keys_of(host.file(f"{RETIRED}/{archive[0]}").content_string) == archived_keys, cp
        assert host.run(f"cd {RETIRED} && sha256sum -c --quiet {archive[0]}.sha256").rc == 0, cp
        if before[cp]["off_node"]:
            assert node(OFF_NODE).file(f"{OFF_NODE_DIR}/{cp}/retired-keys/{archive[0]}").exists, cp


def killed_run(reader: VipReader, label: str, when, *extra: str) -> None:
    """The playbook started like run_playbooks does, its whole process group SIGKILLed as soon as
    when() holds; it must still be running then (else nothing was interrupted)."""
    reader.label = label
    argv = ["ansible-playbook", "-i", str(INVENTORY), str(ROOT / "playbooks" / PLAYBOOK), *extra]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    started = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out:
        run = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True)
        try:
            until(lambda: run.poll() is not None or when(), timeout=RUN_TIMEOUT, interval=1)
            interrupted = run.poll() is None
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
        out.seek(0)
        said = out.read()
    reader.label = f"checks after {label}"
    print(f"{PLAYBOOK} {label}: killed after {time.monotonic() - started:.0f} s")
    assert interrupted, f"the run ended (rc={run.returncode}) before it could be interrupted:\n{said[-4000:]}"


def assert_left_by_the_kill(first_marker: dict, first_keys: list[tuple[str, str]], expected: dict[str, str]) -> None:
    """After the kill in phase 2: the first control plane has the new key first, the marker still
    records phase 1 everywhere, at most one API server is down and the others read every Secret."""
    assert keys_of(config_text(FIRST)) == first_keys
    assert all(marker(cp) == first_marker for cp in CONTROL_PLANES)
    up = [cp for cp, ids in apiserver_ids().items() if ids]
    assert len(up) >= len(CONTROL_PLANES) - 1, up
    read_on_each_api_server(expected, up)


# The fixture: the namespace and its Secrets; the rotation finished if a failure left it half-way --

@pytest.fixture(scope="module")
def secrets():
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s", timeout=200)
    kubectl("create", "namespace", NAMESPACE)
    kubectl("apply", "-f", "-", stdin=json.dumps(the_secrets()), timeout=300)
    expected = {f"secret-{i:02d}": token(i) for i in range(SECRETS)}
    yield expected
    if any(node(cp).file(MARKER).exists for cp in CONTROL_PLANES):
        finish = run_playbooks([PLAYBOOK], timeout=RUN_TIMEOUT)
        print(f"teardown: a rotation was left in progress; finishing run rc={finish.returncode}")
    kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s",
            check=False, timeout=200)


def test_check_mode_and_a_limit_change_nothing(secrets):
    provider, old, _ = no_rotation_in_progress()

    def state():
        every = {}
        for cp in CONTROL_PLANES:
            host = node(cp)
            every[cp] = {
                "config": host.check_output(f"sha256sum {CONFIG}").split()[0],
                "marker": host.file(MARKER).exists,
                "pending": host.file(PENDING).exists,
                "manifests": sorted(host.check_output("ls -1 /etc/kubernetes/manifests").split()),
                "retired": host.run(f"ls -A {RETIRED} 2>/dev/null").stdout.split(),
            }
        every["apiserver"] = apiserver_ids()
        every["stored"] = stored()
        return every

    before = state()
    assert sorted(before["stored"]) == sorted(secrets)
    assert {s["key"] for s in before["stored"].values()} == {old}
    assert {s["provider"] for s in before["stored"].values()} == {provider}
    said = rotate(None, "in check mode", "--check")
    assert f"encryption_rotation: starting the rotation from {old} to key-" in said, said[-3000:]
    for phase in (1, 2, 4):  # the plan went through every phase
        assert f"Write the key list of phase {phase}]" in said, phase

    refused = run_playbooks([PLAYBOOK], "--check", "--limit", f"{FIRST},{CONTROL_PLANES[1]}", timeout=900)
    assert refused.returncode != 0
    told = " ".join((refused.stdout + refused.stderr).split())
    assert f"leaves out {CONTROL_PLANES[2]}" in told, told[-3000:]
    assert state() == before


def test_rotation_phase_by_phase_keeps_every_secret_readable_and_moves_each_to_the_new_key(secrets):
    provider, old, old_secret = no_rotation_in_progress()
    created = stored()
    assert sorted(created) == sorted(secrets) and {s["key"] for s in created.values()} == {old}
    read_on_each_api_server(secrets)

    reader = VipReader(secrets)
    reader.start()
    try:
        # Phase 1: the new key second everywhere; nothing re-encrypted yet.
        restarted_from = apiserver_ids()
        said = rotate(reader, "run 1 (stop after phase 1)", "-e", "encryption_rotation_stop_after=1")
        assert f"starting the rotation from {old} to key-" in said, said[-3000:]
        first = marker(FIRST)
        assert first is not None, "no marker after phase 1"
        new, new_secret = first["new"]["name"], first["new"]["fingerprint"]
        assert new != old and new.startswith("key-")
        assert first["phase"] == 1 and first["old"] == [old] and first["provider"] == provider
        assert_control_planes_hold([(old, old_secret), (new, new_secret)], first)
        assert_each_api_server_restarted(restarted_from)
        read_on_each_api_server(secrets)
        assert stored() == created  # same key, not written again

        # Phase 2 interrupted: killed once the first control plane's file has the new key first
        # (its API server restart due or under way); the marker still says phase 1.
        restarted_from = apiserver_ids()
        killed_run(reader, "run 2 (stop after phase 2), killed", lambda: keys_of(config_text(FIRST))[0][0] == new,
                   "-e", "encryption_rotation_stop_after=2")
        assert_left_by_the_kill(first, [(new, new_secret), (old, old_secret)], secrets)

        # Resume (the marker is there): the SAME key, now first; still nothing re-encrypted.
        said = rotate(reader, "run 3 (resume, stop after phase 2)", "-e", "encryption_rotation_stop_after=2")
        assert f"resuming the rotation from {old} to {new}" in said, said[-3000:]
        assert_control_planes_hold([(new, new_secret), (old, old_secret)], dict(first, phase=2))
        assert_each_api_server_restarted(restarted_from)
        read_on_each_api_server(secrets)
        assert stored() == created
        # New writes use the first key.
        kubectl("-n", NAMESPACE, "create", "secret", "generic", "written-after-phase-2",
                "--from-literal=token=after-phase-2")
        assert stored()["written-after-phase-2"]["key"] == new
        everything = dict(secrets, **{"written-after-phase-2": "after-phase-2"})
        read_on_each_api_server(everything)

        # To the end: every Secret written back (phase 3), the old key removed (phase 4).
        restarted_from, backups = apiserver_ids(), backups_state()
        said = rotate(reader, "run 4 (resume to the end)")
        rewritten = re.search(r"encryption_rotation: (\d+) objects written back with " + re.escape(new), said)
        assert rewritten and int(rewritten.group(1)) >= len(everything), said[-3000:]
        assert_control_planes_hold([(new, new_secret)], None, gone=(old, old_secret))
        assert_each_api_server_restarted(restarted_from)
        read_on_each_api_server(everything)
        final = stored()
        assert {name: s["key"] for name, s in final.items()} == dict.fromkeys(everything, new)
        assert all(final[name]["revision"] > created[name]["revision"] for name in secrets)  # written again
        assert_old_key_archived(backups, [(new, new_secret), (old, old_secret)])
    finally:
        reader.stop()
    reader.assert_answered_throughout()
