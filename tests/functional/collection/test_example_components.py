"""inventories/example/group_vars/all/components.yml lists every component switch of the collection
(issue 19 item 6, like kubespray's addons file): each *_enabled variable of every role, with the
role's own default and as a bool of the role's argument spec, so the file cannot drift from the roles."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ROOT / "inventories" / "example" / "group_vars" / "all" / "components.yml"


def test_every_switch_is_listed_with_the_role_default():
    listed = yaml.safe_load(COMPONENTS.read_text(encoding="utf-8"))
    defaults, specs = {}, {}
    for role in sorted((ROOT / "roles").iterdir()):
        values = yaml.safe_load((role / "defaults" / "main.yml").read_text(encoding="utf-8")) or {}
        defaults.update({k: v for k, v in values.items() if k.endswith("_enabled")})
        entry_points = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
        for entry in entry_points.values():
            specs.update((entry.get("options") or {}).items())
    assert defaults, "no *_enabled default found in the roles"
    assert set(listed) == set(defaults), {
        "not listed": sorted(set(defaults) - set(listed)),
        "not a switch of a role": sorted(set(listed) - set(defaults)),
    }
    for name, value in listed.items():
        assert value is defaults[name], f"{name}: {value} here, {defaults[name]} in the role"
        assert specs[name]["type"] == "bool" and specs[name]["default"] is value, name
