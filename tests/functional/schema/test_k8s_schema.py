"""The shared validator must reject what the API server would reject, or every render test is hollow."""

import pytest
from k8s_schema import SchemaError, load_documents, pinned_kubernetes_version, validate_all, validate_object

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}, "data": {"a": "b"}}

ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "orchestrator", "namespace": "orchestrator"},
    "spec": {
        "selector": {"matchLabels": {"app": "x"}},
        "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
        "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}]}},
    },
}


def test_pinned_version_is_a_patch_release_of_a_supported_minor():
    major, minor, patch = pinned_kubernetes_version().split(".")
    assert (int(major), int(minor)) == (1, 36)
    assert int(patch) >= 0


def test_valid_core_object_passes():
    validate_object(dict(CONFIGMAP))


def test_unknown_field_in_core_object_fails():
    bad = dict(CONFIGMAP, datta={"a": "b"})
    with pytest.raises(SchemaError, match="datta"):
        validate_object(bad)


def test_wrong_type_in_core_object_fails():
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": "three", "selector": {}, "template": {}},
    }
    with pytest.raises(SchemaError, match="replicas"):
        validate_object(bad)


def test_valid_custom_resource_passes():
    validate_object(ROLLOUT)


def test_unknown_field_in_custom_resource_fails():
    bad = {**ROLLOUT, "spec": {**ROLLOUT["spec"], "strategy": {"canary": {"stepz": []}}}}
    with pytest.raises(SchemaError, match="stepz"):
        validate_object(bad)


def test_custom_resource_metadata_is_checked():
    bad = {**ROLLOUT, "metadata": {"name": "Not_A_DNS_Name"}}
    with pytest.raises(SchemaError, match="metadata/name"):
        validate_object(bad)


def test_unknown_kind_is_an_error_not_a_pass():
    with pytest.raises(SchemaError, match="no schema"):
        validate_object({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    with pytest.raises(SchemaError, match="no schema"):
        validate_object({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}})


def test_validate_all_reports_each_bad_object():
    docs = load_documents(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\nbogus: 1\n---\n"
    )
    assert len(docs) == 2
    problems = validate_all(docs)
    assert len(problems) == 1
    assert "ConfigMap b" in problems[0]
