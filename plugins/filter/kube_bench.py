# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn kube-bench JSON output into the platform's compliance report and compare two reports.

kube-bench (``kube-bench run --json``) prints, since v0.6, one object
``{"Controls": [<controls>...], "Totals": {...}}``; older releases print the controls objects
themselves (one JSON document per target, or a list of them). A controls object is
``{"id", "version", "text", "node_type", "tests": [<group>...], "total_pass", ...}``, a group
``{"section", "desc", "pass", "fail", "warn", "info", "results": [<check>...]}`` and a check
``{"test_number", "test_desc", "status", "scored", "remediation", "reason", ...}`` with status
PASS, FAIL, WARN or INFO. All shapes are accepted, as parsed data or as the raw text of the pod
log (other log lines around the JSON are skipped).
"""

import json
import re

from ansible.errors import AnsibleFilterError

REPORT_FORMAT = "orchestrator.platform/kube-bench-report"
REPORT_FORMAT_VERSION = 1
STATUSES = ("PASS", "FAIL", "WARN", "INFO")
ROLES = ("control_plane", "worker")
WAIVER_FIELDS = ("control", "reason", "decided_by")
CHECK_ID = re.compile(r"^[0-9]+([.][0-9]+)*$")


def _check_key(check_id):
    """Sort key of a CIS check number such as 1.2.10 (numeric parts compare as numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"[.]", str(check_id))]


def _json_documents(text):
    """Every JSON object or array in a text, in order; other text (log lines) is skipped."""
    decoder = json.JSONDecoder()
    docs = []
    pos = 0
    while pos < len(text):
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            doc, end = decoder.raw_decode(text, start)
        except ValueError:
            pos = start + 1
            continue
        docs.append(doc)
        pos = end
    return docs


def _is_controls(doc):
    return isinstance(doc, dict) and isinstance(doc.get("tests"), list) and "id" in doc


def _controls_of(output, node):
    """The controls objects of one node's kube-bench output, whatever its shape."""
    docs = _json_documents(output) if isinstance(output, str) else [output]
    controls = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("Controls"), list):
            controls.extend(doc["Controls"])
        elif _is_controls(doc):
            controls.append(doc)
        elif isinstance(doc, list) and doc and all(_is_controls(d) for d in doc):
            controls.extend(doc)
    if not controls:
        raise AnsibleFilterError("kube_bench_report: no kube-bench JSON results found for node %r" % node)
    for control in controls:
        if not _is_controls(control):
            raise AnsibleFilterError(
                "kube_bench_report: node %r: a controls entry has no id/tests: %r" % (node, control)
            )
    return controls


def _totals(checks):
    """Counts per status; a waived check counts as waived only, whatever kube-bench reported."""
    totals = {status.lower(): 0 for status in STATUSES}
    totals["waived"] = 0
    for check in checks:
        totals["waived" if check["waived"] else check["status"].lower()] += 1
    totals["checks"] = len(checks)
    return totals


def _waivers(waivers):
    """The waivers by control, each {control, reason, decided_by} with every field non-empty."""
    if not isinstance(waivers, list):
        raise AnsibleFilterError("kube_bench_report: waivers must be a list of {control, reason, decided_by}")
    by_control = {}
    for waiver in waivers:
        if not isinstance(waiver, dict) or any(not str(waiver.get(f) or "").strip() for f in WAIVER_FIELDS):
            raise AnsibleFilterError(
                "kube_bench_report: every waiver needs a control, a reason and decided_by, got %r" % (waiver,)
            )
        control = str(waiver["control"]).strip()
        if not CHECK_ID.match(control):
            raise AnsibleFilterError("kube_bench_report: waiver control %r is not a check number (1.1.12)" % control)
        if control in by_control:
            raise AnsibleFilterError("kube_bench_report: control %s is waived twice" % control)
        by_control[control] = {f: str(waiver[f]).strip() for f in WAIVER_FIELDS}
    return by_control


def _score(totals):
    """Percentage of passed checks among the checks that passed or failed (WARN/INFO are manual,
    waived checks are left out)."""
    decided = totals["pass"] + totals["fail"]
    if not decided:
        return None
    return round(100.0 * totals["pass"] / decided, 1)


def _group_by_check(checks):
    """FAIL or WARN checks grouped by check id over the nodes, ordered by check number."""
    grouped = {}
    for check in checks:
        entry = grouped.setdefault(
            check["id"],
            {
                "id": check["id"],
                "description": check["description"],
                "scored": check["scored"],
                "remediation": check["remediation"],
                "nodes": [],
            },
        )
        entry["nodes"].append(check["node"])
    for entry in grouped.values():
        entry["nodes"] = sorted(set(entry["nodes"]))
    return [grouped[key] for key in sorted(grouped, key=_check_key)]


def kube_bench_report(results, cluster="", generated_at="", benchmark="", waivers=None):
    """Build the compliance report from the kube-bench results of every node.

    results: a list of {node, role (control_plane|worker), output (kube-bench JSON: text or parsed)}.
    waivers: {control, reason, decided_by} of the checks deliberately not met: they stay in the
    report, marked waived, and are left out of the score, the totals by status and failing.
    """
    if not isinstance(results, list) or not results:
        raise AnsibleFilterError("kube_bench_report needs a non-empty list of {node, role, output}")
    waived = _waivers(waivers or [])
    checks = []
    nodes = []
    benchmarks = set()
    for item in results:
        if not isinstance(item, dict) or not item.get("node") or "output" not in item:
            raise AnsibleFilterError("kube_bench_report: every result needs node and output, got %r" % (item,))
        node = str(item["node"])
        role = item.get("role", "worker")
        if role not in ROLES:
            raise AnsibleFilterError(
                "kube_bench_report: node %r has role %r, expected one of %s" % (node, role, ", ".join(ROLES))
            )
        node_checks = []
        node_benchmarks = set()
        for control in _controls_of(item["output"], node):
            if control.get("version"):
                node_benchmarks.add(str(control["version"]))
            for group in control["tests"]:
                for result in group.get("results") or []:
                    status = str(result.get("status", "")).upper()
                    if status not in STATUSES:
                        raise AnsibleFilterError(
                            "kube_bench_report: node %r check %r has status %r, expected one of %s"
                            % (node, result.get("test_number"), result.get("status"), ", ".join(STATUSES))
                        )
                    node_checks.append(
                        {
                            "id": str(result.get("test_number", "")),
                            "node": node,
                            "role": role,
                            "target": str(control.get("node_type", "")),
                            "control": str(control.get("id", "")),
                            "section": str(group.get("section", "")),
                            "section_text": str(group.get("desc", "")),
                            "description": str(result.get("test_desc", "")),
                            "status": status,
                            "scored": bool(result.get("scored", False)),
                            "remediation": str(result.get("remediation", "")).strip(),
                            "reason": str(result.get("reason", "")).strip(),
                            "waived": str(result.get("test_number", "")) in waived,
                        }
                    )
        node_checks.sort(key=lambda c: _check_key(c["id"]))
        node_totals = _totals(node_checks)
        nodes.append(
            {
                "node": node,
                "role": role,
                "benchmark": ",".join(sorted(node_benchmarks)),
                "totals": node_totals,
                "score": _score(node_totals),
            }
        )
        benchmarks |= node_benchmarks
        checks.extend(node_checks)
    names = [n["node"] for n in nodes]
    if len(set(names)) != len(names):
        raise AnsibleFilterError(
            "kube_bench_report: a node appears twice in the results: %s" % ", ".join(sorted(names))
        )
    totals = _totals(checks)
    waiver_list = []
    for control in sorted(waived, key=_check_key):
        matched = [c for c in checks if c["id"] == control]
        waiver_list.append(
            dict(
                waived[control],
                nodes=sorted({c["node"] for c in matched}),
                failing_nodes=sorted({c["node"] for c in matched if c["status"] == "FAIL"}),
            )
        )
    return {
        "format": REPORT_FORMAT,
        "format_version": REPORT_FORMAT_VERSION,
        "cluster": cluster,
        "generated_at": generated_at,
        "benchmark": benchmark or ",".join(sorted(benchmarks)),
        "totals": totals,
        "score": _score(totals),
        "nodes": sorted(nodes, key=lambda n: (n["role"] != "control_plane", n["node"])),
        "failing": _group_by_check([c for c in checks if c["status"] == "FAIL" and not c["waived"]]),
        "warnings": _group_by_check([c for c in checks if c["status"] == "WARN" and not c["waived"]]),
        "waivers": waiver_list,
        "checks": checks,
    }


def _validate_report(report, name):
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise AnsibleFilterError("kube_bench_compare: %s is not a %s document" % (name, REPORT_FORMAT))
    if report.get("format_version") != REPORT_FORMAT_VERSION:
        raise AnsibleFilterError(
            "kube_bench_compare: %s has format_version %r, this collection reads %d"
            % (name, report.get("format_version"), REPORT_FORMAT_VERSION)
        )


def kube_bench_compare(current, previous):
    """What changed between two reports: new failures, fixed checks, score and totals deltas.

    Checks are matched by (node, check id). A check of a node absent from one report is counted
    in added_nodes/removed_nodes, not as a change of status. A check waived in the current report
    is neither a new failure nor fixed.
    """
    _validate_report(current, "the current report")
    _validate_report(previous, "the previous report")
    before = {(c["node"], c["id"]): c for c in previous["checks"]}
    after = {(c["node"], c["id"]): c for c in current["checks"]}
    nodes_before = {n["node"] for n in previous["nodes"]}
    nodes_after = {n["node"] for n in current["nodes"]}
    common = nodes_before & nodes_after

    def changed(from_statuses, to_status):
        out = []
        for key in sorted(after, key=lambda k: (k[0], _check_key(k[1]))):
            if key[0] not in common:
                continue
            old = before.get(key)
            new = after[key]
            if new.get("waived"):
                continue
            if new["status"] == to_status and (old is None or old["status"] in from_statuses):
                out.append(
                    {
                        "node": key[0],
                        "id": key[1],
                        "description": new["description"],
                        "previous_status": old["status"] if old else None,
                        "status": new["status"],
                        "remediation": new["remediation"],
                    }
                )
        return out

    def fixed():
        out = []
        for key in sorted(before, key=lambda k: (k[0], _check_key(k[1]))):
            if key[0] not in common or before[key]["status"] != "FAIL":
                continue
            new = after.get(key)
            if new is not None and (new["status"] == "FAIL" or new.get("waived")):
                continue
            out.append(
                {
                    "node": key[0],
                    "id": key[1],
                    "description": before[key]["description"],
                    "previous_status": "FAIL",
                    "status": new["status"] if new else None,
                }
            )
        return out

    score_delta = None
    if current.get("score") is not None and previous.get("score") is not None:
        score_delta = round(current["score"] - previous["score"], 1)
    new_failures = changed(("PASS", "WARN", "INFO", None), "FAIL")
    return {
        "previous_generated_at": previous.get("generated_at", ""),
        "current_generated_at": current.get("generated_at", ""),
        "score_previous": previous.get("score"),
        "score_current": current.get("score"),
        "score_delta": score_delta,
        "totals_delta": {k: current["totals"].get(k, 0) - previous["totals"].get(k, 0) for k in current["totals"]},
        "new_failures": new_failures,
        "fixed": fixed(),
        "added_nodes": sorted(nodes_after - nodes_before),
        "removed_nodes": sorted(nodes_before - nodes_after),
        "regressed": bool(new_failures) or (score_delta is not None and score_delta < 0),
    }


class FilterModule:
    def filters(self):
        return {"kube_bench_report": kube_bench_report, "kube_bench_compare": kube_bench_compare}
