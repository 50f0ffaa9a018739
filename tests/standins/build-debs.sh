#!/usr/bin/env bash
# Builds the offline mirror the cluster scenario and the host-layer benchmark use: stand-in
# packages named kubeadm, kubelet and kubectl (they carry the recording stand-ins of this
# directory, NOT the real Kubernetes binaries) in a flat apt repository shaped like pkgs.k8s.io,
# signed with a throwaway GnuPG key made here, so that repository set-up, signed-by verification,
# the version pin and the dpkg hold all run for real on the nodes.
#   tests/standins/build-debs.sh <mirror dir> <kubernetes version> [<package revision>]
# STANDIN_EXTRA_VERSIONS="1.37.0 ..." adds packages of more versions to the same repository (the
# upgrade tests install one version and upgrade to another).
# Writes <mirror dir>/packages/kubernetes-apt/{*.deb,Packages,Packages.gz,Release,InRelease,Release.gpg}
# and <mirror>/files/kubernetes-release-key/Release.key (the layout of docs/offline-mirror.md).
set -euo pipefail
out=${1:?usage: build-debs.sh <mirror dir> <kubernetes version> [revision]}
version=${2:?kubernetes version, e.g. 1.36.4}
revision=${3:-1.1}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/apt-repo.sh
source "$here/../../scripts/lib/apt-repo.sh"
repo="$out/packages/kubernetes-apt"
keydir="$out/files/kubernetes-release-key"
work=$(mktemp -d "${TMPDIR:-/tmp}/orch-standin-debs.XXXXXX")
trap 'gpgconf --homedir "$work/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
rm -rf "$repo" "$keydir"
mkdir -p "$repo" "$keydir" "$work/gnupg"
chmod 700 "$work/gnupg"

# One package per stand-in: /usr/bin/<name>; kubelet also gets a systemd unit, as the real one has.
for pkg_version in "$version" ${STANDIN_EXTRA_VERSIONS:-}; do
for name in kubeadm kubelet kubectl; do
  root="$work/$pkg_version/$name"
  mkdir -p "$root/DEBIAN" "$root/usr/bin"
  if [ -f "$here/$name" ]; then
    sed "s/@STANDIN_VERSION@/$pkg_version/g" "$here/$name" >"$root/usr/bin/$name"
  else
    # Placeholder until the recording stand-in exists: says what it is and does nothing else.
    printf '#!/bin/sh\necho "%s v%s (orchestrator placeholder stand-in, not Kubernetes)"\n' "$name" "$pkg_version" >"$root/usr/bin/$name"
  fi
  chmod 0755 "$root/usr/bin/$name"
  if [ "$name" = kubelet ]; then
    mkdir -p "$root/lib/systemd/system"
    cat >"$root/lib/systemd/system/kubelet.service" <<'UNIT'
[Unit]
Description=kubelet (orchestrator recording stand-in, not Kubernetes)
Wants=network-online.target
After=network-online.target

[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=/usr/bin/kubelet $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
  fi
  cat >"$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $pkg_version-$revision
Architecture: all
Maintainer: orchestrator.platform tests <tests@orchestrator.invalid>
Depends: python3
Section: admin
Priority: optional
Description: $name recording stand-in (orchestrator.platform tests, NOT Kubernetes)
 Records its arguments in /var/log/orchestrator-standin/$name.log and creates the
 files the real $name creates, so that the orchestration can be tested without it.
CONTROL
  dpkg-deb --root-owner-group --build "$root" "$repo/${name}_${pkg_version}-${revision}_all.deb" >/dev/null
done
done

# The flat repository index, signed with a throwaway key: apt on the nodes verifies InRelease
# against it (signed-by).
orch_sign_flat_repo "$repo" "$keydir/Release.key" "$work/gnupg" "orchestrator.platform stand-ins" \
  "kubernetes stand-ins v${version%.*}" "all amd64 arm64" \
  "orchestrator stand-in repository <standins@orchestrator.invalid>" 1d
echo "$out: kubeadm kubelet kubectl $version ${STANDIN_EXTRA_VERSIONS:-}(-$revision, stand-ins), key sha256:$(sha256sum "$keydir/Release.key" | cut -d' ' -f1)"
