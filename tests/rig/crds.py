"""THE RIG, not the collection: CustomResourceDefinitions for the rig's real API server, built from
the JSON Schemas in ../shared/schemas/crds (the datreeio/CRDs-catalog layout: one file per kind and
version, converted from each project's own CRD).

The charts that install these CRDs cannot be downloaded here, so the rig creates the definitions
itself before steps 5-12 send their objects. What a catalog file does not carry is given below per
kind, from each project's API reference: the kind's name, plural and scope, and its subresources.
The schema is the catalog's, with the two changes a CRD needs: the catalog's strict mode adds
`additionalProperties: false` beside every `properties` (a structural schema forbids both on one
node; unknown fields are pruned by the API server instead), and `metadata` is reduced to
`type: object` (the API server validates metadata itself and refuses a CRD that constrains it).

Usage: python3 crds.py <schemas dir>  -> a YAML stream of CustomResourceDefinitions on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

# Only the kinds something of ours sends (steps 5-11, the k8s/ tree and the canary): every CRD
# added makes each API server rebuild its OpenAPI document, which the rig's two cores feel.
# group -> [(Kind, plural, scope, versions (the last one stored), subresources)]
# Subresources: "status", and "scale" as (specReplicasPath, statusReplicasPath, labelSelectorPath).
STATUS = {"status": {}}
KINDS: dict[str, list[tuple[str, str, str, list[str], dict[str, Any]]]] = {
    "argoproj.io": [
        (
            "Rollout",
            "rollouts",
            "Namespaced",
            ["v1alpha1"],
            {
                "status": {},
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.HPAReplicas",
                    "labelSelectorPath": ".status.selector",
                },
            },
        ),
        ("AnalysisTemplate", "analysistemplates", "Namespaced", ["v1alpha1"], {}),
        ("Application", "applications", "Namespaced", ["v1alpha1"], {}),
        ("AppProject", "appprojects", "Namespaced", ["v1alpha1"], {}),
    ],
    "cert-manager.io": [
        ("Certificate", "certificates", "Namespaced", ["v1"], STATUS),
        ("ClusterIssuer", "clusterissuers", "Cluster", ["v1"], STATUS),
    ],
    "config.gatekeeper.sh": [("Config", "configs", "Namespaced", ["v1alpha1"], STATUS)],
    "templates.gatekeeper.sh": [("ConstraintTemplate", "constrainttemplates", "Cluster", ["v1"], STATUS)],
    "external-secrets.io": [
        ("ExternalSecret", "externalsecrets", "Namespaced", ["v1"], STATUS),
        ("ClusterSecretStore", "clustersecretstores", "Cluster", ["v1"], STATUS),
    ],
    "monitoring.coreos.com": [
        ("ServiceMonitor", "servicemonitors", "Namespaced", ["v1"], {}),
        ("PrometheusRule", "prometheusrules", "Namespaced", ["v1"], {}),
        ("AlertmanagerConfig", "alertmanagerconfigs", "Namespaced", ["v1alpha1"], {}),
    ],
    "networking.istio.io": [
        ("DestinationRule", "destinationrules", "Namespaced", ["v1"], STATUS),
    ],
    "security.istio.io": [
        ("PeerAuthentication", "peerauthentications", "Namespaced", ["v1"], STATUS),
    ],
    "telemetry.istio.io": [("Telemetry", "telemetries", "Namespaced", ["v1"], STATUS)],
    "operator.tigera.io": [
        ("Installation", "installations", "Cluster", ["v1"], STATUS),
        ("APIServer", "apiservers", "Cluster", ["v1"], STATUS),
    ],
    "policy.sigstore.dev": [
        ("ClusterImagePolicy", "clusterimagepolicies", "Cluster", ["v1alpha1", "v1beta1"], {}),
    ],
    "snapshot.storage.k8s.io": [
        ("VolumeSnapshotClass", "volumesnapshotclasses", "Cluster", ["v1"], {}),
    ],
    "velero.io": [
        ("BackupStorageLocation", "backupstoragelocations", "Namespaced", ["v1"], STATUS),
        ("Schedule", "schedules", "Namespaced", ["v1"], STATUS),
    ],
}


# A group under k8s.io or kubernetes.io needs the API approval annotation (KEP 1111); the upstream
# CRD names its approval. This copy says that it is not that upstream CRD (the API server accepts
# "unapproved, ..." and reports the KubernetesAPIApprovalPolicyConformant condition false).
PROTECTED_GROUP_NOTE = "unapproved, the test rig's copy built from ../shared/schemas"


def protected(group: str) -> bool:
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


def structural(node: Any, top: bool = False) -> Any:
    """The catalog schema as a CRD schema: strict-mode additionalProperties dropped, metadata open."""
    if isinstance(node, list):
        return [structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "additionalProperties" and value is False:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {
                name: ({"type": "object"} if top and name == "metadata" else structural(sub))
                for name, sub in value.items()
            }
            continue
        out[key] = structural(value)
    return out


def definition(schemas: Path, group: str, spec: tuple) -> dict[str, Any]:
    kind, plural, scope, versions, subresources = spec
    served = []
    for index, version in enumerate(versions):
        schema = json.loads((schemas / group / f"{kind.lower()}_{version}.json").read_text())
        entry: dict[str, Any] = {
            "name": version,
            "served": True,
            "storage": index == len(versions) - 1,
            "schema": {"openAPIV3Schema": structural(schema, top=True)},
        }
        if subresources:
            entry["subresources"] = subresources
        served.append(entry)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"orchestrator.io/rig": "crd-from-shared-schemas"},
            **({"annotations": {"api-approved.kubernetes.io": PROTECTED_GROUP_NOTE}} if protected(group) else {}),
        },
        "spec": {
            "group": group,
            "scope": scope,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "versions": served,
        },
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    schemas = Path(argv[1])
    docs = [definition(schemas, group, kind) for group, kinds in KINDS.items() for kind in kinds]
    yaml.safe_dump_all(docs, sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
