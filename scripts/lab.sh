#!/usr/bin/env bash
# The lab: five Debian 12 node containers (three control planes, two workers) on the podman
# network orch-lab, and the twelve steps of playbooks/site.yml run against inventories/lab with the
# release built here: the offline mirror of scripts/build-mirror.sh (mounted read-only in every
# node) and the image registry of scripts/rig-registry.sh. The rig's part of each node
# (tests/rig/nodes.yml: host-global sysctls masked, the bridge pod network, the kubeadm call
# record) runs first; tests/rig/site.yml is site.yml with the rig's CRDs between steps 4 and 5
# (tests/rig/platform.yml). Steps 5-11 send their objects to the real API server; the charts are
# not installed (none can be downloaded here) and step 12 is off (no kube-bench image here): see
# inventories/lab/group_vars/all/cluster.yml.
#   scripts/lab.sh up      set-up (scripts/setup.sh), network and containers (reused when present),
#                          then the steps; prints what it created, what each play changed, where
#                          the admin kubeconfig is, `kubectl get nodes` and site.yml's summary
#   scripts/lab.sh down    removes the containers and the network
# Environment: LAB_MIRROR=<dir or URL> sets cluster_mirror for the run; LAB_TIMEOUT (seconds,
# default 1800) bounds the playbook run; LAB_SETUP=0 skips scripts/setup.sh; LAB_PLAYBOOK runs
# another playbook than tests/rig/site.yml (e.g. playbooks/00_preflight.yml).
# Nothing waits without a time-out. Exit status: that of the step that stopped the run.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"

NETWORK=orch-lab
SUBNET=10.89.100.0/24
LAB_VIP=10.89.100.100
declare -A ADDRESS=(
  [orch-lab-cp1]=10.89.100.11 [orch-lab-cp2]=10.89.100.12 [orch-lab-cp3]=10.89.100.13
  [orch-lab-w1]=10.89.100.21 [orch-lab-w2]=10.89.100.22
)
NODES=(orch-lab-cp1 orch-lab-cp2 orch-lab-cp3 orch-lab-w1 orch-lab-w2)
LOG_DIR="$ORCH_ROOT/lab"
LOG="$LOG_DIR/site.log"
LAB_TIMEOUT="${LAB_TIMEOUT:-1800}"
PLAYBOOK="${LAB_PLAYBOOK:-tests/rig/site.yml}"

say() { printf 'lab: %s\n' "$*"; }
die() { printf 'lab: ERROR: %s\n' "$*" >&2; exit "${2:-1}"; }
# Every podman call is bounded: a wedged podman must not hang the lab.
pm() { timeout 120 podman "$@"; }

wait_running() {
  local node=$1 deadline=$((SECONDS + 90)) state=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    state=$(timeout 20 podman exec "$node" systemctl is-system-running 2>/dev/null || true)
    case "$state" in running | degraded) return 0 ;; esac
    sleep 1
  done
  die "$node: systemd did not come up within 90 s (state '${state:-none}'); see: podman logs $node"
}

up() {
  local created=() reused=() started=() network_action node state rc=0
  if [ "${LAB_SETUP:-1}" != 0 ]; then
    say "set-up: scripts/setup.sh (Debian packages, virtualenv, node image; quick when done before)"
    timeout 3600 bash scripts/setup.sh || die "scripts/setup.sh failed (exit $?); see its output above"
  fi
  command -v podman >/dev/null || die "podman is not installed: scripts/setup.sh installs it"
  pm image exists "$ORCH_NODE_IMAGE" || die "node image $ORCH_NODE_IMAGE is missing: run scripts/setup.sh"

  if pm network exists "$NETWORK"; then
    pm network inspect "$NETWORK" --format '{{range .Subnets}}{{.Subnet}} {{end}}' | grep -qw "$SUBNET" \
      || die "podman network $NETWORK exists without subnet $SUBNET: run 'make lab-destroy' first"
    network_action="reused"
  else
    pm network create --subnet "$SUBNET" "$NETWORK" >/dev/null
    network_action="created"
  fi

  local add_hosts=()
  for node in "${NODES[@]}"; do add_hosts+=("--add-host=$node:${ADDRESS[$node]}"); done
  for node in "${NODES[@]}"; do
    state=$(pm container inspect "$node" --format '{{.State.Status}}' 2>/dev/null || true)
    case "$state" in
      running) reused+=("$node") ;;
      "")
        pm run -d --name "$node" --hostname "$node" --network "$NETWORK" --ip "${ADDRESS[$node]}" \
          "${add_hosts[@]}" --privileged --systemd=always --runtime runc --cgroupns=private \
          --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 -v /var/lib/containerd \
          -v "$ORCH_CACHE/mirror:/srv/orch-mirror:ro" \
          --label orchestrator.lab=1 "$ORCH_NODE_IMAGE" /sbin/init >/dev/null
        created+=("$node") ;;
      *) pm start "$node" >/dev/null; started+=("$node") ;;
    esac
  done
  for node in "${NODES[@]}"; do wait_running "$node"; done
  say "network $NETWORK ($SUBNET): $network_action"
  [ "${#created[@]}" -gt 0 ] && say "containers created: ${created[*]}"
  [ "${#started[@]}" -gt 0 ] && say "containers started again: ${started[*]}"
  [ "${#reused[@]}" -gt 0 ] && say "containers reused (already running): ${reused[*]}"

  local extra=() registry mirror
  registry=$(bash scripts/rig-registry.sh up) || die "the rig's image registry did not start (scripts/rig-registry.sh up)"
  bash scripts/build-images.sh >/dev/null || die "the release's images are not in the registry (scripts/build-images.sh)"
  mirror=$(bash scripts/build-mirror.sh) || die "no offline mirror of the release (scripts/build-mirror.sh)"
  say "image registry $registry; offline mirror $mirror (in the nodes: /srv/orch-mirror/${mirror##*/})"
  extra+=(-e "cluster_mirror=${LAB_MIRROR:-/srv/orch-mirror/${mirror##*/}}")
  # Step 2 writes the admin kubeconfig here; every later step reads it from here.
  extra+=(-e "cluster_kubeconfig=$LOG_DIR/admin.conf")
  mkdir -p "$LOG_DIR"
  [ -f "$PLAYBOOK" ] || die "no playbook $PLAYBOOK"
  say "the rig's part of each node: tests/rig/nodes.yml"
  ANSIBLE_NOCOLOR=1 timeout 600 ansible-playbook -i inventories/lab/hosts.yml tests/rig/nodes.yml >"$LOG_DIR/rig.log" 2>&1 \
    || die "tests/rig/nodes.yml failed (log: lab/rig.log)"
  say "running $PLAYBOOK on inventories/lab (time-out ${LAB_TIMEOUT}s; full log: lab/site.log)"
  set +e
  ANSIBLE_NOCOLOR=1 timeout --kill-after=30 "$LAB_TIMEOUT" \
    ansible-playbook -i inventories/lab/hosts.yml "$PLAYBOOK" "${extra[@]}" >"$LOG" 2>&1
  rc=$?
  set -e
  report "$rc"
  cluster_access
  return "$rc"
}

# Where the admin kubeconfig is, and the nodes as the API server sees them.
cluster_access() {
  local conf="$LOG_DIR/admin.conf"
  if [ ! -f "$conf" ]; then
    say "no cluster yet: step 2 did not write the admin kubeconfig ($conf)"
    return 0
  fi
  say "admin kubeconfig: $conf (server: the VIP ${LAB_VIP}:8443)"
  say "kubectl --kubeconfig $conf get nodes:"
  timeout 60 kubectl --kubeconfig "$conf" get nodes -o wide 2>/dev/null ||
    timeout 60 podman exec orch-lab-cp1 kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o wide || true
}

# What the run did: the tasks that changed something, the play recap, and where it stopped.
report() {
  local rc=$1
  echo
  say "changed by the playbooks (task: hosts):"
  awk '/^TASK \[/ { task = $0; sub(/^TASK \[/, "", task); sub(/\] \**$/, "", task) }
       /^changed: \[/ { host = $2; gsub(/[\[\]:]/, "", host)
                        if (!((task, host) in done)) { done[task, host] = 1; hosts[task] = hosts[task] " " host }
                        if (!(task in seen)) { order[++n] = task; seen[task] = 1 } }
       END { if (n == 0) print "  nothing"; for (i = 1; i <= n; i++) print "  " order[i] ":" hosts[order[i]] }' "$LOG"
  echo
  sed -n '/^PLAY RECAP/,$p' "$LOG" | grep -v '^$' || true
  # site.yml's own summary (endpoint, kubeconfig, what each step installed or skipped, next commands).
  if grep -q '^TASK \[Print where the cluster stands' "$LOG"; then
    echo
    say "site.yml's summary:"
    sed -n '/^TASK \[Print where the cluster stands/,/^$/p' "$LOG" | sed -n 's/^ *- "\{0,1\}\(.*\)"\{0,1\},\{0,1\}$/  \1/p'
  fi
  echo
  if [ "$rc" -eq 0 ]; then
    say "$PLAYBOOK completed: every step it imports ran."
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "STOPPED: $PLAYBOOK did not finish within LAB_TIMEOUT=${LAB_TIMEOUT}s (log: lab/site.log)."
  else
    say "STOPPED at task: $(grep '^TASK \[' "$LOG" | tail -n 1 | sed 's/^TASK \[//; s/\] \**$//')"
    # The failing message names the variable that would let the run go on.
    if grep -q '^\[ERROR\]: ' "$LOG"; then
      grep '^\[ERROR\]: ' "$LOG" | tail -n 1 | cut -c1-1200
    else
      grep -m 1 -A 8 -E '^(fatal|failed): ' "$LOG" | cut -c1-400 || true
    fi
    say "exit status $rc; full log: lab/site.log"
  fi
}

down() {
  local node removed=()
  for node in "${NODES[@]}"; do
    if pm container exists "$node"; then
      pm rm -f -t 5 "$node" >/dev/null
      removed+=("$node")
    fi
  done
  say "containers removed: ${removed[*]:-none}"
  if pm network exists "$NETWORK"; then
    pm network rm -f "$NETWORK" >/dev/null
    say "network $NETWORK removed"
  else
    say "network $NETWORK: not present"
  fi
}

case "${1:-up}" in
  up) up ;;
  down | destroy) down ;;
  *) die "usage: $0 up|down" 2 ;;
esac
