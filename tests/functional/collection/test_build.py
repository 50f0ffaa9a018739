"""The collection builds into a tarball without dev files, and installs offline with its dependencies."""

import os
import subprocess
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


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


def test_build_and_offline_install(tmp_path):
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path), "--force"],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    tarball = next(tmp_path.glob("orchestrator-platform-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert any(n.startswith("roles/") for n in names)
    assert any(n.startswith("playbooks/") for n in names)
    for excluded in ("tests/", "molecule/", "scripts/", "build/", ".ci/", ".config/"):
        assert not any(n.startswith(excluded) for n in names), f"{excluded} is shipped in the tarball"

    # The dependencies are satisfied by the bundled collections of the `ansible` package: no Galaxy.
    # Only the target path is configured, so the checkout's own symlinked copy is not seen.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "installed"))
    install = subprocess.run(
        ["ansible-galaxy", "collection", "install", "--offline", str(tarball), "-p", str(tmp_path / "installed")],
        capture_output=True, text=True, check=False, env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (tmp_path / "installed" / "ansible_collections" / "orchestrator" / "platform" / "MANIFEST.json").is_file()
