# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)


import pytest
from ansible.errors import AnsibleError
from ansible_collections.orchestrator.platform.plugins.filter.preflight import (
    preflight_disk_shortfalls,
    preflight_port_problems,
    preflight_problems,
    preflight_report,
)


class Raises(dict):
    """A rule whose `ok` cannot be evaluated (what a template error looks like to the filter)."""

    def __getitem__(self, key):
        if key == "ok":
            raise AnsibleError("'undefined_thing' is undefined")
        return super().__getitem__(key)


def test_problems_keeps_only_broken_rules_that_apply():
    rules = [
        {"rule": "a", "ok": True, "msg": "never shown"},
        {"rule": "b", "ok": False, "msg": "b  is\n broken"},
        {"rule": "c", "when": False, "ok": False, "msg": "does not apply"},
        {"rule": "d", "when": "True", "ok": "False", "msg": "strings from templates"},
        {"rule": "e", "ok": False, "warn": True, "msg": "only a warning"},
    ]
    assert preflight_problems(rules, "n1") == [
        {"rule": "b", "host": "n1", "level": "error", "msg": "b is broken"},
        {"rule": "d", "host": "n1", "level": "error", "msg": "strings from templates"},
        {"rule": "e", "host": "n1", "level": "warning", "msg": "only a warning"},
    ]


def test_problems_reports_a_rule_that_cannot_be_evaluated_and_goes_on():
    rules = [Raises(rule="broken", msg="x"), {"rule": "next", "ok": False, "msg": "still checked"}]
    found = preflight_problems(rules)
    assert [p["rule"] for p in found] == ["broken", "next"]
    assert "could not be evaluated" in found[0]["msg"] and "undefined_thing" in found[0]["msg"]


def test_report_merges_hosts_and_groups_rules():
    problems = [
        {"rule": "cgroup-v1", "host": "n1", "level": "error", "msg": "boots v1"},
        {"rule": "disk", "host": "n1", "level": "error", "msg": "full"},
        {"rule": "cgroup-v1", "host": "n2", "level": "error", "msg": "boots v1"},
        {"rule": "odd", "host": "", "level": "error", "msg": "two control planes"},
        {"rule": "odd", "host": "", "level": "error", "msg": "two control planes"},
        {"rule": "resources", "host": "n2", "level": "warning", "msg": "small"},
    ]
    assert preflight_report(problems) == {
        "errors": ["[cgroup-v1] n1, n2: boots v1", "[disk] n1: full", "[odd] two control planes"],
        "warnings": ["[resources] n2: small"],
    }


def test_report_of_nothing_is_empty():
    assert preflight_report([]) == {"errors": [], "warnings": []}


@pytest.mark.parametrize(
    "ports, expected",
    [
        ({"a": 6443, "b": 2381, "c": 0}, []),
        ({"a": 70000}, ["a is 70000, outside 1-65535"]),
        ({"a": -1}, ["a is -1, outside 1-65535"]),
        ({"metrics": 2379, "etcd client port": 2379}, ["metrics and etcd client port all use port 2379"]),
        ({"a": "x"}, ["a is 'x', not a port number"]),
        ({"a": "6443", "b": 6443, "c": 6443}, ["a and b and c all use port 6443"]),
    ],
)
def test_port_problems(ports, expected):
    assert preflight_port_problems(ports) == expected


def test_disk_shortfalls_add_up_paths_on_one_filesystem():
    disks = [
        {"path": "/var/lib/kubelet", "checked": "/var/lib", "dev": 1, "free_mb": 3000},
        {"path": "/var/lib/containerd", "checked": "/var/lib", "dev": 1, "free_mb": 3000},
        {"path": "/var/lib/etcd", "checked": "/var/lib/etcd", "dev": 2, "free_mb": 100},
    ]
    assert preflight_disk_shortfalls(disks, {"/var/lib/kubelet": 2000}) == []
    assert preflight_disk_shortfalls(disks, {"/var/lib/kubelet": 2000, "/var/lib/containerd": 2000}) == [
        "/var/lib/kubelet, /var/lib/containerd: 3000 MiB free on the filesystem of /var/lib, 4000 MiB needed"
    ]
    assert preflight_disk_shortfalls(disks, {"/var/lib/etcd": 101}) == [
        "/var/lib/etcd: 100 MiB free on the filesystem of /var/lib/etcd, 101 MiB needed"
    ]


def test_disk_shortfalls_needs_every_path_probed():
    with pytest.raises(AnsibleError, match="did not report /srv"):
        preflight_disk_shortfalls([], {"/srv": 1})
