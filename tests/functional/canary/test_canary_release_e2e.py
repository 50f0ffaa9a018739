"""playbooks/canary_release.yml end to end, in both modes, against the stand-in API.

The Rollout is the repository's own (k8s/argo-rollouts, and with the gated component for the
gated mode), built with kubectl kustomize; canary_standin_api advances it like the controller
would and answers the gate's Prometheus queries from a script. Three scripts per mode: a healthy
release, a controller analysis that fails at 50 % (the controller aborts), and a gate that fails
at 25 % (the playbook aborts). The assertions are the writes the playbook sent, where the
rollout ended, and what the playbook reported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from canary_standin_api import BEARER, CANARY, Script, StandInApi
from canary_support import work_dir

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
PROMOTE = ("PATCH", "status", {"status": {"pauseConditions": None}})
ABORT = ("PATCH", "status", {"status": {"abort": True}})
PAUSES = [1, 4, 6, 9]  # pause steps of k8s/argo-rollouts/rollout.yaml


def build_rollout(tmp: Path, gated: bool) -> dict:
    work = tmp / ("gated" if gated else "timed")
    work.mkdir()
    doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
           "resources": [os.path.relpath(K8S / "argo-rollouts", work)]}
    if gated:
        doc["components"] = [os.path.relpath(K8S / "argo-rollouts" / "gated", work)]
    (work / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    proc = subprocess.run(["kubectl", "kustomize", str(work)], capture_output=True, text=True, check=True)
    return next(o for o in yaml.safe_load_all(proc.stdout) if o and o["kind"] == "Rollout")


@pytest.fixture(scope="module")
def workdir():
    tmp = work_dir("e2e")
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def rollouts(workdir):
    return {"observe": build_rollout(workdir, gated=False), "gated": build_rollout(workdir, gated=True)}


def run_playbook(api: StandInApi, tmp: Path, mode: str, **extra) -> subprocess.CompletedProcess:
    run_dir = Path(tmp) / f"run-{mode}-{api.port}"
    run_dir.mkdir()
    variables = {
        "canary_release_mode": mode,
        "canary_release_kubeconfig": str(api.kubeconfig(run_dir)),
        # The stand-in is not this inventory's API endpoint: the kubeconfig check's escape hatch.
        "cluster_kubeconfig_server": f"http://127.0.0.1:{api.port}",
        "canary_release_prometheus_url": api.url,
        "canary_release_poll": 0.2,
        "canary_release_windows": [0],
        "canary_release_gate_delay": 0,
        "canary_release_step_timeout": 30,
        "canary_release_abort_timeout": 30,
    }
    variables.update(extra)
    (run_dir / "vars.json").write_text(json.dumps(variables))
    env = dict(os.environ, TMPDIR=str(run_dir), ANSIBLE_LOCAL_TEMP=str(run_dir / "ansible-tmp"))
    return subprocess.run(
        ["ansible-playbook", str(ROOT / "playbooks" / "canary_release.yml"), "-e", f"@{run_dir / 'vars.json'}"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300, check=False)


def assert_clean_wire(api: StandInApi):
    """Every request authenticated with the kubeconfig's token; every patch a merge patch."""
    assert {r.authorization for r in api.requests} == {f"Bearer {BEARER}"}
    assert {r.content_type for r in api.requests if r.method == "PATCH"} <= {"application/merge-patch+json"}
    assert all("dryRun" not in r.query for r in api.requests)
    assert all(f'rollouts_pod_template_hash="{CANARY}"' in q for q in api.queries)


def final(api: StandInApi) -> tuple[str, int]:
    status = api.rollout["status"]
    return status["phase"], status["canary"]["weights"]["canary"]["weight"]


def log(run) -> str:
    return f"rc={run.returncode}\n{run.stdout[-6000:]}\n{run.stderr[-3000:]}"


SCENARIOS = {
    # mode, script -> (writes, final phase, gates (weight, verdict), words of the report)
    ("gated", "healthy"): (Script(), [PROMOTE] * 4, "Healthy", 4, "completed: the new version serves all traffic"),
    ("gated", "gate-fails-at-25"): (Script(gate_fails_at_weight=25), [PROMOTE, ABORT], "Degraded", 2,
                                    "aborted after a failed gate"),
    ("gated", "degrades-at-50"): (Script(analysis_fails_at_weight=50), [PROMOTE] * 3, "Degraded", 3,
                                  "degraded (RolloutAborted"),
    ("observe", "healthy"): (Script(), [], "Healthy", 4, "completed: the new version serves all traffic"),
    ("observe", "gate-fails-at-25"): (Script(gate_fails_at_weight=25), [ABORT], "Degraded", 2,
                                      "aborted after a failed gate"),
    ("observe", "degrades-at-50"): (Script(analysis_fails_at_weight=50), [], "Degraded", 3,
                                    "degraded (RolloutAborted"),
}


@pytest.fixture(scope="module")
def runs(rollouts, workdir):
    """Every scenario's playbook run, three at a time (each run spends most of its time starting
    Python and importing the kubernetes client), against its own stand-in."""
    jobs = {key: StandInApi(rollouts[key[0]], script) for key, (script, *_rest) in SCENARIOS.items()}
    jobs[("observe", "set-image")] = StandInApi(rollouts["observe"], Script(released=True))
    extra = {("observe", "set-image"): {"canary_release_image": "registry.invalid/orchestrator:0.2.0"}}
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {key: pool.submit(run_playbook, api, workdir, key[0], **extra.get(key, {}))
                       for key, api in jobs.items()}
            yield {key: (jobs[key], future.result()) for key, future in futures.items()}
    finally:
        for api in jobs.values():
            api.stop()


@pytest.mark.parametrize("mode,name", list(SCENARIOS), ids=[f"{m}-{n}" for m, n in SCENARIOS])
def test_canary_release(runs, mode, name):
    script, writes, phase, gates, report = SCENARIOS[(mode, name)]
    api, run = runs[(mode, name)]
    assert (run.returncode == 0) is (phase == "Healthy"), log(run)
    assert api.writes() == writes, log(run)
    assert final(api) == (phase, 0), log(run)
    assert report in run.stdout, log(run)
    assert_clean_wire(api)
    # The gate ran once per pause reached, three queries each, while the canary held at that pause.
    assert len(api.queries) == 3 * gates
    held = [(p, i) for p, i, _w in api.query_states]
    assert held == [("Paused", i) for i in PAUSES[:gates] for _ in range(3)], held
    weights = [w for _p, _i, w in api.query_states][::3]
    assert weights == [10, 25, 50, 75][:gates]
    for step, weight in zip(PAUSES[:gates], weights, strict=True):
        verdict = "fail" if weight == script.gate_fails_at_weight else "pass"
        assert f"step {step} (weight {weight} %): {verdict}" in run.stdout, log(run)


def test_gated_rollout_holds_without_the_playbook(rollouts):
    """The gated Rollout's pauses are indefinite: without a promote it stays paused at 10 %, so the
    promotes of the gated runs are what moved it (and the stand-in does not advance on its own)."""
    api = StandInApi(rollouts["gated"], Script())
    try:
        for _ in range(10):
            api.reconcile()
        assert api.rollout["status"]["phase"] == "Paused" and api.rollout["status"]["currentStepIndex"] == 1
        assert api.set_weight() == 10
    finally:
        api.stop()


def test_set_image_starts_the_release_on_the_workload_ref_deployment(runs):
    """The repository's Rollout takes its template from the Deployment `orchestrator`: the image is
    set there (one PUT of the whole Deployment, as the CLI does), the Rollout is not written, and
    the playbook follows the new release from its first step although the Rollout still showed the
    finished previous release (Healthy) right after the update."""
    api, run = runs[("observe", "set-image")]
    assert run.returncode == 0, log(run)
    (method, body), = api.deployment_writes()
    assert method == "PUT"
    assert body["metadata"]["resourceVersion"] == "40"
    assert body["spec"]["template"]["spec"]["containers"] == [
        {"name": "orchestrator", "image": "registry.invalid/orchestrator:0.2.0"}]
    assert api.writes() == []
    assert final(api) == ("Healthy", 0)
    assert len(api.queries) == 3 * len(PAUSES)
    assert [w for _p, _i, w in api.query_states][::3] == [10, 25, 50, 75]
    assert "completed: the new version serves all traffic" in run.stdout, log(run)
