"""The controller's requirements (issue 19 item 1): requirements.txt names every Python package the
collection imports on the controller, bindep.txt the controller binaries, meta/execution-environment.yml
points at both the way ansible-builder reads a collection's metadata, and preflight checks the
controller's Python against requirements.txt before anything else, naming what is missing."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]

# Import names of the third-party packages whose distribution has another name.
DISTRIBUTION_OF = {"yaml": "PyYAML"}
# Filters and tests of ansible.utils that need netaddr on the controller.
NETADDR_USERS = re.compile(r"ansible\.utils\.(ip\w*|in_network|subnet_of|supernet_of|ipaddr|ipv4|ipv6)\b")


def _requirements() -> dict[str, Requirement]:
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    reqs = [Requirement(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()]
    return {r.name.lower(): r for r in reqs}


def _third_party_imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    ours = ("ansible", "ansible_collections", "__future__")
    return {n for n in names if n not in sys.stdlib_module_names and n not in ours}


def test_requirements_name_every_controller_import():
    """Every third-party import of our plugins (or a dependency of a listed package), netaddr for the
    ansible.utils address filters and kubernetes for the kubernetes.core modules are in
    requirements.txt, each with a bounded range."""
    reqs = _requirements()
    needed = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for name in _third_party_imports(path):
            needed.setdefault(DISTRIBUTION_OF.get(name, name).lower(), str(path.relative_to(ROOT)))
    yaml_files = [p for d in ("roles", "playbooks") for p in sorted((ROOT / d).rglob("*.yml"))]
    text = {p: p.read_text(encoding="utf-8") for p in yaml_files}
    netaddr_user = next((p for p, t in text.items() if NETADDR_USERS.search(t)), None)
    k8s_user = next((p for p, t in text.items() if "kubernetes.core." in t), None)
    assert netaddr_user and k8s_user, "the scan found no user of ansible.utils address filters or kubernetes.core"
    needed.setdefault("netaddr", str(netaddr_user.relative_to(ROOT)))
    needed.setdefault("kubernetes", str(k8s_user.relative_to(ROOT)))
    # A package that a listed one depends on comes with it (urllib3 with kubernetes).
    brought = {
        Requirement(dep).name.lower()
        for req in reqs.values()
        for dep in importlib.metadata.requires(req.name) or []
        if "extra ==" not in dep
    }
    missing = {name: where for name, where in needed.items() if name not in reqs and name not in brought}
    assert not missing, f"imported on the controller but not in requirements.txt: {missing}"
    for req in reqs.values():
        ops = {spec.operator for spec in req.specifier}
        assert ">=" in ops and "<" in ops, f"requirements.txt: {req} is not a bounded range"


def test_this_virtualenv_satisfies_the_requirements():
    """The ranges hold what the tests run with (constraints.txt installs the venv running this test)."""
    reqs = _requirements()
    assert reqs, "requirements.txt lists nothing"
    for req in reqs.values():
        version = importlib.metadata.version(req.name)
        assert req.specifier.contains(version, prereleases=True), f"{req} excludes the tested {req.name} {version}"


def test_execution_environment_metadata_as_ansible_builder_reads_it():
    """ansible-builder's introspection reads meta/execution-environment.yml of every collection it
    installs, with the dependency files relative to the collection root (absolute paths refused)."""
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    deps = meta["dependencies"]
    assert set(deps) == {"python", "system"}, deps
    assert deps["python"] == "requirements.txt" and deps["system"] == "bindep.txt"
    for rel in deps.values():
        assert not os.path.isabs(rel)
        assert _entries(ROOT / rel), f"{rel} has no requirement"
    # bindep lines: a package name and optional [profiles]; helm and kubectl for the controller.
    bindep = _entries(ROOT / "bindep.txt")
    for line in bindep:
        assert re.fullmatch(r"[A-Za-z0-9][\w.+-]*( \[[\w:!. -]+\])?", line), f"bindep.txt: {line!r}"
    assert {ln.split()[0] for ln in bindep} >= {"helm", "kubernetes-client"}


def _entries(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def _python_without(tmp_path: Path, left_out: str) -> Path:
    """A virtualenv that sees every package of this one except `left_out` (its files and metadata)."""
    env = tmp_path / "py"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    shadow = tmp_path / "site"
    shadow.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.lower().startswith(left_out) or entry.suffix == ".pth":
            continue
        (shadow / entry.name).symlink_to(entry)
    env_site = Path(subprocess.run(
        [str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip())
    (env_site / "orch-shadow.pth").write_text(f"{shadow}\n", encoding="utf-8")
    probe = subprocess.run([str(env / "bin" / "python"), "-c", f"import {left_out}"], capture_output=True, check=False)
    assert probe.returncode != 0, f"{left_out} is still importable in the test interpreter"
    return env / "bin" / "python"


def _preflight(python: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n", encoding="utf-8")
    playbook = Path(sys.executable).parent / "ansible-playbook"
    return subprocess.run(
        [str(python), str(playbook), "-i", str(inventory), str(ROOT / "playbooks" / "00_preflight.yml")],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300,
    )


def test_preflight_names_a_missing_controller_package_first(tmp_path):
    """Without netaddr, step 0 stops at its first check and says what to install and how; it does not
    go on to the inventory checks (whose filters would fail with a raw import error)."""
    run = _preflight(_python_without(tmp_path, "netaddr"), tmp_path)
    out = " ".join((run.stdout + run.stderr).split())  # the YAML callback folds long messages
    assert run.returncode != 0, out
    assert "[controller-requirements]" in out, out
    assert re.search(r"netaddr is not installed \(requirements\.txt: netaddr[<>=,.\d]+\)", out), out
    assert re.search(r"-m pip install -r \S*/requirements\.txt", out), out
    assert "[groups-empty]" not in out, out


def test_preflight_controller_check_passes_with_the_requirements(tmp_path):
    """With every requirement the check passes and step 0 goes on (to the empty-inventory failure)."""
    run = _preflight(Path(sys.executable), tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert "[groups-empty]" in out, out
    assert "[controller-requirements]" not in out, out
