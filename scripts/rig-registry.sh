#!/usr/bin/env bash
# A real image registry for the node containers: Debian's docker-registry (the distribution
# registry, plain HTTP, no auth) in a container of its own on a podman network of its own, at a
# fixed address. Node containers on any other podman network reach it through the host, which
# routes between the bridges; nothing listens on the machine's own interfaces.
#   scripts/rig-registry.sh up       start it (idempotent), print its address host:port
#   scripts/rig-registry.sh down     stop and remove the container and its network (storage kept)
#   scripts/rig-registry.sh address  print host:port
# Storage: $ORCH_CACHE/registry/storage (scripts/build-images.sh pushes there; kept across runs).
# The registry runs from the node image (scripts/node-image.sh), with the host's
# /usr/bin/docker-registry mounted read-only (a Debian binary linked against Debian's libc).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
log() { printf 'rig-registry: %s\n' "$*" >&2; }

NAME="${ORCH_REGISTRY_NAME:-orch-registry}"
NETWORK="${ORCH_REGISTRY_NETWORK:-orch-registry}"
SUBNET="${ORCH_REGISTRY_SUBNET:-10.213.250.0/24}"
ADDRESS="${ORCH_REGISTRY_ADDRESS:-10.213.250.2}"
PORT=5000
STORAGE="$ORCH_CACHE/registry/storage"

ready() { curl -fsS -o /dev/null --max-time 2 "http://$ADDRESS:$PORT/v2/"; }

up() {
  command -v docker-registry >/dev/null || { log "docker-registry (Debian package) is not installed: run scripts/setup.sh"; exit 1; }
  if [ "$(podman container inspect -f '{{.State.Running}}' "$NAME" 2>/dev/null)" = true ] && ready; then
    echo "$ADDRESS:$PORT"
    return
  fi
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  podman network exists "$NETWORK" || podman network create --subnet "$SUBNET" "$NETWORK" >/dev/null
  mkdir -p "$STORAGE" "$ORCH_CACHE/registry/etc"
  cat >"$ORCH_CACHE/registry/etc/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :$PORT
EOF
  podman run -d --name "$NAME" --network "$NETWORK" --ip "$ADDRESS" --runtime runc \
    --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 \
    -v /usr/bin/docker-registry:/usr/bin/docker-registry:ro \
    -v "$ORCH_CACHE/registry/etc/config.yml:/etc/docker/registry/config.yml:ro" \
    -v "$STORAGE:/var/lib/registry" \
    "$ORCH_NODE_IMAGE" /usr/bin/docker-registry serve /etc/docker/registry/config.yml >/dev/null
  for _ in $(seq 1 50); do
    ready && { echo "$ADDRESS:$PORT"; return; }
    sleep 0.2
  done
  podman logs "$NAME" >&2 || true
  log "the registry did not answer on http://$ADDRESS:$PORT/v2/ within 10 s"
  exit 1
}

down() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  if podman network exists "$NETWORK"; then
    podman network rm "$NETWORK" >/dev/null 2>&1 || log "network $NETWORK still in use, kept"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  address) echo "$ADDRESS:$PORT" ;;
  *) echo "usage: $0 up|down|address" >&2; exit 2 ;;
esac
