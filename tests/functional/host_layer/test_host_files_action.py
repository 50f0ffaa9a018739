"""orchestrator.platform.host_files with `src` entries, run for real by ansible-playbook on localhost
(files under the test's temporary directory only): the action plugin renders each template exactly
as ansible.builtin.template writes it (container_runtime's hosts.toml and a template that uses
ansible_managed, template_path, trim_blocks, an include, a loop variable and trailing newlines),
leaves out the entries whose `when` is false without rendering them, keeps a no_log task's
secrets out of the output, changes nothing on a second run and writes nothing in check mode."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HOSTS_TOML = ROOT / "roles/container_runtime/templates/etc/containerd/hosts.toml.j2"

SYNTHETIC = """# {{ ansible_managed }}
{{ ansible_managed | comment }}
# from {{ template_path }}
{% for key, value in settings.items() %}
{{ key }} = {{ value }}
{% endfor %}
{% if extra | default(false) %}
extra = yes
{% endif %}
{% include 'etc/part.j2' %}

non-ascii = \u00e9\u00e8
end


"""

TASKS = """
- name: Write the reference files with ansible.builtin.template
  ansible.builtin.template:
    src: etc/containerd/hosts.toml.j2
    dest: "{{ out }}/template/{{ item.registry }}.toml"
    mode: "0600"
  loop: "{{ registries }}"
  no_log: true

- name: Write the reference synthetic file with ansible.builtin.template
  ansible.builtin.template:
    src: etc/synthetic.conf.j2
    dest: "{{ out }}/template/synthetic.conf"
    mode: "0644"

- name: Write the same files with host_files
  orchestrator.platform.host_files:
    files:
      - {dest: "{{ out }}/host_files", state: directory, mode: "0755"}
      - {src: etc/synthetic.conf.j2, dest: "{{ out }}/host_files/synthetic.conf", mode: "0644"}
      - {src: etc/broken.j2, dest: "{{ out }}/host_files/broken.conf", mode: "0644", when: "{{ broken_enabled }}"}
      - {dest: "{{ out }}/host_files/skipped", state: directory, mode: "0755", when: "{{ registries | length > 5 }}"}
  register: host_files_result

- name: Write the registries' hosts.toml with host_files (no_log, as container_runtime does)
  orchestrator.platform.host_files:
    files:
      - {dest: "{{ out }}/host_files/{{ item.registry }}", state: directory, mode: "0755"}
      - {src: etc/containerd/hosts.toml.j2, dest: "{{ out }}/host_files/{{ item.registry }}/hosts.toml", mode: "0600"}
  loop: "{{ registries }}"
  no_log: true
  register: host_files_registries

- name: Record the results
  ansible.builtin.copy:
    content: >-
      {{ {'files': host_files_result,
          'registries': host_files_registries.results | map(attribute='changed') | list} | to_json }}
    dest: "{{ out }}/results-{{ run }}.json"
    mode: "0644"
  check_mode: false
"""

REGISTRIES = [
    {"registry": "docker.io", "server": "https://registry-1.docker.io",
     "mirrors": [{"url": "https://mirror.example", "username": "mirror-user", "password": "s3cret-pass-2f9c"}]},
    {"registry": "10.0.0.1:5000",
     "mirrors": [{"url": "http://10.0.0.1:5000", "skip_verify": True, "ca_file": "/etc/ca.pem"}]},
]


@pytest.fixture
def project(tmp_path):
    role = tmp_path / "roles" / "fixture"
    (role / "tasks").mkdir(parents=True)
    (role / "templates/etc/containerd").mkdir(parents=True)
    (role / "tasks/main.yml").write_text(TASKS)
    shutil.copy(HOSTS_TOML, role / "templates/etc/containerd/hosts.toml.j2")
    (role / "templates/etc/synthetic.conf.j2").write_text(SYNTHETIC)
    (role / "templates/etc/part.j2").write_text("part = {{ settings | length }}\n")
    (role / "templates/etc/broken.j2").write_text("{{ this_variable_is_not_defined }}\n")
    (tmp_path / "site.yml").write_text(
        "- name: Fixture\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  roles: [fixture]\n")
    (tmp_path / "out/template").mkdir(parents=True)
    return tmp_path


def _play(project, run, *options):
    extra = {"out": str(project / "out"), "run": run, "registries": REGISTRIES, "broken_enabled": False,
             "settings": {"b": 2, "a": "one"}, "ansible_python_interpreter": os.sys.executable}
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(project / "roles"))
    command = ["ansible-playbook", "-v", "-i", "localhost,", "site.yml", "-e", json.dumps(extra), *options]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=project, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def _files(directory):
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_src_entries_are_written_byte_for_byte_as_the_template_module_writes_them(project):
    out = project / "out"
    stdout = _play(project, "first")
    reference = _files(out / "template")
    written = _files(out / "host_files")
    assert sorted(reference) == ["10.0.0.1:5000.toml", "docker.io.toml", "synthetic.conf"]
    assert written["synthetic.conf"] == reference["synthetic.conf"]
    for registry in ("docker.io", "10.0.0.1:5000"):
        assert written[f"{registry}/hosts.toml"] == reference[f"{registry}.toml"]
    # What the reference holds is what the templates make (the comparison is not of two empty files).
    synthetic = reference["synthetic.conf"].decode()
    assert synthetic.startswith(
        "# Ansible managed\n#\n# Ansible managed\n#\n# from etc/synthetic.conf.j2\nb = 2\na = one\n")
    # (trim_blocks takes the newline after the include tag; the include's own last newline goes too.)
    assert synthetic.endswith("part = 2\nnon-ascii = \u00e9\u00e8\nend\n\n\n")
    assert b'Authorization = ["Basic ' in reference["docker.io.toml"]
    # The entries whose `when` is false are left out, and the broken template was never rendered.
    assert sorted(written) == ["10.0.0.1:5000/hosts.toml", "docker.io/hosts.toml", "synthetic.conf"]
    assert not (out / "host_files/skipped").exists()
    first = json.loads((out / "results-first.json").read_text())
    assert first["files"]["changed_files"] == [str(out / "host_files"), str(out / "host_files/synthetic.conf")]
    assert first["registries"] == [True, True]
    assert oct((out / "host_files/docker.io/hosts.toml").stat().st_mode & 0o7777) == "0o600"
    # no_log: neither the password nor the header built from it appear in the verbose output.
    assert "s3cret-pass-2f9c" not in stdout
    assert re.search(r"Basic [A-Za-z0-9+/=]{8,}", stdout) is None

    _play(project, "second")
    second = json.loads((out / "results-second.json").read_text())
    assert second["files"]["changed"] is False and second["files"]["changed_files"] == []
    assert second["registries"] == [False, False]


def test_check_mode_writes_nothing_and_reports_the_changes(project):
    out = project / "out"
    _play(project, "check", "--check")
    assert sorted(p.name for p in out.iterdir()) == ["results-check.json", "template"]
    assert list((out / "template").iterdir()) == []
    check = json.loads((out / "results-check.json").read_text())
    assert check["files"]["changed_files"] == [str(out / "host_files"), str(out / "host_files/synthetic.conf")]
    assert check["registries"] == [True, True]
