"""The release we build from the pinned Go modules (scripts/build-release.sh), its signed apt
repository (scripts/build-mirror.sh) and the images on the rig's registry (scripts/build-images.sh,
scripts/rig-registry.sh): the binaries say the pinned versions and are static, the repository
verifies against its key (and fails to once it is altered), and the registry serves every image
that the real kubeadm asks for with the registry as its image repository.

scripts/setup.sh builds all of it; a missing part skips here and fails under CI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prerequisites import missing

ROOT = Path(__file__).resolve().parents[3]
K8S_VERSION = "v" + yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())["cluster_kubernetes_version"]


def _module_version(directory: str, module: str) -> str:
    text = (ROOT / "build" / directory / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", text, re.MULTILINE)
    assert match, f"build/{directory}/go.mod does not require {module}"
    return match.group(1)


def _script(name: str, *args: str) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / name), *args], capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    out = _script("build-release.sh", "--print")
    if not out:
        missing("the release is not built (scripts/build-release.sh, run by scripts/setup.sh)")
    return Path(out)


@pytest.fixture(scope="module")
def images(bin_dir) -> dict[str, str]:
    """kubeadm's image list for the pinned version: {name: tag}."""
    listed = subprocess.run(
        [str(bin_dir / "kubeadm"), "config", "images", "list", "--kubernetes-version", K8S_VERSION],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {ref.removeprefix("registry.k8s.io/").rsplit(":", 1)[0]: ref.rsplit(":", 1)[1] for ref in listed}


def _run(bin_dir: Path, *argv: str) -> str:
    done = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ("kubeadm", "version", "-o", "short"),
        ("kubelet", "--version"),
        ("kubectl", "version", "--client"),
        ("kube-apiserver", "--version"),
        ("kube-controller-manager", "--version"),
        ("kube-scheduler", "--version"),
        ("kube-proxy", "--version"),
    ],
    ids=lambda argv: argv[0],
)
def test_kubernetes_binaries_say_the_pinned_version(bin_dir, argv):
    out = _run(bin_dir, *argv)
    assert re.search(rf"(^|\s){re.escape(K8S_VERSION)}\s*$", out, re.MULTILINE), out


def test_etcd_is_the_version_kubeadm_pins(bin_dir, images):
    # kubeadm's etcd tag is <etcd version>-<image revision>.
    etcd = images["etcd"].rsplit("-", 1)[0]
    assert _module_version("etcd", "go.etcd.io/etcd/server/v3") == "v" + etcd
    assert f"etcd Version: {etcd}\n" in _run(bin_dir, "etcd", "--version")
    assert f"etcdctl version: {etcd}\n" in _run(bin_dir, "etcdctl", "version")
    assert f"etcdutl version: {etcd}\n" in _run(bin_dir, "etcdutl", "version")


def test_coredns_is_the_version_kubeadm_pins(bin_dir, images):
    coredns = images["coredns/coredns"]
    assert _module_version("coredns", "github.com/coredns/coredns") == coredns
    assert f"CoreDNS-{coredns.removeprefix('v')}\n" in _run(bin_dir, "coredns", "-version")


def test_crictl_is_of_the_kubernetes_minor(bin_dir):
    version = _module_version("cri-tools", "sigs.k8s.io/cri-tools")
    assert version.rsplit(".", 1)[0] == K8S_VERSION.rsplit(".", 1)[0]
    assert _run(bin_dir, "crictl", "--version").strip() == f"crictl version {version}"


def _interpreter(path: Path) -> bool:
    """True when the ELF file asks for a program interpreter (PT_INTERP): dynamically linked."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, f"{path} is not a 64-bit ELF file"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def test_every_binary_is_static(bin_dir):
    names = (bin_dir.parent / ".complete").read_text().split()
    assert len(names) == 14
    dynamic = [name for name in names if _interpreter(bin_dir / name)]
    assert not dynamic, f"dynamically linked: {dynamic}"
    # The check itself tells a dynamic binary apart (Debian's ls, linked against libc).
    assert _interpreter(Path("/bin/ls"))


def test_pause_stays_up_and_exits_on_term(bin_dir):
    """Our pause program stays up, then exits 0 on SIGTERM."""
    proc = subprocess.Popen([str(bin_dir / "pause")], stderr=subprocess.PIPE)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


# The apt repository ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mirror(bin_dir) -> Path:
    out = _script("build-mirror.sh")
    if not out:
        missing("the mirror is not built (scripts/build-mirror.sh, run by scripts/setup.sh)")
    return Path(out)


def _gpgv(tmp_path: Path, mirror: Path, *files: Path) -> subprocess.CompletedProcess:
    keyring = tmp_path / "keyring.gpg"
    if not keyring.exists():
        subprocess.run(
            [
                "gpg",
                "--batch",
                "--yes",
                "--dearmor",
                "-o",
                str(keyring),
                str(mirror / "files/kubernetes-release-key/Release.key"),
            ],
            check=True,
            capture_output=True,
        )
    return subprocess.run(
        ["gpgv", "--keyring", str(keyring), *map(str, files)], capture_output=True, text=True, check=False
    )


def test_repository_is_signed_by_its_key(mirror, tmp_path):
    repo = mirror / "packages/kubernetes-apt"
    assert _gpgv(tmp_path, mirror, repo / "InRelease").returncode == 0
    assert _gpgv(tmp_path, mirror, repo / "Release.gpg", repo / "Release").returncode == 0
    # An altered Release no longer verifies.
    altered = tmp_path / "Release"
    altered.write_text((repo / "Release").read_text().replace("Packages.gz", "Packages.xz"))
    assert _gpgv(tmp_path, mirror, repo / "Release.gpg", altered).returncode != 0


def _stanzas(text: str) -> list[dict[str, str]]:
    return [
        dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(" "))
        for block in text.strip().split("\n\n")
    ]


def test_repository_holds_the_real_binaries_at_the_pinned_versions(mirror, bin_dir):
    repo = mirror / "packages/kubernetes-apt"
    release = (repo / "Release").read_text()
    for index in ("Packages", "Packages.gz"):
        digest = hashlib.sha256((repo / index).read_bytes()).hexdigest()
        assert f" {digest} {(repo / index).stat().st_size} {index}\n" in release
    packages = {s["Package"]: s for s in _stanzas((repo / "Packages").read_text())}
    crictl = _module_version("cri-tools", "sigs.k8s.io/cri-tools").removeprefix("v")
    k8s = K8S_VERSION.removeprefix("v")
    assert {name: p["Version"] for name, p in packages.items()} == {
        "kubeadm": f"{k8s}-1.1",
        "kubelet": f"{k8s}-1.1",
        "kubectl": f"{k8s}-1.1",
        "cri-tools": f"{crictl}-1.1",
    }
    assert packages["kubeadm"]["Depends"] == f"cri-tools (>= {crictl})"
    for name, binary in (
        ("kubeadm", "kubeadm"),
        ("kubelet", "kubelet"),
        ("kubectl", "kubectl"),
        ("cri-tools", "crictl"),
    ):
        deb = repo / packages[name]["Filename"].removeprefix("./")
        assert hashlib.sha256(deb.read_bytes()).hexdigest() == packages[name]["SHA256"]
        shipped = subprocess.run(
            ["sh", "-c", f"dpkg-deb --fsys-tarfile {deb} | tar -xO ./usr/bin/{binary}"],
            capture_output=True,
            check=True,
        ).stdout
        assert shipped == (bin_dir / binary).read_bytes(), f"{name}: /usr/bin/{binary} is not the built binary"
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(repo / packages["kubelet"]["Filename"])], capture_output=True, text=True, check=True
    ).stdout
    assert "./usr/lib/systemd/system/kubelet.service\n" in listing
    assert "./usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf\n" in listing


# The registry ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(bin_dir):
    if not shutil.which("docker-registry") or not shutil.which("podman"):
        missing("docker-registry and podman are required (scripts/setup.sh installs them)")
    was_running = (
        subprocess.run(
            ["podman", "container", "inspect", "-f", "{{.State.Running}}", "orch-registry"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        == "true"
    )
    # build-images.sh starts the registry and pushes only what it does not serve yet.
    address = _script("build-images.sh")
    if not address:
        missing("the images are not built (scripts/build-images.sh, run by scripts/setup.sh)")
    yield address
    if not was_running:
        subprocess.run(["bash", str(ROOT / "scripts/rig-registry.sh"), "down"], check=True)


def _manifest(registry: str, name: str, tag: str) -> dict:
    request = urllib.request.Request(
        f"http://{registry}/v2/{name}/manifests/{tag}",
        headers={
            "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (an http:// URL built above)
        return json.load(answer)


def _config(registry: str, name: str, manifest: dict) -> dict:
    with urllib.request.urlopen(
        f"http://{registry}/v2/{name}/blobs/{manifest['config']['digest']}", timeout=10
    ) as answer:
        return json.load(answer)


def test_registry_serves_every_image_kubeadm_pulls(bin_dir, registry):
    listed = subprocess.run(
        [
            str(bin_dir / "kubeadm"),
            "config",
            "images",
            "list",
            "--kubernetes-version",
            K8S_VERSION,
            "--image-repository",
            registry,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = {ref.removeprefix(registry + "/").rsplit(":", 1)[0] for ref in listed}
    assert names == {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
        "etcd",
        "coredns",
        "pause",
    }
    for ref in listed:
        name, tag = ref.removeprefix(registry + "/").rsplit(":", 1)
        manifest = _manifest(registry, name, tag)
        assert manifest["layers"], ref
        assert _config(registry, name, manifest)["architecture"] == "amd64", ref
    # The upstream path too, for a hosts.toml mirror of registry.k8s.io.
    upstream = next(r for r in listed if "/coredns:" in r).rsplit(":", 1)[1]
    assert _manifest(registry, "coredns/coredns", upstream)["layers"]


def test_images_run_what_their_manifests_name(registry, images):
    entrypoints = {
        "coredns": ("coredns", images["coredns/coredns"], ["/usr/local/bin/coredns"]),
        "pause": ("pause", images["pause"], ["/usr/local/bin/pause"]),
        "test-server": ("orchestrator/test-server", "v1", ["/usr/local/bin/test-server"]),
    }
    for name, tag, entrypoint in entrypoints.values():
        config = _config(registry, name, _manifest(registry, name, tag))["config"]
        assert config["Entrypoint"] == entrypoint, name
    # kubeadm's static pods call the binaries by name: they are on the image's PATH.
    config = _config(registry, "kube-apiserver", _manifest(registry, "kube-apiserver", images["kube-apiserver"]))[
        "config"
    ]
    assert "/usr/local/bin" in dict(e.split("=", 1) for e in config["Env"])["PATH"].split(":")
    # A tag that was never pushed is not found: the checks above can fail.
    with pytest.raises(urllib.error.HTTPError):
        _manifest(registry, "kube-apiserver", "v0.0.0")


@pytest.mark.nodes
def test_apt_installs_the_packages_on_a_node(mirror):
    """apt on a node container, with only our repository as a source, verifies it against the key
    (Signed-By, as roles/kubernetes_packages writes it) and installs the pinned versions."""
    image = os.environ.get("ORCH_NODE_IMAGE", "")
    if not shutil.which("podman") or not image:
        missing("podman and the node image are required (scripts/setup.sh)")
    k8s = K8S_VERSION.removeprefix("v")
    script = f"""set -e
mkdir -p /tmp/sources /etc/apt/keyrings
cp /srv/mirror/files/kubernetes-release-key/Release.key /etc/apt/keyrings/kubernetes-apt-keyring.asc
printf 'Types: deb\\nURIs: file:/srv/mirror/packages/kubernetes-apt/\\nSuites: /\\nSigned-By: %s\\n' \\
  /etc/apt/keyrings/kubernetes-apt-keyring.asc >/tmp/sources/kubernetes.sources
apt_opts="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/sources"
apt-get $apt_opts update -q
DEBIAN_FRONTEND=noninteractive apt-get $apt_opts install -y -q --no-install-recommends \\
  kubeadm={k8s}-1.1 kubelet={k8s}-1.1 kubectl={k8s}-1.1
kubeadm version -o short
kubelet --version
crictl --version
systemctl is-enabled kubelet.service
grep -c '^ExecStart=/usr/bin/kubelet \\$KUBELET_KUBECONFIG' /usr/lib/systemd/system/kubelet.service.d/*.conf
# A repository signed by another key is refused.
gpg --batch --quiet --passphrase '' --quick-gen-key other@orchestrator.invalid ed25519 sign 1d
gpg --batch --armor --export other@orchestrator.invalid >/etc/apt/keyrings/kubernetes-apt-keyring.asc
rm -rf /var/lib/apt/lists/*
if apt-get $apt_opts update -q 2>&1 | tee /tmp/update.log; grep -q NO_PUBKEY /tmp/update.log; then echo refused; fi
"""
    done = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            "--runtime",
            "runc",
            "--network",
            "none",
            "--ulimit",
            "nofile=20000:20000",
            "--ulimit",
            "nproc=32768:32768",
            "-v",
            f"{mirror}:/srv/mirror:ro",
            image,
            "bash",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert K8S_VERSION in lines
    assert f"Kubernetes {K8S_VERSION}" in lines
    assert "enabled" in lines
    assert lines[-1] == "refused", done.stdout
