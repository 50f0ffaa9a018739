# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orchestrator.platform.plugins.filter.mirror import mirror_image, mirror_url

UPSTREAM = "https://github.com/etcd-io/etcd/releases/download/v3.5.21/etcd-v3.5.21-linux-amd64.tar.gz"


@pytest.mark.parametrize(
    "mirror, overrides, kind, expected",
    [
        ("", {}, "file", UPSTREAM),
        ("https://m.lan/", {}, "file", "https://m.lan/files/etcd/etcd-v3.5.21-linux-amd64.tar.gz"),
        ("/srv/mirror", {}, "file", "file:///srv/mirror/files/etcd/etcd-v3.5.21-linux-amd64.tar.gz"),
        ("file:///srv/m", {}, "chart", "file:///srv/m/charts/etcd/"),
        ("http://m.lan", {}, "apt", "http://m.lan/packages/etcd/"),
        ("http://m.lan", {}, "rpm", "http://m.lan/packages/etcd/"),
        ("http://m.lan", {"etcd": "http://other/etcd.tgz"}, "file", "http://other/etcd.tgz"),
        ("", {"etcd": "http://other/etcd.tgz"}, "file", "http://other/etcd.tgz"),
        ("http://m.lan", {"calico": "http://other/c.tgz"}, "file", "http://m.lan/files/etcd/etcd-v3.5.21-linux-amd64.tar.gz"),
    ],
)
def test_mirror_url(mirror, overrides, kind, expected):
    assert mirror_url(UPSTREAM, mirror, overrides, key="etcd", kind=kind) == expected


def test_mirror_url_drops_query_string_from_file_name():
    assert mirror_url("https://x/dl/kubeadm?arch=amd64", "http://m", {}, key="kubeadm") == "http://m/files/kubeadm/kubeadm"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mirror": "m.lan", "key": "etcd"}, "absolute directory"),
        ({"mirror": "http://m", "key": ""}, "key="),
        ({"mirror": "http://m", "key": "etcd", "kind": "deb"}, "kind must be one of"),
        ({"mirror": "http://m", "key": "etcd", "overrides": ["x"]}, "mapping"),
    ],
)
def test_mirror_url_rejects_bad_input(kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mirror_url(UPSTREAM, **kwargs)


@pytest.mark.parametrize(
    "image, registry, expected",
    [
        ("quay.io/argoproj/argocd:v3.1.0", "", "quay.io/argoproj/argocd:v3.1.0"),
        ("quay.io/argoproj/argocd:v3.1.0", "reg.lan:5000", "reg.lan:5000/argoproj/argocd:v3.1.0"),
        ("docker.io/library/zookeeper:3.9.3", "reg.lan", "reg.lan/library/zookeeper:3.9.3"),
        ("zookeeper:3.9.3", "reg.lan", "reg.lan/library/zookeeper:3.9.3"),
        ("docker.io/zookeeper:3.9.3", "reg.lan", "reg.lan/library/zookeeper:3.9.3"),
        ("mesosphere/mesos:1.11.0", "reg.lan/cache/", "reg.lan/cache/mesosphere/mesos:1.11.0"),
        ("localhost/orchestrator:1", "reg.lan", "reg.lan/orchestrator:1"),
        (
            "ghcr.io/falcosecurity/rules/falco-rules@sha256:" + "a" * 64,
            "r.lan",
            "r.lan/falcosecurity/rules/falco-rules@sha256:" + "a" * 64,
        ),
    ],
)
def test_mirror_image(image, registry, expected):
    assert mirror_image(image, registry) == expected


def test_mirror_image_rejects_empty():
    with pytest.raises(AnsibleFilterError):
        mirror_image("", "reg.lan")
