# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the preflight role (step 0): rule tables, port and disk checks."""

from ansible.errors import AnsibleError

PORT_MIN = 1
PORT_MAX = 65535


def _truth(value):
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def preflight_problems(rules, host=""):
    """The rules of a table that fail, as {rule, host, msg}.

    Each rule is a mapping: rule (its name), ok (true when the rule holds), msg (the message when it
    does not), and optionally when (the rule applies only when true) and warn (true: a broken rule
    is a warning, not an error). Ansible templates each value
    only when it is read, so `ok` is read only when `when` holds and `msg` only when `ok` is false.
    A rule whose values cannot be evaluated is itself a problem (its message says why) rather than
    an error that would hide the other rules' results.
    """
    problems = []
    for rule in rules:
        name = rule["rule"]
        level = "error"
        try:
            if "when" in rule and not _truth(rule["when"]):
                continue
            if _truth(rule["ok"]):
                continue
            if "warn" in rule and _truth(rule["warn"]):
                level = "warning"
            msg = " ".join(str(rule["msg"]).split())
        except AnsibleError as error:
            msg = "this rule could not be evaluated: %s" % " ".join(str(error).split())
        problems.append({"rule": name, "host": host, "level": level, "msg": msg})
    return problems


def preflight_report(problems):
    """One line per distinct problem, naming every host that has it: {errors: [...], warnings: [...]}.

    A rule checked once (host empty) reported by every node, or the same message on several nodes,
    is one line: "[rule] host1, host2: message" ("[rule] message" for the inventory-wide rules);
    the lines of one rule are together, the rules in the order they were first found.
    """
    grouped = {}
    for problem in problems:
        key = (problem.get("level", "error"), problem["rule"], problem["msg"])
        hosts = grouped.setdefault(key, [])
        if problem.get("host") and problem["host"] not in hosts:
            hosts.append(problem["host"])
    report = {"errors": [], "warnings": []}
    rules = list(dict.fromkeys(rule for _level, rule, _msg in grouped))
    for (level, rule, msg), hosts in sorted(grouped.items(), key=lambda item: rules.index(item[0][1])):
        line = "[%s] %s%s" % (rule, ", ".join(hosts) + ": " if hosts else "", msg)
        report["errors" if level == "error" else "warnings"].append(line)
    return report


def preflight_port_problems(ports):
    """Problems of a set of ports one host binds: {description: port}.

    A port outside 1-65535 is a problem, and so is a port two of them share. Entries whose port is
    0 or None are not bound (a disabled listener) and are left out.
    """
    problems = []
    owners = {}
    for what, port in ports.items():
        if port is None or port == "" or str(port) == "0":
            continue
        try:
            number = int(port)
        except (TypeError, ValueError):
            problems.append("%s is %r, not a port number" % (what, port))
            continue
        if not PORT_MIN <= number <= PORT_MAX:
            problems.append("%s is %d, outside %d-%d" % (what, number, PORT_MIN, PORT_MAX))
            continue
        owners.setdefault(number, []).append(what)
    for number, whats in sorted(owners.items()):
        if len(whats) > 1:
            problems.append("%s all use port %d" % (" and ".join(whats), number))
    return problems


def preflight_disk_shortfalls(disks, minimums):
    """Filesystems with less free space than the paths on them need together.

    disks: what the probe found for each path, {path, checked, dev, free_mb} (checked: the path or
    its nearest existing parent, whose filesystem the path will be on). minimums: {path: MiB} of
    the paths this host needs. Paths on one filesystem share it, so their minimums add up.
    Returns one message per short filesystem.
    """
    by_path = {disk["path"]: disk for disk in disks}
    need = {}
    for path, minimum in minimums.items():
        disk = by_path.get(path)
        if disk is None:
            raise AnsibleError("preflight_disk_shortfalls: the probe did not report %s" % path)
        entry = need.setdefault(disk["dev"], {"paths": [], "mb": 0, "free_mb": int(disk["free_mb"]), "checked": []})
        entry["paths"].append(path)
        entry["checked"].append(disk["checked"])
        entry["mb"] += int(minimum)
    shortfalls = []
    for entry in need.values():
        if entry["free_mb"] < entry["mb"]:
            shortfalls.append(
                "%s: %d MiB free on the filesystem of %s, %d MiB needed"
                % (", ".join(entry["paths"]), entry["free_mb"], sorted(set(entry["checked"]))[0], entry["mb"])
            )
    return shortfalls


class FilterModule:
    def filters(self):
        return {
            "preflight_problems": preflight_problems,
            "preflight_report": preflight_report,
            "preflight_port_problems": preflight_port_problems,
            "preflight_disk_shortfalls": preflight_disk_shortfalls,
        }
