"""roles/etcd_restore: its contracts, and its snapshot verifier against snapshots of a real etcd.

The verifier is the gate in front of every restore and drill: a snapshot that fails it is refused
before anything is stopped. It runs here on snapshots taken from a real etcd 3.4 (Debian's, on
loopback ports, stopped after the module): a good one, one with flipped bytes, one whose .sha256
disagrees, and a raw bolt database with no checksum at all.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import jinja2
import pytest
import yaml
from prerequisites import missing

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "etcd_restore"
ETCD = "/usr/bin/etcd"
MARKER = "MARKER-VALUE-0123456789"


def test_argument_specs_match_the_defaults_for_every_entry_point():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]
    assert set(specs) == {"main", "drill", "backup"}
    assert set(specs["main"]["options"]) == set(defaults)
    for entry, spec in specs.items():
        for name, option in spec["options"].items():
            assert option["default"] == defaults[name], (entry, name)
            assert option.get("description"), (entry, name)
    # Each entry point's task file reads only variables its own spec declares (or internal ones).
    entry_files = {"drill": ["drill.yml", "select.yml", "install.yml"], "backup": ["backup.yml", "install.yml"]}
    for entry, files in entry_files.items():
        text = "".join((ROLE / "tasks" / f).read_text() for f in files)
        used = {word for word in defaults if word in text}
        assert used <= set(specs[entry]["options"]), (entry, used - set(specs[entry]["options"]))


def test_every_task_is_tagged_and_uses_fqcn():
    for path in sorted((ROLE / "tasks").glob("*.yml")):
        stack = [(t, None) for t in yaml.safe_load(path.read_text())]
        while stack:
            task, parent_tags = stack.pop()
            tags = task.get("tags", parent_tags) or []
            if "block" in task:
                stack.extend((t, tags) for part in ("block", "rescue", "always") for t in task.get(part, []))
                continue
            module = next(k for k in task if k.count(".") >= 2)
            assert module.startswith(("ansible.builtin.", "ansible.posix.", "community.")), (path.name, task["name"])
            phases = {"etcd_restore_install", "etcd_restore_configure", "etcd_restore_service"}
            assert "always" in tags or ("etcd_restore" in tags and phases & set(tags)), (path.name, task["name"])


def render(template: str, **variables) -> str:
    # A shell script, not HTML: autoescape would corrupt it.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701
    env.filters["comment"] = lambda text: "# " + text
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    return env.from_string((ROLE / "templates/usr/local/sbin" / template).read_text()).render(
        ansible_managed="Ansible managed", **variables)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory):
    if not Path(ETCD).exists() or not shutil.which("etcdctl"):
        missing("scripts/setup.sh installs Debian's etcd")
    work = tmp_path_factory.mktemp("etcd")
    client, peer = free_port(), free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [ETCD, "--name", "t", "--data-dir", str(work / "data"),
         "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"t=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}
    ctl = ["etcdctl", "--endpoints", url]
    try:
        deadline = time.monotonic() + 20
        while subprocess.run([*ctl, "endpoint", "health"], check=False, env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "etcd did not start"
            time.sleep(0.2)
        for i in range(50):
            subprocess.run([*ctl, "put", f"/registry/t/{i}", f"v{i}"], env=env, check=True, capture_output=True)
        subprocess.run([*ctl, "put", "/registry/t/marker", MARKER], env=env, check=True, capture_output=True)
        good = work / "good.db"
        subprocess.run([*ctl, "snapshot", "save", str(good)], env=env, check=True, capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    digest = subprocess.run(["sha256sum", "good.db"], cwd=work, check=True, capture_output=True, text=True).stdout
    (work / "good.db.sha256").write_text(digest)
    corrupt = work / "corrupt.db"
    data = good.read_bytes()
    assert data.count(MARKER.encode()) == 1
    # Flip bytes inside a stored value: bolt does not checksum values, so snapshot status still reads it.
    corrupt.write_bytes(data.replace(MARKER.encode(), MARKER.lower().encode()))
    shutil.copy(work / "good.db.sha256", work / "corrupt.db.sha256")
    stale = work / "stale.db"
    shutil.copy(good, stale)
    (work / "stale.db.sha256").write_text("0" * 64 + "  stale.db\n")
    raw = work / "raw.db"  # the bolt database itself: no embedded checksum, no .sha256
    shutil.copy(work / "data/member/snap/db", raw)
    verifier = work / "etcd-snapshot-verify"
    verifier.write_text(render("etcd-snapshot-verify.j2"))
    verifier.chmod(0o700)
    return verifier, {"good": good, "corrupt": corrupt, "stale": stale, "raw": raw, "missing": work / "missing.db"}


def verify(snapshots, name):
    verifier, files = snapshots
    result = subprocess.run([str(verifier), str(files[name])], check=False, capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    return result.returncode, json.loads(result.stdout)


def test_a_good_snapshot_passes_with_its_figures(snapshots):
    rc, out = verify(snapshots, "good")
    assert rc == 0 and out["ok"] is True and out["reasons"] == []
    assert out["embedded_sha256"] == "ok" and out["sidecar_sha256"] == "ok"
    assert out["revision"] == 52 and out["total_key"] >= 51 and out["size"] % 512 == 32


def test_flipped_bytes_are_caught_although_snapshot_status_reads_the_file(snapshots):
    rc, out = verify(snapshots, "corrupt")
    assert rc == 1 and out["ok"] is False
    assert out["embedded_sha256"] == "mismatch" and out["sidecar_sha256"] == "mismatch"
    # snapshot status alone passes this file (it reads the revision): the checksums are what catch it.
    assert out["revision"] == 52 and "snapshot status cannot read the file" not in out["reasons"]
    assert "embedded sha256 mismatch" in out["reasons"]


def test_a_sidecar_that_disagrees_refuses_the_snapshot(snapshots):
    rc, out = verify(snapshots, "stale")
    assert rc == 1 and out["embedded_sha256"] == "ok" and out["sidecar_sha256"] == "mismatch"


def test_a_file_without_any_checksum_is_refused(snapshots):
    rc, out = verify(snapshots, "raw")
    assert rc == 1 and out["embedded_sha256"] == "absent" and out["sidecar_sha256"] == "absent"
    assert any("no checksum" in reason for reason in out["reasons"])


def test_a_missing_file_is_refused(snapshots):
    rc, out = verify(snapshots, "missing")
    assert rc == 1 and out["reasons"] == ["missing or empty file"]
