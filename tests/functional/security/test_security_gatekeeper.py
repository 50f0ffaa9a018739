"""Gatekeeper library: each Constraint fits its template's parameters, and each template's Rego
returns the right verdicts on allowed and denied objects, run by a real Rego interpreter (regopy)."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import regopy
from k8s_schema import _strict

# The Pod Security exemptions of the example inventory (roles/cluster defaults).
EXEMPT = {
    "kube-system",
    "tigera-operator",
    "calico-system",
    "falco",
    "orchestrator-agents",
    "longhorn-system",
    "observability-agents",
    "compliance",
}
SYSTEM = {
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "gatekeeper-system",
    "tigera-operator",
    "calico-system",
    "calico-apiserver",
}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": _LABELS,
        "matchExpressions": {"type": "array", "items": {"type": "object"}},
    },
}
# The Constraint envelope of Gatekeeper's constraint CRDs (everything but spec.parameters).
ENVELOPE = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"enum": ["constraints.gatekeeper.sh/v1beta1", "constraints.gatekeeper.sh/v1"]},
        "kind": {"type": "string"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enforcementAction": {"enum": ["dryrun", "warn", "deny"]},
                "match": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "kinds": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["kinds"],
                                "properties": {
                                    "apiGroups": {"type": "array", "items": {"type": "string"}},
                                    "kinds": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                        },
                        "scope": {"enum": ["*", "Cluster", "Namespaced"]},
                        "namespaces": {"type": "array", "items": {"type": "string"}},
                        "excludedNamespaces": {"type": "array", "items": {"type": "string"}},
                        "labelSelector": _SELECTOR,
                        "namespaceSelector": _SELECTOR,
                        "name": {"type": "string"},
                        "source": {"enum": ["All", "Generated", "Original"]},
                    },
                },
                "parameters": {"type": "object"},
            },
        },
    },
}


@pytest.fixture(scope="module")
def library(rendered):
    templates = {t["spec"]["crd"]["spec"]["names"]["kind"]: t for t in rendered.objects("ConstraintTemplate")}
    constraints = [o for o in rendered.objects() if o["apiVersion"].startswith("constraints.gatekeeper.sh/")]
    return templates, constraints


def test_each_constraint_has_a_template_and_each_template_a_constraint(library):
    templates, constraints = library
    assert len(templates) == 8
    assert {c["kind"] for c in constraints} == set(templates)


def test_each_constraint_validates_against_its_template(library):
    templates, constraints = library
    for c in constraints:
        jsonschema.Draft7Validator(ENVELOPE).validate(c)
        schema = _strict(templates[c["kind"]]["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"])
        jsonschema.Draft7Validator(schema).validate(c["spec"].get("parameters", {}))


def test_template_schemas_reject_bad_parameters(library):
    templates, _ = library
    repos = _strict(templates["PlatformAllowedRepos"]["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"])
    # A prefix without the trailing slash would let registry.io match registry.io.evil.com.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"repos": ["registry.example.com"]}, repos)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"repos": ["registry.example.com/"], "repoz": []}, repos)
    labels = _strict(templates["PlatformRequiredLabels"]["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"labels": [{"name": "x"}]}, labels)


def test_enforcement_starts_soft_and_moves_to_deny_by_variable(library):
    _, constraints = library
    actions = {c["metadata"]["name"]: c["spec"]["enforcementAction"] for c in constraints}
    # fixtures/render-vars.yml moves one constraint to deny through gatekeeper_constraint_enforcement.
    assert actions.pop("platform-disallow-latest-tag") == "deny"
    assert set(actions.values()) == {"warn"}


def test_exemptions_only_relax_the_privilege_constraints(library):
    _, constraints = library
    for c in constraints:
        excluded = set(c["spec"]["match"]["excludedNamespaces"])
        privilege = c["kind"] in {
            "PlatformPrivileged",
            "PlatformHostNamespaces",
            "PlatformReadOnlyRootFs",
            "PlatformRunAsNonRoot",
        }
        assert excluded == (SYSTEM | EXEMPT if privilege else SYSTEM), c["metadata"]["name"]


# ---------------------------------------------------------------- Rego verdict tables


def container(name="app", image="registry.example.com/orchestrator/app:1.2.3", **over):
    c = {
        "name": name,
        "image": image,
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
    }
    c.update(over)
    return c


def pod(*containers, init=(), ephemeral=(), **spec):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "orchestrator", "labels": {"app.kubernetes.io/name": "p"}},
        "spec": {
            "containers": list(containers) or [container()],
            "initContainers": list(init),
            "ephemeralContainers": list(ephemeral),
            **spec,
        },
    }


def deployment(*containers, labels=None, **spec):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "d",
            "namespace": "orchestrator",
            "labels": {"app.kubernetes.io/name": "d"} if labels is None else labels,
        },
        "spec": {"template": {"spec": {"containers": list(containers) or [container()], **spec}}},
    }


def cronjob(*containers):
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c", "namespace": "orchestrator"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": list(containers)}}}}},
    }


def sc(**fields):
    base = {"runAsNonRoot": True, "readOnlyRootFilesystem": True}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


NO_LIMITS = {"requests": {"cpu": "100m", "memory": "128Mi"}}

# (template kind, case, object, denied?, parameter overrides)
CASES = [
    ("PlatformAllowedRepos", "own registry", pod(), False, None),
    ("PlatformAllowedRepos", "allowed upstream path", pod(container(image="quay.io/calico/node:v3.32.2")), False, None),
    (
        "PlatformAllowedRepos",
        "short name completed to docker.io/calico",
        pod(container(image="calico/ctl:v3.32.2")),
        False,
        None,
    ),
    ("PlatformAllowedRepos", "short library name is docker.io/library", pod(container(image="nginx:1.27")), True, None),
    ("PlatformAllowedRepos", "foreign registry", pod(container(image="evil.io/miner:1")), True, None),
    ("PlatformAllowedRepos", "look-alike host", pod(container(image="registry.example.com.evil.io/x:1")), True, None),
    ("PlatformAllowedRepos", "other path of an allowed registry", pod(container(image="quay.io/evil/x:1")), True, None),
    ("PlatformAllowedRepos", "init container", pod(init=[container(image="evil.io/x:1")]), True, None),
    (
        "PlatformAllowedRepos",
        "ephemeral container",
        pod(ephemeral=[{"name": "dbg", "image": "evil.io/x:1"}]),
        True,
        None,
    ),
    ("PlatformAllowedRepos", "deployment template", deployment(container(image="evil.io/x:1")), True, None),
    ("PlatformAllowedRepos", "cronjob template", cronjob(container(image="evil.io/x:1")), True, None),
    ("PlatformRequiredLabels", "labelled deployment", deployment(), False, None),
    ("PlatformRequiredLabels", "missing label", deployment(labels={"team": "a"}), True, None),
    ("PlatformRequiredLabels", "no labels at all", deployment(labels={}), True, None),
    (
        "PlatformRequiredLabels",
        "value not matching",
        deployment(labels={"app.kubernetes.io/name": "Web_App"}),
        True,
        None,
    ),
    ("PlatformContainerLimits", "limits and requests", pod(), False, None),
    (
        "PlatformContainerLimits",
        "no cpu limit",
        pod(container(resources={"limits": {"memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}})),
        True,
        None,
    ),
    ("PlatformContainerLimits", "no limits", pod(container(resources=NO_LIMITS)), True, None),
    (
        "PlatformContainerLimits",
        "no requests",
        pod(container(resources={"limits": {"cpu": "1", "memory": "1Gi"}})),
        True,
        None,
    ),
    (
        "PlatformContainerLimits",
        "requests not required",
        pod(container(resources={"limits": {"cpu": "1", "memory": "1Gi"}})),
        False,
        {"requireRequests": False},
    ),
    ("PlatformContainerLimits", "init container without limits", pod(init=[container(resources={})]), True, None),
    (
        "PlatformContainerLimits",
        "ephemeral containers cannot have resources",
        pod(ephemeral=[{"name": "dbg", "image": "x:1"}]),
        False,
        None,
    ),
    ("PlatformContainerLimits", "workload template", deployment(container(resources={})), True, None),
    ("PlatformPrivileged", "not privileged", pod(), False, None),
    ("PlatformPrivileged", "privileged false", pod(container(securityContext=sc(privileged=False))), False, None),
    ("PlatformPrivileged", "privileged", pod(container(securityContext=sc(privileged=True))), True, None),
    ("PlatformPrivileged", "privileged init", pod(init=[container(securityContext=sc(privileged=True))]), True, None),
    (
        "PlatformPrivileged",
        "privileged daemonset template",
        deployment(container(securityContext=sc(privileged=True))),
        True,
        None,
    ),
    (
        "PlatformPrivileged",
        "exempt image",
        pod(container(image="registry.example.com/debug/x:1", securityContext=sc(privileged=True))),
        False,
        {"exemptImages": ["registry.example.com/debug/"]},
    ),
    ("PlatformHostNamespaces", "no host namespaces", pod(), False, None),
    ("PlatformHostNamespaces", "hostNetwork false", pod(hostNetwork=False), False, None),
    ("PlatformHostNamespaces", "hostNetwork", pod(hostNetwork=True), True, None),
    ("PlatformHostNamespaces", "hostPID", pod(hostPID=True), True, None),
    ("PlatformHostNamespaces", "hostIPC", pod(hostIPC=True), True, None),
    ("PlatformHostNamespaces", "deployment with hostNetwork", deployment(hostNetwork=True), True, None),
    ("PlatformReadOnlyRootFs", "read-only", pod(), False, None),
    (
        "PlatformReadOnlyRootFs",
        "writable",
        pod(container(securityContext=sc(readOnlyRootFilesystem=False))),
        True,
        None,
    ),
    ("PlatformReadOnlyRootFs", "not set", pod(container(securityContext={"runAsNonRoot": True})), True, None),
    ("PlatformReadOnlyRootFs", "no security context", pod(container(securityContext=None)), True, None),
    ("PlatformReadOnlyRootFs", "init container writable", pod(init=[container(securityContext={})]), True, None),
    ("PlatformRunAsNonRoot", "container runAsNonRoot", pod(), False, None),
    (
        "PlatformRunAsNonRoot",
        "pod-level runAsNonRoot",
        pod(container(securityContext={"readOnlyRootFilesystem": True}), securityContext={"runAsNonRoot": True}),
        False,
        None,
    ),
    (
        "PlatformRunAsNonRoot",
        "container overrides pod to false",
        pod(container(securityContext=sc(runAsNonRoot=False)), securityContext={"runAsNonRoot": True}),
        True,
        None,
    ),
    ("PlatformRunAsNonRoot", "not set anywhere", pod(container(securityContext={})), True, None),
    ("PlatformRunAsNonRoot", "container user 0", pod(container(securityContext=sc(runAsUser=0))), True, None),
    ("PlatformRunAsNonRoot", "pod user 0 inherited", pod(container(), securityContext={"runAsUser": 0}), True, None),
    (
        "PlatformRunAsNonRoot",
        "container user overrides pod 0",
        pod(container(securityContext=sc(runAsUser=1000)), securityContext={"runAsUser": 0}),
        False,
        None,
    ),
    ("PlatformRunAsNonRoot", "cronjob template", cronjob(container(securityContext={})), True, None),
    ("PlatformDisallowLatest", "pinned tag", pod(), False, None),
    (
        "PlatformDisallowLatest",
        "digest",
        pod(container(image="registry.example.com/a@sha256:" + "0" * 64)),
        False,
        None,
    ),
    ("PlatformDisallowLatest", "latest", pod(container(image="registry.example.com/a:latest")), True, None),
    ("PlatformDisallowLatest", "no tag", pod(container(image="registry.example.com/a")), True, None),
    (
        "PlatformDisallowLatest",
        "registry port, no tag",
        pod(container(image="registry.example.com:5000/a")),
        True,
        None,
    ),
    (
        "PlatformDisallowLatest",
        "registry port, tag",
        pod(container(image="registry.example.com:5000/a:1.0")),
        False,
        None,
    ),
    (
        "PlatformDisallowLatest",
        "ephemeral latest",
        pod(ephemeral=[{"name": "dbg", "image": "busybox:latest"}]),
        True,
        None,
    ),
]


def violations(template, obj, params):
    rego = template["spec"]["targets"][0]["rego"]
    package = rego.splitlines()[0].split()[1]
    interp = regopy.Interpreter()
    interp.add_module(package, rego)
    interp.set_input_term(json.dumps({"review": {"object": obj}, "parameters": params}))
    result = interp.query(f"x := [v | data.{package}.violation[v]]")
    assert result.ok(), f"{package}: {result}"
    return json.loads(str(result))["bindings"]["x"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rego_verdict(library, case):
    kind, name, obj, denied, override = case
    templates, constraints = library
    constraint = next(c for c in constraints if c["kind"] == kind)
    params = copy.deepcopy(constraint["spec"].get("parameters", {}))
    params.update(override or {})
    found = violations(templates[kind], obj, params)
    assert bool(found) == denied, f"{kind} / {name}: {found}"
    for v in found:
        assert v["msg"].startswith(f"{obj['kind']} {obj['metadata']['name']}: "), v


def test_every_template_has_allowed_and_denied_cases(library):
    templates, _ = library
    for kind in templates:
        verdicts = {c[3] for c in CASES if c[0] == kind}
        assert verdicts == {True, False}, kind
