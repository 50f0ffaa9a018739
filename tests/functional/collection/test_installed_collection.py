"""The collection as a user gets it (issue 19 item 4): the built tarball installed into an empty
collections path, its playbooks run by FQCN from an empty directory on localhost, without this
checkout's ansible.cfg, roles path or collections path. Reports land in the state directory
(cluster_state_dir, under HOME), never inside the installed collection, and the scheduled
maintenance's default jobs name playbooks that resolve in the installed collection."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
KUBE_BENCH_OUTPUTS = ROOT / "tests" / "unit" / "plugins" / "filter" / "fixtures" / "kube_bench"
# The report entry point of step 12 on stored kube-bench results (what step 12 writes after a scan).
COMPLIANCE_REPORT = """
- name: Write a compliance report from stored kube-bench results
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write the report
      ansible.builtin.include_role:
        name: orchestrator.platform.compliance
        tasks_from: report
      vars:
        compliance_min_score: 0
        compliance_results:
          - node: cp1
            role: control_plane
            output: "{{ lookup('ansible.builtin.file', fixtures ~ '/control-plane.json') }}"
          - node: worker1
            role: worker
            output: "{{ lookup('ansible.builtin.file', fixtures ~ '/worker.json') }}"
"""
# Renders the scheduled-maintenance units with the role's own defaults (nothing touches systemd).
SCHEDULE_RENDER = """
- name: Render the maintenance units with the role's defaults
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - "{{ role }}/defaults/main.yml"
    - "{{ role }}/vars/main.yml"
  tasks:
    - name: Render the service of each default job
      ansible.builtin.template:
        src: "{{ role }}/templates/etc/systemd/system/maintenance.service.j2"
        dest: "{{ out }}/{{ job.name }}.service"
        mode: "0644"
      loop: "{{ maintenance_schedule_jobs }}"
      loop_control:
        loop_var: job
    - name: Render the environment of the runs
      ansible.builtin.template:
        src: "{{ role }}/templates/etc/orchestrator-maintenance/maintenance.env.j2"
        dest: "{{ out }}/maintenance.env"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The tarball installed offline into an empty collections path; an empty work directory and HOME."""
    tmp = tmp_path_factory.mktemp("installed")
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp / "dist")],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    tarball = next((tmp / "dist").glob("orchestrator-platform-*.tar.gz"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(tmp / "home"), ANSIBLE_COLLECTIONS_PATH=str(tmp / "collections"), ANSIBLE_NOCOLOR="1")
    (tmp / "home").mkdir()
    install = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", str(tarball), "-p", str(tmp / "collections")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    (tmp / "empty").mkdir()
    collection = tmp / "collections" / "ansible_collections" / "orchestrator" / "platform"
    return {"tmp": tmp, "env": env, "collection": collection, "before": _files(collection)}


def _files(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def _run(installed, *args, cwd=None):
    return subprocess.run(
        ["ansible-playbook", *args], capture_output=True, text=True, check=False,
        cwd=cwd or installed["tmp"] / "empty", env=installed["env"], timeout=300,
    )


def test_reports_go_to_the_state_directory_not_into_the_collection(installed):
    """Two compliance reports (step 12's report entry point), then the weekly maintenance by FQCN from
    an empty directory compares them: both find the same directory under HOME by default."""
    tmp = installed["tmp"]
    (tmp / "plays").mkdir()
    (tmp / "plays" / "report.yml").write_text(COMPLIANCE_REPORT, encoding="utf-8")
    for _ in range(2):
        run = _run(installed, str(tmp / "plays" / "report.yml"), "-e", f"fixtures={KUBE_BENCH_OUTPUTS}")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    state = tmp / "home" / "orchestrator-reports" / "orchestrator"
    stamped = sorted((state / "compliance-reports").glob("kube-bench-*.json"))
    assert len(stamped) == 2, sorted(_files(tmp))
    assert (state / "compliance-reports" / "latest.json").is_file()

    weekly = _run(
        installed, "orchestrator.platform.maintenance.weekly",
        "-e", json.dumps({"maintenance_weekly_checks": ["kube_bench"], "maintenance_kube_bench_scan": False}),
    )
    assert weekly.returncode == 0, weekly.stdout[-3000:] + weekly.stderr[-2000:]
    report = json.loads((state / "weekly-latest.json").read_text(encoding="utf-8"))
    bench = next(c for c in report["checks"] if c["name"] == "kube_bench")
    assert bench["status"] == "ok" and "comparison" in bench["data"], bench

    assert _files(installed["collection"]) == installed["before"], "a run wrote into the installed collection"
    assert not (tmp / "compliance-reports").exists()


def test_the_default_scheduled_jobs_run_playbooks_of_the_installed_collection(installed):
    """The default jobs' ExecStart names a playbook that ansible-playbook finds through the collections
    path alone, and the run environment does not pin a collections path of its own."""
    tmp = installed["tmp"]
    out = tmp / "units"
    out.mkdir()
    role = installed["collection"] / "roles" / "maintenance_schedule"
    (tmp / "plays").mkdir(exist_ok=True)
    (tmp / "plays" / "schedule.yml").write_text(SCHEDULE_RENDER, encoding="utf-8")
    run = _run(installed, str(tmp / "plays" / "schedule.yml"), "-e", f"role={role} out={out}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    services = sorted(out.glob("*.service"))
    jobs = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8"))["maintenance_schedule_jobs"]
    assert len(services) == len(jobs) >= 3
    for service in services:
        exec_start = next(ln for ln in service.read_text().splitlines() if ln.startswith("ExecStart="))
        playbook = shlex.split(exec_start.partition("=")[2])[2]
        check = _run(installed, "--syntax-check", playbook)
        assert check.returncode == 0, f"{service.name}: {playbook}\n{check.stdout[-2000:]}{check.stderr[-2000:]}"
    env = (out / "maintenance.env").read_text()
    assert not re.search(r"^ANSIBLE_COLLECTIONS_PATH=", env, re.M), env
