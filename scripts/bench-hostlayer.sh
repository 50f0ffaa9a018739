#!/usr/bin/env bash
# Benchmark of the host layer (steps 1-4 as molecule/cluster/converge.yml imports them): for each
# node count, a fresh converge and a no-op re-run on podman node containers, with the figures
# printed at the end. Not a test: it measures. Targets (issue 4, on a 2-core machine): no-op re-run
# of 6 nodes <= 60 s, 12 nodes <= 2x the 6-node time.
#   scripts/bench-hostlayer.sh            3, 6 and 12 nodes
#   scripts/bench-hostlayer.sh 6          one size
# Nodes: 1 control plane + 2 workers for 3 nodes, otherwise 3 control planes and the rest workers.
# Uses the scenario's prepare (stand-in packages in a signed local repository, stand-in API servers)
# and converge; containers orch-bench-*, network orch-bench (10.213.41.0/24); all removed at the end.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"

SIZES=("$@")
[ "${#SIZES[@]}" -eq 0 ] && SIZES=(3 6 12)
NET=orch-bench
SUBNET=10.213.41.0/24
VIP=10.213.41.250
SCENARIO="$ORCH_ROOT/molecule/cluster"
work=$(mktemp -d "${TMPDIR:-/tmp}/orch-bench.XXXXXX")
nodes=()

cleanup() {
  [ "${#nodes[@]}" -gt 0 ] && podman rm -f -t 5 "${nodes[@]}" >/dev/null 2>&1
  podman network rm -f "$NET" >/dev/null 2>&1
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

inventory() { # <control planes> <workers>
  local cps=$1 ws=$2 i
  {
    echo "all:"
    echo "  vars:"
    echo "    ansible_connection: containers.podman.podman"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "    cluster_api_endpoint_mode: vip"
    echo "    cluster_api_vip: $VIP"
    echo "    cluster_node_cidr: $SUBNET"
    echo "    cluster_mirror: /srv/molecule/mirror"
    echo "    api_endpoint_vrrp_password: bench"
    echo "    time_sync_set_clock: false"
    echo "    time_sync_pools: []"
    # The switches RIG.md requires in containers (see molecule/cluster/molecule.yml).
    echo "    node_prep_sysctl_host_apply: false"
    echo "    node_prep_audit_load: false"
    echo "    node_prep_swapoff_now: false"
    echo "    node_prep_firewall_extra_rules: ['ip saddr @nodes udp dport 123 accept']"
    echo "  children:"
    echo "    cluster:"
    echo "      children:"
    echo "        control_plane:"
    echo "          vars: {time_sync_allow: ['$SUBNET'], time_sync_local_stratum: 10}"
    echo "          hosts:"
    for i in $(seq 1 "$cps"); do echo "            orch-bench-cp$i:"; done
    echo "        workers:"
    echo "          vars: {time_sync_servers: [orch-bench-cp1]}"
    echo "          hosts:"
    for i in $(seq 1 "$ws"); do echo "            orch-bench-w$i:"; done
  } >"$work/inventory.yml"
}

results=()
for size in "${SIZES[@]}"; do
  cleanup_nodes=("${nodes[@]}")
  [ "${#cleanup_nodes[@]}" -gt 0 ] && podman rm -f -t 5 "${cleanup_nodes[@]}" >/dev/null 2>&1
  podman network rm -f "$NET" >/dev/null 2>&1 || true
  if [ "$size" -le 3 ]; then cps=1; else cps=3; fi
  ws=$((size - cps))
  nodes=()
  for i in $(seq 1 "$cps"); do nodes+=("orch-bench-cp$i"); done
  for i in $(seq 1 "$ws"); do nodes+=("orch-bench-w$i"); done
  podman network create --subnet "$SUBNET" "$NET" >/dev/null
  mkdir -p "$work/ephemeral"
  start=$(date +%s)
  # Fixed addresses resolved through /etc/hosts: podman's CNI backend has no DNS on user networks.
  hosts=() i=11
  for n in "${nodes[@]}"; do hosts+=("--add-host=$n:10.213.41.$i"); i=$((i + 1)); done
  i=11
  for n in "${nodes[@]}"; do
    podman run -d --name "$n" --hostname "$n" --network "$NET" --ip "10.213.41.$i" "${hosts[@]}" \
      --privileged --systemd=always --runtime runc \
      --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 -v /var/lib/containerd \
      -v "$work/ephemeral:/srv/molecule:ro" "$ORCH_NODE_IMAGE" /sbin/init >/dev/null
    i=$((i + 1))
  done
  for n in "${nodes[@]}"; do
    until podman exec "$n" systemctl is-system-running --wait >/dev/null 2>&1; do
      state=$(podman exec "$n" systemctl is-system-running 2>/dev/null || true)
      [ "$state" = degraded ] && break
      sleep 1
    done
  done
  create=$(($(date +%s) - start))
  inventory "$cps" "$ws"
  export MOLECULE_EPHEMERAL_DIRECTORY="$work/ephemeral"
  ansible-playbook -i "$work/inventory.yml" "$SCENARIO/prepare.yml" >"$work/prepare-$size.log" 2>&1
  start=$(date +%s)
  ansible-playbook -i "$work/inventory.yml" "$SCENARIO/converge.yml" >"$work/fresh-$size.log" 2>&1 ||
    { echo "fresh converge of $size nodes failed:"; tail -40 "$work/fresh-$size.log"; exit 1; }
  fresh=$(($(date +%s) - start))
  start=$(date +%s)
  ansible-playbook -i "$work/inventory.yml" "$SCENARIO/converge.yml" >"$work/noop-$size.log" 2>&1 ||
    { echo "re-run of $size nodes failed:"; tail -40 "$work/noop-$size.log"; exit 1; }
  noop=$(($(date +%s) - start))
  changed=$(grep -Eo 'changed=[0-9]+' "$work/noop-$size.log" | awk -F= '{s += $2} END {print s + 0}')
  results+=("$(printf '%6s %8s %8s %12s %10s' "$size" "${create}s" "${fresh}s" "${noop}s" "$changed")")
  echo "nodes=$size create=${create}s fresh=${fresh}s noop=${noop}s changed_on_noop=$changed" >&2
done

echo "host layer benchmark ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg), $(date -u '+%F %H:%M UTC'))"
printf '%6s %8s %8s %12s %10s\n' nodes create fresh "no-op rerun" "changed"
printf '%s\n' "${results[@]}"
