"""playbooks/rotate_external_secrets.yml against a recording stand-in Vault (KV v2 HTTP API, real
requests over HTTP) with the cluster side in render-only mode (cluster_render_dir): the requests
Vault receives, the values written (kept and regenerated keys, check-and-set), the force-sync and
restart patches a real run would send, check mode, a lost check-and-set race and a bad token.
Not verified here: the cluster side for real (no Kubernetes API and no ESO on this machine)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from standin_vault import StandinVault

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = ROOT / "playbooks" / "rotate_external_secrets.yml"
# The stand-in accepts this one credential (made up per test session, nothing real).
VAULT_AUTH = "s.standin-" + uuid.uuid4().hex
SECRETS = [
    {
        "path": "orchestrator/credentials",
        "keys": [{"name": "password"}, {"name": "api_key", "length": 48}],
        "external_secrets": [
            {"namespace": "orchestrator", "name": "orchestrator-credentials"},
            {"namespace": "orchestrator-agents", "name": "agent-credentials"},
        ],
        "consumers": [
            {"kind": "Deployment", "namespace": "orchestrator", "name": "marathon"},
            {"kind": "StatefulSet", "namespace": "orchestrator", "name": "zookeeper"},
        ],
    },
    {
        "path": "orchestrator/db",
        "keys": [{"name": "password", "length": 40, "special": True}],
        "external_secrets": [{"namespace": "orchestrator", "name": "db"}],
        # Listed twice (two secrets feed it): restarted once.
        "consumers": [{"kind": "Deployment", "namespace": "orchestrator", "name": "marathon"}],
    },
]
OLD = {"username": "orch", "password": "old-password-value", "api_key": "old-api-key-value"}


def _run(tmp_path, vault, secrets, *extra, render=True):
    varfile = tmp_path / "vars.yml"
    values = {
        "rotate_external_secrets_secrets": secrets,
        "rotate_external_secrets_vault_addr": vault.url,
        "rotate_external_secrets_vault_token": VAULT_AUTH,
    }
    if render:
        values["cluster_render_dir"] = str(tmp_path / "render")
    varfile.write_text(yaml.safe_dump(values))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(PLAYBOOK), "-e", f"@{varfile}", *extra],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.fixture
def vault():
    with StandinVault(VAULT_AUTH) as server:
        server.store["orchestrator/credentials"] = [
            {"username": "orch", "password": "v1"},
            {"username": "orch", "password": "v2"},
            dict(OLD),
        ]
        yield server


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_rotation_writes_new_versions_and_renders_the_patches(tmp_path, vault):
    started = int(time.time())
    run = _run(tmp_path, vault, SECRETS)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]

    # Vault: one read then one check-and-set write per path, each with the token, nothing else.
    calls = [(r["method"], r["path"]) for r in vault.requests]
    assert calls == [
        ("GET", "/v1/secret/data/orchestrator/credentials"),
        ("GET", "/v1/secret/data/orchestrator/db"),
        ("POST", "/v1/secret/data/orchestrator/credentials"),
        ("POST", "/v1/secret/data/orchestrator/db"),
    ], calls
    assert all(r["headers"].get("X-Vault-Token") == VAULT_AUTH for r in vault.requests)
    creds, db = (r["body"] for r in vault.requests if r["method"] == "POST")
    assert creds["options"] == {"cas": 3} and db["options"] == {"cas": 0}
    new = vault.store["orchestrator/credentials"][-1]
    assert len(vault.store["orchestrator/credentials"]) == 4 and len(vault.store["orchestrator/db"]) == 1
    assert new["username"] == "orch"  # a key not listed is kept as it was
    assert new["password"] != OLD["password"] and re.fullmatch(r"[A-Za-z0-9]{32}", new["password"])
    assert new["api_key"] != OLD["api_key"] and re.fullmatch(r"[A-Za-z0-9]{48}", new["api_key"])
    db_password = vault.store["orchestrator/db"][-1]["password"]
    assert len(db_password) == 40 and re.search(r"[^A-Za-z0-9]", db_password)  # punctuation asked for
    assert new["password"] != new["api_key"][:32]

    # No secret value, old or new, reaches the output.
    for value in (*OLD.values(), new["password"], new["api_key"], db_password):
        if value != "orch":
            assert value not in run.stdout and value not in run.stderr, "secret value printed"

    out = tmp_path / "render" / "rotate_external_secrets"
    for f in out.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert yaml.safe_load((out / "vault-versions.yml").read_text()) == {
        "orchestrator/credentials": 4,
        "orchestrator/db": 1,
    }

    patches = _docs(out / "externalsecret-force-sync.yml")
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in patches] == [
        ("orchestrator", "orchestrator-credentials"),
        ("orchestrator-agents", "agent-credentials"),
        ("orchestrator", "db"),
    ]
    expected = ["orchestrator/credentials@v4", "orchestrator/credentials@v4", "orchestrator/db@v1"]
    for patch, rotated in zip(patches, expected, strict=True):
        assert patch["apiVersion"] == "external-secrets.io/v1" and patch["kind"] == "ExternalSecret"
        assert set(patch) == {"apiVersion", "kind", "metadata"}  # annotations only: the spec is never touched
        annotations = patch["metadata"]["annotations"]
        assert annotations["orchestrator.platform/rotated"] == rotated
        force = annotations["force-sync"]
        assert isinstance(force, str) and force.isdigit() and started <= int(force) <= int(time.time())
    assert len({p["metadata"]["annotations"]["force-sync"] for p in patches}) == 1

    restarts = _docs(out / "consumer-restarts.yml")
    assert [(r["apiVersion"], r["kind"], r["metadata"]["name"]) for r in restarts] == [
        ("apps/v1", "Deployment", "marathon"),
        ("apps/v1", "StatefulSet", "zookeeper"),
    ]
    for r in restarts:
        stamp = r["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp)
        assert set(r) == {"apiVersion", "kind", "metadata", "spec"} and set(r["spec"]) == {"template"}


def test_check_mode_reads_but_writes_nothing(tmp_path, vault):
    run = _run(tmp_path, vault, SECRETS, "--check")
    assert run.returncode == 0, run.stdout[-4000:]
    assert [r["method"] for r in vault.requests] == ["GET", "GET"]
    assert len(vault.store["orchestrator/credentials"]) == 3 and "orchestrator/db" not in vault.store
    assert not (tmp_path / "render").exists()
    assert "path: orchestrator/credentials" in run.stdout and "cas: 3" in run.stdout
    assert OLD["password"] not in run.stdout


def test_a_lost_check_and_set_race_stops_before_the_cluster(tmp_path, vault):
    vault.race = True
    run = _run(tmp_path, vault, SECRETS[:1])
    assert run.returncode != 0
    assert len(vault.store["orchestrator/credentials"]) == 4  # only the other writer's version
    assert vault.store["orchestrator/credentials"][-1] == OLD
    assert not (tmp_path / "render").exists()


def test_a_wrong_token_writes_nothing(tmp_path, vault):
    vault.token = "s.other-" + uuid.uuid4().hex
    run = _run(tmp_path, vault, SECRETS)
    assert run.returncode != 0
    assert {r["method"] for r in vault.requests} == {"GET"}  # every read refused, nothing written
    assert "orchestrator/db" not in vault.store and len(vault.store["orchestrator/credentials"]) == 3
    assert not (tmp_path / "render").exists()
    assert VAULT_AUTH not in run.stdout


def test_nothing_listed_is_a_no_op(tmp_path, vault):
    run = _run(tmp_path, vault, [])
    assert run.returncode == 0, run.stdout[-4000:]
    assert vault.requests == []
