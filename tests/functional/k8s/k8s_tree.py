"""Helpers of the k8s/ tree tests: every kustomization, built once with `kubectl kustomize`.

A "rendered set" is the output of one kustomization, or of a small composition written in a
temporary directory (a pure-patch component applied to the tree it patches), exactly as a user
or step 10 would build it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from k8s_schema import load_documents

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

# Components that only patch what another tree holds: built on top of that tree.
PATCH_COMPONENTS = {
    "argo-rollouts/gated": "argo-rollouts",
    "components/mesos-agent-docker": "base",
}


def kustomization_dirs() -> list[str]:
    """Every directory under k8s/ holding a kustomization, relative to k8s/."""
    return sorted(str(p.parent.relative_to(K8S)) for p in K8S.rglob("kustomization.yaml"))


def kustomization_kind(rel: str) -> str:
    return (yaml.safe_load((K8S / rel / "kustomization.yaml").read_text()) or {}).get("kind", "Kustomization")


def kustomize(directory: Path) -> tuple[str, float]:
    """Build a kustomization; return its output and the wall time it took."""
    start = time.monotonic()
    proc = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{proc.stderr}")
    return proc.stdout, took


class Builder:
    """Builds and caches rendered sets for the whole session."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cache: dict[tuple[str, tuple[str, ...]], tuple[list[dict[str, Any]], float]] = {}

    def compose(self, resources: list[str], components: tuple[str, ...] = ()) -> Path:
        """A temporary kustomization that takes k8s/<resources> and adds k8s/<components>."""
        work = Path(os.path.join(self.tmp, f"compose-{len(self.cache)}"))
        work.mkdir(parents=True)
        doc = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(K8S / r, work) for r in resources],
        }
        if components:
            doc["components"] = [os.path.relpath(K8S / c, work) for c in components]
        (work / "kustomization.yaml").write_text(yaml.safe_dump(doc))
        return work

    def build(self, rel: str, components: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return self.build_timed(rel, components)[0]

    def build_timed(self, rel: str, components: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], float]:
        key = (rel, components)
        if key not in self.cache:
            directory = self.compose([rel], components) if components else K8S / rel
            text, took = kustomize(directory)
            self.cache[key] = (load_documents(text), took)
        return self.cache[key]


# What a user can deploy: the base, each overlay, the canary tree in both modes, the experiment,
# the Argo CD objects, and the overlay with the optional Docker containerizer.
DEPLOYABLE = {
    "base": ("base", ()),
    "dev": ("overlays/dev", ()),
    "staging": ("overlays/staging", ()),
    "prod": ("overlays/prod", ()),
    "rollout": ("argo-rollouts", ()),
    "rollout-gated": ("argo-rollouts", ("argo-rollouts/gated",)),
    "experiment": ("argo-rollouts/experiment", ()),
    "argocd": ("argocd", ()),
    "prod-docker": ("overlays/prod", ("components/mesos-agent-docker",)),
}


def find(objects: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    hits = [
        o
        for o in objects
        if o.get("kind") == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"expected exactly one {kind} {namespace}/{name}, found {len(hits)}"
    return hits[0]


WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"}


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(object, label, pod spec) for every pod template rendered: workloads and experiment templates.

    A Rollout that takes its template from a Deployment (workloadRef) has no pod spec of its own.
    """
    out = []
    for obj in objects:
        meta = obj["metadata"]
        label = f"{obj['kind']} {meta.get('namespace')}/{meta['name']}"
        if obj["kind"] in WORKLOAD_KINDS and "template" in obj.get("spec", {}):
            out.append((obj, label, obj["spec"]["template"]["spec"]))
        elif obj["kind"] == "CronJob":
            out.append((obj, label, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif obj["kind"] == "Experiment":
            for tpl in obj["spec"]["templates"]:
                out.append((obj, f"{label} template {tpl['name']}", tpl["template"]["spec"]))
    return out


def pod_labels(obj: dict[str, Any], spec_label: str) -> dict[str, str]:
    if obj["kind"] == "Experiment":
        name = spec_label.rsplit(" ", 1)[-1]
        tpl = next(t for t in obj["spec"]["templates"] if t["name"] == name)
        return tpl["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
