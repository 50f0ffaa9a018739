# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modes host_files' tests feed it (PyYAML, tests/unit/plugins/modules/test_host_files.py) are
what ansible's own YAML loader makes of a playbook's `mode:` - an unquoted 0644 is the int 420."""

import pytest
import yaml
from ansible.parsing.utils.yaml import from_yaml


@pytest.mark.parametrize("text", ["mode: 0644", "mode: 0600", "mode: '0640'", "mode: '640'", "mode: 0o755"])
def test_ansible_reads_a_mode_as_pyyaml_does(text):
    ours, ansible = yaml.safe_load(text)["mode"], from_yaml(text)["mode"]
    # ansible-core 2.19 returns its tagged subclasses of int and str (plain values once sent to a module).
    assert ours == ansible and isinstance(ansible, type(ours))
    if text == "mode: 0644":
        assert ansible == 420 and isinstance(ansible, int)
