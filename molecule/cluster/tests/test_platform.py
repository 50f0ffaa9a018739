"""Steps 5-11 in apply mode on the rig's real cluster: what the real API server stored.

By hand, not in the CI gate: ORCH_RIG_PLATFORM=1 molecule test -s cluster (or verify). The module
fixture then sends steps 5-11 to the cluster converge built (server-side apply through k8s_apply,
the path users run), runs them again with --check --diff (must plan no change and fail nowhere),
and reads every object back. Two passes of steps 5-11 and the comparison add about 25 minutes,
which the CI gate (90 minutes for everything) cannot afford; without the variable these tests are
skipped, saying so. The kubeconfig check at the end runs always.

What was sent is what render-only mode writes for the same inventory (k8s_apply hands both paths
the same data): steps 5-11 are rendered with cluster_render_dir (nothing contacted) and every
object is then read back from the API server and compared field by field. A field we sent that the
server does not hold (pruned by a CRD schema, dropped by a conversion) or holds with another
value fails the comparison.

What cannot run here, by design of the rig (README "What runs for real"): the charts (no chart can
be downloaded; their values are written to cluster_state_dir/releases/), the controllers and
components of the charts (no image), and so NetworkPolicy enforcement (the rig's bridge CNI does
not enforce policies: the policies exist, nothing more is claimed). The CRDs are the rig's, built
from ../shared/schemas (tests/rig/crds.py, created by converge.yml); Gatekeeper's constraint kinds
come from the rig's stand-in for its controller (tests/rig/platform.yml).
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from rig import EPHEMERAL, INVENTORY, ROOT, kubectl, kubectl_json, run_playbooks

STEPS = [
    "05_network.yml",
    "06_security.yml",
    "07_storage.yml",
    "08_ingress_mesh.yml",
    "09_observability.yml",
    "10_gitops.yml",
    "11_autoscaling.yml",
]
# Kinds whose API server copy is not comparable field by field, with the reason.
SKIPPED_FIELDS = {
    # stringData is write-only: the server moves it into data (compared as such below).
    ("Secret", "stringData"),
}


PLATFORM = os.environ.get("ORCH_RIG_PLATFORM") == "1"


def _start_render() -> tuple[subprocess.Popen | None, Path]:
    """Start the render when this module is collected, so that it runs (niced, nothing contacted)
    while the scenario's other test modules check the cluster, instead of after them."""
    out = Path(tempfile.mkdtemp(prefix="platform-render-"))
    if not PLATFORM or not INVENTORY.is_dir():
        return None, out
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
    argv = ["nice", "-n", "10", "ansible-playbook", "-i", str(INVENTORY)]
    argv += [str(ROOT / "playbooks" / step) for step in STEPS]
    argv += ["-e", f"cluster_render_dir={out}"]
    log = (out / "render.log").open("w")
    return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env), out


_RENDER, _RENDER_DIR = _start_render()
# A run that never reaches the fixture (a -k selection, an earlier failure) leaves no render behind.
atexit.register(lambda: _RENDER is not None and _RENDER.poll() is None and _RENDER.kill())


def run_steps(*extra: str) -> subprocess.CompletedProcess:
    return run_playbooks(STEPS, *extra)


@pytest.fixture(scope="module")
def sent() -> dict[str, list[dict]]:
    """Steps 5-11 sent to the cluster, then planned again in check mode; per component, the objects
    they send (render-only mode, same inventory)."""
    if not PLATFORM:
        pytest.skip("steps 5-11 on the rig run by hand: ORCH_RIG_PLATFORM=1 (about 25 minutes more than CI has)")
    assert _RENDER is not None, f"no molecule inventory at {INVENTORY}"
    applied = run_steps()
    assert applied.returncode == 0, applied.stdout[-4000:] + applied.stderr[-2000:]
    planned = run_steps("--check", "--diff")
    recap = planned.stdout.split("PLAY RECAP")[-1]
    assert planned.returncode == 0, planned.stdout[-4000:]
    assert "changed=0" in recap and "failed=0" in recap, recap
    rc = _RENDER.wait(timeout=1200)
    out = _RENDER_DIR
    assert rc == 0, (out / "render.log").read_text()[-4000:]
    objects: dict[str, list[dict]] = {}
    for path in sorted(out.glob("*/*.yml")):
        if path.name.endswith(("-values.yml", "-release.yml")):
            continue
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict) and d.get("kind")]
        objects.setdefault(path.parent.name, []).extend(docs)
    assert objects, f"the render wrote nothing under {out}"
    return objects


def resource(obj: dict) -> str:
    """kubectl's name of the object's kind at the exact version sent (kind.version.group)."""
    group, _, version = obj["apiVersion"].rpartition("/")
    return f"{obj['kind']}.{version}.{group}" if group else obj["kind"]  # core: only v1 exists


_STORED: dict[str, dict[tuple[str, str], dict]] = {}


def stored(obj: dict) -> dict | None:
    """The server's copy of an object (one list call per kind and version, cached)."""
    kind = resource(obj)
    if kind not in _STORED:
        items = kubectl_json("get", kind, "-A", "--show-managed-fields")["items"]
        _STORED[kind] = {(i["metadata"].get("namespace", ""), i["metadata"]["name"]): i for i in items}
    return _STORED[kind].get((obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))


def differences(want, have, path: str = "") -> list[str]:
    """Every field of `want` that `have` lacks or holds with another value (server defaults ignored)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [f"{path}: sent a mapping, stored {type(have).__name__}"]
        out = []
        for key, value in want.items():
            if key not in have:
                if value in ({}, [], None):
                    continue  # an empty value the server omits
                out.append(f"{path}.{key}: sent, not stored")
                continue
            out += differences(value, have[key], f"{path}.{key}")
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [f"{path}: sent {len(want)} items, stored {have if not isinstance(have, list) else len(have)}"]
        return [d for n, (w, h) in enumerate(zip(want, have, strict=True)) for d in differences(w, h, f"{path}[{n}]")]
    if want == have or str(want) == str(have):
        return []
    return [f"{path}: sent {want!r}, stored {have!r}"]


def comparable(obj: dict) -> dict:
    """The part of a sent object the server keeps as sent: metadata labels/annotations, the rest."""
    want = {k: v for k, v in obj.items() if k not in ("metadata", "status") and (obj["kind"], k) not in SKIPPED_FIELDS}
    meta = obj["metadata"]
    want["metadata"] = {k: meta[k] for k in ("labels", "annotations") if meta.get(k)}
    if obj["kind"] == "Secret" and obj.get("stringData"):
        data = dict(want.get("data") or {})
        data.update({k: base64.b64encode(str(v).encode()).decode() for k, v in obj["stringData"].items()})
        want["data"] = data
    return want


def test_every_object_steps_5_to_11_send_is_stored_as_sent(sent):
    problems, count = [], 0
    for component, objects in sent.items():
        for obj in objects:
            count += 1
            name = f"{component}: {obj['kind']} {obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"
            have = stored(obj)
            if have is None:
                problems.append(f"{name}: not on the server")
                continue
            problems += [f"{name}{d}" for d in differences(comparable(obj), have)]
    assert count > 200, f"only {count} objects rendered"
    assert not problems, f"{len(problems)} differences in {count} objects:\n" + "\n".join(problems[:60])


def test_objects_are_owned_by_the_field_manager_of_their_component(sent):
    # Server-side apply through k8s_apply: each object carries its component's field manager.
    for component in ("network_policies", "rbac", "gatekeeper", "orchestrator_workloads", "autoscaling"):
        for obj in sent.get(component, [])[:3]:
            managers = {m["manager"] for m in stored(obj)["metadata"].get("managedFields", [])}
            assert f"orchestrator.platform-{component}" in managers, (component, obj["metadata"]["name"], managers)


def test_the_charts_were_not_installed_and_their_values_were_written(sent):
    releases = sorted((EPHEMERAL / "state" / "releases").glob("*/*-values.yml"))
    components = {p.parent.name for p in releases}
    # The charts of steps 5-11 (calico's operator and CRD charts, gatekeeper, cert-manager, argo...).
    for component in ("calico", "gatekeeper", "cert_manager", "argo_rollouts", "argocd", "monitoring"):
        assert component in components, (component, sorted(components))
    for values in releases:
        assert oct(values.stat().st_mode & 0o777) == "0o600", values
        release = yaml.safe_load(values.with_name(values.name.replace("-values.yml", "-release.yml")).read_text())
        assert release["version"] and release["repo_url"], release
    helm_secrets = kubectl_json("get", "secrets", "-A", "-l", "owner=helm")["items"]
    assert helm_secrets == [], "a Helm release was installed"


def namespaces_with_level(sent, level: str) -> list[str]:
    names = set()
    for objects in sent.values():
        for obj in objects:
            if (
                obj["kind"] == "Namespace"
                and obj["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == level
            ):
                names.add(obj["metadata"]["name"])
    return sorted(names)


PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "rig-psa-probe"},
    "spec": {
        "hostNetwork": True,
        "containers": [
            {"name": "probe", "image": "10.213.250.2:5000/pause:3.10.2", "securityContext": {"privileged": True}}
        ],
    },
}


def server_dry_run(pod: dict, namespace: str) -> subprocess.CompletedProcess:
    return kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=json.dumps(pod), check=False)


def test_pod_security_refuses_a_privileged_pod_where_the_namespace_says_so(sent):
    restricted = namespaces_with_level(sent, "restricted")
    baseline = namespaces_with_level(sent, "baseline")
    privileged = namespaces_with_level(sent, "privileged")
    assert "orchestrator" in restricted and "kube-system" in privileged, (restricted, privileged)
    for namespace in restricted + baseline:
        done = server_dry_run(PRIVILEGED_POD, namespace)
        assert done.returncode != 0 and "violates PodSecurity" in done.stderr, (namespace, done.stdout, done.stderr)
        level = "restricted" if namespace in restricted else "baseline"
        assert f'"{level}:' in done.stderr, (namespace, done.stderr)
    for namespace in privileged:
        done = server_dry_run(PRIVILEGED_POD, namespace)
        assert done.returncode == 0, (namespace, done.stderr)


def test_default_deny_network_policies_exist_where_the_roles_put_them(sent):
    def default_deny(policy: dict) -> bool:
        spec = policy["spec"]
        return (
            spec.get("podSelector") in ({}, None)
            and not spec.get("ingress")
            and not spec.get("egress")
            and set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}
        )

    wanted = {
        o["metadata"]["namespace"]
        for objs in sent.values()
        for o in objs
        if o["kind"] == "NetworkPolicy" and default_deny(o)
    }
    policies = kubectl_json("get", "networkpolicies", "-A")["items"]
    have = {p["metadata"]["namespace"] for p in policies if default_deny(p)}
    assert {"orchestrator", "orchestrator-agents", "monitoring", "argo-rollouts"} <= wanted
    assert wanted <= have, sorted(wanted - have)


def run_step5(*extra: str) -> subprocess.CompletedProcess:
    return run_playbooks(["05_network.yml"], *extra, timeout=900)


def test_a_kubeconfig_that_leads_elsewhere_is_refused_before_anything_is_sent(tmp_path):
    # The same cluster's admin credentials, but the server is one API server's own address, not this
    # inventory's endpoint (the VIP): the kubeconfig check stops step 5 before its first object.
    admin = yaml.safe_load((EPHEMERAL / "admin.conf").read_text())
    assert admin["clusters"][0]["cluster"]["server"] == "https://10.213.40.250:8443"
    admin["clusters"][0]["cluster"]["server"] = "https://10.213.40.11:6443"
    other = tmp_path / "other.conf"
    other.write_text(yaml.safe_dump(admin))
    other.chmod(0o600)
    refused = run_step5("-e", f"cluster_kubeconfig={other}")
    assert refused.returncode != 0
    # ansible-core 2.19 prints a failed task's message on stderr (2.18: stdout); the YAML result
    # format folds it over lines and doubles its apostrophes.
    said = " ".join((refused.stdout + refused.stderr).split())
    assert "leads to https://10.213.40.11:6443, not to this" in said, said[-3000:]
    assert "API endpoint https://10.213.40.250:8443 (cluster_api_endpoint_mode vip" in said, said[-3000:]
    assert "Create or re-label the namespaces" not in refused.stdout
    # Said on purpose, the same file is used: step 5 goes past the check and sends its objects
    # through that API server.
    allowed = run_step5(
        "-e", f"cluster_kubeconfig={other}", "-e", "cluster_kubeconfig_server=https://10.213.40.11:6443"
    )
    assert allowed.returncode == 0, allowed.stdout[-3000:]
    assert "Create or re-label the namespaces" in allowed.stdout
