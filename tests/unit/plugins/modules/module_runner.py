# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs a module's main() in-process for the unit tests (not a test module).

The arguments go in as Ansible would send them (with the serialization profile ansible-core 2.19
wants, or the old _ANSIBLE_ARGS on older cores); exit_json and fail_json are caught and what they
were given comes back as a dict with `failed` set. `_ansible_check_mode` / `_ansible_diff` in the
parameters switch check mode and diff.
"""

import contextlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

try:  # ansible-core >= 2.19 wants module arguments with a serialization profile
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # older ansible-core
    patch_module_args = None


class _Exit(Exception):
    pass


def run_module(monkeypatch, main, params):
    result = {}

    def exit_json(self, **kwargs):
        result.update(kwargs, failed=False)
        raise _Exit()

    def fail_json(self, **kwargs):
        result.update(kwargs, failed=True)
        raise _Exit()

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    if patch_module_args is not None:
        args = patch_module_args(params)
    else:
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": params})))
        args = contextlib.nullcontext()
    with args, pytest.raises(_Exit):
        main()
    return result
