# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""orchestrator.platform.site_step: which step playbooks site.yml loads for --tags/--skip-tags
(read from the collection's own step playbooks)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.orchestrator.platform.plugins.filter.site import SKIPPED, site_step, step_tags_and_roles


def test_the_step_tags_and_roles_are_read_from_the_playbook():
    tags, roles = step_tags_and_roles("05_network.yml")
    assert tags == {"network"} and roles == {"calico", "network_policies"}
    tags, roles = step_tags_and_roles("03_join_control_plane.yml")
    assert tags == {"join_control_plane"} and {"control_plane", "etcd_backup"} <= roles  # include_role counts


@pytest.mark.parametrize(
    ("run", "skip", "selected"),
    [
        (["all"], [], True),
        (None, None, True),
        (["tagged"], [], True),
        (["network"], [], True),
        (["security", "network"], [], True),
        (["security"], [], False),
        (["calico"], [], True),
        (["calico_configure"], [], True),
        (["network_policies_configure"], [], True),
        (["calicox"], [], False),
        (["all"], ["network"], False),
        (["calico"], ["network"], False),
        (["all"], ["calico"], True),  # a skipped role leaves the step (and the role's checks) to Ansible
    ],
)
def test_selection_by_tags(run, skip, selected):
    assert site_step("05_network.yml", run, skip) == ("05_network.yml" if selected else SKIPPED)


def test_a_missing_playbook_fails_clearly():
    with pytest.raises(AnsibleFilterError, match="cannot read the step playbook"):
        site_step("99_nothing.yml", ["all"])
