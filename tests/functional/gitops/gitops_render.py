"""Helpers of the step 10 render tests: where things are, and what a render wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from k8s_schema import load_documents

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
FIXTURES = HERE / "fixtures"
K8S = ROOT / "k8s"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def inventory_args() -> list[str]:
    example = ROOT / "inventories" / "example"
    if (example / "group_vars").is_dir():
        return ["-i", str(example), "-i", str(FIXTURES / "localhost.yml")]
    return ["-i", str(FIXTURES / "inventory.yml")]


@dataclass
class Render:
    """What one run of the step wrote, per file (relative to the render directory), and its log."""

    root: Path
    log: str
    seconds: float
    files: dict[str, Any] = field(default_factory=dict)

    def objects(self, component: str | None = None) -> list[dict[str, Any]]:
        out = []
        for rel, content in self.files.items():
            if rel.endswith(("-values.yml", "-release.yml")):
                continue
            if component is None or rel.startswith(component + "/"):
                out.extend(content)
        return out

    def one(self, kind: str, name: str, component: str | None = None) -> dict[str, Any]:
        found = [o for o in self.objects(component) if o["kind"] == kind and o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]


def load_render(root: Path, log: str, seconds: float) -> Render:
    render = Render(root=root, log=log, seconds=seconds)
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(root))
        text = path.read_text()
        if rel.endswith(("-values.yml", "-release.yml")):
            render.files[rel] = yaml.safe_load(text)
        else:
            render.files[rel] = load_documents(text)
    return render


def kustomize_like_argocd(tmp: Path, path: str, kustomize: dict[str, Any]) -> list[dict[str, Any]]:
    """Build k8s/<path> the way Argo CD does for an Application's spec.source.kustomize.

    Argo CD adds the components (relative to the source path), the images and the patches to the
    source's kustomization before `kustomize build`; a wrapping kustomization does the same here.
    """
    tmp.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S / path, tmp)],
    }
    if kustomize.get("components"):
        doc["components"] = [os.path.relpath(K8S / path / c, tmp) for c in kustomize["components"]]
    if kustomize.get("patches"):
        doc["patches"] = kustomize["patches"]
    images = []
    for spec in kustomize.get("images", []):
        name, _, target = spec.partition("=")
        entry: dict[str, str] = {"name": name if target else spec.split(":")[0]}
        target = target or spec
        if "@" in target:
            new, _, digest = target.partition("@")
            entry["digest"] = digest
        else:
            new, _, tag = target.rpartition(":") if ":" in target.split("/")[-1] else (target, "", "")
            if tag:
                entry["newTag"] = tag
        if new and new != entry["name"]:
            entry["newName"] = new
        images.append(entry)
    if images:
        doc["images"] = images
    (tmp / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    proc = subprocess.run([KUBECTL, "kustomize", str(tmp)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return load_documents(proc.stdout)


def run_playbook(out, *extra):
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            "ansible-playbook",
            *inventory_args(),
            str(ROOT / "playbooks" / "10_gitops.yml"),
            "-e",
            f"cluster_render_dir={out}",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-v",
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
