# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/runtime.yml admits only the ansible-core versions the gates test: its lower bound is the
minor of requirements-core-min.txt (the core_min gate), its upper bound excludes the next minor
after the main virtualenv's (constraints.txt; the sanity and units gates). Each gate's ansible-core
lies in the range."""

import re
from pathlib import Path

import yaml
from ansible.release import __version__ as running_core

ROOT = Path(__file__).resolve().parents[2]


def _version(text):
    return tuple(int(part) for part in re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", text).groups(default="0"))


def _range():
    spec = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())["requires_ansible"]
    bounds = dict(re.match(r"^\s*(>=|<)\s*([0-9.]+)\s*$", part).groups() for part in spec.split(","))
    assert set(bounds) == {">=", "<"}, spec
    return _version(bounds[">="]), _version(bounds["<"])


def _pin(path):
    return _version(re.search(r"(?m)^ansible-core==([0-9.]+)$", (ROOT / path).read_text()).group(1))


def test_the_range_is_what_the_gates_test():
    low, high = _range()
    lowest, highest = _pin("requirements-core-min.txt"), _pin("constraints.txt")
    assert low == (lowest[0], lowest[1], 0)
    assert high == (highest[0], highest[1] + 1, 0)


def test_the_running_ansible_core_is_in_the_range():
    low, high = _range()
    assert low <= _version(running_core) < high, running_core
