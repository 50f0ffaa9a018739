#!/usr/bin/env bash
# Builds the Debian 12 "node" image that every molecule scenario and the lab boot: systemd as
# PID 1, python3, sshd, the tools Ansible needs. Built locally with mmdebstrap and podman import,
# because no image registry can be reached. The image tag is the hash of this file, so an
# unchanged recipe is reused and a changed one is rebuilt.
#   scripts/node-image.sh          build if missing, print the image reference
#   scripts/node-image.sh --force  rebuild
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

# The recipe. Changing any line of this file changes the tag.
SUITE=bookworm
MIRROR="${ORCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${ORCH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
PACKAGES=systemd,systemd-sysv,python3,python3-apt,sudo,dbus,iproute2,iputils-ping,ca-certificates,procps,kmod,gnupg,curl,openssh-server,netbase,less

force=0
[ "${1:-}" = "--force" ] && force=1
if [ "$force" = 0 ] && podman image exists "$ORCH_NODE_IMAGE"; then
  echo "$ORCH_NODE_IMAGE"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/orch-node-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$(date +%s)
echo "building $ORCH_NODE_IMAGE (mmdebstrap $SUITE from $MIRROR)" >&2
# The package lists stay in the image (a node's first apt run needs no download), as on a real
# host whose cache is fresh; roles refresh them when they are older than their cache_valid_time.
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" --skip=cleanup/apt/lists \
  --customize-hook="truncate -s 0 \"\$1/etc/machine-id\"" \
  "$SUITE" "$work/rootfs.tar" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main" >&2
podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'ENV container=podman' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  "$work/rootfs.tar" "$ORCH_NODE_IMAGE" >/dev/null
# Older images of this name are of older recipes: drop them so the disk does not fill up.
podman images --format '{{.Repository}}:{{.Tag}}' "$ORCH_NODE_IMAGE_NAME" \
  | grep -vxF "$ORCH_NODE_IMAGE" | xargs -r podman rmi >/dev/null 2>&1 || true
echo "built $ORCH_NODE_IMAGE in $(( $(date +%s) - start ))s" >&2
echo "$ORCH_NODE_IMAGE"
