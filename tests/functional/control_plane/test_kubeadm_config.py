"""Step 2's rendered configuration, from the kubeadm_config role itself.

The role runs (connection local) for two "control planes" whose files go to their own temporary
directories, so that the encryption key's life cycle is exercised for real: generated once on the
first control plane and copied to the second, kept byte for byte on re-runs, adopted (not
rewritten, not reordered) when a control plane already has one, and a conflict refused. The
documents are checked against the v1beta4 / component configuration shapes in kubeadm_v1beta4.py
and the PriorityClasses against the pinned Kubernetes schema.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
import subprocess
from pathlib import Path

import kubeadm_v1beta4 as shape
import pytest
import yaml
from k8s_schema import load_documents, validate_all
from prerequisites import missing

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_DEFAULTS = yaml.safe_load((ROOT / "roles/cluster/defaults/main.yml").read_text())
VIP = "10.213.40.250"
ISSUER = "https://login.example.com/realms/platform"
# The test rig's kubelet eviction floors (molecule/cluster, inventories/lab).
RIG_EVICTION = {"memory.available": "100Mi", "nodefs.available": "1Gi", "nodefs.inodesFree": "2%",
                "imagefs.available": "1Gi", "imagefs.inodesFree": "2%"}

PLAYBOOK = """
- name: Render the kubeadm configuration on the control planes
  hosts: control_plane
  gather_facts: true
  gather_subset: ["!all", "min", "network"]
  roles:
    - role: orchestrator.platform.kubeadm_config
- name: Render the PriorityClasses
  hosts: localhost
  gather_facts: false
  tasks:
    - name: PriorityClasses
      ansible.builtin.include_role:
        name: orchestrator.platform.kubeadm_config
        tasks_from: priority_classes
"""


def write_lab(base: Path, hosts: list[str], host_extra: dict[str, dict] | None = None) -> Path:
    host_extra = host_extra or {}
    inventory = {
        "all": {
            "hosts": {"localhost": {"ansible_connection": "local"}},
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "/usr/bin/python3",
                "cluster_api_endpoint_mode": "vip",
                "cluster_api_vip": VIP,
                "cluster_render_dir": str(base / "render"),
                "kubeadm_config_advertise_address": "10.213.40.11",
            },
            "children": {
                "cluster": {
                    "children": {
                        "control_plane": {
                            "hosts": {
                                name: {
                                    "kubeadm_config_path": str(base / name / "kubeadm-config.yaml"),
                                    "kubeadm_config_policy_dir": str(base / name / "policy"),
                                    "kubeadm_config_audit_log_dir": str(base / name / "audit"),
                                    **host_extra.get(name, {}),
                                }
                                for name in hosts
                            }
                        }
                    }
                }
            },
        }
    }
    (base / "inventory.yml").write_text(yaml.safe_dump(inventory))
    (base / "play.yml").write_text(PLAYBOOK)
    return base


def run(base: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(base / "inventory.yml"), str(base / "play.yml"), *extra],
        capture_output=True, text=True, check=False, cwd=ROOT, env=env,
    )


def recap_changed(output: str) -> dict[str, int]:
    changed = {}
    for line in output.splitlines():
        if " : ok=" in line:
            host = line.split()[0]
            changed[host] = int(line.split("changed=")[1].split()[0])
    return changed


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = write_lab(
        tmp_path_factory.mktemp("kubeadm-config"),
        ["cp-a", "cp-b"],
        {"cp-a": {"kubeadm_config_oidc_issuer_url": ISSUER, "kubeadm_config_oidc_client_id": "kubernetes"},
         # The second control plane renders the TLS 1.3-only variant (same role run).
         "cp-b": {"kubeadm_config_tls_min_version": "VersionTLS13", "cluster_kubelet_fail_cgroup_v1": False,
                  "kubeadm_config_kubelet_protect_kernel_defaults": False,
                  "kubeadm_config_kube_proxy_conntrack": {"maxPerCore": 0, "min": 0},
                  "kubeadm_config_kubelet_eviction_hard": RIG_EVICTION,
                  "kubeadm_config_kubelet_image_gc_high_threshold_percent": 100,
                  "kubeadm_config_kubelet_image_gc_low_threshold_percent": 99}},
    )
    first = run(base)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    hashes = {h: sha(base / h / "policy/encryption-config.yaml") for h in ("cp-a", "cp-b")}
    second = run(base)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    check = run(base, "--check", "--diff")
    assert check.returncode == 0, check.stdout[-4000:] + check.stderr[-2000:]
    return {"base": base, "first": first, "second": second, "check": check, "hashes": hashes}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def by_kind(lab_base: Path, host: str) -> dict[str, dict]:
    return {d["kind"]: d for d in docs(lab_base / host / "kubeadm-config.yaml")}


def args(component: dict) -> dict[str, str]:
    names = [a["name"] for a in component["extraArgs"]]
    assert len(names) == len(set(names)), f"duplicate flags in {names}"
    return {a["name"]: a["value"] for a in component["extraArgs"]}


def test_kubeadm_config_holds_the_four_documents_in_v1beta4_shape(lab):
    documents = docs(lab["base"] / "cp-a/kubeadm-config.yaml")
    assert [d["kind"] for d in documents] == [
        "InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration",
    ]
    for doc in documents:
        assert shape.validate(doc) == [], doc["kind"]
    cluster = by_kind(lab["base"], "cp-a")["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster["encryptionAlgorithm"] in shape.ENCRYPTION_ALGORITHMS


# The real kubeadm: ORCH_KUBEADM, else the release scripts/setup.sh builds (scripts/build-release.sh).
KUBEADM = os.environ.get("ORCH_KUBEADM") or os.path.join(
    os.environ.get("ORCH_CACHE", os.path.expanduser("~/.cache/orchestrator-platform")),
    "release", "current", "bin", "kubeadm")


def test_every_yaml_document_has_a_kind_as_kubeadm_splits_them(lab):
    """kubeadm (SplitConfigDocuments) reads every document between --- separators, comment-only
    ones included, and refuses one without apiVersion and kind: a header comment before the first
    --- made `kubeadm init --config` fail."""
    for host in ("cp-a", "cp-b"):
        text = (lab["base"] / host / "kubeadm-config.yaml").read_text()
        chunks = [c for c in re.split(r"^---[ \t]*$", text, flags=re.MULTILINE)]
        for chunk in chunks:
            doc = yaml.safe_load(chunk) if chunk.strip() else None
            assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), (host, chunk[:200])


def test_the_real_kubeadm_accepts_both_tls_variants(lab):
    if not os.access(KUBEADM, os.X_OK):
        missing(f"no kubeadm at {KUBEADM} (scripts/build-release.sh, run by scripts/setup.sh, or set ORCH_KUBEADM)")
    for host in ("cp-a", "cp-b"):  # cp-b renders VersionTLS13
        config = lab["base"] / host / "kubeadm-config.yaml"
        result = subprocess.run([KUBEADM, "config", "validate", "--config", str(config)],
                                capture_output=True, text=True, check=False, timeout=120)
        assert result.returncode == 0, (host, result.stdout + result.stderr)


def test_the_shape_check_rejects_v1beta3_maps_and_unknown_fields(lab):
    cluster = by_kind(lab["base"], "cp-a")["ClusterConfiguration"]
    old = dict(cluster, apiServer=dict(cluster["apiServer"], extraArgs={"profiling": "false"}))
    assert any("expected a list" in e for e in shape.validate(old))
    typo = dict(cluster, controlPlaneEndPoint=cluster["controlPlaneEndpoint"])
    assert any("unknown field" in e for e in shape.validate(typo))


def test_endpoint_networks_and_version_come_from_the_cluster_variables(lab):
    kinds = by_kind(lab["base"], "cp-a")
    cluster = kinds["ClusterConfiguration"]
    assert cluster["controlPlaneEndpoint"] == f"{VIP}:{CLUSTER_DEFAULTS['cluster_api_port']}"
    assert VIP in cluster["apiServer"]["certSANs"]
    assert cluster["kubernetesVersion"] == "v" + CLUSTER_DEFAULTS["cluster_kubernetes_version"]
    assert cluster["networking"] == {
        "podSubnet": CLUSTER_DEFAULTS["cluster_pod_cidr"],
        "serviceSubnet": CLUSTER_DEFAULTS["cluster_service_cidr"],
        "dnsDomain": CLUSTER_DEFAULTS["cluster_dns_domain"],
    }
    init = kinds["InitConfiguration"]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.213.40.11",
                                        "bindPort": CLUSTER_DEFAULTS["cluster_apiserver_port"]}
    assert init["nodeRegistration"]["name"] == "cp-a"
    # kubeadm init's own token is short-lived; joins make their own.
    assert [t["ttl"] for t in init["bootstrapTokens"]] == ["15m0s"]
    assert "token" not in init["bootstrapTokens"][0]


def test_etcd_serves_metrics_to_prometheus_on_every_address(lab):
    etcd = args(by_kind(lab["base"], "cp-a")["ClusterConfiguration"]["etcd"]["local"])
    port = CLUSTER_DEFAULTS["cluster_etcd_metrics_port"]
    assert etcd["listen-metrics-urls"] == f"http://0.0.0.0:{port}"
    monitoring = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())
    assert monitoring["monitoring_etcd_metrics_port"] == port  # what step 9 scrapes


def test_api_server_audit_admission_encryption_tls_and_profiling(lab):
    base = lab["base"]
    api = args(by_kind(base, "cp-a")["ClusterConfiguration"]["apiServer"])
    policy = base / "cp-a/policy"
    assert api["profiling"] == "false"
    assert set(api["enable-admission-plugins"].split(",")) >= {"NodeRestriction", "EventRateLimit", "PodSecurity"}
    assert api["admission-control-config-file"] == str(policy / "admission-config.yaml")
    assert api["encryption-provider-config"] == str(policy / "encryption-config.yaml")
    assert api["audit-policy-file"] == str(policy / "audit-policy.yaml")
    assert api["audit-log-path"] == str(base / "cp-a/audit/audit.log")
    for rotation in ("audit-log-maxage", "audit-log-maxbackup", "audit-log-maxsize"):
        assert int(api[rotation]) > 0, rotation
    assert api["tls-min-version"] == "VersionTLS12"
    suites = api["tls-cipher-suites"].split(",")
    assert suites and all("ECDHE" in s and ("GCM" in s or "CHACHA20" in s) for s in suites)
    mounts = {v["mountPath"]: v for v in by_kind(base, "cp-a")["ClusterConfiguration"]["apiServer"]["extraVolumes"]}
    assert mounts[str(policy)]["readOnly"] is True
    assert mounts[str(base / "cp-a/audit")]["readOnly"] is False


def test_tls12_names_the_cipher_suites_everywhere(lab):
    cluster = by_kind(lab["base"], "cp-a")["ClusterConfiguration"]
    suites = by_kind(lab["base"], "cp-a")["KubeletConfiguration"]["tlsCipherSuites"]
    assert suites
    etcd = args(cluster["etcd"]["local"])
    assert etcd["tls-min-version"] == "TLS1.2"
    assert etcd["cipher-suites"].split(",") == suites
    for component in ("apiServer", "controllerManager", "scheduler"):
        flags = args(cluster[component])
        assert flags["tls-min-version"] == "VersionTLS12", component
        assert flags["tls-cipher-suites"].split(",") == suites, component


def test_tls13_sets_no_cipher_suites_anywhere(lab):
    """etcd refuses to start with --cipher-suites when only TLS 1.3 is enabled ("cipher suites
    cannot be configured when only TLS1.3 is enabled", etcd 3.6 embed/config.go); Go ignores the
    list for TLS 1.3 in the other components (the kubelet logs a warning), so none gets one."""
    kinds = by_kind(lab["base"], "cp-b")
    for doc in kinds.values():
        assert shape.validate(doc) == [], doc["kind"]
    cluster = kinds["ClusterConfiguration"]
    etcd = args(cluster["etcd"]["local"])
    assert etcd["tls-min-version"] == "TLS1.3"
    assert "cipher-suites" not in etcd
    for component in ("apiServer", "controllerManager", "scheduler"):
        flags = args(cluster[component])
        assert flags["tls-min-version"] == "VersionTLS13", component
        assert "tls-cipher-suites" not in flags, component
    kubelet = kinds["KubeletConfiguration"]
    assert kubelet["tlsMinVersion"] == "VersionTLS13"
    assert "tlsCipherSuites" not in kubelet


def authentication(lab_base: Path, host: str) -> tuple[dict[str, str], dict]:
    api = args(by_kind(lab_base, host)["ClusterConfiguration"]["apiServer"])
    return api, docs(Path(api["authentication-config"]))[0]


def test_oidc_is_a_jwt_authenticator_only_when_an_issuer_is_set(lab):
    """--authentication-config and the --oidc-* flags are mutually exclusive (kube-apiserver
    refuses to start with both), so OIDC lives in the authentication configuration."""
    api, config = authentication(lab["base"], "cp-a")
    assert not [k for k in api if k.startswith("oidc-")]
    assert shape.validate(config) == []
    (jwt,) = config["jwt"]
    assert jwt["issuer"] == {"url": ISSUER, "audiences": ["kubernetes"]}
    assert jwt["claimMappings"]["username"] == {"claim": "email", "prefix": "oidc:"}
    assert jwt["claimMappings"]["groups"] == {"claim": "groups", "prefix": "oidc:"}
    api_b, config_b = authentication(lab["base"], "cp-b")
    assert not [k for k in api_b if k.startswith("oidc-")]
    assert config_b["jwt"] == []


def test_anonymous_requests_reach_only_health_and_join_discovery(lab):
    """kubelet probes (/livez, /readyz), haproxy and keepalived (/healthz) and kubeadm join's
    token discovery (the kube-public cluster-info ConfigMap) send no credentials."""
    api, config = authentication(lab["base"], "cp-b")
    assert "anonymous-auth" not in api  # forbidden together with the file's anonymous section
    mounts = {v["mountPath"] for v in by_kind(lab["base"], "cp-b")["ClusterConfiguration"]["apiServer"]["extraVolumes"]}
    assert str(Path(api["authentication-config"]).parent) in mounts
    assert config["anonymous"]["enabled"] is True
    assert sorted(c["path"] for c in config["anonymous"]["conditions"]) == [
        "/api/v1/namespaces/kube-public/configmaps/cluster-info", "/healthz", "/livez", "/readyz",
    ]
    path = Path(api["authentication-config"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_api_server_verifies_kubelets_and_does_not_extend_token_lifetimes(lab):
    api = args(by_kind(lab["base"], "cp-a")["ClusterConfiguration"]["apiServer"])
    # Kubelet serving certificates come from the cluster CA (serverTLSBootstrap + approved CSRs).
    assert api["kubelet-certificate-authority"] == "/etc/kubernetes/pki/ca.crt"
    assert by_kind(lab["base"], "cp-a")["KubeletConfiguration"]["serverTLSBootstrap"] is True
    assert api["service-account-extend-token-expiration"] == "false"


def test_controller_manager_and_scheduler(lab):
    base = lab["base"]
    cluster = by_kind(base, "cp-a")["ClusterConfiguration"]
    cm = args(cluster["controllerManager"])
    assert cm["profiling"] == "false"
    assert cm["leader-elect"] == "true"
    assert "RotateKubeletServerCertificate=true" in cm["feature-gates"].split(",")
    sched = args(cluster["scheduler"])
    config = docs(Path(sched["config"]))[0]
    assert shape.validate(config) == []
    assert config["leaderElection"]["leaderElect"] is True
    assert config["clientConnection"]["kubeconfig"] == "/etc/kubernetes/scheduler.conf"
    plugins = config["profiles"][0]["plugins"]
    assert {"name": "PrioritySort"} in plugins["queueSort"]["enabled"]
    assert {"name": "DefaultPreemption"} in plugins["postFilter"]["enabled"]


def test_profiling_is_off_in_the_settings_each_component_actually_reads(lab):
    """kube-scheduler ignores --profiling (and --contention-profiling) when --config is given and
    then takes enableProfiling from the file, whose default is true; the controller manager has no
    configuration file (kubeadm passes none), so its --profiling flag is what applies."""
    cluster = by_kind(lab["base"], "cp-a")["ClusterConfiguration"]
    sched = args(cluster["scheduler"])
    assert "config" in sched
    config = docs(Path(sched["config"]))[0]
    assert config["enableProfiling"] is False
    assert config["enableContentionProfiling"] is False
    # The flag is kept only for benchmarks that read the command line; it must never disagree.
    assert sched.get("profiling", "false") == "false"
    cm = args(cluster["controllerManager"])
    assert "config" not in cm
    assert cm["profiling"] == "false"
    assert args(cluster["apiServer"])["profiling"] == "false"


def test_kubelet_hardening(lab):
    kubelet = by_kind(lab["base"], "cp-a")["KubeletConfiguration"]
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authentication"]["webhook"]["enabled"] is True
    assert kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["readOnlyPort"] == 0
    for field in ("serverTLSBootstrap", "rotateCertificates", "protectKernelDefaults", "seccompDefault"):
        assert kubelet[field] is True, field
    assert kubelet["cgroupDriver"] == "systemd"
    assert kubelet["tlsMinVersion"] in shape.KUBELET_TLS_VERSIONS
    proxy = by_kind(lab["base"], "cp-a")["KubeProxyConfiguration"]
    assert proxy["mode"] in shape.KUBE_PROXY_MODES
    assert proxy["clusterCIDR"] == CLUSTER_DEFAULTS["cluster_pod_cidr"]


def test_admission_configuration_uses_the_shared_pod_security_exemptions(lab):
    admission = docs(lab["base"] / "cp-a/policy/admission-config.yaml")[0]
    assert shape.validate(admission) == []
    plugins = {p["name"]: p["configuration"] for p in admission["plugins"]}
    assert set(plugins) == {"EventRateLimit", "PodSecurity"}
    assert shape.validate(plugins["EventRateLimit"]) == []
    assert {limit["type"] for limit in plugins["EventRateLimit"]["limits"]} >= {"Server", "Namespace"}
    pss = plugins["PodSecurity"]
    assert shape.validate(pss) == []
    assert pss["defaults"]["enforce"] == CLUSTER_DEFAULTS["cluster_pod_security_default"] == "restricted"
    assert pss["exemptions"]["namespaces"] == [
        e["namespace"] for e in CLUSTER_DEFAULTS["cluster_pod_security_exemptions"]
    ]


def test_audit_policy_never_logs_secret_bodies(lab):
    policy = docs(lab["base"] / "cp-a/policy/audit-policy.yaml")[0]
    assert shape.validate(policy) == []
    assert all(rule["level"] in shape.AUDIT_LEVELS for rule in policy["rules"])
    # The first rule that matches core secrets must log metadata only.
    for rule in policy["rules"]:
        groups = rule.get("resources", [])
        if any(g.get("group") == "" and "secrets" in g.get("resources", []) for g in groups):
            assert rule["level"] == "Metadata"
            break
        assert not groups or rule["level"] == "None" or rule.get("verbs") == ["get", "list", "watch"], rule
    else:
        pytest.fail("no audit rule covers secrets")


def test_encryption_key_generated_once_copied_0600_and_kept_byte_for_byte(lab):
    base = lab["base"]
    files = {h: base / h / "policy/encryption-config.yaml" for h in ("cp-a", "cp-b")}
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files["cp-a"].read_bytes() == files["cp-b"].read_bytes()
    config = docs(files["cp-a"])[0]
    assert shape.validate(config) == []
    providers = config["resources"][0]["providers"]
    assert list(providers[0]) == ["secretbox"]
    assert providers[-1] == {"identity": {}}
    key = providers[0]["secretbox"]["keys"][0]["secret"]
    assert len(base64.b64decode(key)) == 32
    # Re-run and check mode: same bytes, nothing changed.
    assert {h: sha(p) for h, p in files.items()} == lab["hashes"]
    assert set(recap_changed(lab["second"].stdout).values()) == {0}, lab["second"].stdout[-3000:]
    assert set(recap_changed(lab["check"].stdout).values()) == {0}, lab["check"].stdout[-3000:]


def test_the_key_never_reaches_the_output(lab):
    key = docs(lab["base"] / "cp-a/policy/encryption-config.yaml")[0]["resources"][0]["providers"][0]
    secret = key["secretbox"]["keys"][0]["secret"]
    for name in ("first", "second", "check"):
        assert secret not in lab[name].stdout + lab[name].stderr, name


def test_an_existing_configuration_is_adopted_not_rewritten_nor_reordered(tmp_path):
    base = write_lab(tmp_path, ["cp-a", "cp-b"])
    existing = (
        "# rotated by hand: key-new first, key-old still readable\n"
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        "- resources: [secrets, configmaps]\n  providers:\n"
        f"  - aescbc:\n      keys:\n      - {{name: key-new, secret: {base64.b64encode(b'n' * 32).decode()}}}\n"
        f"      - {{name: key-old, secret: {base64.b64encode(b'o' * 32).decode()}}}\n"
        "  - identity: {}\n"
    )
    holder = base / "cp-b/policy"
    holder.mkdir(parents=True)
    (holder / "encryption-config.yaml").write_text(existing)
    os.chmod(holder / "encryption-config.yaml", 0o600)
    result = run(base)
    assert result.returncode == 0, result.stdout[-4000:]
    for host in ("cp-a", "cp-b"):
        assert (base / host / "policy/encryption-config.yaml").read_text() == existing, host


def test_different_configurations_on_two_control_planes_are_refused(tmp_path):
    base = write_lab(tmp_path, ["cp-a", "cp-b"])
    for host, letter in (("cp-a", b"a"), ("cp-b", b"b")):
        policy = base / host / "policy"
        policy.mkdir(parents=True)
        (policy / "encryption-config.yaml").write_text(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            f"- resources: [secrets]\n  providers:\n  - secretbox:\n      keys:\n"
            f"      - {{name: k, secret: {base64.b64encode(letter * 32).decode()}}}\n"
        )
    before = {h: sha(base / h / "policy/encryption-config.yaml") for h in ("cp-a", "cp-b")}
    result = run(base)
    assert result.returncode != 0
    assert "must be identical" in result.stdout
    assert {h: sha(base / h / "policy/encryption-config.yaml") for h in ("cp-a", "cp-b")} == before
    assert base64.b64encode(b"a" * 32).decode() not in result.stdout


def test_priority_classes_render_and_validate(lab):
    rendered = lab["base"] / "render/priority-classes/priority-classes.yml"
    objects = load_documents(rendered.read_text())
    assert validate_all(objects) == []
    assert {o["kind"] for o in objects} == {"PriorityClass"}
    assert sum(1 for o in objects if o.get("globalDefault")) == 1
    assert any(o.get("preemptionPolicy") == "Never" for o in objects)
    assert all(o["value"] < 1_000_000_000 for o in objects)


def test_kubelet_refuses_cgroup_v1_unless_the_inventory_allows_it(lab):
    # cluster_kubelet_fail_cgroup_v1: true by default (the kubelet's own default since 1.35);
    # cp-b sets it false, as the test rig on a cgroup v1 hybrid host must.
    assert CLUSTER_DEFAULTS["cluster_kubelet_fail_cgroup_v1"] is True
    assert by_kind(lab["base"], "cp-a")["KubeletConfiguration"]["failCgroupV1"] is True
    assert by_kind(lab["base"], "cp-b")["KubeletConfiguration"]["failCgroupV1"] is False


def test_kubelet_kernel_defaults_and_kube_proxy_conntrack_switches(lab):
    # Defaults (cp-a): protectKernelDefaults on, kube-proxy's own conntrack sizing. cp-b renders both
    # switches (conntrack maxPerCore 0 is what nodes sharing a kernel need; protectKernelDefaults
    # off is only the switch: the kubelet then writes host-global kernel settings itself).
    kubelet_a = by_kind(lab["base"], "cp-a")["KubeletConfiguration"]
    proxy_a = by_kind(lab["base"], "cp-a")["KubeProxyConfiguration"]
    assert kubelet_a["protectKernelDefaults"] is True
    assert "conntrack" not in proxy_a
    kubelet_b = by_kind(lab["base"], "cp-b")["KubeletConfiguration"]
    proxy_b = by_kind(lab["base"], "cp-b")["KubeProxyConfiguration"]
    assert kubelet_b["protectKernelDefaults"] is False
    assert proxy_b["conntrack"] == {"maxPerCore": 0, "min": 0}
    assert shape.validate(proxy_b) == []


def test_kubelet_eviction_thresholds_and_image_gc(lab):
    # Defaults (cp-a): the kubelet's own eviction thresholds (no evictionHard written) and its image GC
    # percentages; cp-b: the rig's absolute floors and no image GC. The real kubeadm validates both
    # files in test_the_real_kubeadm_accepts_both_tls_variants.
    kubelet_a = by_kind(lab["base"], "cp-a")["KubeletConfiguration"]
    assert "evictionHard" not in kubelet_a
    assert (kubelet_a["imageGCHighThresholdPercent"], kubelet_a["imageGCLowThresholdPercent"]) == (85, 80)
    kubelet_b = by_kind(lab["base"], "cp-b")["KubeletConfiguration"]
    assert kubelet_b["evictionHard"] == RIG_EVICTION
    assert (kubelet_b["imageGCHighThresholdPercent"], kubelet_b["imageGCLowThresholdPercent"]) == (100, 99)
    assert shape.validate(kubelet_b) == []


@pytest.mark.parametrize(("override", "named"), [
    ({"kubeadm_config_kubelet_eviction_hard": {"nodefs.avail": "1Gi"}}, "evictionHard signals"),
    ({"kubeadm_config_kubelet_image_gc_low_threshold_percent": 85}, "image GC thresholds"),
    ({"kubeadm_config_kubelet_image_gc_high_threshold_percent": 101,
      "kubeadm_config_kubelet_image_gc_low_threshold_percent": 90}, "image GC thresholds"),
])
def test_bad_eviction_or_gc_settings_are_refused_before_any_file(tmp_path, override, named):
    base = write_lab(tmp_path, ["cp-a"], {"cp-a": override})
    result = run(base)
    assert result.returncode != 0
    assert named in result.stdout
    assert not (base / "cp-a" / "kubeadm-config.yaml").exists()
    assert not (base / "cp-a" / "policy").exists()
