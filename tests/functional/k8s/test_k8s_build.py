"""Every kustomization of k8s/ builds with `kubectl kustomize`, quickly, and validates strictly."""

from __future__ import annotations

import pytest
from k8s_schema import validate_all
from k8s_tree import DEPLOYABLE, K8S, PATCH_COMPONENTS, kustomization_dirs, kustomization_kind

# The directories seed 000 applies with `kubectl apply -k` (and the files it names in them).
SEED_LAYOUT = {
    "base": ["namespace.yaml", "rbac.yaml", "configmap.yaml", "service.yaml", "deployment.yaml", "ingress.yaml"],
    "overlays/dev": [],
    "overlays/staging": [],
    "overlays/prod": [],
    "argo-rollouts": ["rollout.yaml", "analysis-template.yaml"],
    "argocd": [
        "appproject.yaml",
        "application.yaml",
        "application-rollout.yaml",
        "application-set.yaml",
        "notifications.yaml",
    ],
}
# The workloads of the implementation summary, one component directory each.
COMPONENTS = [
    "zookeeper",
    "mesos-master",
    "mesos-agent",
    "marathon",
    "monitoring-probe",
    "monitoring-app",
    "dashboards",
]
# A build of one tree must stay interactive (measured: 0.3-0.4 s each on this machine kind).
MAX_BUILD_SECONDS = 5.0


@pytest.mark.parametrize("rel", sorted(SEED_LAYOUT))
def test_seed_layout_exists(rel):
    assert (K8S / rel / "kustomization.yaml").is_file(), f"`kubectl apply -k k8s/{rel}` needs a kustomization"
    for name in SEED_LAYOUT[rel]:
        assert (K8S / rel / name).is_file(), f"k8s/{rel}/{name} (seed 000) is missing"


@pytest.mark.parametrize("name", COMPONENTS)
def test_each_workload_is_a_component_of_the_base(name, builder):
    assert kustomization_kind(f"components/{name}") == "Component"
    base = (K8S / "base" / "kustomization.yaml").read_text()
    assert f"../components/{name}" in base, f"k8s/base does not include components/{name}"
    assert builder.build(f"components/{name}"), f"components/{name} renders nothing"


@pytest.mark.parametrize("rel", kustomization_dirs())
def test_every_kustomization_builds_fast_and_validates(rel, builder):
    if rel in PATCH_COMPONENTS:
        host = PATCH_COMPONENTS[rel]
        objects, took = builder.build_timed(host, (rel,))
        assert objects != builder.build(host), f"{rel} changes nothing in {host}"
    else:
        objects, took = builder.build_timed(rel)
        assert objects, f"k8s/{rel} renders nothing"
    assert took < MAX_BUILD_SECONDS, f"kubectl kustomize k8s/{rel} took {took:.1f}s"
    problems = validate_all(objects)
    assert not problems, "\n".join(problems)


def test_every_kustomization_is_deployable_or_a_component():
    """No kustomization left out of the deployable sets the policy tests check."""
    covered = {rel for rel, _ in DEPLOYABLE.values()} | {c for _, comps in DEPLOYABLE.values() for c in comps}
    for rel in kustomization_dirs():
        if rel.startswith("components/") and rel != "components/mesos-agent-docker":
            continue  # reached through k8s/base or the overlays
        assert rel in covered, f"k8s/{rel} is not in the rendered sets that the policy tests check"


def test_application_set_validates(application_set):
    assert [o["kind"] for o in application_set] == ["ApplicationSet", "ApplicationSet"]
    assert not validate_all(application_set)


@pytest.mark.parametrize("name", sorted(DEPLOYABLE))
def test_rendered_objects_are_unique(name, rendered):
    seen = set()
    for obj in rendered[name]:
        key = (obj["apiVersion"].split("/")[0], obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        assert key not in seen, f"{name}: {key} rendered twice"
        seen.add(key)
