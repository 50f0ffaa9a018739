#!/usr/bin/env bash
# Builds the pinned Kubernetes release from its Go modules (build/*/go.mod + go.sum, the checksum
# pins), statically (CGO_ENABLED=0), into $ORCH_CACHE/release/<hash>/bin:
#   kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy
#     (k8s.io/kubernetes at cluster_kubernetes_version, staging modules at their published versions)
#   etcd etcdctl etcdutl (the version kubeadm pins), coredns (the version kubeadm pins),
#   crictl (cri-tools of the same minor), pause and test-server (our own, build/images).
# <hash> covers every build/*/go.mod, go.sum and *.go and this script: when that directory is
# complete nothing is built (seconds). $ORCH_CACHE/release/current points at the last complete one.
# Prints the bin directory on stdout, the time of each part on stderr.
#   scripts/build-release.sh            build what is missing
#   scripts/build-release.sh --print    print the bin directory only (exit 1 when not built)
# ORCH_GO_PARALLEL (default 2) is `go build -p`: the machine's cores are shared.
# ORCH_RELEASE_PARTS (default: all of kubernetes etcd coredns cri-tools images) builds only the
# parts named; the release is complete (and reused) once every binary is there.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"
log() { printf 'build-release: %s\n' "$*" >&2; }

release_hash() {
  (cd "$ORCH_ROOT" && find build -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum; sha256sum scripts/build-release.sh) | sha256sum | cut -c1-16
}
hash=$(release_hash)
out="$ORCH_CACHE/release/$hash"
bin="$out/bin"
BINARIES=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy
  etcd etcdctl etcdutl coredns crictl pause test-server)

if [ -f "$out/.complete" ]; then
  ln -sfn "$hash" "$ORCH_CACHE/release/current"
  echo "$bin"
  exit 0
fi
if [ "${1:-}" = "--print" ]; then
  log "the release $hash is not built (scripts/build-release.sh)"
  exit 1
fi
command -v go >/dev/null || { log "Go (>= the go line of build/*/go.mod) is required"; exit 1; }
mkdir -p "$bin"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"
parallel="${ORCH_GO_PARALLEL:-2}"

# The version a module requires in build/<dir>/go.mod, e.g. `modver kubernetes k8s.io/kubernetes`.
modver() { (cd "build/$1" && go list -m -f '{{.Version}}' "$2"); }
# The upstream commit (empty when the proxy does not record it) and time of a module's version.
modmeta() { # <dir> <module> -> "<commit> <time>"
  local version
  version=$(modver "$1" "$2")
  (cd "build/$1" && go mod download -json "$2@$version") | python3 -c '
import json, sys
d = json.load(sys.stdin)
with open(d["Info"], encoding="utf-8") as f:
    info = json.load(f)
print((d.get("Origin") or info.get("Origin") or {}).get("Hash", "-"), info["Time"])'
}

# Build each <package> of build/<dir> into $bin/<binary> with <ldflags>, one at a time; a binary
# already in $bin is kept (an interrupted build resumes). Prints the time of each binary and part.
part() { # <name> <dir> <ldflags> <package>=<binary>...
  local name=$1 dir=$2 ldflags=$3 start s pkg target
  shift 3
  case " ${ORCH_RELEASE_PARTS:-kubernetes etcd coredns cri-tools images} " in *" $dir "*) ;; *) return 0 ;; esac
  start=$(date +%s)
  for spec in "$@"; do
    pkg=${spec%%=*}
    target=${spec#*=}
    [ -x "$bin/$target" ] && continue
    s=$(date +%s)
    (cd "build/$dir" && go build -p "$parallel" -ldflags "$ldflags" -o "$bin/.$target.tmp" "$pkg")
    mv "$bin/.$target.tmp" "$bin/$target"
    log "  $target: $(( $(date +%s) - s ))s"
  done
  log "$name: $(( $(date +%s) - start ))s"
}

total_start=$(date +%s)
# Kubernetes: the version of k8s.io/kubernetes in go.mod must be cluster_kubernetes_version.
k8s_version=$(modver kubernetes k8s.io/kubernetes)
pinned=$(sed -n 's/^cluster_kubernetes_version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' roles/cluster/defaults/main.yml)
if [ "$k8s_version" != "v$pinned" ]; then
  log "build/kubernetes/go.mod requires k8s.io/kubernetes $k8s_version but cluster_kubernetes_version is $pinned"
  exit 1
fi
major=${k8s_version#v}; major=${major%%.*}
minor=${k8s_version#v*.}; minor=${minor%%.*}
# gitCommit stays empty when the proxy does not record the tag's commit (it does not invent one).
read -r k8s_commit k8s_date < <(modmeta kubernetes k8s.io/kubernetes)
[ "$k8s_commit" != - ] || k8s_commit=""
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=$k8s_version -X $p.gitMajor=$major -X $p.gitMinor=$minor"
  ld="$ld -X $p.gitCommit=$k8s_commit -X $p.gitTreeState=clean -X $p.buildDate=$k8s_date"
done
k8s_targets=()
for c in kubeadm kubectl kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver; do
  k8s_targets+=("k8s.io/kubernetes/cmd/$c=$c")
done
part "kubernetes $k8s_version" kubernetes "$ld" "${k8s_targets[@]}"

# etcd: version.Version is a constant of the module; GitSHA is set the way etcd's own build does.
# Set only when the proxy records the commit (otherwise etcd says "Not provided").
read -r etcd_sha _ < <(modmeta etcd go.etcd.io/etcd/server/v3)
ld="-s -w"
[ "$etcd_sha" = - ] || ld="$ld -X go.etcd.io/etcd/api/v3/version.GitSHA=${etcd_sha:0:7}"
part "etcd $(modver etcd go.etcd.io/etcd/server/v3)" etcd "$ld" \
  go.etcd.io/etcd/server/v3=etcd go.etcd.io/etcd/etcdctl/v3=etcdctl go.etcd.io/etcd/etcdutl/v3=etcdutl

# CoreDNS: coremain.CoreVersion is a constant; GitCommit as its Makefile sets it.
read -r coredns_sha _ < <(modmeta coredns github.com/coredns/coredns)
ld="-s -w"
[ "$coredns_sha" = - ] || ld="$ld -X github.com/coredns/coredns/coremain.GitCommit=${coredns_sha:0:7}"
part "coredns $(modver coredns github.com/coredns/coredns)" coredns "$ld" \
  github.com/coredns/coredns=coredns

crictl_version=$(modver cri-tools sigs.k8s.io/cri-tools)
part "cri-tools $crictl_version" cri-tools "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl_version" \
  sigs.k8s.io/cri-tools/cmd/crictl=crictl

# Our own programs carry the release hash as their version.
part "pause, test-server" images "-s -w -X main.version=orchestrator-$hash" ./pause=pause ./test-server=test-server

for b in "${BINARIES[@]}"; do
  [ -x "$bin/$b" ] || { log "not built yet: $bin/$b"; exit 1; }
done
printf '%s\n' "${BINARIES[@]}" >"$out/.complete"
ln -sfn "$hash" "$ORCH_CACHE/release/current"
# Older releases are of older pins: drop them so the disk does not fill up.
find "$ORCH_CACHE/release" -mindepth 1 -maxdepth 1 -type d ! -name "$hash" -exec rm -rf {} +
log "release $hash built in $(( $(date +%s) - total_start ))s"
echo "$bin"
