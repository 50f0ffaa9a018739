#!/usr/bin/env bash
# Builds the control-plane images of the pinned release from the binaries of
# scripts/build-release.sh, without Docker and without any registry: podman build FROM scratch
# (kube-proxy FROM a Debian rootfs with iptables/nftables made by mmdebstrap), and pushes them to
# the rig's registry (scripts/rig-registry.sh) under the names kubeadm pulls:
#   <registry>/kube-apiserver:<k8s version>  kube-controller-manager  kube-scheduler  kube-proxy
#   <registry>/etcd:<etcd tag>  <registry>/pause:<pause tag>
#   <registry>/coredns:<tag>          (kubeadm's path when imageRepository is not registry.k8s.io)
#   <registry>/coredns/coredns:<tag>  (the upstream path, for a registry.k8s.io mirror in hosts.toml)
#   <registry>/orchestrator/test-server:v1   (ours: answers HTTP with its pod name)
# The names and tags are those `kubeadm config images list` prints for the pinned version (the
# real kubeadm just built). Local tags: registry.k8s.io/<path> and localhost/orchestrator/test-server:v1.
# Warm run: nothing is built or pushed when the stamp of these inputs exists and the registry
# serves every manifest. Prints the registry address on stdout.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"
log() { printf 'build-images: %s\n' "$*" >&2; }

bin=$(bash scripts/build-release.sh --print)
registry=$(bash scripts/rig-registry.sh up)
k8s_version=$("$bin/kubeadm" version -o short)
mapfile -t upstream < <("$bin/kubeadm" config images list --kubernetes-version "$k8s_version")
TEST_SERVER=orchestrator/test-server:v1

# The kube-proxy base: Debian with the packet-filter tools kube-proxy runs (iptables and nft
# front ends, conntrack), keyed by this recipe.
PROXY_BASE_PACKAGES=iptables,nftables,conntrack,ipset,kmod
PROXY_BASE="localhost/orchestrator/kube-proxy-base:$(printf '%s %s' "$PROXY_BASE_PACKAGES" bookworm | sha256sum | cut -c1-12)"
MIRROR="${ORCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${ORCH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

stamp_hash=$( (basename "$(readlink -f "$bin/..")"; sha256sum scripts/build-images.sh; echo "$PROXY_BASE") | sha256sum | cut -c1-16)
stamp="$ORCH_CACHE/registry/pushed-$stamp_hash"

# path:tag of every image we push.
targets=()
for ref in "${upstream[@]}"; do
  path=${ref#registry.k8s.io/}
  targets+=("$path")
  case "$path" in coredns/coredns:*) targets+=("coredns:${path##*:}") ;; esac
done
targets+=("$TEST_SERVER")

served() { # every target's manifest answers on the registry
  local t
  for t in "${targets[@]}"; do
    curl -fsS -o /dev/null --max-time 5 -I \
      -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
      -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
      "http://$registry/v2/${t%:*}/manifests/${t##*:}" || return 1
  done
}
if [ -f "$stamp" ] && served; then
  echo "$registry"
  exit 0
fi

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/orch-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

if ! podman image exists "$PROXY_BASE"; then
  s=$(date +%s)
  # shellcheck disable=SC2016 # $1 is the rootfs, expanded by mmdebstrap's hook shell
  mmdebstrap --quiet --variant=minbase --include="$PROXY_BASE_PACKAGES" \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    bookworm "$work/proxy-base.tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY_MIRROR bookworm-security main" >&2
  podman import "$work/proxy-base.tar" "$PROXY_BASE" >/dev/null
  rm -f "$work/proxy-base.tar"
  log "kube-proxy base $PROXY_BASE: $(( $(date +%s) - s ))s"
fi

# build <local ref> <base> <entrypoint binary> <binaries...>
build() {
  local ref=$1 base=$2 entry=$3 ctx
  shift 3
  ctx="$work/ctx-$(printf '%s' "$ref" | tr '/:' '__')"
  mkdir -p "$ctx"
  cp "${@/#/$bin/}" "$ctx/"
  {
    echo "FROM $base"
    for b in "$@"; do echo "COPY $b /usr/local/bin/$b"; done
    echo 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    [ -z "$entry" ] || echo "ENTRYPOINT [\"/usr/local/bin/$entry\"]"
  } >"$ctx/Containerfile"
  # --timestamp 0: the same binaries give the same image digest.
  podman build --quiet --timestamp 0 --network none -t "$ref" "$ctx" >/dev/null
}

s=$(date +%s)
for ref in "${upstream[@]}"; do
  path=${ref#registry.k8s.io/}
  name=${path%:*}
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler) build "$ref" scratch "" "$name" ;;
    kube-proxy) build "$ref" "$PROXY_BASE" "" kube-proxy ;;
    etcd) build "$ref" scratch "" etcd etcdctl etcdutl ;;
    coredns/coredns) build "$ref" scratch coredns coredns ;;
    pause) build "$ref" scratch pause pause ;;
    *) log "kubeadm asks for $ref, which this script does not know how to build"; exit 1 ;;
  esac
done
build "localhost/$TEST_SERVER" scratch test-server test-server
log "images built: $(( $(date +%s) - s ))s"

s=$(date +%s)
for t in "${targets[@]}"; do
  case "$t" in
    "$TEST_SERVER") local_ref="localhost/$t" ;;
    coredns:*) local_ref="registry.k8s.io/coredns/$t" ;;
    *) local_ref="registry.k8s.io/$t" ;;
  esac
  podman push --quiet --tls-verify=false "$local_ref" "docker://$registry/$t" >&2
done
served || { log "the registry does not serve every image after the push"; exit 1; }
log "images pushed to $registry: $(( $(date +%s) - s ))s (total $(( $(date +%s) - start ))s)"
rm -f "$ORCH_CACHE/registry"/pushed-*
touch "$stamp"
echo "$registry"
