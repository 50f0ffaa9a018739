"""Writes the recorded daily answers of tests/unit/plugins/module_utils/fixtures/day2/.

Run once by hand (python tests/functional/day2_report/make_fixtures.py); the output is kept in
the tree and read by the unit tests and by the daily playbook test. Every object has the shape
the real API returns: Node, Pod (core/v1), Application (argoproj.io/v1alpha1), Backup (velero.io/v1)
as kubernetes.core.k8s_info lists them; etcdctl 3.5 `endpoint health|status -w json`; Falco's
json_output lines as the Falco pods log them; the cert_expiry module's result entries; the
etcd backup timer's textfile metric. The scenarios differ from the healthy cluster in one thing
each: a NotReady node, a crash-looping pod, an expired backup.
"""

import datetime
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "day2"
NOW = datetime.datetime(2026, 11, 30, 6, 0, 0, tzinfo=datetime.UTC)
CPS = ["cp1", "cp2", "cp3"]
WORKERS = ["w1", "w2"]


def ts(hours_ago=0.0):
    return (NOW - datetime.timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def node(name, control_plane):
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
    }
    if control_plane:
        labels["node-role.kubernetes.io/control-plane"] = ""
    conditions = [
        {
            "type": t,
            "status": "False",
            "reason": r,
            "message": m,
            "lastHeartbeatTime": ts(0.02),
            "lastTransitionTime": ts(300),
        }
        for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
            "lastHeartbeatTime": ts(0.02),
            "lastTransitionTime": ts(300),
        }
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": "0b6c%s-1d2e-4f00-9a1b-0000000000%02d" % (name, len(name)),
            "resourceVersion": "1843%s" % len(name),
            "creationTimestamp": ts(2000),
            "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///var/run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": "10.244.%d.0/24" % (CPS + WORKERS).index(name),
            "podCIDRs": ["10.244.%d.0/24" % (CPS + WORKERS).index(name)],
            "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
            if control_plane
            else [],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "10.89.100.%d" % (11 + (CPS + WORKERS).index(name))},
                {"type": "Hostname", "address": name},
            ],
            "allocatable": {
                "cpu": "4" if control_plane else "8",
                "ephemeral-storage": "95491281146",
                "hugepages-2Mi": "0",
                "memory": "7926152Ki" if control_plane else "16212312Ki",
                "pods": "110",
            },
            "capacity": {
                "cpu": "4" if control_plane else "8",
                "ephemeral-storage": "103609172Ki",
                "hugepages-2Mi": "0",
                "memory": "8028552Ki" if control_plane else "16314712Ki",
                "pods": "110",
            },
            "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "6f1c2b7e-3c1d-4a55-9d7e-5d3b0e%06d" % len(name),
                "containerRuntimeVersion": "containerd://1.7.24",
                "kernelVersion": "6.1.0-28-amd64",
                "kubeProxyVersion": "v1.36.4",
                "kubeletVersion": "v1.36.4",
                "machineID": "a" * 32,
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": "4c4c4544-0042-3510-8051-b%07d" % len(name),
            },
        },
    }


def pod(namespace, name, node_name, containers, owner=None, *, started_hours=200.0):
    statuses = []
    for cname in containers:
        statuses.append(
            {
                "name": cname,
                "ready": True,
                "restartCount": 0,
                "started": True,
                "image": "registry.k8s.io/%s:v1.36.4" % cname,
                "imageID": "registry.k8s.io/%s@sha256:%s" % (cname, "3" * 64),
                "containerID": "containerd://" + "f" * 64,
                "state": {"running": {"startedAt": ts(started_hours)}},
                "lastState": {},
            }
        )
    meta = {
        "name": name,
        "namespace": namespace,
        "uid": "5e0f1a2b-0000-4000-8000-%012d" % len(name),
        "resourceVersion": "99%d" % len(name),
        "creationTimestamp": ts(started_hours + 0.01),
        "labels": {"app.kubernetes.io/name": containers[0]},
    }
    if owner:
        meta["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": "1" * 8,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "nodeName": node_name,
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "containers": [
                {
                    "name": c,
                    "image": "registry.k8s.io/%s:v1.36.4" % c,
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
                for c in containers
            ],
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.89.100.11",
            "podIP": "10.244.0.%d" % (10 + len(name)),
            "qosClass": "Burstable",
            "startTime": ts(started_hours),
            "conditions": [
                {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts(started_hours)}
                for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "containerStatuses": statuses,
        },
    }


def pods():
    out = []
    for cp in CPS:
        for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            out.append(pod("kube-system", "%s-%s" % (comp, cp), cp, [comp], ("Node", cp)))
    for n in CPS + WORKERS:
        out.append(
            pod(
                "kube-system",
                "kube-proxy-%s" % n[-2:].replace("p", "x"),
                n,
                ["kube-proxy"],
                ("DaemonSet", "kube-proxy"),
            )
        )
        out.append(pod("calico-system", "calico-node-%s" % n, n, ["calico-node"], ("DaemonSet", "calico-node")))
        out.append(pod("falco", "falco-%s" % n, n, ["falco"], ("DaemonSet", "falco")))
    out.append(pod("kube-system", "coredns-7db6d8ff4d-4x9kq", "w1", ["coredns"], ("ReplicaSet", "coredns-7db6d8ff4d")))
    out.append(pod("kube-system", "coredns-7db6d8ff4d-p2lzr", "w2", ["coredns"], ("ReplicaSet", "coredns-7db6d8ff4d")))
    out.append(
        pod("argocd", "argocd-server-6c9d7b7f5-mh2zq", "w1", ["server"], ("ReplicaSet", "argocd-server-6c9d7b7f5"))
    )
    out.append(pod("velero", "velero-7f8b9c6d5-qk4rt", "w2", ["velero"], ("ReplicaSet", "velero-7f8b9c6d5")))
    # an old restart long ago: not a finding
    old = pod(
        "monitoring",
        "prometheus-kube-prometheus-stack-prometheus-0",
        "w2",
        ["prometheus", "config-reloader"],
        ("StatefulSet", "prometheus-kube-prometheus-stack-prometheus"),
    )
    old["status"]["containerStatuses"][0]["restartCount"] = 4
    old["status"]["containerStatuses"][0]["lastState"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "startedAt": ts(150),
            "finishedAt": ts(120),
            "containerID": "containerd://" + "e" * 64,
        }
    }
    out.append(old)
    return out


def application(name, path):
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "uid": "7a" * 4 + "-0000-4000-8000-0000000000aa",
            "resourceVersion": "55123",
            "creationTimestamp": ts(900),
            "generation": 412,
        },
        "spec": {
            "project": "orchestrator",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "orchestrator"},
            "source": {
                "repoURL": "https://git.example.com/orchestrator/platform.git",
                "path": path,
                "targetRevision": "main",
            },
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {
            "sync": {
                "status": "Synced",
                "revision": "9f1c0de" + "0" * 33,
                "comparedTo": {
                    "source": {
                        "repoURL": "https://git.example.com/orchestrator/platform.git",
                        "path": path,
                        "targetRevision": "main",
                    },
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "orchestrator"},
                },
            },
            "health": {"status": "Healthy", "lastTransitionTime": ts(48)},
            "operationState": {
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": ts(48.01),
                "finishedAt": ts(48),
                "operation": {"sync": {"revision": "9f1c0de" + "0" * 33}, "initiatedBy": {"automated": True}},
                "syncResult": {"revision": "9f1c0de" + "0" * 33, "resources": []},
            },
            "reconciledAt": ts(0.05),
            "sourceType": "Kustomize",
            "summary": {"images": ["registry.example.com/orchestrator/zookeeper:3.8.4"]},
        },
    }


def velero_backup(schedule, hours_ago, phase="Completed"):
    start = ts(hours_ago + 0.05)
    name = "%s-%s" % (schedule, (NOW - datetime.timedelta(hours=hours_ago)).strftime("%Y%m%d%H%M%S"))
    status = {
        "version": 1,
        "formatVersion": "1.1.0",
        "phase": phase,
        "startTimestamp": start,
        "expiration": (NOW + datetime.timedelta(hours=700)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "progress": {"totalItems": 812, "itemsBackedUp": 812},
        "csiVolumeSnapshotsAttempted": 4,
        "csiVolumeSnapshotsCompleted": 4,
    }
    if phase == "Completed":
        status["completionTimestamp"] = ts(hours_ago)
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": name,
            "namespace": "velero",
            "uid": "b0" * 4 + "-0000-4000-8000-%012d" % int(hours_ago),
            "resourceVersion": "77%d" % int(hours_ago),
            "creationTimestamp": start,
            "labels": {"velero.io/schedule-name": schedule, "velero.io/storage-location": "primary"},
            "annotations": {
                "velero.io/source-cluster-k8s-gitversion": "v1.36.4",
                "velero.io/source-cluster-k8s-major-version": "1",
                "velero.io/source-cluster-k8s-minor-version": "36",
            },
        },
        "spec": {
            "includedNamespaces": ["*"],
            "storageLocation": "primary",
            "ttl": "720h0m0s",
            "snapshotVolumes": True,
            "csiSnapshotTimeout": "10m0s",
            "itemOperationTimeout": "4h0m0s",
        },
        "status": status,
    }


def etcd_member(host, index, leader_id):
    member_id = 11804452089457160000 + index
    endpoint = "https://127.0.0.1:2379"
    return {
        "host": host,
        "health": [{"endpoint": endpoint, "health": True, "took": "9.81253ms"}],
        "status": [
            {
                "Endpoint": endpoint,
                "Status": {
                    "header": {
                        "cluster_id": 14841639068965178418,
                        "member_id": member_id,
                        "revision": 1843211,
                        "raft_term": 7,
                    },
                    "version": "3.5.21",
                    "dbSize": 61931520,
                    "leader": leader_id,
                    "raftIndex": 2041187,
                    "raftTerm": 7,
                    "raftAppliedIndex": 2041187,
                    "dbSizeInUse": 40267776,
                },
            }
        ],
        "error": "",
    }


def certificates(host):
    out = []
    files = [
        "apiserver",
        "apiserver-etcd-client",
        "apiserver-kubelet-client",
        "ca",
        "front-proxy-ca",
        "front-proxy-client",
    ]
    subjects = {
        "apiserver": "CN=kube-apiserver",
        "apiserver-etcd-client": "O=system:masters, CN=kube-apiserver-etcd-client",
        "apiserver-kubelet-client": "O=kubeadm:cluster-admins, CN=kube-apiserver-kubelet-client",
        "ca": "CN=kubernetes",
        "front-proxy-ca": "CN=front-proxy-ca",
        "front-proxy-client": "CN=front-proxy-client",
    }
    for name in files:
        days = 3650 - 300 if name.endswith("ca") else 365 - 300
        out.append(
            {
                "path": "/etc/kubernetes/pki/%s.crt" % name,
                "source": "file",
                "index": 0,
                "subject": subjects[name],
                "not_after": ts(-days * 24),
                "days_left": float(days),
                "expired": False,
                "status": "ok",
                "host": host,
            }
        )
    for conf, subject in (
        ("admin", "O=kubeadm:cluster-admins, CN=kubernetes-admin"),
        ("controller-manager", "CN=system:kube-controller-manager"),
        ("scheduler", "CN=system:kube-scheduler"),
    ):
        out.append(
            {
                "path": "/etc/kubernetes/%s.conf" % conf,
                "source": "kubeconfig",
                "index": 0,
                "subject": subject,
                "not_after": ts(-65 * 24),
                "days_left": 65.0,
                "expired": False,
                "status": "ok",
                "host": host,
            }
        )
    out.append(
        {
            "path": "/var/lib/kubelet/pki/kubelet-client-current.pem",
            "source": "file",
            "index": 0,
            "subject": "O=system:nodes, CN=system:node:%s" % host,
            "not_after": ts(-300 * 24),
            "days_left": 300.0,
            "expired": False,
            "status": "ok",
            "host": host,
        }
    )
    return out


FALCO_LINES = [
    # what `kubectl logs falco-w1 -c falco` prints: start-up lines, then one JSON object per alert
    "Sun Nov 29 04:00:01 2026: Falco version: 0.41.3 (x86_64)",
    "Sun Nov 29 04:00:01 2026: Loading rules from: /etc/falco/falco_rules.yaml",
    json.dumps(
        {
            "hostname": "w1",
            "output": "05:12:44.120443291: Notice Unexpected connection to K8s API Server "
            "from container (connection=10.244.3.7:51234->10.96.0.1:443 lport=443 rport=51234 fd_type=ipv4 "
            "fd_proto=tcp evt_type=connect user=root user_uid=0 process=curl container_id=0f3a2c1b9e8d "
            "container_name=debug k8s_ns=orchestrator k8s_pod_name=debug-5f7c)",
            "output_fields": {
                "container.id": "0f3a2c1b9e8d",
                "container.name": "debug",
                "evt.time": 1796015564120443291,
                "k8s.ns.name": "orchestrator",
                "k8s.pod.name": "debug-5f7c",
                "proc.name": "curl",
            },
            "priority": "Notice",
            "rule": "Contact K8S API Server From Container",
            "source": "syscall",
            "tags": ["T1565", "container", "k8s", "maturity_stable", "mitre_discovery", "network"],
            "time": "2026-11-30T05:12:44.120443291Z",
        }
    ),
]


def healthy():
    cps = [h for h in CPS]
    return {
        "recorded_at": NOW.timestamp(),
        "inputs": {
            "nodes": [node(n, True) for n in CPS] + [node(n, False) for n in WORKERS],
            "pods": pods(),
            "applications": [
                application("orchestrator-zookeeper", "k8s/overlays/production/zookeeper"),
                application("orchestrator-mesos", "k8s/overlays/production/mesos"),
            ],
            "falco": FALCO_LINES,
            "etcd": [etcd_member(h, i, 11804452089457160000) for i, h in enumerate(cps)],
            "certificates": [c for h in cps for c in certificates(h)],
            "etcd_backup_metrics": [
                {
                    "host": h,
                    "text": "# HELP orchestrator_etcd_backup_last_success_timestamp_seconds Unix time of the "
                    "last successful etcd snapshot.\n# TYPE orchestrator_etcd_backup_last_success_timestamp_seconds "
                    "gauge\norchestrator_etcd_backup_last_success_timestamp_seconds %d\n"
                    % (NOW.timestamp() - 3600 * (2 + i)),
                }
                for i, h in enumerate(cps)
            ],
            "velero_backups": [velero_backup("hourly-volumes", h) for h in (0.5, 1.5, 2.5)]
            + [velero_backup("daily-cluster", h) for h in (4.5, 28.5)]
            + [velero_backup("daily-offsite", h) for h in (3, 27)],
        },
    }


def notready():
    data = healthy()
    w2 = next(n for n in data["inputs"]["nodes"] if n["metadata"]["name"] == "w2")
    ready = next(c for c in w2["status"]["conditions"] if c["type"] == "Ready")
    ready.update(
        {
            "status": "Unknown",
            "reason": "NodeStatusUnknown",
            "message": "Kubelet stopped posting node status.",
            "lastHeartbeatTime": ts(2),
            "lastTransitionTime": ts(1.9),
        }
    )
    w2["spec"]["taints"] = [
        {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule", "timeAdded": ts(1.9)},
        {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute", "timeAdded": ts(1.8)},
    ]
    return data


def crashloop():
    data = healthy()
    target = next(p for p in data["inputs"]["pods"] if p["metadata"]["name"] == "velero-7f8b9c6d5-qk4rt")
    cs = target["status"]["containerStatuses"][0]
    cs.update(
        {
            "ready": False,
            "started": False,
            "restartCount": 27,
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 5m0s restarting failed container=velero "
                    "pod=velero-7f8b9c6d5-qk4rt_velero(5e0f1a2b)",
                }
            },
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": ts(0.1),
                    "finishedAt": ts(0.09),
                    "containerID": "containerd://" + "d" * 64,
                }
            },
        }
    )
    for cond in target["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond.update(
                {
                    "status": "False",
                    "reason": "ContainersNotReady",
                    "message": "containers with unready status: [velero]",
                    "lastTransitionTime": ts(3),
                }
            )
    return data


def expired_backup():
    data = healthy()
    # the etcd snapshot timer stopped two days ago, and the daily Velero schedule's last run failed
    for i, item in enumerate(data["inputs"]["etcd_backup_metrics"]):
        item["text"] = item["text"].rsplit(" ", 1)[0] + " %d\n" % (NOW.timestamp() - 3600 * (50 + i))
    backups = [
        b
        for b in data["inputs"]["velero_backups"]
        if b["metadata"]["labels"]["velero.io/schedule-name"] != "daily-cluster"
    ]
    backups.append(velero_backup("daily-cluster", 28.5))
    backups.append(velero_backup("daily-cluster", 4.5, phase="Failed"))
    data["inputs"]["velero_backups"] = backups
    return data


# ---------------------------------------------------------------------------- weekly


def kube_bench_reports():
    """Two compliance reports a week apart, built by the collection's own filter from the kube-bench
    fixtures of tests/unit/plugins/filter (the second week 4.2.6 fails on w1)."""
    import sys  # noqa: PLC0415 - only the generator needs the collection's filter

    sys.path.insert(0, str(ROOT / "plugins" / "filter"))
    from kube_bench import kube_bench_report  # noqa: PLC0415

    bench = ROOT / "tests" / "unit" / "plugins" / "filter" / "fixtures" / "kube_bench"
    cp = json.loads((bench / "control-plane.json").read_text())
    worker = json.loads((bench / "worker.json").read_text())
    failing = json.loads((bench / "worker-failing.json").read_text())

    def report(worker_output, when):
        results = [
            {"node": "cp1", "role": "control_plane", "output": cp},
            {"node": "w1", "role": "worker", "output": worker_output},
        ]
        return kube_bench_report(results, cluster="lab", generated_at=when, benchmark="cis-1.12")

    last_week = report(worker, ts(7 * 24))
    return {"steady": (last_week, report(worker, ts(0.5))), "regressed": (last_week, report(failing, ts(0.5)))}


def vulnerability_report(namespace, kind, name, container, *, repository, tag, counts, vulns):
    return {
        "apiVersion": "aquasecurity.github.io/v1alpha1",
        "kind": "VulnerabilityReport",
        "metadata": {
            "name": "%s-%s-%s" % (kind.lower(), name, container),
            "namespace": namespace,
            "uid": "c0ffee00-0000-4000-8000-%012d" % len(name),
            "resourceVersion": "4242",
            "creationTimestamp": ts(30),
            "labels": {
                "trivy-operator.container.name": container,
                "trivy-operator.resource.kind": kind,
                "trivy-operator.resource.name": name,
                "trivy-operator.resource.namespace": namespace,
                "resource-spec-hash": "7cb64cb677",
            },
        },
        "report": {
            "artifact": {"repository": repository, "tag": tag},
            "os": {"family": "debian", "name": "12.8"},
            "registry": {"server": "registry.example.com"},
            "scanner": {"name": "Trivy", "vendor": "Aqua Security", "version": "0.58.1"},
            "summary": {
                "criticalCount": counts[0],
                "highCount": counts[1],
                "mediumCount": counts[2],
                "lowCount": counts[3],
                "unknownCount": 0,
                "noneCount": 0,
            },
            "updateTimestamp": ts(30),
            "vulnerabilities": vulns,
        },
    }


def vuln(vid, severity, resource, installed, fixed):
    return {
        "vulnerabilityID": vid,
        "severity": severity,
        "resource": resource,
        "installedVersion": installed,
        "fixedVersion": fixed,
        "title": "%s in %s" % (vid, resource),
        "score": 9.8 if severity == "CRITICAL" else 7.5,
        "primaryLink": "https://avd.aquasec.com/nvd/%s" % vid.lower(),
        "links": [],
        "target": "",
        "publishedDate": "2026-10-02T15:15:07Z",
        "lastModifiedDate": "2026-10-20T13:01:44Z",
    }


def vulnerability_reports(fixable):
    zk_vulns = [vuln("CVE-2026-10001", "HIGH", "libexpat1", "2.5.0-1", "2.5.0-1+deb12u2")]
    if fixable:
        zk_vulns.append(vuln("CVE-2026-20002", "CRITICAL", "openssl", "3.0.15-1~deb12u1", "3.0.16-1~deb12u1"))
    return [
        vulnerability_report(
            "orchestrator",
            "StatefulSet",
            "zookeeper",
            "zookeeper",
            repository="orchestrator/zookeeper",
            tag="3.8.4",
            counts=(1 if fixable else 0, 1, 0, 0),
            vulns=zk_vulns,
        ),
        vulnerability_report(
            "orchestrator",
            "ReplicaSet",
            "marathon-6d4cf56db6",
            "marathon",
            repository="orchestrator/marathon",
            tag="1.12.0",
            counts=(1, 0, 2, 5),
            vulns=[vuln("CVE-2025-30003", "CRITICAL", "libfoo", "1.0", "")],
        ),
    ]


def metrics(nodes, pods):
    node_metrics = [
        {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "NodeMetrics",
            "metadata": {"name": n["metadata"]["name"], "creationTimestamp": ts(0), "labels": n["metadata"]["labels"]},
            "timestamp": ts(0.005),
            "window": "20.042s",
            "usage": {"cpu": "%dn" % (850000000 + i * 1000000), "memory": "%dKi" % (3100000 + i * 1000)},
        }
        for i, n in enumerate(nodes)
    ]
    pod_metrics = [
        {
            "apiVersion": "metrics.k8s.io/v1beta1",
            "kind": "PodMetrics",
            "metadata": {
                "name": p["metadata"]["name"],
                "namespace": p["metadata"]["namespace"],
                "creationTimestamp": ts(0),
                "labels": p["metadata"].get("labels", {}),
            },
            "timestamp": ts(0.005),
            "window": "15.01s",
            "containers": [
                {"name": c["name"], "usage": {"cpu": "61234567n", "memory": "101234Ki"}}
                for c in p["spec"]["containers"]
            ],
        }
        for p in pods
    ]
    return node_metrics, pod_metrics


CANARY = "maintenance-restore-canary"
SCRATCH = CANARY + "-scratch"


def canary_objects(namespace, restored):
    """The canary objects as the API returns them in `namespace` (server fields set; restored
    ones carry Velero's labels, new uids and a new cluster IP)."""

    def meta(name, uid, labels=None):
        out = {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": "51%d" % len(uid),
            "creationTimestamp": ts(0.2 if restored else 300),
            "labels": dict(labels or {}),
            "managedFields": [
                {
                    "manager": "velero-server" if restored else "orchestrator-platform-maintenance",
                    "operation": "Update" if restored else "Apply",
                    "apiVersion": "v1",
                    "time": ts(0.2),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {}},
                }
            ],
        }
        if restored:
            out["labels"].update(
                {
                    "velero.io/backup-name": "daily-cluster-20261130013000",
                    "velero.io/restore-name": "restore-test-20261130060000",
                }
            )
        if not out["labels"]:
            del out["labels"]
        return out

    uid = "9" if restored else "1"
    app = {"app.kubernetes.io/name": "restore-canary"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("restore-canary", uid * 8 + "-cm", app),
            "data": {
                "purpose": "Weekly Velero restore test of orchestrator.platform (playbooks/maintenance/weekly.yml).",
                "settings.json": '{"replicas": 0, "probe": true}',
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta("kube-root-ca.crt", uid * 8 + "-ca"),
            "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta("restore-canary", uid * 8 + "-se", app),
            "type": "Opaque",
            "data": {"probe": "cmVzdG9yZS1jYW5hcnktcHJvYmUtdmFsdWU="},
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": meta("restore-canary", uid * 8 + "-sa"),
            "automountServiceAccountToken": False,
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta("default", uid * 8 + "-sd")},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("restore-canary", uid * 8 + "-ro"),
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["restore-canary"], "verbs": ["get"]}
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("restore-canary", uid * 8 + "-rb"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "restore-canary"},
            "subjects": [{"kind": "ServiceAccount", "name": "restore-canary", "namespace": namespace}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("restore-canary", uid * 8 + "-sv"),
            "spec": {
                "type": "ClusterIP",
                "clusterIP": "10.96.%d.17" % (201 if restored else 44),
                "clusterIPs": ["10.96.%d.17" % (201 if restored else 44)],
                "internalTrafficPolicy": "Cluster",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "sessionAffinity": "None",
                "selector": app,
                "ports": [{"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
            },
            "status": {"loadBalancer": {}},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": dict(
                meta("restore-canary", uid * 8 + "-de", app),
                generation=1 if restored else 3,
                annotations={"deployment.kubernetes.io/revision": "1" if restored else "2"},
            ),
            "spec": {
                "replicas": 0,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": app},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": {
                    "metadata": {"labels": app},
                    "spec": {
                        "serviceAccountName": "restore-canary",
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "probe",
                                "image": "registry.k8s.io/pause:3.10",
                                "command": ["/pause"],
                                "resources": {
                                    "requests": {"cpu": "10m", "memory": "16Mi"},
                                    "limits": {"cpu": "10m", "memory": "16Mi"},
                                },
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "terminationMessagePath": "/dev/termination-log",
                                "terminationMessagePolicy": "File",
                                "imagePullPolicy": "IfNotPresent",
                            }
                        ],
                        "restartPolicy": "Always",
                        "dnsPolicy": "ClusterFirst",
                        "schedulerName": "default-scheduler",
                        "terminationGracePeriodSeconds": 30,
                    },
                },
            },
            "status": {"observedGeneration": 1, "conditions": []},
        },
    ]


def restore_object(phase, errors=0):
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Restore",
        "metadata": {
            "name": "restore-test-20261130060000",
            "namespace": "velero",
            "uid": "e5e5e5e5-0000-4000-8000-1",
            "resourceVersion": "90211",
            "creationTimestamp": ts(0.25),
            "labels": {
                "app.kubernetes.io/managed-by": "orchestrator.platform",
                "orchestrator.platform/maintenance": "restore-test",
            },
        },
        "spec": {
            "backupName": "daily-cluster-20261130013000",
            "includedNamespaces": [CANARY],
            "namespaceMapping": {CANARY: SCRATCH},
            "restorePVs": False,
            "existingResourcePolicy": "none",
            "itemOperationTimeout": "4h0m0s",
        },
        "status": {
            "phase": phase,
            "startTimestamp": ts(0.25),
            "completionTimestamp": ts(0.2),
            "progress": {"totalItems": 9, "itemsRestored": 9},
            "warnings": 1,
            "errors": errors,
        },
    }


def weekly(regressed):
    inputs = healthy()["inputs"]
    node_metrics, pod_metrics = metrics(inputs["nodes"], inputs["pods"])
    previous, current = kube_bench_reports()["regressed" if regressed else "steady"]
    restored = canary_objects(SCRATCH, restored=True)
    if regressed:
        restored = [o for o in restored if o["kind"] != "Secret"]
        restored[0]["data"]["settings.json"] = '{"replicas": 1}'
    return {
        "recorded_at": NOW.timestamp(),
        "inputs": {
            "kube_bench": {"current": current, "previous": previous, "error": None},
            "vulnerability_reports": vulnerability_reports(fixable=regressed),
            "resources": {
                "nodes": inputs["nodes"],
                "pods": inputs["pods"],
                "node_metrics": node_metrics,
                "pod_metrics": pod_metrics,
            },
            "restore_test": {
                "source": canary_objects(CANARY, restored=False),
                "restored": restored,
                "restore": restore_object(
                    "PartiallyFailed" if regressed else "Completed", errors=1 if regressed else 0
                ),
            },
        },
    }


# ---------------------------------------------------------------------------- monthly policy review


def namespace(name, labels):
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": "aa%06d-0000-4000-8000-000000000000" % len(name),
            "resourceVersion": "12",
            "creationTimestamp": ts(2000),
            "labels": dict({"kubernetes.io/metadata.name": name}, **labels),
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def binding(kind, name, role, subjects, ns=None):
    meta = {
        "name": name,
        "uid": "bb%06d-0000-4000-8000-000000000000" % len(name),
        "resourceVersion": "77",
        "creationTimestamp": ts(2000),
    }
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }


def constraint(kind, name, action, violations):
    return {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {
            "name": name,
            "uid": "cc%06d-0000-4000-8000-000000000000" % len(name),
            "resourceVersion": "8080",
            "creationTimestamp": ts(2000),
            "generation": 1,
        },
        "spec": {
            "enforcementAction": action,
            "match": {"kinds": [{"apiGroups": [""], "kinds": ["Pod"]}], "excludedNamespaces": ["kube-system"]},
        },
        "status": {
            "auditTimestamp": ts(0.3),
            "totalViolations": len(violations),
            "byPod": [
                {
                    "constraintUID": "cc",
                    "enforced": True,
                    "id": "gatekeeper-audit-7c84869dbf-r2b5s",
                    "observedGeneration": 1,
                    "operations": ["audit", "status"],
                }
            ],
            "violations": violations,
        },
    }


def policy(findings):
    restricted = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    privileged = {"pod-security.kubernetes.io/enforce": "privileged"}
    namespaces = [
        namespace("kube-system", privileged),
        namespace("falco", privileged),
        namespace("default", {}),
        namespace("kube-public", {}),
        namespace("kube-node-lease", {}),
        namespace("orchestrator", restricted),
        namespace("monitoring", restricted),
    ]
    bindings = [
        binding(
            "ClusterRoleBinding",
            "cluster-admin",
            "cluster-admin",
            [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}],
        ),
        binding(
            "ClusterRoleBinding",
            "kubeadm:cluster-admins",
            "cluster-admin",
            [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "kubeadm:cluster-admins"}],
        ),
        binding(
            "ClusterRoleBinding",
            "system:kube-scheduler",
            "system:kube-scheduler",
            [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:kube-scheduler"}],
        ),
        binding(
            "RoleBinding",
            "orchestrator-deployers",
            "edit",
            [{"kind": "ServiceAccount", "name": "argocd-application-controller", "namespace": "argocd"}],
            ns="orchestrator",
        ),
    ]
    constraints = [
        constraint("K8sRequiredProbes", "require-probes", "deny", []),
        constraint("K8sAllowedRepos", "allowed-repos", "deny", []),
    ]
    if findings:
        namespaces.append(namespace("team-sandbox", {"pod-security.kubernetes.io/enforce": "baseline"}))
        namespaces.append(namespace("legacy", {}))
        bindings.append(
            binding(
                "ClusterRoleBinding",
                "debug-alice",
                "cluster-admin",
                [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
            )
        )
        bindings.append(
            binding(
                "RoleBinding",
                "ci-admin",
                "cluster-admin",
                [{"kind": "ServiceAccount", "name": "ci", "namespace": "orchestrator"}],
                ns="orchestrator",
            )
        )
        constraints[1] = constraint(
            "K8sAllowedRepos",
            "allowed-repos",
            "dryrun",
            [
                {
                    "enforcementAction": "dryrun",
                    "group": "",
                    "version": "v1",
                    "kind": "Pod",
                    "namespace": "legacy",
                    "name": "nginx-7d9c5b",
                    "message": "container <nginx> has an invalid image repo <docker.io/nginx:1.27>, "
                    'allowed repos are ["registry.example.com/"]',
                }
            ],
        )
    return {
        "recorded_at": NOW.timestamp(),
        "inputs": {"constraints": constraints, "namespaces": namespaces, "bindings": bindings},
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, func in (
        ("healthy", healthy),
        ("notready", notready),
        ("crashloop", crashloop),
        ("expired-backup", expired_backup),
    ):
        (OUT / ("daily-%s.json" % name)).write_text(json.dumps(func(), indent=1, sort_keys=True) + "\n")
    for name, data in (
        ("weekly-ok", weekly(False)),
        ("weekly-regressed", weekly(True)),
        ("policy-clean", policy(False)),
        ("policy-findings", policy(True)),
    ):
        (OUT / ("%s.json" % name)).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print("written to", OUT)


if __name__ == "__main__":
    main()
