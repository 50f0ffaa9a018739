"""The step 7-8 roles keep their contract: documented variables, a switch each, tagged tasks, the
offline mirror for every chart and image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from storage_mesh_render import MINIMAL, render, run_preflight

ROLES = Path(__file__).resolve().parents[3] / "roles"
SWITCHES = {
    "storage": ["storage_enabled", "storage_snapshot_controller_enabled"],
    "velero": ["velero_enabled"],
    "ingress_nginx": ["ingress_nginx_enabled"],
    "cert_manager": ["cert_manager_enabled", "cert_manager_acme_enabled"],
    "istio": ["istio_enabled", "istio_gateway_enabled", "istio_examples_enabled"],
}
UPSTREAM_REGISTRIES = ("docker.io/", "quay.io/", "registry.k8s.io/", "ghcr.io/", "gcr.io/")


def _load(role: str, path: str):
    return yaml.safe_load((ROLES / role / path).read_text())


def _tasks(items, inherited=frozenset()):
    for task in items or []:
        tags = inherited | set(task.get("tags", []))
        yield task, tags
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key), tags)


@pytest.mark.parametrize("role", sorted(SWITCHES))
def test_every_default_is_documented_with_its_default(role):
    defaults = _load(role, "defaults/main.yml")
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert options[name]["description"], name
    readme = (ROLES / role / "README.md").read_text()
    for switch in SWITCHES[role]:
        assert switch in readme, f"{switch} not documented in {role}/README.md"


@pytest.mark.parametrize("role", sorted(SWITCHES))
def test_role_depends_only_on_the_cluster_helper_and_names_and_tags_its_tasks(role):
    assert _load(role, "meta/main.yml")["dependencies"] == [{"role": "orchestrator.platform.cluster"}]
    for task, tags in _tasks(_load(role, "tasks/main.yml")):
        assert task.get("name"), task
        if "block" in task:
            continue
        allowed = tags == {"always"} or {role, f"{role}_install"} <= tags or {role, f"{role}_configure"} <= tags
        assert allowed, task["name"]
        if "set_fact" in json.dumps(task) and "secret" in json.dumps(task).lower():
            assert task.get("no_log") is True, task["name"]


def test_every_component_can_be_switched_off():
    rendered = render(**{switch[0]: False for switch in SWITCHES.values()})
    assert not list(rendered.root.rglob("*.yml"))


def test_partial_switches_leave_out_only_their_part():
    rendered = render(**MINIMAL)
    assert "storage/snapshot-controller-release.yml" not in rendered.releases
    assert "storage/longhorn-release.yml" in rendered.releases
    assert "istio/istio-ingressgateway-release.yml" not in rendered.releases
    assert not rendered.objects("VirtualService")
    assert {ns["metadata"]["name"] for ns in rendered.objects("Namespace", component="istio")} == {"istio-system"}


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def test_the_offline_mirror_replaces_every_chart_repository_and_image():
    rendered = render(cluster_mirror="https://mirror.example.com/", cluster_image_registry="registry.example.com:5000")
    for path, release in rendered.releases.items():
        assert release["repo_url"].startswith("https://mirror.example.com/charts/"), path
    for path, values in rendered.values.items():
        leaks = [s for s in _strings(values) if s.startswith(UPSTREAM_REGISTRIES)]
        assert not leaks, (path, leaks)
    assert (
        rendered.values["storage/longhorn-values.yml"]["privateRegistry"]["registryUrl"] == "registry.example.com:5000"
    )
    assert rendered.values["istio/istiod-values.yml"]["global"]["hub"] == "registry.example.com:5000/istio"
    nginx = rendered.values["ingress_nginx/ingress-nginx-values.yml"]["controller"]["image"]
    assert nginx == {"registry": "registry.example.com:5000", "image": "ingress-nginx/controller"}
    assert rendered.values["velero/velero-values.yml"]["initContainers"][0]["image"].startswith(
        "registry.example.com:5000/velero/"
    )


@pytest.mark.parametrize(
    ("playbook", "extra", "message"),
    [
        (
            "07_storage.yml",
            {"cluster_pod_security_exemptions": [{"namespace": "kube-system", "reason": "control plane"}]},
            "must be listed in cluster_pod_security_exemptions",
        ),
        (
            "07_storage.yml",
            {
                "velero_backup_locations": [
                    {
                        "name": "primary",
                        "bucket": "b",
                        "prefix": "",
                        "region": "r",
                        "s3_url": "",
                        "default": True,
                        "access_mode": "ReadWrite",
                        "insecure_skip_tls_verify": False,
                    }
                ],
                "velero_location_credentials": {},
            },
            "at least two locations",
        ),
        (
            "08_ingress_mesh.yml",
            {"ingress_nginx_replicas": 2, "ingress_nginx_min_available": 2},
            "ingress_nginx_min_available",
        ),
    ],
)
def test_preflight_refuses_unsafe_settings_before_rendering_anything(playbook, extra, message):
    run = run_preflight(playbook, extra)
    assert run.returncode != 0
    assert message in run.stdout, run.stdout[-3000:]
