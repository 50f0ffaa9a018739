"""The collection builds into a tarball without dev files, and installs offline with its dependencies."""

import os
import subprocess
import tarfile
from pathlib import Path

import yaml
from prerequisites import missing

ROOT = Path(__file__).resolve().parents[3]
# The official GPL-3.0 text as Debian ships it (package base-files): what COPYING must be, verbatim.
OFFICIAL_GPL3 = Path("/usr/share/common-licenses/GPL-3")


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
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", str(ROOT), "--output-path", str(tmp_path), "--force"],
        capture_output=True, text=True, check=False,
    )
    assert build.returncode == 0, build.stderr
    tarball = next(tmp_path.glob("orchestrator-platform-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert "COPYING" in names, "the licence file is not shipped"
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
