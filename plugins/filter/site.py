# Copyright: (c) 2026, orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml imports a step's playbook only when --tags/--skip-tags select the step, so that
`--tags <step>` neither lists nor runs the always-tagged checks and probes of the other steps
(the role argument-spec validations, the asserts, the fact gathering and package reads)."""

from pathlib import Path

import yaml
from ansible.errors import AnsibleFilterError

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
SKIPPED = "site_step_skipped.yml"
_SECTIONS = ("pre_tasks", "roles", "tasks", "post_tasks")
_INCLUDES = ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role")


def _role_name(name):
    return str(name).rsplit(".", 1)[-1]


def step_tags_and_roles(playbook):
    """The play tags of a step playbook and the names of the roles its plays run (roles: entries and
    include_role/import_role tasks)."""
    path = PLAYBOOKS / playbook
    try:
        plays = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise AnsibleFilterError("site_step: cannot read the step playbook %s: %s" % (path, exc)) from exc
    tags, roles = set(), set()
    for play in plays or []:
        tags.update(play.get("tags") or [])
        for entry in play.get("roles") or []:
            roles.add(_role_name(entry if isinstance(entry, str) else entry.get("role", entry.get("name"))))
        for section in ("pre_tasks", "tasks", "post_tasks"):
            for task in play.get(section) or []:
                for key in _INCLUDES:
                    if isinstance(task.get(key), dict) and task[key].get("name"):
                        roles.add(_role_name(task[key]["name"]))
    return tags, roles


def site_step(playbook, run_tags, skip_tags=None):
    """The playbook when the step is selected, else the playbook of a step not selected.

    Selected: none of its play tags is skipped, and --tags is all (or tagged), names one of its play
    tags, or names one of its roles or a role-level tag (<role>_install, <role>_configure...)."""
    if not isinstance(playbook, str) or not playbook:
        raise AnsibleFilterError("site_step: the input is the file name of a step playbook, not %r" % (playbook,))
    run = set(run_tags or ["all"])
    skip = set(skip_tags or [])
    tags, roles = step_tags_and_roles(playbook)
    if tags & skip:
        return SKIPPED
    if run & {"all", "tagged"} or tags & run:
        return playbook
    if any(tag == role or tag.startswith(role + "_") for tag in run for role in roles):
        return playbook
    return SKIPPED


class FilterModule:
    """Selection of the steps of site.yml by --tags/--skip-tags."""

    def filters(self):
        return {"site_step": site_step}
