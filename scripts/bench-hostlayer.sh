#!/usr/bin/env bash
# Benchmark of the host layer (steps 1-4 as molecule/cluster/converge.yml imports them): for each
# node count, a fresh converge and a no-op re-run on podman node containers, with the figures
# printed at the end. Not a test: it measures. Targets (issue 4, on a 2-core machine): no-op re-run
# of 6 nodes <= 60 s, 12 nodes <= 2x the 6-node time.
#   scripts/bench-hostlayer.sh            3 and 6 nodes
#   scripts/bench-hostlayer.sh 12         one size
# Nodes: 1 control plane + 2 workers for 3 nodes, otherwise 3 control planes and the rest workers.
# A REAL cluster: the scenario's prepare (the release's packages from the offline mirror, its
# images from the rig's registry, tests/rig/nodes.yml) and converge (the real kubeadm init and
# joins); containers orch-bench-*, network orch-bench (10.213.41.0/24); all removed at the end.
# Ansible reaches the nodes over SSH (pipelining and ControlPersist from ansible.cfg, a throwaway
# key made for the run), as real users do; BENCH_CONNECTION=podman measures the podman connection
# instead. BENCH_LOG_DIR=<dir> keeps the playbook logs (profile them with
# ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks). The load average is printed before each run:
# other work on the machine skews the figures. "cpu" is the CPU time of ansible-playbook and its
# children on the controller (Ansible's workers, ssh or podman exec) and of the node containers
# (their cgroups: modules, sshd): less sensitive to that load than the wall-clock times.
# BENCH_KEEP=1 leaves the nodes of the last size running (to profile further re-runs); remove them
# with `podman rm -f` on the names it prints and `podman network rm orch-bench`.
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"

SIZES=("$@")
[ "${#SIZES[@]}" -eq 0 ] && SIZES=(3 6)
NET=orch-bench
SUBNET=10.213.41.0/24
VIP=10.213.41.250
SCENARIO="$ORCH_ROOT/molecule/cluster"
CONNECTION="${BENCH_CONNECTION:-ssh}"
case "$CONNECTION" in ssh | podman) ;; *) echo "BENCH_CONNECTION must be ssh or podman" >&2; exit 2 ;; esac
work=$(mktemp -d "${TMPDIR:-/tmp}/orch-bench.XXXXXX")
nodes=()

close_ssh() { # ends the ControlPersist masters of this run (they would outlive the containers)
  local sock
  for sock in "$work"/cp/*; do
    [ -S "$sock" ] && ssh -o ControlPath="$sock" -O exit dummy >/dev/null 2>&1
  done
  return 0
}

cleanup() {
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "BENCH_KEEP: nodes ${nodes[*]} left running; inventory $work/inventory.yml, SSH masters in $work/cp" >&2
    return 0
  fi
  close_ssh
  [ "${#nodes[@]}" -gt 0 ] && podman rm -f -t 5 "${nodes[@]}" >/dev/null 2>&1
  podman network rm -f "$NET" >/dev/null 2>&1
  [ -n "${BENCH_LOG_DIR:-}" ] && mkdir -p "$BENCH_LOG_DIR" && cp "$work"/*.log "$BENCH_LOG_DIR"/ 2>/dev/null
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

mkdir -p "$work/cp"
ssh-keygen -q -t ed25519 -N '' -C orch-bench -f "$work/id_ed25519"
# Every playbook of the run shares these SSH masters (ControlPersist), in a directory of its own.
export ANSIBLE_SSH_CONTROL_PATH_DIR="$work/cp"

inventory() { # <control planes> <workers>
  local cps=$1 ws=$2 i
  {
    echo "all:"
    echo "  vars:"
    if [ "$CONNECTION" = ssh ]; then
      echo "    ansible_connection: ssh"
      echo "    ansible_user: root"
      echo "    ansible_ssh_private_key_file: $work/id_ed25519"
      # Throwaway nodes re-created with the same addresses: no host key records.
      echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR" \
        "-o ServerAliveInterval=5 -o ServerAliveCountMax=3"
    else
      echo "    ansible_connection: containers.podman.podman"
    fi
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
    # As in molecule/cluster: the rig's registry, containerd and kube-proxy in a node container,
    # cgroup v1; the admin kubeconfig comes back to the run's directory; backups go to the first worker.
    echo "    cluster_image_registry: '10.213.250.2:5000'"
    echo "    container_runtime_registries: [{registry: '10.213.250.2:5000', server: 'http://10.213.250.2:5000'," \
      "mirrors: [{url: 'http://10.213.250.2:5000'}]}]"
    echo "    container_runtime_restrict_oom_score_adj: true"
    echo "    kubeadm_config_kube_proxy_conntrack: {maxPerCore: 0}"
    echo "    cluster_kubelet_fail_cgroup_v1: false"
    echo "    cluster_kubeconfig: $work/ephemeral/admin.conf"
    echo "    etcd_backup_rsync_host: orch-bench-w1"
    echo "    etcd_backup_keep: 3"
    echo "    etcd_backup_rsync_keep: 2"
    echo "  children:"
    echo "    cluster:"
    echo "      children:"
    echo "        control_plane:"
    echo "          vars: {time_sync_allow: ['$SUBNET'], time_sync_local_stratum: 10}"
    echo "          hosts:"
    for i in $(seq 1 "$cps"); do echo "            orch-bench-cp$i: {ansible_host: ${addr[orch-bench-cp$i]}}"; done
    echo "        workers:"
    echo "          vars: {time_sync_servers: [orch-bench-cp1]}"
    echo "          hosts:"
    for i in $(seq 1 "$ws"); do echo "            orch-bench-w$i: {ansible_host: ${addr[orch-bench-w$i]}}"; done
  } >"$work/inventory.yml"
}

nodes_cpu() { # CPU seconds the node containers used so far (cgroup v1 cpuacct; "-" where unreadable)
  local n path total=0
  for n in "${nodes[@]}"; do
    path=/sys/fs/cgroup/cpuacct$(podman inspect --format '{{.State.CgroupPath}}' "$n" 2>/dev/null)/cpuacct.usage
    [ -r "$path" ] || { echo -; return 0; }
    total=$((total + $(cat "$path")))
  done
  echo $((total / 1000000))
}
cpu_diff() { # <ms before> <ms after>: seconds, or "-"
  if [ "$1" = - ] || [ "$2" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b - a) / 1000}'; fi
}

results=()
declare -A addr
for size in "${SIZES[@]}"; do
  close_ssh
  [ "${#nodes[@]}" -gt 0 ] && podman rm -f -t 5 "${nodes[@]}" >/dev/null 2>&1
  podman network rm -f "$NET" >/dev/null 2>&1 || true
  if [ "$size" -le 3 ]; then cps=1; else cps=3; fi
  ws=$((size - cps))
  nodes=()
  for i in $(seq 1 "$cps"); do nodes+=("orch-bench-cp$i"); done
  for i in $(seq 1 "$ws"); do nodes+=("orch-bench-w$i"); done
  podman network create --subnet "$SUBNET" "$NET" >/dev/null
  rm -rf "$work/ephemeral"
  mkdir -p "$work/ephemeral"
  start=$(date +%s)
  # Fixed addresses resolved through /etc/hosts: podman's CNI backend has no DNS on user networks.
  hosts=() i=11
  for n in "${nodes[@]}"; do addr[$n]=10.213.41.$i; hosts+=("--add-host=$n:${addr[$n]}"); i=$((i + 1)); done
  i=11
  for n in "${nodes[@]}"; do
    podman run -d --name "$n" --hostname "$n" --network "$NET" --ip "10.213.41.$i" "${hosts[@]}" \
      --privileged --systemd=always --runtime runc --cgroupns=private \
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
    if [ "$CONNECTION" = ssh ]; then
      podman exec -i "$n" sh -c 'umask 077 && mkdir -p /root/.ssh && cat >/root/.ssh/authorized_keys' <"$work/id_ed25519.pub"
    fi
  done
  create=$(($(date +%s) - start))
  inventory "$cps" "$ws"
  export MOLECULE_EPHEMERAL_DIRECTORY="$work/ephemeral"
  ansible-playbook -i "$work/inventory.yml" "$SCENARIO/prepare.yml" >"$work/prepare-$size.log" 2>&1 ||
    { echo "prepare of $size nodes failed:"; tail -40 "$work/prepare-$size.log"; exit 1; }
  load_fresh=$(cut -d' ' -f1 /proc/loadavg)
  node_cpu_before=$(nodes_cpu)
  start=$(date +%s)
  /usr/bin/time -f '%U %S' -o "$work/cpu-fresh-$size" \
    ansible-playbook -i "$work/inventory.yml" "$SCENARIO/converge.yml" >"$work/fresh-$size.log" 2>&1 ||
    { echo "fresh converge of $size nodes failed:"; tail -40 "$work/fresh-$size.log"; exit 1; }
  fresh=$(($(date +%s) - start))
  node_cpu_fresh=$(cpu_diff "$node_cpu_before" "$(nodes_cpu)")
  load_noop=$(cut -d' ' -f1 /proc/loadavg)
  node_cpu_before=$(nodes_cpu)
  start=$(date +%s)
  /usr/bin/time -f '%U %S' -o "$work/cpu-noop-$size" \
    ansible-playbook -i "$work/inventory.yml" "$SCENARIO/converge.yml" >"$work/noop-$size.log" 2>&1 ||
    { echo "re-run of $size nodes failed:"; tail -40 "$work/noop-$size.log"; exit 1; }
  noop=$(($(date +%s) - start))
  node_cpu_noop=$(cpu_diff "$node_cpu_before" "$(nodes_cpu)")
  cpu_fresh=$(awk '{printf "%.0f", $1 + $2}' "$work/cpu-fresh-$size")
  cpu_noop=$(awk '{printf "%.0f", $1 + $2}' "$work/cpu-noop-$size")
  changed=$(grep -Eo 'changed=[0-9]+' "$work/noop-$size.log" | awk -F= '{s += $2} END {print s + 0}')
  results+=("$(printf '%6s %8s %8s %12s %10s %11s %10s %12s %12s' "$size" "${create}s" "${fresh}s" "${noop}s" "$changed" \
    "$load_fresh" "$load_noop" "${cpu_fresh}s/${node_cpu_fresh}s" "${cpu_noop}s/${node_cpu_noop}s")")
  echo "nodes=$size create=${create}s fresh=${fresh}s noop=${noop}s changed_on_noop=$changed" \
    "load_before_fresh=$load_fresh load_before_noop=$load_noop cpu_fresh=${cpu_fresh}s/${node_cpu_fresh}s" \
    "cpu_noop=${cpu_noop}s/${node_cpu_noop}s" >&2
done

echo "host layer benchmark ($(nproc) cores, connection $CONNECTION, load $(cut -d' ' -f1 /proc/loadavg), $(date -u '+%F %H:%M UTC'))"
printf '%6s %8s %8s %12s %10s %11s %10s %12s %12s\n' nodes create fresh "no-op rerun" "changed" "load fresh" "load noop" \
  "cpu fresh" "cpu noop"
echo "(cpu: CPU seconds of the controller / of the node containers during the run)"
printf '%s\n' "${results[@]}"
