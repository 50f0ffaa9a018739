"""The safety fixes of the destructive day-2 playbooks (issue 18), proven on the REAL cluster (issue 17,
"the safety fixes, proven live"): `remove_node.yml --check` (a worker, a control plane) and
`upgrade.yml --check` leave every node schedulable and every pod where it was, and a real run with a
`--limit` the playbook must refuse (`remove_node.yml -l <the control plane to remove>`, `upgrade.yml`
without the first control plane while the API server is older than the target) is refused with its
reason and leaves the cluster as it was.

Each test compares the whole cluster state before and after its playbook run:
- nodes: uid, unschedulable, taints (key, value, effect), kubelet version;
- pods of every namespace: node, uid, restart count (sum over the containers), being deleted;
- namespaces and their phase;
- etcd (rig.etcd_state): the member list (names and IDs); per control plane the static pod manifests,
  the held ones, the running etcd and kube-apiserver container ids;
- on every node: kubelet active/enabled, kubeadm/kubelet/kubectl package versions and dpkg selection,
  the listings of /etc/kubernetes, /etc/cni/net.d and /var/lib/etcd, the sha256 of every static pod
  manifest;
- every kubeadm call the rig's wrapper recorded on each node (rig.kubeadm_calls; `kubeadm version` is
  left out there): a check run or a refused run may add none.

What may change by itself and is therefore left out: pods owned by a Job and pods of namespaces
created during the run (nothing here creates any; a CronJob would), and the restart counts of the
kube-controller-manager and kube-scheduler static pods (they exit and are restarted when they lose
their leader lease, which a busy 2-core machine causes; their manifests and pod uids are compared).
Before each run the state must be settled: two readings 5 s apart agree, no pod or namespace is
being deleted (a previous test's fixtures may still be going), every node is schedulable, etcd has
three members and every control plane runs etcd and the API server.

The upgrade's target is the next patch of the running release (1.36.4 -> 1.36.5), so that the check
run plans the whole path (skew checks against the live API, snapshot check, the first control plane,
the others one at a time, the workers; per node the drain plan read from the live API). The rig's
mirror holds only the pinned release and apt refuses a version it does not have even in check mode,
so the check run is given a STAND-IN for a mirror with the next patch: the role's internal
`_cluster_installed_packages` (which step 1 normally reads from dpkg) says the packages are already
at the target, and kubernetes_packages skips its apt task. Nothing else is replaced. The refused
real run gets no stand-in: were it not refused, apt would stop it before any change.

Not destructive: nothing here may change the cluster, so this file is not in conftest.py's LAST
(it runs in alphabetical order with the checks of the healthy cluster).
"""

from __future__ import annotations

import json
import re
import subprocess
import time

from rig import CONTROL_PLANES, MANIFESTS, NODES, WORKERS, etcd_state, kubeadm_calls, kubectl_json, node, run_playbooks

FIRST = CONTROL_PLANES[0]  # orch-cl-cp1, the first control plane of the inventory
REMOVED_CONTROL_PLANE = CONTROL_PLANES[-1]  # orch-cl-cp3
REMOVED_WORKER = WORKERS[0]  # orch-cl-w1
# Restarted by themselves when they lose their leader lease (see the module docstring).
RESTARTS_NOT_COMPARED = ("kube-system/kube-controller-manager-", "kube-system/kube-scheduler-")
# Not evicted by a drain: DaemonSet pods and static pods (their mirror pods are owned by the Node).
NOT_EVICTED = {"DaemonSet", "Node"}
ON_THE_NODE = (
    "systemctl is-active kubelet; systemctl is-enabled kubelet; "
    "dpkg-query -W -f '${Package} ${Version} ${Status}\\n' kubeadm kubelet kubectl; "
    "ls -A /etc/kubernetes /etc/cni/net.d /var/lib/etcd 2>/dev/null; "
    f"cd {MANIFESTS} && sha256sum *"
)


def pods() -> dict[str, dict]:
    found = {}
    for pod in kubectl_json("get", "pods", "--all-namespaces")["items"]:
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        statuses = pod.get("status", {}).get("containerStatuses", [])
        found[key] = {
            "node": pod["spec"].get("nodeName", ""),
            "uid": meta["uid"],
            "owners": sorted(o["kind"] for o in meta.get("ownerReferences", [])),
            "restarts": None if key.startswith(RESTARTS_NOT_COMPARED)
            else sum(s.get("restartCount", 0) for s in statuses),
            "deleting": "deletionTimestamp" in meta,
        }
    return found


def cluster_state() -> dict[str, dict]:
    nodes = {}
    for item in kubectl_json("get", "nodes")["items"]:
        spec = item["spec"]
        nodes[item["metadata"]["name"]] = {
            "uid": item["metadata"]["uid"],
            "unschedulable": bool(spec.get("unschedulable", False)),
            "taints": sorted((t["key"], t.get("value", ""), t["effect"]) for t in spec.get("taints", [])),
            "kubelet": item["status"]["nodeInfo"]["kubeletVersion"],
        }
    return {
        "nodes": nodes,
        "namespaces": {n["metadata"]["name"]: n["status"].get("phase", "")
                       for n in kubectl_json("get", "namespaces")["items"]},
        "pods": pods(),
        "etcd": etcd_state(),
        "on the node": {n: node(n).run(ON_THE_NODE).stdout.splitlines() for n in NODES},
        "kubeadm calls": {n: kubeadm_calls(node(n)) for n in NODES},
    }


def changes(before: dict, after: dict) -> list[str]:
    """Every difference, one line each; Job pods and what namespaces created meanwhile hold are left out."""
    kept = set(before["namespaces"])
    lines = []
    for section, was in before.items():
        old, new = was, after[section]
        if section == "pods":
            old = {k: v for k, v in was.items() if "Job" not in v["owners"]}
            new = {k: v for k, v in new.items() if "Job" not in v["owners"] and k.split("/", 1)[0] in kept}
        elif section == "namespaces":
            new = {k: v for k, v in new.items() if k in kept}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                lines.append(f"{section} {key}: {old.get(key, '(absent)')} -> {new.get(key, '(absent)')}")
    return lines


def settled_state(timeout: float = 300) -> dict:
    """The state once nothing moves (see the module docstring), with the preconditions every test needs."""
    deadline = time.monotonic() + timeout
    previous = cluster_state()
    while True:
        time.sleep(5)
        current = cluster_state()
        moving = changes(previous, current)
        moving += [f"pod {k} is being deleted" for k, v in current["pods"].items()
                   if v["deleting"] and "Job" not in v["owners"]]
        moving += [f"namespace {k} is {v}" for k, v in current["namespaces"].items() if v != "Active"]
        if not moving:
            break
        assert time.monotonic() < deadline, "the cluster does not settle:\n" + "\n".join(moving)
        previous = current
    assert sorted(current["nodes"]) == sorted(NODES), current["nodes"]
    assert not [n for n, v in current["nodes"].items() if v["unschedulable"]], current["nodes"]
    etcd = current["etcd"]
    assert len(etcd["members"]) == len(CONTROL_PLANES), etcd
    assert all(etcd[cp]["etcd"] and etcd[cp]["apiserver"] for cp in CONTROL_PLANES), etcd
    return current


def play(label: str, playbook: str, *extra: str, timeout: int = 1800) -> tuple[subprocess.CompletedProcess, str]:
    """One playbook run, its duration printed; the output (stdout and stderr: ansible-core 2.19 prints a
    failed task's message on stderr) with every run of white space as one blank (YAML folds lines)."""
    started = time.monotonic()
    done = run_playbooks([playbook], *extra, timeout=timeout)
    print(f"{label}: {time.monotonic() - started:.0f} s, rc {done.returncode}")
    return done, " ".join((done.stdout + done.stderr).split())


def assert_unchanged(before: dict, said: str) -> None:
    lines = changes(before, cluster_state())
    assert not lines, "changed by the run:\n" + "\n".join(lines) + "\n--- end of its output:\n" + said[-3000:]


def planned_evictions(said: str, name: str) -> list[str]:
    """The pods a check run says a drain of the node would evict (remove_node's and upgrade's plan)."""
    plan = rf"would cordon and drain {re.escape(name)}, evicting (\d+) pods \(([^;]*); DaemonSet pods stay\)"
    found = re.search(plan, said)
    assert found, f"no drain plan for {name}:\n{said[-3000:]}"
    listed = [p.strip() for p in found.group(2).split(",") if p.strip()]
    assert int(found.group(1)) == len(listed), found.group(0)
    return sorted(listed)


def evictable(state: dict, name: str) -> list[str]:
    """What a drain of the node evicts, from the state: every pod on it but DaemonSet and static pods."""
    return sorted(k for k, v in state["pods"].items() if v["node"] == name and not NOT_EVICTED & set(v["owners"]))


def assert_plan(said: str, state: dict, name: str) -> None:
    jobs = {k for k, v in state["pods"].items() if "Job" in v["owners"]}
    listed = [p for p in planned_evictions(said, name) if p not in jobs]
    assert listed == [p for p in evictable(state, name) if p not in jobs], (name, listed)


def versions() -> tuple[str, str, str]:
    """The API server's version, its next patch (the upgrade's target) and the packages' revision."""
    running = kubectl_json("version")["serverVersion"]["gitVersion"]
    major, minor, patch = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)", running).groups()
    package = node(FIRST).check_output("dpkg-query -W -f '${Version}' kubeadm").strip()  # e.g. 1.36.4-1.1
    assert package.startswith(f"{major}.{minor}.{patch}-"), (running, package)
    return f"{major}.{minor}.{patch}", f"{major}.{minor}.{int(patch) + 1}", package.split("-", 1)[1]


def test_remove_node_check_on_a_worker_plans_the_drain_and_changes_nothing():
    before = settled_state()
    done, said = play("remove_node.yml --check (worker)", "remove_node.yml", "--check",
                      "-e", f"cluster_lifecycle_remove_node={REMOVED_WORKER}", "-e", "remove_node_confirm=true")
    assert done.returncode == 0, said[-4000:]
    assert f"remove_node.yml (check mode): would cordon and drain {REMOVED_WORKER}, evicting" in said, said[-3000:]
    assert_plan(said, before, REMOVED_WORKER)
    assert "delete its Node object and run kubeadm reset on it. Nothing was changed." in said, said[-3000:]
    assert "remove its etcd member" not in said
    assert_unchanged(before, said)


def test_remove_node_check_on_a_control_plane_plans_the_member_removal_and_changes_nothing():
    before = settled_state()
    done, said = play("remove_node.yml --check (control plane)", "remove_node.yml", "--check",
                      "-e", f"cluster_lifecycle_remove_node={REMOVED_CONTROL_PLANE}", "-e", "remove_node_confirm=true")
    assert done.returncode == 0, said[-4000:]
    # Read on a survivor: 3 healthy members, 2 remain.
    assert "etcd keeps its quorum: 2 of the 2 remaining members are healthy" in said, said[-3000:]
    assert_plan(said, before, REMOVED_CONTROL_PLANE)
    survivors = "|".join(re.escape(cp) for cp in CONTROL_PLANES if cp != REMOVED_CONTROL_PLANE)
    assert re.search(rf"delete its Node object, remove its etcd member {re.escape(REMOVED_CONTROL_PLANE)} "
                     rf"through ({survivors}) and run kubeadm reset on it\. Nothing was changed\.", said), said[-3000:]
    assert_unchanged(before, said)


def test_remove_node_of_a_control_plane_limited_to_itself_is_refused_and_changes_nothing():
    before = settled_state()
    done, said = play("remove_node.yml --limit <the control plane> (refused)", "remove_node.yml",
                      "-e", f"cluster_lifecycle_remove_node={REMOVED_CONTROL_PLANE}", "-e", "remove_node_confirm=true",
                      "--limit", REMOVED_CONTROL_PLANE)
    assert done.returncode != 0, said[-4000:]
    others = ", ".join(cp for cp in CONTROL_PLANES if cp != REMOVED_CONTROL_PLANE)
    assert "remove_node.yml: refused, nothing was changed." in said, said[-3000:]
    assert f"--limit ({REMOVED_CONTROL_PLANE}) leaves out every other control plane ({others})" in said, said[-3000:]
    assert "a dead member would stay in etcd" in said
    assert_unchanged(before, said)


def test_upgrade_check_to_the_next_patch_plans_every_node_and_changes_nothing():
    before = settled_state()
    running, target, revision = versions()
    extra = {
        "cluster_kubernetes_version": target,
        # In check mode a missing or old snapshot is reported, not refused (no snapshot is taken).
        "cluster_lifecycle_upgrade_take_snapshot": True,
        # STAND-IN for a mirror that holds the target (see the module docstring): apt is skipped.
        "_cluster_installed_packages": {p: f"{target}-{revision}" for p in ("kubeadm", "kubelet", "kubectl")},
    }
    done, said = play(f"upgrade.yml --check ({running} -> {target})", "upgrade.yml", "--check",
                      "-e", json.dumps(extra), timeout=2400)
    assert done.returncode == 0, said[-4000:]
    assert f"a real run takes an etcd snapshot on {FIRST} first" in said, said[-3000:]
    # Every node planned, in the upgrade's order: the first control plane, the others, the workers.
    where = []
    for name in CONTROL_PLANES + WORKERS:
        where.append(said.find(f"cluster_lifecycle (check mode): would cordon and drain {name}, evicting"))
        assert_plan(said, before, name)
    assert -1 not in where and where == sorted(where), dict(zip(CONTROL_PLANES + WORKERS, where, strict=True))
    assert said.count("upgrade kubelet and kubectl, restart the kubelet and uncordon it. Nothing was cordoned or "
                      "evicted.") == len(NODES), said[-3000:]
    assert_unchanged(before, said)


def test_upgrade_limited_without_the_first_control_plane_is_refused_and_changes_nothing():
    before = settled_state()
    running, target, _ = versions()
    limit = ",".join(n for n in NODES if n != FIRST)
    done, said = play(f"upgrade.yml --limit {limit} (refused)", "upgrade.yml",
                      "-e", f"cluster_kubernetes_version={target}", "--limit", limit, timeout=1200)
    assert done.returncode != 0, said[-4000:]
    assert (f"upgrade.yml: the API server runs {running} and the first control plane of the inventory ({FIRST}) "
            f"is not in the play (--limit {limit})") in said, said[-3000:]
    assert "its kubelets would be newer than the API server" in said
    assert_unchanged(before, said)
