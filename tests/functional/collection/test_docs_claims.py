"""Statements of the docs that the code can contradict, held to the code: the operating systems
the docs list are those preflight accepts, the failure policy docs/control-plane.md states is the
one the playbooks carry, the Mesos agents' cgroup advice does not send nodes where the kubelet
refuses to run, and the host-layer speed figures say they were measured on stand-ins."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
OS_IDS = {"debian": "debian", "ubuntu": "ubuntu", "rocky": "rocky", "alma": "almalinux", "rhel": "rhel"}


def _supported_os() -> set[tuple[str, str]]:
    # roles/cluster/defaults/main.yml cluster_supported_os is the list preflight checks
    # /etc/os-release against (roles/preflight).
    defaults = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
    return {(entry["id"], str(version)) for entry in defaults["cluster_supported_os"] for version in entry["versions"]}


def _table_os_versions(text: str, heading: str) -> set[tuple[str, str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    found = set()
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cell = re.sub(r"\(.*?\)", "", line.split("|")[1]).lower()
        names = [OS_IDS[word] for word in re.findall(r"[a-z]+", cell) if word in OS_IDS]
        versions = re.findall(r"\d+(?:\.\d+)?", cell)
        found |= {(name, version) for name in names for version in versions}
    return found


@pytest.mark.parametrize(
    ("doc", "heading"),
    [("docs/host-layer.md", "## OS matrix"), ("roles/node_prep/README.md", "## OS families")],
)
def test_os_tables_list_only_what_preflight_accepts(doc, heading):
    listed = _table_os_versions((ROOT / doc).read_text(), heading)
    assert listed, f"{doc}: no OS rows under {heading}"
    refused = listed - _supported_os()
    assert not refused, f"{doc} lists {sorted(refused)}, which preflight refuses"


def _plays(playbook: str) -> list[dict]:
    return yaml.safe_load((ROOT / "playbooks" / playbook).read_text())


def test_control_plane_doc_states_the_failure_policy_the_playbooks_have():
    doc = (ROOT / "docs/control-plane.md").read_text()
    table = doc.split("\n## ", 1)[0]
    playbooks = sorted(set(re.findall(r"`(0\d_[a-z_]+\.yml)`", table)))
    assert playbooks, "the step table of docs/control-plane.md names no playbook"
    without = {
        name for name in playbooks for play in _plays(name) if "hosts" in play and not play.get("any_errors_fatal")
    }
    if "Every play has `any_errors_fatal: true`" in doc:
        assert not without, f"docs/control-plane.md says every play has any_errors_fatal; not {sorted(without)}"
    for name in without:
        policy = [
            play.get("max_fail_percentage")
            for play in _plays(name)
            if "hosts" in play and not play.get("any_errors_fatal")
        ]
        assert policy and all(value == 0 for value in policy), f"{name}: a play stops neither way"
        assert name in doc.split("any_errors_fatal", 1)[1] and "max_fail_percentage: 0" in doc, (
            f"docs/control-plane.md does not say that {name} uses max_fail_percentage: 0"
        )


@pytest.mark.parametrize("path", ["docs/workloads.md", "k8s/components/mesos-agent/configmap.yaml"])
def test_mesos_cgroup_advice_names_the_kubelet_refusal(path):
    text = (ROOT / path).read_text()
    # Booting a node with cgroup v1 (unified_cgroup_hierarchy=0) stops the kubelet of
    # Kubernetes >= 1.35 (failCgroupV1) and preflight refuses the node: advice to do so must say
    # it needs cluster_kubelet_fail_cgroup_v1: false and what that costs.
    if "unified_cgroup_hierarchy=0" in text:
        assert "cluster_kubelet_fail_cgroup_v1" in text and "1.35" in text, path


def test_host_layer_speed_figures_say_what_they_ran_on():
    # Each timing table is introduced by a paragraph saying whether it ran on the stand-ins or on
    # the real cluster, and whether the machine was quiet.
    doc = (ROOT / "docs/host-layer.md").read_text()
    speed = doc.split("## Speed", 1)[1].split("\n## ", 1)[0]
    parts = speed.split("| nodes | fresh |")
    assert len(parts) == 3, "the speed tables moved"
    intros = [part.rstrip().rsplit("\n\n", 1)[-1] for part in parts[:-1]]
    assert "real cluster" in intros[0] and "under load" in speed, intros[0]
    assert "stand-in" in intros[1] and "quiet" in intros[1], intros[1]
