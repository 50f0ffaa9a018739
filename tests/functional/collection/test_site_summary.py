"""site.yml ends with a summary (issue 19 item 7): the API endpoint, the admin kubeconfig, what each
step installed, rendered or skipped and the variable that decided it, and the next commands. The
summary play contacts no host (the inventory's TEST-NET addresses are never reached)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
PLAYBOOKS = ROOT / "playbooks"
INVENTORY = """
all:
  children:
    cluster:
      children:
        control_plane:
          hosts:
            cp1: {ansible_host: 192.0.2.11}
            cp2: {ansible_host: 192.0.2.12}
            cp3: {ansible_host: 192.0.2.13}
        workers:
          hosts:
            w1: {ansible_host: 192.0.2.21}
  vars:
    cluster_api_vip: 192.0.2.100
    velero_enabled: false
    image_security_trivy_enabled: false
"""


def _steps():
    return yaml.safe_load((PLAYBOOKS / "vars" / "site_summary.yml").read_text(encoding="utf-8"))["_site_summary_steps"]


def _roles_of(playbook: Path) -> list[str]:
    text = playbook.read_text(encoding="utf-8")
    return re.findall(r"role: orchestrator\.platform\.([a-z_]+)", text)


def test_site_ends_with_the_summary_and_the_table_follows_the_step_playbooks():
    # Steps 1-12 are imported through orchestrator.platform.site_step ("{{ '05_network.yml' | ... }}").
    imports = [re.search(r"[\w.]+\.yml", play["ansible.builtin.import_playbook"]).group(0)
               for play in yaml.safe_load((PLAYBOOKS / "site.yml").read_text())]
    assert imports[-1] == "site_summary.yml"
    steps = _steps()
    assert [s["playbook"] for s in steps] == imports[:-1]
    for step in steps:
        plays = yaml.safe_load((PLAYBOOKS / step["playbook"]).read_text())
        play_tags = {t for play in plays for t in play.get("tags", [])}
        assert step["tag"] in play_tags, step
        if "components" not in step:
            continue
        assert [c["role"] for c in step["components"]] == _roles_of(PLAYBOOKS / step["playbook"]), step["playbook"]
        for component in step["components"]:
            defaults = yaml.safe_load((ROOT / "roles" / component["role"] / "defaults" / "main.yml").read_text())
            for switch in component["switches"]:
                assert defaults.get(switch) is True, (component["role"], switch)


def _summary(tmp_path, *args):
    (tmp_path / "hosts.yml").write_text(INVENTORY, encoding="utf-8")
    run = subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(PLAYBOOKS / "site_summary.yml"), *args],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    return " ".join(run.stdout.split())  # the YAML callback folds long lines


def test_the_summary_names_endpoint_kubeconfig_and_each_component(tmp_path):
    out = _summary(tmp_path)
    assert "API endpoint: https://192.0.2.100:8443 (cluster_api_endpoint_mode: vip)" in out
    assert re.search(r"Admin kubeconfig: \S+/\.kube/orchestrator-admin\.conf", out)
    assert "3 control plane(s), 1 worker(s)" in out
    assert "velero skipped (velero_enabled: false)" in out
    assert "storage installed" in out
    assert "image_security installed (image_security_trivy_enabled: false)" in out
    assert "Step 12 (12_compliance.yml): compliance installed." in out
    assert "orchestrator.platform.maintenance.daily" in out


def test_the_summary_says_render_only_and_which_steps_did_not_run(tmp_path):
    out = _summary(tmp_path, "--tags", "network", "-e", f"cluster_render_dir={tmp_path}/render")
    assert f"Render-only mode: steps 5-12 wrote their objects into {tmp_path}/render" in out
    assert "Step 5 (05_network.yml): calico rendered; network_policies rendered." in out
    assert "Step 6 (06_security.yml): not run this time" in out
    assert "Step 0 (00_preflight.yml): not run this time" in out
