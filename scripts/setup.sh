#!/usr/bin/env bash
# Everything the tests and the lab need, on a fresh Debian 12 machine as root: Debian packages,
# a Python virtualenv with the pinned tools, the collection tree Ansible and ansible-test look
# for, the offline bootstrap ansible-test needs, and the node image. Idempotent and quick when
# nothing changed (each part is keyed by a hash of what it was made from).
set -euo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"
cd "$ORCH_ROOT"
log() { printf 'setup: %s\n' "$*" >&2; }
# The core_min virtualenv (tests/run.sh reads the same two definitions), keyed by its pins and Python.
ORCH_VENV_CORE_MIN="${ORCH_VENV_CORE_MIN:-$ORCH_CACHE/venv-core-min}"
orch_core_min_hash() { { cat requirements-core-min.txt; "$ORCH_PYTHON" -V; } 2>&1 | sha256sum | cut -c1-16; }

# 1. Debian packages: podman (rootful, runc: crun refuses this cgroup hybrid), mmdebstrap for the
#    node image, dpkg-dev for local apt repositories, and the real side services the tests run.
#    The dnsname CNI plugin lets containers on one podman network resolve each other by name (a
#    Recommends of podman, which --no-install-recommends would otherwise leave out).
DEB_PACKAGES=(podman runc golang-github-containernetworking-plugin-dnsname mmdebstrap dpkg-dev rsync make git shellcheck prometheus etcd-server etcd-client docker-registry)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian packages start their services where systemd runs; the tests start their own.
for svc in prometheus etcd docker-registry; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  fi
done
command -v kubectl >/dev/null || { log "kubectl (>= 1.27, kustomize v5) is required: it ships on this machine kind"; exit 1; }

# 2. The virtualenv, rebuilt when the pinned requirements change.
req_hash=$(cat requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$ORCH_VENV/.orch-stamp" 2>/dev/null)" != "$req_hash" ]; then
  log "creating the virtualenv $ORCH_VENV"
  rm -rf "$ORCH_VENV"
  "$ORCH_PYTHON" -m venv "$ORCH_VENV"
  # pip's own chatter (about find-links folders this machine kind lists) goes to a log.
  "$ORCH_VENV/bin/pip" install -q -r requirements-dev.txt -c constraints.txt >"$ORCH_CACHE/pip.log" 2>&1 \
    || { cat "$ORCH_CACHE/pip.log" >&2; exit 1; }
  echo "$req_hash" > "$ORCH_VENV/.orch-stamp"
fi

# 2b. A second virtualenv with the lowest ansible-core meta/runtime.yml admits, for the core_min
#     gate (its ansible-test runs sanity and units). Only ansible-core: the collections the unit
#     tests import come from the main virtualenv (tests/run.sh links them into the test tree).
if [ "$(cat "$ORCH_VENV_CORE_MIN/.orch-stamp" 2>/dev/null)" != "$(orch_core_min_hash)" ]; then
  log "creating the virtualenv $ORCH_VENV_CORE_MIN ($(grep -v '^#' requirements-core-min.txt | xargs))"
  rm -rf "$ORCH_VENV_CORE_MIN"
  "$ORCH_PYTHON" -m venv "$ORCH_VENV_CORE_MIN"
  "$ORCH_VENV_CORE_MIN/bin/pip" install -q -r requirements-core-min.txt >"$ORCH_CACHE/pip-core-min.log" 2>&1 \
    || { cat "$ORCH_CACHE/pip-core-min.log" >&2; exit 1; }
  orch_core_min_hash > "$ORCH_VENV_CORE_MIN/.orch-stamp"
fi

# 2c. The documentation tools of the lint gate (ansible-builder, antsibull-docs) in a third
#     virtualenv, so that their dependencies never move the test virtualenv's pins.
ORCH_VENV_DOCS="${ORCH_VENV_DOCS:-$ORCH_CACHE/venv-docs}"
docs_hash=$(cat requirements-docs.txt constraints-docs.txt | sha256sum | cut -c1-16)
if [ "$(cat "$ORCH_VENV_DOCS/.orch-stamp" 2>/dev/null)" != "$docs_hash" ]; then
  log "creating the virtualenv $ORCH_VENV_DOCS (ansible-builder, antsibull-docs)"
  rm -rf "$ORCH_VENV_DOCS"
  "$ORCH_PYTHON" -m venv "$ORCH_VENV_DOCS"
  "$ORCH_VENV_DOCS/bin/pip" install -q -r requirements-docs.txt -c constraints-docs.txt >"$ORCH_CACHE/pip-docs.log" 2>&1 \
    || { cat "$ORCH_CACHE/pip-docs.log" >&2; exit 1; }
  echo "$docs_hash" > "$ORCH_VENV_DOCS/.orch-stamp"
fi

# 3. Our collection where Ansible and ansible-lint look for it (a symlink to the work tree).
mkdir -p "$ORCH_COLLECTIONS/ansible_collections/orchestrator"
ln -sfn "$ORCH_ROOT" "$ORCH_COLLECTIONS/ansible_collections/orchestrator/platform"

# 4. ansible-test downloads a pip bootstrap script from a host these machines cannot reach; give
#    it a local one that installs pip from CPython's own bundled wheel.
bootstrap_dir="$HOME/.ansible/test/cache"
mkdir -p "$bootstrap_dir"
# The pip version ansible-test bootstraps is written in its own source (pip='X.Y'); each of the
# two ansible-test versions (main and core_min virtualenvs) gets the script of its own.
for venv in "$ORCH_VENV" "$ORCH_VENV_CORE_MIN"; do
  pip_version=$("$venv/bin/python" - <<'PY'
import os, re
import ansible_test
src = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
with open(src, encoding="utf-8") as handle:
    print(re.search(r"pip='([0-9.]+)'", handle.read()).group(1))
PY
)
  cp scripts/get_pip_offline.py "$bootstrap_dir/get_pip_${pip_version//./_}.py"
done

# 5. The node image.
bash scripts/node-image.sh >/dev/null

# 6. The pinned Kubernetes release built from its Go modules (build/), its signed apt repository
#    and its images on the rig's registry, each cached by the hash of what it is made from (cold:
#    the better part of an hour on two cores; warm: seconds). The registry is left as it was found.
registry_was_up=$(podman container inspect -f '{{.State.Running}}' orch-registry 2>/dev/null || true)
bash scripts/build-release.sh >/dev/null && bash scripts/build-mirror.sh >/dev/null && bash scripts/build-images.sh >/dev/null
[ "$registry_was_up" = true ] || bash scripts/rig-registry.sh down
log "ready (venv $ORCH_VENV, node image $ORCH_NODE_IMAGE)"
