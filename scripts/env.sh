# shellcheck shell=bash
# Sourced by every script and test entry point: one place that says where things live.
# Nothing here installs anything; scripts/setup.sh does that.
ORCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ORCH_ROOT
export ORCH_CACHE="${ORCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/orchestrator-platform}"
export ORCH_VENV="${ORCH_VENV:-$ORCH_CACHE/venv}"
# The Python the project runs on (pyenv's 3.11 on this machine kind; any CPython 3.11 works).
export ORCH_PYTHON="${ORCH_PYTHON:-$(command -v python3.11 || command -v python3)}"
# JSON schemas of the custom resources we render (../shared/schemas beside the clone).
export ORCH_SCHEMAS="${ORCH_SCHEMAS:-$(cd "$ORCH_ROOT/.." && pwd)/shared/schemas}"
# Per-checkout working files (the collection symlink tree, the ansible-test copy): two clones on
# one machine share the cache (virtualenv, images) but never each other's checkout.
ORCH_WORK="$ORCH_CACHE/checkouts/$(printf '%s' "$ORCH_ROOT" | sha256sum | cut -c1-12)"
export ORCH_WORK
# Our collection is found through a symlink tree; the collections we depend on come from the
# `ansible` package in the virtualenv (site-packages/ansible_collections) or from Galaxy.
export ORCH_COLLECTIONS="$ORCH_WORK/collections"
if [ "$(readlink "$ORCH_COLLECTIONS/ansible_collections/orchestrator/platform" 2>/dev/null)" != "$ORCH_ROOT" ]; then
  mkdir -p "$ORCH_COLLECTIONS/ansible_collections/orchestrator"
  ln -sfn "$ORCH_ROOT" "$ORCH_COLLECTIONS/ansible_collections/orchestrator/platform"
fi
export ANSIBLE_COLLECTIONS_PATH="$ORCH_COLLECTIONS"
export ANSIBLE_CONFIG="$ORCH_ROOT/ansible.cfg"
export ANSIBLE_ROLES_PATH="$ORCH_ROOT/roles"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export ANSIBLE_FORCE_COLOR=0
export PY_COLORS=0
export PATH="$ORCH_VENV/bin:$PATH"
# The podman network and image every node container uses.
export ORCH_NODE_IMAGE_NAME="${ORCH_NODE_IMAGE_NAME:-localhost/orchestrator-node}"
orch_node_image_tag() {
  # The tag is the hash of the recipe: a changed recipe builds a new image, an unchanged one is reused.
  sha256sum "$ORCH_ROOT/scripts/node-image.sh" | cut -c1-12
}
ORCH_NODE_IMAGE="${ORCH_NODE_IMAGE_NAME}:$(orch_node_image_tag)"
export ORCH_NODE_IMAGE
