#!/usr/bin/env bash
# The test gates, in order, each timed. `tests/run.sh` runs them all; `tests/run.sh lint units`
# runs the named ones. Set-up is scripts/setup.sh (make test runs both).
set -uo pipefail
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/../scripts/env.sh"
cd "$ORCH_ROOT" || exit 1

ALL_GATES=(lint sanity units core_min syntax pytest molecule)
gates=("$@")
[ "${#gates[@]}" -eq 0 ] && gates=("${ALL_GATES[@]}")

ORCH_VENV_DOCS="${ORCH_VENV_DOCS:-$ORCH_CACHE/venv-docs}"
# The execution-environment definition as ansible-builder reads it: every controller requirement
# (requirements.txt, bindep.txt through meta/execution-environment.yml) must be found.
_ee_introspect() {
  local out want
  out=$("$ORCH_VENV_DOCS/bin/ansible-builder" introspect --sanitize "$ORCH_COLLECTIONS") || return 1
  for want in $(grep -Eo '^[A-Za-z0-9_.-]+' requirements.txt) $(grep -Eo '^[A-Za-z0-9_.-]+' bindep.txt); do
    grep -q "^- '$want.*from collection orchestrator.platform'" <<<"$out" \
      || { echo "ansible-builder introspect does not list $want:"; echo "$out"; return 1; }
  done
}

gate_lint() {
  [ -x "$ORCH_VENV_DOCS/bin/antsibull-docs" ] || { echo "lint: no $ORCH_VENV_DOCS (run scripts/setup.sh)"; return 1; }
  yamllint --strict . &&
    ansible-lint &&
    ruff check . &&
    antsibull-changelog lint &&
    _ee_introspect &&
    "$ORCH_VENV_DOCS/bin/antsibull-docs" lint-collection-docs --plugin-docs \
      "$ORCH_COLLECTIONS/ansible_collections/orchestrator/platform"
}

# ansible-test wants the collection at a real path named ansible_collections/<ns>/<name>.
_ansible_test_tree() {
  local tree="$ORCH_WORK/ansible-test/ansible_collections/orchestrator/platform"
  mkdir -p "$tree"
  # What the collection ships plus its unit tests and sanity ignores; dev tooling stays out.
  rsync -a --delete --exclude .git --exclude tests/output --exclude tests/functional --exclude tests/standins \
    --exclude molecule --exclude .cache --exclude __pycache__ "$ORCH_ROOT/" "$tree/"
  # --delete keeps excluded paths an older tree may hold: drop the ones that are not content (the
  # recording stand-ins are executables for the node containers, not part of the collection).
  rm -rf "$tree/tests/standins"
  # module_utils that import kubernetes.core need it beside our collection.
  local site
  site=$(python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')
  mkdir -p "$tree/../../kubernetes"
  ln -sfn "$site/ansible_collections/kubernetes/core" "$tree/../../kubernetes/core"
  echo "$tree"
}

gate_sanity() {
  local tree
  tree=$(_ansible_test_tree) || return 1
  (cd "$tree" && ansible-test sanity --python 3.11 --venv --requirements --color no)
}

gate_units() {
  local tree
  tree=$(_ansible_test_tree) || return 1
  if ! find "$tree/tests/unit" -name 'test_*.py' | grep -q .; then
    echo "units: no unit tests yet"
    return 0
  fi
  (cd "$tree" && ansible-test units --python 3.11 --venv --requirements --color no)
}

# The lowest ansible-core meta/runtime.yml admits (requirements-core-min.txt, installed by
# scripts/setup.sh): its ansible-test runs the unit tests and the sanity tests that depend on the
# core version (compile, import, validate-modules, runtime-metadata, ansible-doc, yamllint) on the
# same tree. The other sanity tests (pylint, pep8, shebang, ...) read only our text: the sanity gate
# runs them on the highest version. ORCH_CORE_MIN_SANITY="" runs every sanity test.
ORCH_VENV_CORE_MIN="${ORCH_VENV_CORE_MIN:-$ORCH_CACHE/venv-core-min}"
gate_core_min() {
  local tree at="$ORCH_VENV_CORE_MIN/bin/ansible-test" tests=()
  [ -x "$at" ] || { echo "core_min: no $ORCH_VENV_CORE_MIN (run scripts/setup.sh)"; return 1; }
  tree=$(_ansible_test_tree) || return 1
  local test
  for test in ${ORCH_CORE_MIN_SANITY-compile import validate-modules runtime-metadata ansible-doc yamllint}; do
    tests+=(--test "$test")
  done
  # Both run: a sanity failure does not hide the unit tests' result.
  (cd "$tree" || exit 1
    echo "core_min: $("$at" --version)"
    rc=0
    "$at" sanity --python 3.11 --venv --requirements --color no "${tests[@]}" || rc=1
    "$at" units --python 3.11 --venv --requirements --color no || rc=1
    exit $rc)
}

gate_syntax() {
  local rc=0 pb
  while IFS= read -r pb; do
    ansible-playbook --syntax-check -i inventories/lab/hosts.yml "$pb" >/dev/null || { echo "syntax: $pb"; rc=1; }
  done < <(find playbooks -name '*.yml' -not -path '*/vars/*' -not -path '*/templates/*' -not -path '*/tasks/*' | sort)
  return $rc
}

# The test files run on ORCH_PYTEST_WORKERS pytest-xdist workers (default 2, the cores of this machine
# kind; 0 runs them in this process), each file - or each group of files sharing a render - on one
# worker (tests/functional/conftest.py).
gate_pytest() {
  pytest -q --durations=15 -n "${ORCH_PYTEST_WORKERS:-2}" --dist loadscope --no-loadscope-reorder
  local rc=$?
  # pytest exits 5 when it collected nothing: not a failure of the gate while there is no test.
  [ $rc -eq 5 ] && return 0
  return $rc
}

gate_molecule() {
  local rc=0 scenario driver
  for scenario in molecule/*/molecule.yml; do
    [ -e "$scenario" ] || continue
    scenario=$(basename "$(dirname "$scenario")")
    driver=$(python -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(((d or {}).get("driver") or {}).get("name", "podman"))' "molecule/$scenario/molecule.yml")
    if [ "$driver" != podman ]; then
      echo "molecule: skipping scenario $scenario (driver $driver cannot run on this machine kind; see README)"
      continue
    fi
    molecule test -s "$scenario" || { echo "molecule: scenario $scenario failed"; rc=1; }
  done
  return $rc
}

declare -A took result
passed=0 failed=0
total_start=$(date +%s)
for gate in "${gates[@]}"; do
  echo "=== gate: $gate"
  start=$(date +%s)
  if "gate_$gate"; then result[$gate]=ok; passed=$((passed + 1)); else result[$gate]=FAILED; failed=$((failed + 1)); fi
  took[$gate]=$(( $(date +%s) - start ))
done
echo
echo "=== gate times"
for gate in "${gates[@]}"; do
  printf '%-10s %-7s %5ss\n' "$gate" "${result[$gate]}" "${took[$gate]}"
done
printf '%-10s %-7s %5ss\n' total "" "$(( $(date +%s) - total_start ))"
echo "gates: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
