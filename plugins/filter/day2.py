# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the day-2 maintenance playbooks: API answers in, checks, report and table out.

The logic lives in plugins/module_utils/_day2_report.py (shared with the unit tests); these
filters only adapt it to Jinja and turn its input errors into filter errors.
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.orchestrator.platform.plugins.module_utils import _day2_report as day2


def _call(name, func, *args):
    try:
        return func(*args)
    except (day2.ReportError, KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc)) from exc


def day2_daily_checks(inputs, now, options=None):
    if not isinstance(inputs, dict):
        raise AnsibleFilterError("day2_daily_checks: the input must be a dict of gathered answers")
    return _call("day2_daily_checks", day2.daily_checks, inputs, options or {}, now)


_CHECKS = {
    "nodes": lambda data, opts, now: day2.check_nodes(data, opts),
    "pods": day2.check_pods,
    "applications": lambda data, opts, now: day2.check_applications(data, opts),
    "falco": day2.check_falco,
    "etcd": lambda data, opts, now: day2.check_etcd(data, opts),
    "certificates": lambda data, opts, now: day2.check_certificates(data, opts),
    "backups": lambda data, opts, now: day2.check_backups(data.get("etcd_backup_metrics"),
                                                          data.get("velero_backups"), opts, now),
    "vulnerabilities": lambda data, opts, now: day2.check_vulnerabilities(data, opts),
    "resources": lambda data, opts, now: day2.check_resources(data["nodes"], data["pods"], data["node_metrics"],
                                                              data["pod_metrics"], opts),
    "restore_test": lambda data, opts, now: day2.check_restore(data["source"], data["restored"], data.get("restore")),
    "kube_bench": lambda data, opts, now: day2.check_kube_bench(data.get("comparison"), data.get("current"),
                                                                data.get("error")),
    "policy": lambda data, opts, now: day2.check_policy(data["constraints"], data["namespaces"], data["bindings"],
                                                        data),
}


def day2_check(data, check, options=None, now=None):
    if check in ("pods", "falco", "backups") and now is None:
        raise AnsibleFilterError("day2_check: check %s needs now (Unix seconds of the run)" % check)
    if check not in _CHECKS:
        raise AnsibleFilterError("day2_check: unknown check %r (known: %s)" % (check, ", ".join(_CHECKS)))
    return _call("day2_check", lambda: _CHECKS[check](data, day2.options(options), None if now is None else float(now)))


def day2_latest_backup(backups, namespace):
    return _call("day2_latest_backup", day2.latest_backup, backups, namespace)


def day2_report(checks, kind, cluster="", generated_at="", fail_on="fail"):
    return _call("day2_report", day2.report, checks, kind, cluster, generated_at, fail_on)


def day2_table(report):
    if not isinstance(report, dict) or report.get("format") != day2.REPORT_FORMAT:
        raise AnsibleFilterError("day2_table: the input is not a %s document" % day2.REPORT_FORMAT)
    return day2.table(report)


class FilterModule:
    def filters(self):
        return {
            "day2_daily_checks": day2_daily_checks,
            "day2_check": day2_check,
            "day2_latest_backup": day2_latest_backup,
            "day2_report": day2_report,
            "day2_table": day2_table,
        }
