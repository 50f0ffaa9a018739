"""etcd_backup saves the encryption key with every snapshot, locally and off the node, and prunes it with it.

The backup script and its settings are rendered from the role (its defaults and vars, paths moved
under a scratch directory) and run on this machine. Real here: the script, bash, sha256sum,
install, rsync (both ends) and the role's archive_key entry point (ansible-playbook). STAND-INS,
named as such: `etcdctl` (writes a random "snapshot" and reports its status; the real etcd path is
covered by molecule/etcd_dr and molecule/cluster) and `ssh`, which runs the remote command on this
machine instead of another host, so rsync's remote end and the target-side checks and pruning run
for real in the "off-node" directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HOST = socket.gethostname().split(".")[0]
KEY_SUFFIX = ".encryption-config.yaml"
ENCRYPTION = (
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
    "  - resources: [secrets]\n    providers:\n      - secretbox:\n          keys:\n"
    "            - name: key-1\n              secret: {secret}\n      - identity: {{}}\n"
)
ETCDCTL = """#!/bin/bash
# STAND-IN for etcdctl (tests only): "snapshot save" writes random bytes, "snapshot status" reports them.
case "$*" in
  *"snapshot save"*) for last; do :; done; head -c 4096 /dev/urandom >"$last" ;;
  *"snapshot status"*) printf '{"hash":1,"revision":7,"totalKey":42,"totalSize":4096}\\n' ;;
  *) echo "stand-in etcdctl: unsupported: $*" >&2; exit 2 ;;
esac
"""
SSH = """#!/bin/bash
# STAND-IN for ssh (tests only): runs the remote command on THIS machine, as sshd would run it
# through the user's shell (the words after the host joined by spaces), stdin passed through.
while [ $# -gt 0 ]; do
  case "$1" in
    -i|-o|-p|-l|-F) shift 2 ;;
    -*) shift ;;
    *) shift; break ;;
  esac
done
exec bash -c "$*"
"""
RENDER = """
- name: Render the backup script and its settings from the role
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Load the role's defaults and vars (extra vars move the paths)
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop:
        - "{{ playbook_dir_role }}/defaults/main.yml"
        - "{{ playbook_dir_role }}/vars/main.yml"
    - name: Render
      ansible.builtin.template:
        src: "{{ playbook_dir_role }}/templates/{{ item.src }}"
        dest: "{{ item.dest }}"
        mode: "0700"
      loop:
        - {src: usr/local/sbin/etcd-backup.j2, dest: "{{ _etcd_backup_script }}"}
        - {src: etc/etcd-backup/etcd-backup.env.j2, dest: "{{ _etcd_backup_conf_dir }}/etcd-backup.env"}
"""
ARCHIVE = """
- name: Archive the current encryption configuration as retired keys
  hosts: localhost
  connection: local
  gather_facts: false
  environment: {PATH: "{{ test_path }}"}
  tasks:
    - name: Archive
      ansible.builtin.include_role:
        name: orchestrator.platform.etcd_backup
        tasks_from: archive_key
"""


class Rig:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for name, text in (("etcdctl", ETCDCTL), ("ssh", SSH)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        self.local = tmp / "backups"
        self.offnode = tmp / "offnode"
        (tmp / "conf").mkdir()
        self.encryption = tmp / "encryption-config.yaml"
        self.set_key("c2VjcmV0LW9uZQ==")
        self.path = f"{self.bin}:{os.environ['PATH']}"
        self.extra = {
            "playbook_dir_role": str(ROOT / "roles/etcd_backup"),
            "test_path": self.path,
            "etcd_backup_dir": str(self.local),
            "etcd_backup_keep": 2,
            "etcd_backup_rsync_keep": 3,
            "etcd_backup_textfile_dir": str(tmp / "textfile"),
            "etcd_backup_encryption_config": str(self.encryption),
            "etcd_backup_rsync_host": "backup-target.invalid",
            "etcd_backup_rsync_dir": str(self.offnode),
            "_etcd_backup_conf_dir": str(tmp / "conf"),
            "_etcd_backup_script": str(tmp / "etcd-backup"),
            "_etcd_backup_ssh_key": str(tmp / "conf/id_ed25519"),
            "_etcd_backup_known_hosts": str(tmp / "conf/known_hosts"),
        }
        (tmp / "extra.json").write_text(json.dumps(self.extra))
        self.playbook(RENDER)

    def set_key(self, secret: str):
        self.encryption.write_text(ENCRYPTION.format(secret=secret))
        self.encryption.chmod(0o600)

    def playbook(self, text: str) -> subprocess.CompletedProcess:
        (self.tmp / "play.yml").write_text(text)
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
        run = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", str(self.tmp / "play.yml"),
             "-e", "@" + str(self.tmp / "extra.json")],
            capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=300)
        assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
        return run

    def backup(self, *args: str) -> subprocess.CompletedProcess:
        time.sleep(1.1)  # snapshots are named by the second
        run = subprocess.run([str(self.tmp / "etcd-backup"), *args], capture_output=True, text=True, check=False,
                             env=dict(os.environ, PATH=self.path), timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    def snapshots(self, where: Path) -> list[str]:
        return sorted(p.name for p in where.glob("etcd-*.db"))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_key_beside_each_snapshot(directory: Path, snapshots: list[str], content: dict[str, str]):
    assert sorted(p.name for p in directory.glob("*" + KEY_SUFFIX)) == sorted(s + KEY_SUFFIX for s in snapshots)
    for snap in snapshots:
        key = directory / (snap + KEY_SUFFIX)
        assert mode(key) == 0o600 and key.stat().st_uid == 0, key
        assert key.read_text() == content[snap]
        check = subprocess.run(["sha256sum", "-c", "--quiet", key.name + ".sha256"], cwd=directory, check=False)
        assert check.returncode == 0
    assert not list(directory.glob("*.sha256")) or all(
        (directory / p.name.removesuffix(".sha256")).exists() for p in directory.glob("*.sha256"))


def test_each_snapshot_has_its_key_file_locally_and_off_node_pruned_with_it(tmp_path):
    rig = Rig(tmp_path)
    content = {}
    for secret in ("c2VjcmV0LW9uZQ==", "c2VjcmV0LXR3bw==", "c2VjcmV0LXRocmVl", "c2VjcmV0LWZvdXI="):
        rig.set_key(secret)
        rig.backup()
        newest = rig.snapshots(rig.local)[-1]
        content[newest] = rig.encryption.read_text()
    remote = rig.offnode / HOST
    local_snaps, remote_snaps = rig.snapshots(rig.local), rig.snapshots(remote)
    assert len(local_snaps) == 2 and len(remote_snaps) == 3 and local_snaps == remote_snaps[1:]
    # Each snapshot's key file is the configuration of its own moment (rotation-safe pairing).
    assert_key_beside_each_snapshot(rig.local, local_snaps, content)
    assert_key_beside_each_snapshot(remote, remote_snaps, content)
    assert len({content[s] for s in remote_snaps}) == 3
    # Pruned with their snapshots on both sides: nothing of the first snapshot is left anywhere.
    first = sorted(content)[0]
    assert not list(rig.local.glob(first + "*")) and not list(remote.glob(first + "*"))
    assert not list(rig.local.glob(sorted(content)[1] + "*"))


def test_retired_keys_are_archived_copied_off_node_and_pruned_when_no_kept_snapshot_needs_them(tmp_path):
    rig = Rig(tmp_path)
    remote = rig.offnode / HOST
    for _ in range(3):
        rig.backup()
    time.sleep(1.1)
    retired_text = rig.encryption.read_text()
    rig.playbook(ARCHIVE)
    rig.playbook(ARCHIVE)  # the same configuration again: no second archive
    archives = sorted((rig.local / "retired-keys").glob("encryption-config.retired-*.yaml"))
    assert len(archives) == 1, archives
    archive = archives[0]
    assert archive.read_text() == retired_text and mode(archive) == 0o600 and mode(archive.parent) == 0o700
    assert (archive.parent / (archive.name + ".sha256")).read_text().split()[0] == hashlib.sha256(
        retired_text.encode()).hexdigest()
    # archive_key copied it off the node at once (etcd-backup --keys-only).
    off = remote / "retired-keys" / archive.name
    assert off.read_text() == retired_text and mode(off) == 0o600 and mode(off.parent) == 0o700

    # The key is rotated: two more snapshots and every snapshot kept here is newer than the archive.
    rig.set_key("bmV3LWtleQ==")
    rig.backup()
    assert archive.exists() and off.exists()  # a kept snapshot (both sides) predates it
    rig.backup()
    assert not archive.exists() and not (archive.parent / (archive.name + ".sha256")).exists()
    assert off.exists()  # the target keeps 3 snapshots, one of them older than the archive
    rig.backup()
    assert not off.exists() and not (off.parent / (off.name + ".sha256")).exists()
