"""Session fixtures of the k8s/ tree tests (helpers in k8s_tree.py)."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_schema import load_documents
from k8s_tree import DEPLOYABLE, K8S, Builder


@pytest.fixture(scope="session")
def builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(tmp_path_factory.mktemp("kustomize"))


class Rendered(dict):
    """The deployable sets by name, each built on first use (a broken tree fails its own tests only)."""

    def __init__(self, builder: Builder) -> None:
        super().__init__()
        self.builder = builder

    def __missing__(self, name: str) -> list[dict[str, Any]]:
        rel, comps = DEPLOYABLE[name]
        self[name] = self.builder.build(rel, comps)
        return self[name]


@pytest.fixture(scope="session")
def rendered(builder: Builder) -> Rendered:
    return Rendered(builder)


@pytest.fixture(scope="session")
def application_set() -> list[dict[str, Any]]:
    """application-set.yaml is applied on its own (not part of k8s/argocd's kustomization)."""
    return load_documents((K8S / "argocd" / "application-set.yaml").read_text())
