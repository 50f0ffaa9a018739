# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Private code of the day-2 maintenance reports: API answers in, checks and verdicts out.

Not a public API. Every function takes the objects as the Kubernetes API (kubernetes.core.k8s_info
``resources``), etcdctl (``-w json``) or the cert_expiry module return them and gives one *check*:
``{name, title, status, summary, findings: [{status, object, message}], data}`` where status is
``ok``, ``warn`` or ``fail`` (the worst finding; ``ok`` without findings). ``report()`` puts the
checks of a run together with a verdict, ``table()`` renders it for people.

Pure Python (no Ansible import) so that filters, modules and unit tests share it.
"""

import calendar
import datetime
import hashlib
import json
import re
import time

OK = "ok"
WARN = "warn"
FAIL = "fail"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

REPORT_FORMAT = "orchestrator.platform/maintenance-report"
REPORT_FORMAT_VERSION = 1

DEFAULTS = {
    # pods
    "pod_restart_warn": 3,
    "pod_pending_minutes": 15,
    "pod_unready_minutes": 15,
    "recent_hours": 24,
    # certificates
    "cert_warn_days": 30,
    "cert_fail_days": 7,
    # etcd: kubeadm keeps etcd's default backend quota of 2 GiB
    "etcd_quota_bytes": 2 * 1024 ** 3,
    "etcd_db_warn_ratio": 0.8,
    "etcd_db_fail_ratio": 0.95,
    "etcd_fragmentation_warn_ratio": 0.5,
    "etcd_expected_members": 0,
    # backups (the same ages as the alerts of roles/monitoring)
    "etcd_backup_max_age_hours": 13,
    "velero_backup_max_age_hours": 26,
    # falco: these priorities and above fail, Warning/Error warn, lower are counted
    "falco_fail_priority": "Critical",
    "falco_warn_priority": "Warning",
    # weekly
    "trivy_fail_fixable_critical": True,
    "usage_low_ratio": 0.2,
}

FALCO_PRIORITIES = ("Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug")


class ReportError(ValueError):
    """Input that does not have the shape of the API answer it claims to be."""


def options(given=None):
    merged = dict(DEFAULTS)
    for key, value in (given or {}).items():
        if key not in DEFAULTS:
            raise ReportError("unknown option %r (known: %s)" % (key, ", ".join(sorted(DEFAULTS))))
        merged[key] = value
    return merged


def worst(statuses):
    out = OK
    for status in statuses:
        if _RANK[status] > _RANK[out]:
            out = status
    return out


def finding(status, obj, message):
    return {"status": status, "object": obj, "message": message}


def check(name, title, summary, findings, data=None):
    findings = sorted(findings, key=lambda f: (-_RANK[f["status"]], f["object"], f["message"]))
    return {
        "name": name,
        "title": title,
        "status": worst(f["status"] for f in findings),
        "summary": summary,
        "findings": findings,
        "data": data or {},
    }


def not_gathered(name, title, error):
    return check(name, title, "could not be read: %s" % error, [finding(FAIL, name, "not gathered: %s" % error)])


# ---------------------------------------------------------------------------- time and quantities

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value):
    """Unix seconds of an RFC 3339 time (nanosecond fractions as Falco writes them); None if empty."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _TS.match(str(value).strip())
    if not match:
        raise ReportError("not an RFC 3339 time: %r" % (value,))
    day, clock, fraction, zone = match.groups()
    stamp = datetime.datetime.strptime(day + "T" + clock, "%Y-%m-%dT%H:%M:%S")
    offset = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    epoch = calendar.timegm(stamp.timetuple()) - offset
    if fraction:
        epoch += float("0" + fraction)
    return epoch


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def _hours(seconds):
    return round(seconds / 3600.0, 1)


_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    None: 1, "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
}


def quantity(value):
    """A Kubernetes resource quantity ("250m", "1Gi", "123456n", 2) as a float of base units."""
    if value in (None, ""):
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ReportError("not a resource quantity: %r" % (value,))
    return float(match.group(1)) * _SUFFIX[match.group(2)]


def _meta(obj):
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise ReportError("not a Kubernetes object (no metadata): %r" % (obj,))
    return obj["metadata"]


def _ref(obj, kind=None):
    meta = _meta(obj)
    kind = kind or str(obj.get("kind", "object")).lower()
    if meta.get("namespace"):
        return "%s/%s/%s" % (kind, meta["namespace"], meta.get("name", "?"))
    return "%s/%s" % (kind, meta.get("name", "?"))


# ---------------------------------------------------------------------------- daily checks

def check_nodes(nodes, opts):
    """Node.status.conditions: Ready must be True; pressure conditions and cordons warn."""
    findings = []
    ready = 0
    for node in nodes:
        ref = _ref(node, "node")
        conditions = {c.get("type"): c for c in (node.get("status") or {}).get("conditions") or []}
        cond = conditions.get("Ready")
        if cond and cond.get("status") == "True":
            ready += 1
        else:
            why = "no Ready condition" if not cond else "Ready=%s (%s: %s)" % (
                cond.get("status"), cond.get("reason", ""), cond.get("message", ""))
            findings.append(finding(FAIL, ref, "NotReady: " + why))
        for kind in ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable"):
            if (conditions.get(kind) or {}).get("status") == "True":
                findings.append(finding(WARN, ref, "%s: %s" % (kind, conditions[kind].get("message", ""))))
        if (node.get("spec") or {}).get("unschedulable"):
            findings.append(finding(WARN, ref, "cordoned (spec.unschedulable)"))
    if not nodes:
        findings.append(finding(FAIL, "nodes", "the API returned no Node"))
    return check("nodes", "Nodes Ready", "%d/%d nodes Ready" % (ready, len(nodes)), findings,
                 {"total": len(nodes), "ready": ready})


def _pod_condition(pod, kind):
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def _container_findings(ref, cs, opts, now):
    name = cs.get("name", "?")
    count = int(cs.get("restartCount") or 0)
    waiting = (cs.get("state") or {}).get("waiting") or {}
    last = (cs.get("lastState") or {}).get("terminated") or {}
    if waiting.get("reason") == "CrashLoopBackOff":
        return [finding(FAIL, ref, "container %s is crash-looping (%d restarts, last exit %s %s)" % (
            name, count, last.get("exitCode", "?"), last.get("reason", "")))]
    if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
                                 "CreateContainerError", "InvalidImageName"):
        return [finding(FAIL, ref, "container %s cannot start: %s" % (name, waiting["reason"]))]
    finished = parse_time(last.get("finishedAt"))
    if count >= opts["pod_restart_warn"] and finished is not None and now - finished <= opts["recent_hours"] * 3600:
        return [finding(WARN, ref, "container %s restarted %d times, last at %s (%s)" % (
            name, count, last.get("finishedAt"), last.get("reason", "")))]
    return []


def _phase_findings(ref, pod, opts, now):
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    if phase == "Failed":
        return [finding(WARN, ref, "phase Failed: %s" % status.get("reason", status.get("message", "")))]
    if phase in ("Pending", "Unknown"):
        since = parse_time(status.get("startTime") or _meta(pod).get("creationTimestamp"))
        if phase == "Unknown" or (since is not None and now - since > opts["pod_pending_minutes"] * 60):
            return [finding(FAIL, ref, "phase %s since %s" % (phase, iso(since) if since else "?"))]
        return []
    ready = _pod_condition(pod, "Ready")
    if phase == "Running" and ready and ready.get("status") != "True":
        since = parse_time(ready.get("lastTransitionTime"))
        if since is not None and now - since > opts["pod_unready_minutes"] * 60:
            return [finding(WARN, ref, "running but not Ready since %s" % iso(since))]
    return []


def check_pods(pods, opts, now):
    """System and platform pods: crash loops, recent restarts, Failed, long Pending, long unready."""
    findings = []
    healthy = 0
    restarts = 0
    for pod in pods:
        ref = _ref(pod, "pod")
        status = pod.get("status") or {}
        containers = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
        pod_findings = []
        for cs in containers:
            restarts += int(cs.get("restartCount") or 0)
            pod_findings.extend(_container_findings(ref, cs, opts, now))
        if not pod_findings:
            pod_findings = _phase_findings(ref, pod, opts, now)
        if not pod_findings:
            healthy += 1
        findings.extend(pod_findings)
    return check("pods", "System and platform pods", "%d/%d pods healthy, %d container restarts in total" % (
        healthy, len(pods), restarts), findings, {"total": len(pods), "healthy": healthy, "restarts": restarts})


def check_applications(apps, opts):
    """Argo CD Applications: status.sync.status Synced and status.health.status Healthy."""
    findings = []
    good = 0
    for app in apps:
        ref = _ref(app, "application")
        status = app.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        operation = (status.get("operationState") or {}).get("phase", "")
        app_findings = []
        if health in ("Degraded", "Missing"):
            app_findings.append(finding(FAIL, ref, "health %s: %s" % (health, (status.get("health") or {}).get(
                "message", ""))))
        elif health != "Healthy":
            app_findings.append(finding(WARN, ref, "health %s" % health))
        if sync != "Synced":
            app_findings.append(finding(WARN, ref, "sync %s" % sync))
        if operation in ("Failed", "Error"):
            app_findings.append(finding(FAIL, ref, "last sync operation %s: %s" % (
                operation, (status.get("operationState") or {}).get("message", ""))))
        if not app_findings:
            good += 1
        findings.extend(app_findings)
    return check("applications", "Argo CD applications", "%d/%d applications Synced and Healthy" % (good, len(apps)),
                 findings, {"total": len(apps), "synced_healthy": good})


def _falco_events(events):
    """Falco JSON events: parsed dicts or the raw log lines of the Falco pods (json_output)."""
    out = []
    for item in events:
        if isinstance(item, dict):
            out.append(item)
            continue
        line = str(item).strip()
        start = line.find("{")
        if start < 0:
            continue
        try:
            doc = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(doc, dict) and "rule" in doc and "priority" in doc:
            out.append(doc)
    return out


def check_falco(events, opts, now):
    """Falco alerts of the last recent_hours, by rule; priority decides the status."""
    rank = {p.lower(): i for i, p in enumerate(FALCO_PRIORITIES)}
    fail_at = rank[opts["falco_fail_priority"].lower()]
    warn_at = rank[opts["falco_warn_priority"].lower()]
    window = opts["recent_hours"] * 3600
    by_rule = {}
    counted = 0
    for event in _falco_events(events):
        when = parse_time(event.get("time"))
        if when is not None and now - when > window:
            continue
        priority = str(event.get("priority", "Debug"))
        level = rank.get(priority.lower(), len(FALCO_PRIORITIES))
        counted += 1
        fresh = {"count": 0, "level": level, "priority": priority, "hosts": set(), "example": ""}
        entry = by_rule.setdefault(event.get("rule", "?"), fresh)
        entry["count"] += 1
        if level < entry["level"]:
            entry["level"], entry["priority"] = level, priority
        if event.get("hostname"):
            entry["hosts"].add(event["hostname"])
        entry["example"] = entry["example"] or str(event.get("output", ""))[:200]
    findings = []
    rules = []
    for rule in sorted(by_rule):
        entry = by_rule[rule]
        status = FAIL if entry["level"] <= fail_at else WARN if entry["level"] <= warn_at else OK
        rules.append({"rule": rule, "count": entry["count"], "priority": entry["priority"],
                      "hosts": sorted(entry["hosts"]), "status": status})
        if status != OK:
            findings.append(finding(status, "rule/" + rule, "%d alert(s), highest priority %s, e.g. %s" % (
                entry["count"], entry["priority"], entry["example"])))
    return check("falco", "Falco alerts (last %dh)" % opts["recent_hours"], "%d alert(s) of %d rule(s)" % (
        counted, len(by_rule)), findings, {"alerts": counted, "rules": rules})


def _etcd_size_findings(ref, st, opts):
    out = []
    db = int(st.get("dbSize") or 0)
    in_use = int(st.get("dbSizeInUse") or db)
    quota = float(opts["etcd_quota_bytes"])
    ratio = db / quota
    message = "database %d MiB is %d%% of the %d MiB quota" % (db // 2 ** 20, ratio * 100, quota // 2 ** 20)
    if ratio >= opts["etcd_db_fail_ratio"]:
        out.append(finding(FAIL, ref, message))
    elif ratio >= opts["etcd_db_warn_ratio"]:
        out.append(finding(WARN, ref, message))
    free = 1 - in_use / float(db) if db else 0.0
    if free >= opts["etcd_fragmentation_warn_ratio"] and db >= 64 * 2 ** 20:
        out.append(finding(WARN, ref, "%d%% of the database is free space: defragment" % (free * 100)))
    return out


def _etcd_member(member, opts, leaders, sizes):
    """(healthy, findings) of one control plane's etcdctl answers."""
    host = str(member.get("host", "?"))
    ref = "etcd/" + host
    if member.get("error"):
        return False, [finding(FAIL, ref, "etcdctl failed: %s" % member["error"])]
    health = member.get("health") or []
    status = member.get("status") or []
    if not health or not status:
        return False, [finding(FAIL, ref, "etcdctl returned no health or status")]
    findings = [finding(FAIL, ref, "endpoint %s unhealthy: %s" % (item.get("endpoint"), item.get("error", "")))
                for item in health if not item.get("health")]
    for item in status:
        st = item.get("Status") or {}
        findings.extend(finding(FAIL, ref, "alarm or error: %s" % err) for err in st.get("errors") or [])
        if st.get("leader"):
            leaders.add(st["leader"])
        else:
            findings.append(finding(FAIL, ref, "no leader"))
        sizes[host] = int(st.get("dbSize") or 0)
        findings.extend(_etcd_size_findings(ref, st, opts))
    return not any(f["status"] == FAIL for f in findings), findings


def check_etcd(members, opts):
    """etcd per control plane: `etcdctl endpoint health -w json` and `endpoint status -w json`.

    members: [{host, health: [...], status: [...], error: ""}] (the parsed etcdctl answers)."""
    findings = []
    leaders = set()
    sizes = {}
    healthy = 0
    for member in members:
        ok, member_findings = _etcd_member(member, opts, leaders, sizes)
        healthy += 1 if ok else 0
        findings.extend(member_findings)
    if len(leaders) > 1:
        findings.append(finding(WARN, "etcd", "members report different leaders: %s" % sorted(leaders)))
    expected = opts["etcd_expected_members"] or len(members)
    if healthy * 2 <= expected:
        findings.append(finding(FAIL, "etcd", "quorum at risk: %d of %d members healthy" % (healthy, expected)))
    if not members:
        findings.append(finding(FAIL, "etcd", "no etcd member was read"))
    return check("etcd", "etcd health and database size", "%d/%d members healthy, largest database %s MiB" % (
        healthy, expected, max(sizes.values()) // 2 ** 20 if sizes else "?"), findings,
        {"healthy": healthy, "expected": expected, "db_size_bytes": sizes})


def check_certificates(certs, opts):
    """cert_expiry results of every control plane: days left against the horizons."""
    findings = []
    soonest = None
    for cert in certs:
        ref = "cert/%s:%s" % (cert.get("host", "?"), cert.get("path", "?"))
        if cert.get("error"):
            findings.append(finding(FAIL, ref, "cannot be read: %s" % cert["error"]))
            continue
        days = float(cert["days_left"])
        soonest = days if soonest is None else min(soonest, days)
        if days < 0:
            findings.append(finding(FAIL, ref, "EXPIRED on %s (%s)" % (cert["not_after"], cert.get("subject", ""))))
        elif days < opts["cert_fail_days"]:
            findings.append(finding(FAIL, ref, "expires in %.1f days on %s" % (days, cert["not_after"])))
        elif days < opts["cert_warn_days"]:
            findings.append(finding(WARN, ref, "expires in %.1f days on %s" % (days, cert["not_after"])))
    if not certs:
        findings.append(finding(FAIL, "certificates", "no certificate was read"))
    return check("certificates", "Certificate expiry", "%d certificate(s), soonest expiry in %s days" % (
        len(certs), "?" if soonest is None else "%.1f" % soonest), findings,
        {"count": len(certs), "soonest_days": soonest})


_METRIC = "orchestrator_etcd_backup_last_success_timestamp_seconds"
_METRIC_LINE = re.compile(r"^" + _METRIC + r"(\{[^}]*\})?\s+([0-9.eE+-]+)(\s+\d+)?\s*$")


def backup_metric(text):
    """The value of the textfile metric in a .prom file's text; None when absent."""
    value = None
    for line in str(text or "").splitlines():
        match = _METRIC_LINE.match(line.strip())
        if match:
            value = max(value or 0.0, float(match.group(2)))
    return value


def _timer_findings(item):
    """A control plane whose snapshot timer is not active, or not enabled at boot, fails at once
    (its last snapshot may still be young). item["timer"]: {unit, active, enabled, error} as
    `systemctl is-active` and `is-enabled` answered; absent or None (a recording made before the
    timer was read, or maintenance_etcd_backup_timer empty): nothing to judge."""
    timer = item.get("timer")
    if not timer:
        return []
    if not isinstance(timer, dict):
        raise ReportError("etcd backup timer state is not a dict: %r" % (timer,))
    active = str(timer.get("active") or "unknown")
    enabled = str(timer.get("enabled") or "unknown")
    if active == "active" and enabled == "enabled":
        return []
    unit = timer.get("unit") or "etcd-backup.timer"
    wrong = []
    if active != "active":
        wrong.append("not running (is-active: %s)" % active)
    if enabled != "enabled":
        wrong.append("not enabled at boot (is-enabled: %s)" % enabled)
    error = str(timer.get("error") or "").strip()
    return [finding(FAIL, "etcd-backup/%s" % item.get("host", "?"), "the snapshot timer %s is %s: no new etcd "
                    "snapshot is taken on this control plane%s" % (unit, " and ".join(wrong),
                                                                   " (%s)" % error[:200] if error else ""))]


def _etcd_backup_findings(etcd_metrics, opts, now, ages):
    findings = []
    newest = None
    for item in etcd_metrics:
        stamp = backup_metric(item.get("text"))
        ages[str(item.get("host", "?"))] = stamp
        if stamp is not None:
            newest = stamp if newest is None else max(newest, stamp)
        findings.extend(_timer_findings(item))
    limit = opts["etcd_backup_max_age_hours"] * 3600
    if newest is None:
        return [*findings, finding(FAIL, "etcd-backup", "no %s reported by any control plane" % _METRIC)]
    if now - newest > limit:
        return [*findings, finding(FAIL, "etcd-backup", "newest etcd snapshot is %sh old (%s), limit %sh" % (
            _hours(now - newest), iso(newest), opts["etcd_backup_max_age_hours"]))]
    # the newest snapshot is recent enough: name a control plane whose own timer is behind
    for host, stamp in sorted(ages.items()):
        if stamp is None or now - stamp > limit:
            findings.append(finding(WARN, "etcd-backup/" + host, "this control plane's last snapshot: %s" % (
                iso(stamp) if stamp else "none reported")))
    return findings


def _started(backup):
    return parse_time((backup.get("status") or {}).get("startTimestamp") or _meta(backup).get("creationTimestamp")) or 0


def _velero_findings(velero_backups, opts, now, schedules_data):
    findings = []
    schedules = {}
    for backup in velero_backups:
        labels = _meta(backup).get("labels") or {}
        schedules.setdefault(labels.get("velero.io/schedule-name", "(manual)"), []).append(backup)
    limit = opts["velero_backup_max_age_hours"] * 3600
    for schedule, backups in sorted(schedules.items()):
        completed = [b for b in backups if (b.get("status") or {}).get("phase") == "Completed"]
        newest = max((parse_time(b["status"].get("completionTimestamp")) or 0 for b in completed), default=None)
        latest = max(backups, key=_started)
        latest_phase = (latest.get("status") or {}).get("phase", "New")
        schedules_data[schedule] = {"last_completed": iso(newest) if newest else None, "latest_phase": latest_phase}
        if schedule == "(manual)":
            continue
        ref = "schedule/" + schedule
        if not newest:
            findings.append(finding(FAIL, ref, "no Completed Velero backup"))
        elif now - newest > limit:
            findings.append(finding(FAIL, ref, "newest Completed backup is %sh old (%s), limit %sh" % (
                _hours(now - newest), iso(newest), opts["velero_backup_max_age_hours"])))
        if latest_phase in ("Failed", "PartiallyFailed", "FailedValidation"):
            findings.append(finding(WARN, ref, "latest backup %s is %s" % (_meta(latest).get("name"), latest_phase)))
    if not velero_backups:
        findings.append(finding(FAIL, "velero", "no Velero Backup object"))
    return findings


def check_backups(etcd_metrics, velero_backups, opts, now):
    """Backup age: the etcd snapshot textfile metric and the snapshot timer's state of each control
    plane, and per Velero schedule its newest Completed Backup (status.phase,
    status.completionTimestamp). None for either input: not judged (a cluster without Velero)."""
    findings = []
    data = {"etcd": {}, "velero": {}}
    if etcd_metrics is not None:
        findings.extend(_etcd_backup_findings(etcd_metrics, opts, now, data["etcd"]))
    if velero_backups is not None:
        findings.extend(_velero_findings(velero_backups, opts, now, data["velero"]))
    etcd_text = ", ".join("%s=%s" % (h, iso(s) if s else "none") for h, s in sorted(data["etcd"].items()))
    velero_text = ", ".join("%s=%s" % (s, v["last_completed"] or "none") for s, v in sorted(data["velero"].items()))
    return check("backups", "Backup age", "etcd: %s; Velero schedules: %s" % (etcd_text or "-", velero_text or "-"),
                 findings, data)


DAILY = ("nodes", "pods", "certificates", "etcd", "applications", "falco", "backups")
TITLES = {"nodes": "Nodes Ready", "pods": "System and platform pods", "certificates": "Certificate expiry",
          "etcd": "etcd health and database size", "applications": "Argo CD applications",
          "falco": "Falco alerts", "backups": "Backup age"}


def daily_checks(inputs, given_options=None, now=None):
    """The daily checks for the inputs that were gathered (a key absent: that check is off;
    a key whose value is {"error": msg}: gathering failed, a failed check)."""
    opts = options(given_options)
    if now is None:
        raise ReportError("daily_checks needs the time of the run (now)")
    now = float(now)
    out = []
    for name in DAILY:
        keys = ("etcd_backup_metrics", "velero_backups") if name == "backups" else (name,)
        if not any(k in inputs for k in keys):
            continue
        failed = [inputs[k]["error"] for k in keys if isinstance(inputs.get(k), dict) and "error" in inputs[k]]
        if failed:
            out.append(not_gathered(name, TITLES[name], "; ".join(str(f) for f in failed)))
            continue
        value = inputs.get(name)
        if name == "nodes":
            out.append(check_nodes(value, opts))
        elif name == "pods":
            out.append(check_pods(value, opts, now))
        elif name == "certificates":
            out.append(check_certificates(value, opts))
        elif name == "etcd":
            out.append(check_etcd(value, opts))
        elif name == "applications":
            out.append(check_applications(value, opts))
        elif name == "falco":
            out.append(check_falco(value, opts, now))
        else:
            out.append(check_backups(inputs.get("etcd_backup_metrics"), inputs.get("velero_backups"), opts, now))
    return out


# ---------------------------------------------------------------------------- weekly checks

SEVERITIES = ("critical", "high", "medium", "low", "unknown")


def check_vulnerabilities(reports, opts):
    """Trivy operator VulnerabilityReports (aquasecurity.github.io/v1alpha1): report.summary
    counts per image, fixable critical vulnerabilities fail (when trivy_fail_fixable_critical).
    {"error": msg} (the API could not be read, or the cluster does not serve it): a failed check."""
    if isinstance(reports, dict) and "error" in reports:
        return not_gathered("vulnerabilities", "Image vulnerabilities (Trivy)", reports["error"])
    totals = {s: 0 for s in SEVERITIES}
    images = {}
    for rep in reports:
        body = rep.get("report") or {}
        summary = body.get("summary") or {}
        art = body.get("artifact") or {}
        image = "%s/%s:%s" % ((body.get("registry") or {}).get("server", ""), art.get("repository", "?"),
                              art.get("tag") or art.get("digest", ""))
        entry = images.setdefault(image, {"image": image, "workloads": set(), "fixable_critical": set(),
                                          "counts": {s: 0 for s in SEVERITIES}})
        labels = _meta(rep).get("labels") or {}
        entry["workloads"].add("%s/%s/%s" % (labels.get("trivy-operator.resource.namespace", _meta(rep).get(
            "namespace", "")), labels.get("trivy-operator.resource.kind", "?"),
            labels.get("trivy-operator.resource.name", "?")))
        for sev in SEVERITIES:
            entry["counts"][sev] = max(entry["counts"][sev], int(summary.get(sev + "Count") or 0))
        for vuln in body.get("vulnerabilities") or []:
            if str(vuln.get("severity", "")).upper() == "CRITICAL" and vuln.get("fixedVersion"):
                entry["fixable_critical"].add(vuln.get("vulnerabilityID", "?"))
    findings = []
    rows = []
    for image in sorted(images, key=lambda i: (*(-images[i]["counts"][s] for s in SEVERITIES), i)):
        entry = images[image]
        for sev in SEVERITIES:
            totals[sev] += entry["counts"][sev]
        rows.append({"image": image, "workloads": sorted(entry["workloads"]), "counts": entry["counts"],
                     "fixable_critical": sorted(entry["fixable_critical"])})
        if entry["fixable_critical"]:
            fixable = sorted(entry["fixable_critical"])
            findings.append(finding(FAIL if opts["trivy_fail_fixable_critical"] else WARN, "image/" + image,
                                    "%d critical vulnerabilities with a fixed version: %s" % (
                                        len(fixable), ", ".join(fixable[:5]))))
        elif entry["counts"]["critical"]:
            findings.append(finding(WARN, "image/" + image, "%d critical vulnerabilities, no fix released" % (
                entry["counts"]["critical"])))
    return check("vulnerabilities", "Image vulnerabilities (Trivy)", "%d image(s): %s" % (
        len(images), ", ".join("%s %d" % (s, totals[s]) for s in SEVERITIES)), findings,
        {"totals": totals, "images": rows})


def _requests(pod):
    cpu = mem = 0.0
    for container in (pod.get("spec") or {}).get("containers") or []:
        req = (container.get("resources") or {}).get("requests") or {}
        cpu += quantity(req.get("cpu"))
        mem += quantity(req.get("memory"))
    return cpu, mem


def _node_rows(nodes, running, node_metrics):
    rows = {}
    for node in nodes:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        rows[_meta(node)["name"]] = {"cpu_allocatable": quantity(alloc.get("cpu")),
                                     "memory_allocatable": quantity(alloc.get("memory")),
                                     "cpu_requests": 0.0, "memory_requests": 0.0,
                                     "cpu_usage": None, "memory_usage": None}
    for pod in running:
        row = rows.get((pod.get("spec") or {}).get("nodeName"))
        if row is not None:
            cpu, mem = _requests(pod)
            row["cpu_requests"] += cpu
            row["memory_requests"] += mem
    for metric in node_metrics:
        row = rows.get(_meta(metric)["name"])
        if row is not None:
            row["cpu_usage"] = quantity((metric.get("usage") or {}).get("cpu"))
            row["memory_usage"] = quantity((metric.get("usage") or {}).get("memory"))
    return rows


def _node_findings(rows):
    findings = []
    for name, row in sorted(rows.items()):
        if row["cpu_usage"] is None:
            findings.append(finding(WARN, "node/" + name, "no NodeMetrics (metrics-server)"))
        for res in ("cpu", "memory"):
            alloc = row[res + "_allocatable"] or 1.0
            if row[res + "_requests"] / alloc > 0.9:
                findings.append(finding(WARN, "node/" + name, "%s requests are %d%% of allocatable" % (
                    res, row[res + "_requests"] / alloc * 100)))
            if row[res + "_usage"] is not None and row[res + "_usage"] / alloc > 0.9:
                findings.append(finding(WARN, "node/" + name, "%s usage is %d%% of allocatable" % (
                    res, row[res + "_usage"] / alloc * 100)))
    return findings


def _namespace_rows(running, pod_metrics):
    usage = {}
    for metric in pod_metrics:
        meta = _meta(metric)
        containers = metric.get("containers") or []
        usage[(meta.get("namespace"), meta["name"])] = (
            sum(quantity((c.get("usage") or {}).get("cpu")) for c in containers),
            sum(quantity((c.get("usage") or {}).get("memory")) for c in containers))
    rows = {}
    for pod in running:
        meta = _meta(pod)
        row = rows.setdefault(meta.get("namespace", ""), {"cpu_requests": 0.0, "memory_requests": 0.0,
                                                          "cpu_usage": 0.0, "memory_usage": 0.0,
                                                          "pods_without_requests": 0})
        cpu, mem = _requests(pod)
        row["cpu_requests"] += cpu
        row["memory_requests"] += mem
        row["pods_without_requests"] += 0 if cpu and mem else 1
        used = usage.get((meta.get("namespace"), meta["name"]), (0.0, 0.0))
        row["cpu_usage"] += used[0]
        row["memory_usage"] += used[1]
    return rows


def _namespace_findings(rows, opts):
    findings = []
    for ns, row in sorted(rows.items()):
        for res in ("cpu", "memory"):
            req, used = row[res + "_requests"], row[res + "_usage"]
            if req and used / req < opts["usage_low_ratio"]:
                findings.append(finding(WARN, "namespace/" + ns, "%s usage is %d%% of requests (over-requested)" % (
                    res, used / req * 100)))
            elif req and used > req:
                findings.append(finding(WARN, "namespace/" + ns, "%s usage exceeds requests (%d%%)" % (
                    res, used / req * 100)))
        if row["pods_without_requests"]:
            findings.append(finding(WARN, "namespace/" + ns, "%d running pod(s) without cpu or memory requests" % (
                row["pods_without_requests"])))
    return findings


def check_resources(nodes, pods, node_metrics, pod_metrics, opts):
    """Requests vs usage per node (NodeMetrics against Node.status.allocatable and the requests of
    its Running pods) and per namespace (PodMetrics against the requests of its Running pods)."""
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    per_node = _node_rows(nodes, running, node_metrics)
    per_ns = _namespace_rows(running, pod_metrics)
    findings = _node_findings(per_node) + _namespace_findings(per_ns, opts)
    return check("resources", "Requests vs usage", "%d node(s), %d namespace(s) with running pods" % (
        len(per_node), len(per_ns)), findings, {"nodes": per_node, "namespaces": per_ns})


# Set by the API server, the controllers or Velero; never part of what a restore must bring back.
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                    "namespace", "ownerReferences", "deletionTimestamp", "deletionGracePeriodSeconds")
_SERVER_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision",
                       "pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                       "volume.beta.kubernetes.io/storage-provisioner", "volume.kubernetes.io/storage-provisioner",
                       "volume.kubernetes.io/selected-node")
_VELERO_LABELS = ("velero.io/backup-name", "velero.io/restore-name")
# Per kind, spec fields the cluster allocates (a restored Service gets a new cluster IP).
_SERVER_SPEC = {"Service": ("clusterIP", "clusterIPs"), "PersistentVolumeClaim": ("volumeName",)}
# Recreated by controllers from what is compared (or by the API server itself).
_NOT_COMPARED = {"Event": None, "EndpointSlice": None, "Endpoints": None, "Pod": None, "ReplicaSet": None,
                 "ControllerRevision": None, "ConfigMap": "kube-root-ca.crt", "ServiceAccount": "default"}
NAMESPACE_PLACEHOLDER = "<namespace>"


def _replace_namespace(value, namespace):
    """The namespace's name, wherever it is a whole value (subjects, references), as a placeholder:
    Velero's namespace mapping rewrites those, and a restore into another namespace must compare equal."""
    if isinstance(value, dict):
        return {k: _replace_namespace(v, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_namespace(v, namespace) for v in value]
    if namespace and value == namespace:
        return NAMESPACE_PLACEHOLDER
    return value


def _normalise(obj):
    meta = _meta(obj)
    kind = obj.get("kind", "")
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _VELERO_LABELS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _SERVER_ANNOTATIONS}
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion")}
    spec = body.get("spec")
    if isinstance(spec, dict) and kind in _SERVER_SPEC:
        body["spec"] = {k: v for k, v in spec.items() if k not in _SERVER_SPEC[kind]}
    out = {"name": meta.get("name"), "labels": labels, "annotations": annotations, "body": body}
    return _replace_namespace(out, meta.get("namespace"))


def object_digest(obj):
    """sha256 of an object without what the server or Velero set (status, uid, resourceVersion,
    timestamps, managedFields, namespace, owner references, Velero's labels, allocated IPs and
    volume bindings), its own namespace's name replaced by a placeholder."""
    return hashlib.sha256(json.dumps(_normalise(obj), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _index(objects):
    out = {}
    for obj in objects:
        kind = obj.get("kind", "")
        name = _meta(obj).get("name")
        if kind in _NOT_COMPARED and _NOT_COMPARED[kind] in (None, name):
            continue
        out[(kind, name)] = object_digest(obj)
    return out


def check_restore(source, restored, restore=None):
    """The restore test: every object of the source namespace is back in the scratch namespace
    with the same content (digest). Kinds recreated by controllers (pods, replica sets, events,
    endpoints) are not compared. restore: the Velero Restore object (status.phase, errors)."""
    findings = []
    before = _index(source)
    after = _index(restored)
    missing = sorted(set(before) - set(after))
    extra = sorted(set(after) - set(before))
    differ = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    findings += [finding(FAIL, "%s/%s" % (kind.lower(), name), "not restored") for kind, name in missing]
    findings += [finding(FAIL, "%s/%s" % (kind.lower(), name), "restored with different content")
                 for kind, name in differ]
    findings += [finding(WARN, "%s/%s" % (kind.lower(), name), "in the restore but not in the source")
                 for kind, name in extra]
    status = (restore or {}).get("status") or {}
    phase = status.get("phase")
    if restore is not None and phase != "Completed":
        findings.append(finding(FAIL, "restore/" + _meta(restore).get("name", "?"), "Velero Restore phase %s (%s "
                                "errors, %s warnings)" % (phase, status.get("errors", 0), status.get("warnings", 0))))
    if not before:
        findings.append(finding(FAIL, "restore", "the source namespace has no object to compare"))
    return check("restore_test", "Backup restore test", "%d object(s) compared: %d identical, %d missing, %d "
                 "different" % (len(before), len(before) - len(missing) - len(differ), len(missing), len(differ)),
                 findings, {"compared": len(before), "missing": len(missing), "different": len(differ),
                            "extra": len(extra), "restore_phase": phase,
                            "backup": ((restore or {}).get("spec") or {}).get("backupName")})


def latest_backup(backups, namespace):
    """The name of the newest Completed Velero Backup whose content includes namespace
    (spec.includedNamespaces absent, empty or "*" means every namespace; excludedNamespaces wins);
    "" when there is none."""
    best = None
    for backup in backups:
        spec = backup.get("spec") or {}
        status = backup.get("status") or {}
        included = spec.get("includedNamespaces") or ["*"]
        if status.get("phase") != "Completed" or namespace in (spec.get("excludedNamespaces") or []):
            continue
        if "*" not in included and namespace not in included:
            continue
        done = parse_time(status.get("completionTimestamp")) or 0
        if best is None or done > best[0]:
            best = (done, _meta(backup)["name"])
    return best[1] if best else ""


def check_kube_bench(comparison, current, error=None):
    """The kube-bench week-over-week comparison (kube_bench_compare) as a check; comparison None:
    the first report, nothing to compare with; error: the scan failed."""
    findings = []
    if error:
        findings.append(finding(FAIL, "kube-bench", "the scan failed: %s" % error))
    if current is None:
        findings.append(finding(FAIL, "kube-bench", "no compliance report"))
        return check("kube_bench", "kube-bench vs last week", "no report", findings)
    if comparison is None:
        return check("kube_bench", "kube-bench vs last week", "score %s, no earlier report to compare with" % (
            current.get("score")), findings, {"score": current.get("score")})
    for item in comparison.get("new_failures") or []:
        findings.append(finding(FAIL, "%s:%s" % (item["node"], item["id"]), "newly failing: %s" % item["description"]))
    delta = comparison.get("score_delta")
    if delta is not None and delta < 0:
        findings.append(finding(WARN, "kube-bench", "score dropped by %s points" % -delta))
    return check("kube_bench", "kube-bench vs last week", "score %s (%s%s since %s), %d newly failing, %d fixed" % (
        current.get("score"), "+" if (delta or 0) >= 0 else "", delta, comparison.get("previous_generated_at") or "?",
        len(comparison.get("new_failures") or []), len(comparison.get("fixed") or [])), findings,
        {"score": current.get("score"), "comparison": comparison})


# ---------------------------------------------------------------------------- monthly policy review

_PSS = {"privileged": 0, "baseline": 1, "restricted": 2}


def _constraint_findings(constraints):
    findings = []
    violations = 0
    for con in constraints:
        status = con.get("status") or {}
        total = int(status.get("totalViolations") or 0)
        violations += total
        if total:
            action = (con.get("spec") or {}).get("enforcementAction", "deny")
            examples = "; ".join("%s %s/%s: %s" % (v.get("kind"), v.get("namespace", ""), v.get("name"),
                                                   v.get("message", "")) for v in (status.get("violations") or [])[:3])
            findings.append(finding(WARN, "constraint/%s/%s" % (con.get("kind"), _meta(con)["name"]),
                                    "%d violation(s) (%s): %s" % (total, action, examples)))
    return violations, findings


def _pod_security_findings(namespaces, default, exempt):
    findings = []
    for ns in namespaces:
        name = _meta(ns)["name"]
        labels = _meta(ns).get("labels") or {}
        level = labels.get("pod-security.kubernetes.io/enforce")
        if name in exempt:
            continue
        if level is None:
            findings.append(finding(WARN, "namespace/" + name, "no pod-security.kubernetes.io/enforce label (the "
                                    "admission default applies)"))
        elif _PSS.get(level, -1) < _PSS[default]:
            findings.append(finding(FAIL, "namespace/" + name, "enforces %s, below the default %s, without an "
                                    "exemption" % (level, default)))
        warn = labels.get("pod-security.kubernetes.io/warn")
        if warn and _PSS.get(warn, -1) < _PSS.get(level or default, 0):
            findings.append(finding(WARN, "namespace/" + name, "warns at %s, below its enforce level" % warn))
    return findings


def _admin_findings(bindings, allowed):
    findings = []
    admins = []
    for binding in bindings:
        ref = binding.get("roleRef") or {}
        if ref.get("kind") != "ClusterRole" or ref.get("name") != "cluster-admin":
            continue
        for subject in binding.get("subjects") or []:
            namespace = subject.get("namespace")
            who = "%s:%s%s" % (subject.get("kind"), namespace + "/" if namespace else "", subject.get("name"))
            admins.append({"binding": _ref(binding), "subject": who})
            if who not in allowed:
                findings.append(finding(FAIL, _ref(binding), "binds cluster-admin to %s (not allowed)" % who))
    return admins, findings


def check_policy(constraints, namespaces, bindings, opts_policy):
    """Policy review: Gatekeeper constraint violations (status.totalViolations/violations), the
    Pod Security level each namespace enforces against the default and the exemptions, and every
    binding of the cluster-admin ClusterRole to a subject not on the allowed list."""
    default = opts_policy.get("pod_security_default", "restricted")
    violations, findings = _constraint_findings(constraints)
    findings += _pod_security_findings(namespaces, default, set(opts_policy.get("pod_security_exemptions") or []))
    admins, admin_findings = _admin_findings(bindings, set(opts_policy.get("admin_subjects_allowed") or []))
    findings += admin_findings
    return check("policy", "Policy review", "%d Gatekeeper violation(s) in %d constraint(s), %d namespace(s), %d "
                 "cluster-admin subject(s)" % (violations, len(constraints), len(namespaces), len(admins)), findings,
                 {"violations": violations, "cluster_admins": admins})


# ---------------------------------------------------------------------------- report and table

def report(checks, kind, cluster="", generated_at="", fail_on=FAIL):
    """The report of a run: its checks, the verdict (worst status) and needs_human (a check at
    or above fail_on: ``fail`` by default, ``warn`` to page on warnings too)."""
    if fail_on not in (WARN, FAIL):
        raise ReportError("fail_on must be warn or fail, got %r" % (fail_on,))
    if not isinstance(checks, list) or not all(isinstance(c, dict) and c.get("status") in _RANK for c in checks):
        raise ReportError("report needs a list of checks")
    verdict = worst(c["status"] for c in checks)
    counts = {s: sum(1 for c in checks if c["status"] == s) for s in (OK, WARN, FAIL)}
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "kind": kind,
        "cluster": cluster,
        "generated_at": generated_at,
        "verdict": verdict,
        "needs_human": _RANK[verdict] >= _RANK[fail_on],
        "counts": counts,
        "checks": checks,
    }


def table(rep):
    """The report as fixed-width text: one line per check, then the findings that are not ok."""
    lines = ["%s maintenance report: cluster %s, %s" % (rep.get("kind", "?"), rep.get("cluster") or "-",
                                                        rep.get("generated_at") or "-"),
             "VERDICT: %s%s" % (rep["verdict"].upper(), " (needs a human)" if rep.get("needs_human") else ""), ""]
    width = max([len(c["title"]) for c in rep["checks"]] + [5])
    lines.append("%-6s %-*s  %s" % ("STATUS", width, "CHECK", "SUMMARY"))
    for c in rep["checks"]:
        lines.append("%-6s %-*s  %s" % (c["status"].upper(), width, c["title"], c["summary"]))
    bad = [(c, f) for c in rep["checks"] for f in c["findings"] if f["status"] != OK]
    if bad:
        lines += ["", "FINDINGS"]
        for c, f in bad:
            lines.append("%-6s %-14s %s: %s" % (f["status"].upper(), c["name"], f["object"], f["message"]))
    return "\n".join(lines) + "\n"
