"""The step 5-6 roles keep their contract: documented variables, a switch each, tagged tasks, one helper."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[3] / "roles"
SWITCHES = {
    "calico": ["calico_enabled"],
    "network_policies": ["network_policies_enabled"],
    "pod_security": ["pod_security_enabled"],
    "rbac": ["rbac_enabled"],
    "external_secrets": ["external_secrets_enabled", "external_secrets_vault_install"],
    "image_security": ["image_security_trivy_enabled", "image_security_policy_controller_enabled"],
    "gatekeeper": ["gatekeeper_enabled"],
    "falco": ["falco_enabled", "falco_response_enabled"],
}
ALL = [*SWITCHES, "k8s_apply"]


def _load(role: str, path: str):
    return yaml.safe_load((ROLES / role / path).read_text())


def _tasks(items, inherited=frozenset()):
    """Every task with the tags it ends up with (its own plus its blocks')."""
    for task in items or []:
        tags = inherited | set(task.get("tags", []))
        yield task, tags
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key), tags)


@pytest.mark.parametrize("role", ALL)
def test_every_default_is_documented_with_its_default(role):
    defaults = _load(role, "defaults/main.yml")
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert options[name]["description"], name
    assert (ROLES / role / "README.md").is_file()


@pytest.mark.parametrize("role", ALL)
def test_role_depends_only_on_the_cluster_helper_and_names_and_tags_its_tasks(role):
    assert _load(role, "meta/main.yml")["dependencies"] == [{"role": "orchestrator.platform.cluster"}]
    for task, tags in _tasks(_load(role, "tasks/main.yml")):
        assert task.get("name"), task
        if "block" in task:
            continue
        allowed = tags == {"always"} or {role, f"{role}_install"} <= tags or {role, f"{role}_configure"} <= tags
        assert allowed, task["name"]


@pytest.mark.parametrize(("role", "switches"), SWITCHES.items())
def test_each_component_has_a_switch(role, switches):
    defaults = _load(role, "defaults/main.yml")
    sources = [p.read_text() for p in [ROLES / role / "tasks" / "main.yml", *(ROLES / role / "templates").glob("*.j2")]]
    for switch in switches:
        assert isinstance(defaults[switch], bool)
        assert any(f"when: {switch} | bool" in s or f"if {switch} | bool" in s for s in sources), switch


@pytest.mark.parametrize("role", list(SWITCHES))
def test_cluster_objects_go_through_the_helper_only(role):
    text = (ROLES / role / "tasks" / "main.yml").read_text()
    assert "orchestrator.platform.k8s_apply" in text
    for forbidden in (
        "kubernetes.core.k8s:",
        "kubernetes.core.helm:",
        "ansible.builtin.command",
        "ansible.builtin.shell",
    ):
        assert forbidden not in text, f"{role} bypasses the helper with {forbidden}"
