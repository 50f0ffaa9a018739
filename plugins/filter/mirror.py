# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn an upstream location into the offline mirror's location."""

import posixpath

from ansible.errors import AnsibleFilterError

KINDS = {
    "file": "files",
    "chart": "charts",
    "apt": "packages",
    "rpm": "packages",
}
DEFAULT_REGISTRY = "docker.io"


def _base(mirror):
    """The mirror base as a URL without a trailing slash."""
    if mirror.startswith(("http://", "https://", "file://")):
        return mirror.rstrip("/")
    if mirror.startswith("/"):
        return "file://" + mirror.rstrip("/")
    raise AnsibleFilterError(
        "cluster_mirror must be an http(s):// or file:// URL or an absolute directory, got %r" % mirror
    )


def mirror_url(upstream, mirror="", overrides=None, key=None, kind="file"):
    """Location of one artifact: the override for its key, else the mirror's, else upstream."""
    if not key:
        raise AnsibleFilterError("mirror_url needs key=<artifact key>")
    if kind not in KINDS:
        raise AnsibleFilterError("mirror_url kind must be one of %s, got %r" % (", ".join(sorted(KINDS)), kind))
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise AnsibleFilterError("cluster_mirror_overrides must be a mapping of artifact key to location")
    if overrides.get(key):
        return overrides[key]
    if not mirror:
        return upstream
    base = "%s/%s/%s" % (_base(mirror), KINDS[kind], key)
    if kind == "file":
        name = posixpath.basename(str(upstream).split("?", 1)[0].rstrip("/"))
        if not name:
            raise AnsibleFilterError("mirror_url cannot take a file name from %r" % upstream)
        return "%s/%s" % (base, name)
    return base + "/"


def _split_registry(image):
    """(registry host, repository path with tag/digest) of an image reference."""
    first, sep, rest = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    if not sep:
        return DEFAULT_REGISTRY, "library/" + image
    return DEFAULT_REGISTRY, image


def mirror_image(image, registry=""):
    """The image reference pulled through the mirror registry (tag or digest kept)."""
    if not image or not isinstance(image, str):
        raise AnsibleFilterError("mirror_image needs an image reference, got %r" % (image,))
    if not registry:
        return image
    host, path = _split_registry(image)
    if host == DEFAULT_REGISTRY and "/" not in path:
        path = "library/" + path
    return "%s/%s" % (registry.rstrip("/"), path)


class FilterModule:
    def filters(self):
        return {"mirror_url": mirror_url, "mirror_image": mirror_image}
