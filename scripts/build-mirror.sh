#!/usr/bin/env bash
# Builds the offline mirror's Kubernetes packages from the binaries of scripts/build-release.sh:
# real kubeadm, kubelet (with its systemd unit and the kubeadm drop-in), kubectl and cri-tools
# .debs at <version>-<revision> as pkgs.k8s.io names them, in a flat apt repository signed with a
# throwaway GnuPG key made here (the layout of docs/offline-mirror.md, which cluster_mirror and
# roles/kubernetes_packages read unchanged):
#   <mirror>/packages/kubernetes-apt/{*.deb,Packages,Packages.gz,Release,InRelease,Release.gpg}
#   <mirror>/files/kubernetes-release-key/Release.key
# The mirror is cached in $ORCH_CACHE/mirror/<hash of the release and this script>
# ($ORCH_CACHE/mirror/current points at the last one) and copied to <dir> when one is given.
#   scripts/build-mirror.sh [<dir>]    prints the mirror directory
# Not packaged: kubernetes-cni (no package here depends on it; the CNI plugins a cluster uses come
# from its network add-on or Debian's containernetworking-plugins) and containerd (Kubernetes
# v1.36's kubelet still runs with containerd 1.6/1.7: Debian's containerd is used).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
# shellcheck source=scripts/lib/apt-repo.sh
source "$(dirname "$0")/lib/apt-repo.sh"
cd "$ORCH_ROOT"
log() { printf 'build-mirror: %s\n' "$*" >&2; }
dest=${1:-}
REVISION="${ORCH_PACKAGE_REVISION:-1.1}"

bin=$(bash scripts/build-release.sh --print)
hash=$( (basename "$(readlink -f "$bin/..")"; sha256sum scripts/build-mirror.sh; echo "$REVISION") | sha256sum | cut -c1-16)
mirror="$ORCH_CACHE/mirror/$hash"
repo="$mirror/packages/kubernetes-apt"
keyfile="$mirror/files/kubernetes-release-key/Release.key"

# The key must stay valid for a week more, or the mirror is made again with a new one.
key_valid() {
  local expiry
  [ -f "$mirror/.complete" ] && [ -f "$keyfile" ] || return 1
  expiry=$(gpg --show-keys --with-colons "$keyfile" 2>/dev/null | awk -F: '$1 == "pub" {print $7; exit}')
  [ -z "$expiry" ] || [ "$expiry" -gt "$(( $(date +%s) + 7 * 86400 ))" ]
}

if ! key_valid; then
  start=$(date +%s)
  rm -rf "$mirror"
  work=$(mktemp -d "${TMPDIR:-/tmp}/orch-mirror.XXXXXX")
  trap 'gpgconf --homedir "$work/gnupg" --kill all >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  mkdir -p "$repo" "$(dirname "$keyfile")" "$work/gnupg"
  chmod 700 "$work/gnupg"
  arch=$(dpkg --print-architecture)
  k8s_version=$("$bin/kubeadm" version -o short)
  k8s_version=${k8s_version#v}
  crictl_version=$("$bin/crictl" --version | awk '{print $NF}')
  crictl_version=${crictl_version#v}

  # package <name> <version> <depends> <recommends> <description> <files: source=destination...>
  package() {
    local name=$1 version=$2 depends=$3 recommends=$4 description=$5 root spec
    shift 5
    root="$work/$name"
    mkdir -p "$root/DEBIAN"
    for spec in "$@"; do
      install -D -m "${spec##*:}" "${spec%%=*}" "$root/$(echo "${spec#*=}" | cut -d: -f1)"
    done
    {
      echo "Package: $name"
      echo "Version: $version-$REVISION"
      echo "Architecture: $arch"
      echo "Maintainer: orchestrator.platform <release@orchestrator.invalid>"
      [ -z "$depends" ] || echo "Depends: $depends"
      [ -z "$recommends" ] || echo "Recommends: $recommends"
      echo "Section: admin"
      echo "Priority: optional"
      echo "Homepage: https://kubernetes.io"
      echo "Description: $description"
      echo " Built by orchestrator.platform from the published Go modules (build/ in the collection's"
      echo " repository), statically linked."
    } >"$root/DEBIAN/control"
    [ ! -d "$work/$name.DEBIAN" ] || cp "$work/$name.DEBIAN"/* "$root/DEBIAN/"
    dpkg-deb --root-owner-group -Zgzip -z1 --build "$root" "$repo/${name}_${version}-${REVISION}_${arch}.deb" >/dev/null
  }

  # kubelet's unit: started by systemd, restarted forever (it exits until kubeadm has written its
  # configuration). The drop-in is where kubeadm's settings come in: the kubeconfig files, the
  # KubeletConfiguration file, the flags kubeadm writes to kubeadm-flags.env at init/join time and
  # the administrator's KUBELET_EXTRA_ARGS in /etc/default/kubelet.
  cat >"$work/kubelet.service" <<'UNIT'
[Unit]
Description=kubelet, the Kubernetes node agent
Documentation=https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
RestartSec=10
StartLimitInterval=0

[Install]
WantedBy=multi-user.target
UNIT
  cat >"$work/10-kubeadm.conf" <<'UNIT'
# kubelet as kubeadm runs it (orchestrator.platform package). kubeadm init/join write
# /var/lib/kubelet/config.yaml, /var/lib/kubelet/kubeadm-flags.env (KUBELET_KUBEADM_ARGS) and the
# kubeconfig files; /etc/default/kubelet may set KUBELET_EXTRA_ARGS, which come last and win.
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
UNIT
  # Enabled at install (kubeadm starts it, and warns when it is not enabled); disabled on removal.
  mkdir -p "$work/kubelet.DEBIAN"
  cat >"$work/kubelet.DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  deb-systemd-helper enable kubelet.service >/dev/null || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
fi
SCRIPT
  cat >"$work/kubelet.DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop kubelet.service || true
fi
SCRIPT
  cat >"$work/kubelet.DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
  deb-systemd-helper purge kubelet.service >/dev/null || true
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
fi
SCRIPT
  chmod 0755 "$work/kubelet.DEBIAN"/*

  s=$(date +%s)
  package cri-tools "$crictl_version" "" "" "crictl, the command-line client of CRI container runtimes" \
    "$bin/crictl=usr/bin/crictl:0755"
  # kubeadm preflight requires mount and losetup (util-linux's mount package) and cp.
  package kubelet "$k8s_version" "mount, iproute2" "iptables, conntrack, ethtool, socat" \
    "Kubernetes node agent" \
    "$bin/kubelet=usr/bin/kubelet:0755" \
    "$work/kubelet.service=usr/lib/systemd/system/kubelet.service:0644" \
    "$work/10-kubeadm.conf=usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf:0644"
  package kubectl "$k8s_version" "" "" "Kubernetes command-line tool" "$bin/kubectl=usr/bin/kubectl:0755"
  package kubeadm "$k8s_version" "cri-tools (>= $crictl_version)" "" "Kubernetes cluster bootstrapping tool" \
    "$bin/kubeadm=usr/bin/kubeadm:0755"
  log "packages: $(( $(date +%s) - s ))s"

  # The flat repository index, signed with a throwaway key (one year) made for this mirror only.
  orch_sign_flat_repo "$repo" "$keyfile" "$work/gnupg" "orchestrator.platform" \
    "kubernetes v${k8s_version%.*} (built by orchestrator.platform)" "$arch" \
    "orchestrator.platform release mirror <release@orchestrator.invalid>" 1y
  touch "$mirror/.complete"
  ln -sfn "$hash" "$ORCH_CACHE/mirror/current"
  find "$ORCH_CACHE/mirror" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
  log "mirror $mirror built in $(( $(date +%s) - start ))s"
fi
ln -sfn "$hash" "$ORCH_CACHE/mirror/current"

if [ -n "$dest" ]; then
  mkdir -p "$dest/packages" "$dest/files"
  rm -rf "$dest/packages/kubernetes-apt" "$dest/files/kubernetes-release-key"
  cp -a "$repo" "$dest/packages/kubernetes-apt"
  cp -a "$(dirname "$keyfile")" "$dest/files/kubernetes-release-key"
  echo "$dest"
else
  echo "$mirror"
fi
