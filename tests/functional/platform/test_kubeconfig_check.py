"""The kubeconfig hand-off (issue 16 item 3): every path that talks to the cluster API uses the
admin kubeconfig step 2 fetches (cluster_kubeconfig, default ~/.kube/<cluster_name>-admin.conf,
never KUBECONFIG or ~/.kube/config) and refuses, before anything is sent, a kubeconfig whose
context's server is not this inventory's API endpoint (roles/cluster/tasks/kubeconfig_check.yml).

Everything runs on localhost. The "clusters" are TCP listeners on 127.0.0.1 that count the
connections they receive (no TLS, no API: a client that gets through fails right after connecting):
a refused kubeconfig must leave its listener at zero connections, an accepted one must reach the
listener it names. The refusal must be the check's message, not a connection error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
REFUSED = "not to this inventory's API endpoint"
PASSED = "this inventory's API endpoint (cluster_api_endpoint_mode"
CHECK_TASK = "Stop unless the kubeconfig leads to this inventory's API endpoint"
CONNECTION_ERRORS = ("Max retries exceeded", "Connection refused", "NewConnectionError", "SSLError")


class Listener:
    """A TCP port on 127.0.0.1 that accepts, counts and closes every connection."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()


@pytest.fixture
def ours():
    listener = Listener()
    yield listener
    listener.close()


@pytest.fixture
def other():
    listener = Listener()
    yield listener
    listener.close()


def write_kubeconfig(path: Path, server: str, *, current: str = "admin", extra: dict[str, str] | None = None) -> Path:
    """A kubeconfig whose context `admin` (and each of `extra`: context -> server) names a server."""
    servers = {"admin": server, **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": f"{name}-cluster", "cluster": {"server": url}} for name, url in servers.items()],
        "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": name, "context": {"cluster": f"{name}-cluster", "user": "admin"}} for name in servers],
    }))
    path.chmod(0o600)
    return path


def write_inventory(tmp: Path, cluster_vars: dict) -> Path:
    """localhost plus two control planes (never contacted: every play here runs on localhost, or
    connection local with tasks that only run on the controller)."""
    inventory = {"all": {
        "hosts": {"localhost": {}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 **cluster_vars},
        "children": {"control_plane": {"hosts": {"cp1": {"ansible_host": "127.0.0.11"},
                                                 "cp2": {"ansible_host": "127.0.0.12"}}}},
    }}
    path = tmp / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def external(listener: Listener) -> dict:
    """An inventory whose API endpoint is the listener (external mode: host:cluster_api_port)."""
    return {"cluster_api_endpoint_mode": "external", "cluster_api_endpoint_host": "127.0.0.1",
            "cluster_api_port": listener.port}


def run(tmp: Path, playbook: str | Path, inventory: Path, extra: dict | None = None, *args: str,
        env: dict | None = None) -> tuple[int, str]:
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("K8S_AUTH_", "KUBECONFIG"))}
    base.update(HOME=str(home), TMPDIR=str(tmp), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
                ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    base.update(env or {})
    variables = tmp / f"vars-{len(list(tmp.glob('vars-*.json')))}.json"
    variables.write_text(json.dumps(extra or {}))
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(ROOT / playbook) if isinstance(playbook, str) else str(playbook),
         "-e", f"@{variables}", *args],
        capture_output=True, text=True, env=base, cwd=tmp, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def flat(out: str) -> str:
    """The output on one line, with YAML's doubled single quotes undone (the callback prints YAML)."""
    return " ".join(out.split()).replace("''", "'")


def assert_refused(rc: int, out: str, listener: Listener, found: str, expected: str):
    assert rc != 0, out[-3000:]
    assert f"leads to {found}, {REFUSED} {expected}" in flat(out), out[-3000:]
    assert "Nothing was sent to any cluster" in flat(out)
    assert not any(error in out for error in CONNECTION_ERRORS), out[-3000:]
    assert listener.connections == 0, "the refused kubeconfig's server was contacted"
    assert "not-a-real-token" not in out  # the kubeconfig's credentials never show


def check_passed(out: str) -> bool:
    """The check task ran and reported ok (its success message names the endpoint rule)."""
    section = out.split(CHECK_TASK, 1)[1].split("TASK [", 1)[0] if CHECK_TASK in out else ""
    return section.lstrip("]* \n").startswith("ok:") and PASSED in flat(section)


# (a) step 5 refuses a kubeconfig of another cluster before anything is sent, in check mode too.
@pytest.mark.parametrize("mode", [[], ["--check"]], ids=["run", "check-mode"])
def test_step5_refuses_a_kubeconfig_of_another_cluster(tmp_path, ours, other, mode):
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "other.conf", other.url)
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, {"cluster_kubeconfig": str(kubeconfig)}, *mode)
    assert_refused(rc, out, other, other.url, ours.url)
    assert ours.connections == 0
    assert "Create or re-label the namespaces" not in out
    assert "set cluster_kubeconfig_server to " + other.url in flat(out)


# (b) the matching kubeconfig passes the check, and the first request goes to the server it names.
def test_step5_accepts_the_kubeconfig_of_this_inventory(tmp_path, ours, other):
    inventory = write_inventory(tmp_path, external(ours))
    # The current context is another cluster, but the step is told to use the context `admin`.
    kubeconfig = write_kubeconfig(tmp_path / "ours.conf", ours.url, current="other", extra={"other": other.url})
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory,
                  {"cluster_kubeconfig": str(kubeconfig), "k8s_apply_context": "admin"})
    assert check_passed(out), out[-3000:]
    assert rc != 0  # the listener speaks no TLS: the namespaces task fails after connecting
    assert "TASK [orchestrator.platform.k8s_apply : Create or re-label the namespaces]" in out
    assert ours.connections > 0 and other.connections == 0


def test_the_context_the_role_uses_decides(tmp_path, ours, other):
    """The current context is ours, but k8s_apply is told to use another: refused."""
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "two.conf", ours.url, extra={"other": other.url})
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory,
                  {"cluster_kubeconfig": str(kubeconfig), "k8s_apply_context": "other"})
    assert_refused(rc, out, other, other.url, ours.url)
    assert ours.connections == 0


def test_k8s_auth_host_in_the_environment_is_checked_too(tmp_path, ours, other):
    """kubernetes.core takes K8S_AUTH_HOST over the kubeconfig's server: the check does too."""
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "ours.conf", ours.url)
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, {"cluster_kubeconfig": str(kubeconfig)},
                  env={"K8S_AUTH_HOST": other.url + "/"})
    assert_refused(rc, out, other, f"{other.url} (K8S_AUTH_HOST)", ours.url)


# (c) the escape hatches: cluster_kubeconfig_server lets a different server through, and so does
# cluster_kubeconfig_check: false; both only on purpose.
@pytest.mark.parametrize("hatch", ["server", "check-off"])
def test_the_escape_hatches_let_another_server_through(tmp_path, ours, other, hatch):
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "lb.conf", other.url)
    extra = {"cluster_kubeconfig": str(kubeconfig)}
    # Scheme and host case and a trailing slash do not matter.
    extra.update({"cluster_kubeconfig_server": other.url.upper() + "/"} if hatch == "server"
                 else {"cluster_kubeconfig_check": False})
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, extra)
    assert rc != 0 and REFUSED not in out  # it fails later, on the listener that speaks no TLS
    if hatch == "server":
        assert check_passed(out.replace("(cluster_kubeconfig_server)", "(cluster_api_endpoint_mode")), out[-3000:]
    assert "TASK [orchestrator.platform.k8s_apply : Create or re-label the namespaces]" in out, out[-3000:]
    assert other.connections > 0 and ours.connections == 0


def test_the_override_is_still_a_check(tmp_path, ours, other):
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "other.conf", other.url)
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory,
                  {"cluster_kubeconfig": str(kubeconfig), "cluster_kubeconfig_server": "https://lb.example.invalid:443"})
    assert_refused(rc, out, other, other.url, "https://lb.example.invalid:443")


CHECK_PLAY = """
- name: Run the kubeconfig check on the control planes of the play
  hosts: control_plane
  gather_facts: false
  tasks:
    - name: Check the kubeconfig
      ansible.builtin.include_role:
        name: orchestrator.platform.cluster
        tasks_from: kubeconfig_check
"""


# (d) --limit does not change the endpoint: single mode takes the inventory's first control plane.
@pytest.mark.parametrize("limit", ["cp1", "cp2", "all"])
def test_limit_does_not_change_the_endpoint(tmp_path, limit):
    playbook = tmp_path / "check.yml"
    playbook.write_text(CHECK_PLAY)
    inventory = write_inventory(tmp_path, {"cluster_api_endpoint_mode": "single", "cluster_apiserver_port": 6443})
    first = write_kubeconfig(tmp_path / "first.conf", "https://127.0.0.11:6443")
    second = write_kubeconfig(tmp_path / "second.conf", "https://127.0.0.12:6443")
    rc, out = run(tmp_path, playbook, inventory, {"cluster_kubeconfig": str(first)}, "--limit", limit)
    assert rc == 0 and check_passed(out), out[-3000:]
    rc, out = run(tmp_path, playbook, inventory, {"cluster_kubeconfig": str(second)}, "--limit", limit)
    assert rc != 0
    assert f"leads to https://127.0.0.12:6443, {REFUSED} https://127.0.0.11:6443 or https://cp1:6443" in flat(out)


@pytest.mark.parametrize(("mode", "expected"), [
    ({"cluster_api_endpoint_mode": "vip", "cluster_api_vip": "10.213.40.250"}, "https://10.213.40.250:8443"),
    ({"cluster_api_endpoint_mode": "kube-vip", "cluster_api_vip": "10.213.40.250"}, "https://10.213.40.250:6443"),
    ({"cluster_api_endpoint_mode": "external", "cluster_api_endpoint_host": "api.example.invalid"},
     "https://api.example.invalid:8443"),
], ids=["vip", "kube-vip", "external"])
def test_the_endpoint_of_each_mode(tmp_path, mode, expected):
    """The same URL step 2's kubeadm configuration writes as controlPlaneEndpoint (with the default ports)."""
    playbook = tmp_path / "check.yml"
    playbook.write_text(CHECK_PLAY)
    inventory = write_inventory(tmp_path, mode)
    good = write_kubeconfig(tmp_path / "good.conf", expected)
    rc, out = run(tmp_path, playbook, inventory, {"cluster_kubeconfig": str(good)}, "--limit", "cp1")
    assert rc == 0 and check_passed(out), out[-3000:]
    bad = write_kubeconfig(tmp_path / "bad.conf", "https://127.0.0.1:1")
    rc, out = run(tmp_path, playbook, inventory, {"cluster_kubeconfig": str(bad)}, "--limit", "cp1")
    assert rc != 0 and f"{REFUSED} {expected} " in flat(out), out[-3000:]


# (e) cluster_kubeconfig unset: $HOME/.kube/<cluster_name>-admin.conf; KUBECONFIG (and
# K8S_AUTH_KUBECONFIG) in the environment are not used.
def test_the_default_is_the_admin_kubeconfig_step2_fetches_not_kubeconfig(tmp_path, ours, other):
    inventory = write_inventory(tmp_path, {**external(ours), "cluster_name": "lab"})
    elsewhere = write_kubeconfig(tmp_path / "elsewhere.conf", other.url)
    env = {"KUBECONFIG": str(elsewhere), "K8S_AUTH_KUBECONFIG": str(elsewhere)}
    default = tmp_path / "home/.kube/lab-admin.conf"
    # No admin kubeconfig yet: the missing-file message names the default path, nothing is contacted.
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, {}, env=env)
    assert rc != 0
    assert f"no kubeconfig at '{default}' (cluster_kubeconfig (k8s_apply_kubeconfig))" in flat(out), out[-3000:]
    assert other.connections == 0 and ours.connections == 0
    # Step 2's file in place: it is the one checked and used; KUBECONFIG's server is never contacted.
    write_kubeconfig(default, ours.url)
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, {}, env=env)
    assert check_passed(out) and f"the kubeconfig '{default}'" in flat(out), out[-3000:]
    assert ours.connections > 0 and other.connections == 0


def test_step2_fetches_to_the_default_the_later_steps_read(tmp_path):
    """control_plane_admin_kubeconfig_dest defaults to cluster_kubeconfig, whose default is the path above."""
    play = tmp_path / "paths.yml"
    play.write_text("""
- name: Show where step 2 writes and what the later steps read
  hosts: localhost
  gather_facts: false
  roles:
    - role: orchestrator.platform.cluster
  tasks:
    - name: Load the control_plane and k8s_apply defaults
      ansible.builtin.include_vars:
        file: "{{ item }}"
      loop: ["%(root)s/roles/control_plane/defaults/main.yml", "%(root)s/roles/k8s_apply/defaults/main.yml",
             "%(root)s/roles/canary_release/defaults/main.yml", "%(root)s/roles/cluster_lifecycle/defaults/main.yml",
             "%(root)s/roles/kubelet_serving_certs/defaults/main.yml"]
    - name: Write the paths
      ansible.builtin.copy:
        content: "{{ [control_plane_admin_kubeconfig_dest, k8s_apply_kubeconfig, canary_release_kubeconfig,
                      cluster_lifecycle_kubeconfig, kubelet_serving_certs_kubeconfig] | to_json }}"
        dest: "%(out)s"
        mode: "0600"
""" % {"root": ROOT, "out": tmp_path / "paths.json"})
    inventory = write_inventory(tmp_path, {"cluster_name": "lab"})
    rc, out = run(tmp_path, play, inventory, {}, env={"KUBECONFIG": "/nonexistent/kubeconfig"})
    assert rc == 0, out[-3000:]
    paths = json.loads((tmp_path / "paths.json").read_text())
    assert set(paths) == {str(tmp_path / "home/.kube/lab-admin.conf")}


def test_an_empty_cluster_kubeconfig_is_refused(tmp_path, ours):
    """An inventory copied from an older example (cluster_kubeconfig: "") no longer means KUBECONFIG."""
    inventory = write_inventory(tmp_path, external(ours))
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory, {"cluster_kubeconfig": ""},
                  env={"KUBECONFIG": str(write_kubeconfig(tmp_path / "k.conf", ours.url))})
    assert rc != 0 and "no kubeconfig at ''" in out, out[-3000:]
    assert ours.connections == 0


def test_render_mode_needs_no_kubeconfig(tmp_path, ours):
    inventory = write_inventory(tmp_path, external(ours))
    rc, out = run(tmp_path, "playbooks/05_network.yml", inventory,
                  {"cluster_render_dir": str(tmp_path / "render"), "cluster_kubeconfig": "/nonexistent.conf"})
    assert rc == 0, out[-3000:]
    assert CHECK_TASK not in out and (tmp_path / "render/calico").is_dir()


# (f) the canary playbook and day-2 playbooks refuse a kubeconfig of another cluster as well.
def test_the_canary_playbook_refuses_another_cluster(tmp_path, ours, other):
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "other.conf", other.url)
    rc, out = run(tmp_path, "playbooks/canary_release.yml", inventory,
                  {"canary_release_kubeconfig": str(kubeconfig), "canary_release_image": "registry.invalid/x:2"})
    assert_refused(rc, out, other, other.url, ours.url)
    assert "canary_release: the kubeconfig" in flat(out)


def test_rotate_external_secrets_refuses_another_cluster_before_vault(tmp_path, ours, other):
    vault = Listener()
    try:
        inventory = write_inventory(tmp_path, external(ours))
        kubeconfig = write_kubeconfig(tmp_path / "other.conf", other.url)
        rc, out = run(tmp_path, "playbooks/rotate_external_secrets.yml", inventory, {
            "cluster_kubeconfig": str(kubeconfig),
            "rotate_external_secrets_vault_addr": f"http://127.0.0.1:{vault.port}",
            "rotate_external_secrets_vault_token": "not-a-real-token",
            "rotate_external_secrets_secrets": [{"path": "orchestrator/db", "keys": [{"name": "password"}],
                                                 "external_secrets": [{"namespace": "orchestrator", "name": "db"}]}]})
        assert_refused(rc, out, other, other.url, ours.url)
        assert vault.connections == 0
    finally:
        vault.close()


def test_the_maintenance_playbooks_refuse_another_cluster(tmp_path, ours, other):
    inventory = write_inventory(tmp_path, external(ours))
    kubeconfig = write_kubeconfig(tmp_path / "other.conf", other.url)
    rc, out = run(tmp_path, "playbooks/maintenance/policy_review.yml", inventory,
                  {"maintenance_kubeconfig": str(kubeconfig), "maintenance_report_dir": str(tmp_path / "reports")})
    assert_refused(rc, out, other, other.url, ours.url)
    assert "maintenance (policy): the kubeconfig" in flat(out)


def test_a_file_that_is_not_a_kubeconfig_is_refused_without_showing_it(tmp_path):
    playbook = tmp_path / "check.yml"
    playbook.write_text(CHECK_PLAY)
    inventory = write_inventory(tmp_path, {"cluster_api_endpoint_mode": "single"})
    broken = tmp_path / "broken.conf"
    broken.write_text("users: [{name: admin, user: {token: not-a-real-token}}\n  : ][\n")
    rc, out = run(tmp_path, playbook, inventory, {"cluster_kubeconfig": str(broken)}, "--limit", "cp1")
    assert rc != 0 and f"'{broken}' (cluster_kubeconfig) cannot be read as a kubeconfig" in flat(out), out[-3000:]
    assert "not-a-real-token" not in out


STEP2_PLAY = """
- name: Render step 2's kubeadm configuration (files in the test directory)
  hosts: control_plane
  gather_facts: true
  gather_subset: ["!all", "min", "network"]
  roles:
    - role: orchestrator.platform.kubeadm_config
- name: Check a kubeconfig whose server is https://<controlPlaneEndpoint>, as kubeadm writes admin.conf
  hosts: control_plane
  gather_facts: false
  tasks:
    - name: Write that kubeconfig
      ansible.builtin.copy:
        content: "{{ {'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'admin',
                      'clusters': [{'name': 'c', 'cluster': {'server': 'https://' ~ _endpoint}}],
                      'contexts': [{'name': 'admin', 'context': {'cluster': 'c', 'user': 'u'}}],
                      'users': [{'name': 'u', 'user': {}}]} | to_nice_yaml }}"
        dest: "%(dir)s/{{ inventory_hostname }}-admin.conf"
        mode: "0600"
      vars:
        _endpoint: >-
          {{ (lookup('ansible.builtin.file', kubeadm_config_path) | ansible.builtin.from_yaml_all
              | selectattr('kind', 'equalto', 'ClusterConfiguration') | first).controlPlaneEndpoint }}
    - name: Check it
      ansible.builtin.include_role:
        name: orchestrator.platform.cluster
        tasks_from: kubeconfig_check
      vars:
        cluster_kubeconfig_check_path: "%(dir)s/{{ inventory_hostname }}-admin.conf"
"""


@pytest.mark.parametrize("mode", [
    {"cluster_api_endpoint_mode": "vip", "cluster_api_vip": "10.213.40.250"},
    {"cluster_api_endpoint_mode": "kube-vip", "cluster_api_vip": "10.213.40.250"},
    {"cluster_api_endpoint_mode": "external", "cluster_api_endpoint_host": "api.example.invalid",
     "cluster_api_port": 443},
    {"cluster_api_endpoint_mode": "single"},
], ids=["vip", "kube-vip", "external", "single"])
def test_the_check_expects_what_step2_writes(tmp_path, mode):
    """The check's endpoint and the controlPlaneEndpoint kubeadm_config renders (which kubeadm writes
    into admin.conf) are computed the same way: a drift between the two fails here."""
    (tmp_path / "play.yml").write_text(STEP2_PLAY % {"dir": tmp_path})
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "kubeadm_config_advertise_address": "10.213.40.11", **mode},
        "children": {"control_plane": {"hosts": {"cp1": {
            "kubeadm_config_path": str(tmp_path / "cp1/kubeadm-config.yaml"),
            "kubeadm_config_policy_dir": str(tmp_path / "cp1/policy"),
            "kubeadm_config_audit_log_dir": str(tmp_path / "cp1/audit")}}}},
    }}
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
    rc, out = run(tmp_path, tmp_path / "play.yml", tmp_path / "inventory.yml")
    assert rc == 0 and check_passed(out), out[-3000:]
