"""The collection builds into a tarball without dev files, and installs offline with its dependencies."""

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import yaml
from prerequisites import missing

ROOT = Path(__file__).resolve().parents[3]
# The official GPL-3.0 text as Debian ships it (package base-files): what COPYING must be, verbatim.
OFFICIAL_GPL3 = Path("/usr/share/common-licenses/GPL-3")


# What a user of the collection gets, entry by entry at the top of the tarball. A new top-level file or
# folder fails the build test until it is added here (content) or to galaxy.yml's build_ignore.
SHIPPED = {
    "MANIFEST.json", "FILES.json", "README.md", "COPYING", "requirements.txt", "bindep.txt",
    "requirements.yml", "meta", "plugins", "roles", "playbooks", "docs", "changelogs", "k8s", "inventories",
}
REQUIRED = {"MANIFEST.json", "FILES.json", "README.md", "COPYING", "requirements.txt", "bindep.txt", "meta", "roles",
            "playbooks", "plugins"}
# Paths that never ship at any depth: caches, tests' output, the lab's logs and inventory.
NEVER = ("__pycache__/", ".pyc", ".pytest_cache/", ".ruff_cache/", ".cache/", ".ansible/", "tests/output/",
         "changelogs/.plugin-cache.yaml", "inventories/lab/")


def shipping_problems(names):
    """The entries of a tarball's file list that are not content: outside SHIPPED, or under NEVER."""
    problems = sorted({n.split("/")[0] for n in names} - SHIPPED)
    problems += sorted(n for n in names if any(f"/{x}" in f"/{n}/" or n.endswith(x) for x in NEVER))
    problems += sorted(f"missing: {r}" for r in REQUIRED - {n.split("/")[0] for n in names})
    return problems


def _build(source, out):
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", str(source), "--output-path", str(out), "--force"],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    tarball = next(Path(out).glob("orchestrator-platform-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        return tarball, tar.getnames()


def test_the_allow_list_check_catches_a_stray_folder():
    """The check itself: a stray folder, a cache deep in a role, the lab inventory, a missing licence."""
    good = ["MANIFEST.json", "FILES.json", "README.md", "COPYING", "requirements.txt", "bindep.txt", "meta",
            "meta/runtime.yml", "roles", "roles/x/tasks/main.yml", "playbooks", "plugins"]
    assert shipping_problems(good) == []
    assert shipping_problems([*good, "stray", "stray/file"]) == ["stray"]
    assert shipping_problems([*good, "roles/x/files/__pycache__/p.cpython-311.pyc"]) != []
    assert shipping_problems([*good, "inventories", "inventories/lab/hosts.yml"]) == ["inventories/lab/hosts.yml"]
    assert shipping_problems([n for n in good if n != "COPYING"]) == ["missing: COPYING"]


def test_a_working_tree_with_caches_and_run_output_builds_only_content(tmp_path):
    """Build a copy of the tree after a day of work: lab logs, compliance reports, tool caches,
    tests' output, ansible.cfg and pytest.ini. Only content ships."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split("\0")
    tree = tmp_path / "tree"
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, tree / rel)
    for stray in ("lab/site.log", "compliance-reports/report.json", ".pytest_cache/v/cache/nodeids",
                  ".ruff_cache/0.1/x", ".cache/x", ".ansible/collections/x", "tests/output/junit.xml",
                  "plugins/modules/__pycache__/rollout.cpython-311.pyc", "roles/preflight/files/__pycache__/x.pyc",
                  "changelogs/.plugin-cache.yaml", "orchestrator-platform-0.0.1.tar.gz"):
        (tree / stray).parent.mkdir(parents=True, exist_ok=True)
        (tree / stray).write_text("stray\n", encoding="utf-8")
    assert (tree / "ansible.cfg").is_file() and (tree / "pytest.ini").is_file()
    _, names = _build(tree, tmp_path / "out")
    assert shipping_problems(names) == [], "shipped but not content (galaxy.yml build_ignore)"


def _galaxy():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())


def test_galaxy_metadata():
    galaxy = _galaxy()
    assert (galaxy["namespace"], galaxy["name"]) == ("orchestrator", "platform")
    assert set(galaxy["dependencies"]) == {
        "kubernetes.core",
        "community.general",
        "ansible.posix",
        "ansible.utils",
        "community.crypto",
    }
    # Every dependency has a bounded range, and requirements.yml says the same for Galaxy users.
    listed = yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]
    requirements = {c["name"]: c["version"] for c in listed}
    for name, spec in galaxy["dependencies"].items():
        assert ">=" in spec and "<" in spec.replace("<=", ""), f"{name}: {spec} is not a bounded range"
        assert requirements[name] == spec, f"requirements.yml disagrees with galaxy.yml on {name}"


def test_licence_is_the_official_gpl3_text():
    """galaxy.yml says GPL-3.0-or-later and every module says "see COPYING": COPYING is the GPL-3.0
    text, byte for byte."""
    assert _galaxy()["license"] == ["GPL-3.0-or-later"]
    assert (ROOT / "COPYING").is_file(), "no COPYING at the collection root"
    if not OFFICIAL_GPL3.is_file():
        missing(f"{OFFICIAL_GPL3} (Debian's base-files) is not on this machine to compare COPYING with")
    assert (ROOT / "COPYING").read_bytes() == OFFICIAL_GPL3.read_bytes(), "COPYING is not the official GPL-3.0 text"
    # No metadata that cannot be true: an address under example.invalid is a placeholder.
    for key in ("documentation", "issues", "homepage"):
        assert "example.invalid" not in str(_galaxy().get(key) or ""), f"galaxy.yml {key} is a placeholder"


def test_build_and_offline_install(tmp_path):
    tarball, names = _build(ROOT, tmp_path)
    assert "COPYING" in names, "the licence file is not shipped"
    assert shipping_problems(names) == [], "shipped but not content (galaxy.yml build_ignore)"

    # The dependencies are satisfied by the bundled collections of the `ansible` package: no Galaxy.
    # Only the target path is configured, so the checkout's own symlinked copy is not seen.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"))
    install = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", str(tarball), "-p", str(tmp_path / "installed")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (tmp_path / "installed" / "ansible_collections" / "orchestrator" / "platform" / "MANIFEST.json").is_file()
