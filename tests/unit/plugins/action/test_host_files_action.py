# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_files action plugin with a real DataLoader, Templar and template lookup (the module run
is captured): entries whose `when` is false are left out and never rendered, `src` templates of the
search path become `content` rendered with the task's variables (ansible_managed, template_path,
trim_blocks as the template lookup), the module runs once, and bad entries fail before it runs."""

from unittest.mock import MagicMock

import pytest
from ansible import release as ansible_release
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.template import Templar
from ansible_collections.orchestrator.platform.plugins.action.host_files import ActionModule


@pytest.fixture(autouse=True, scope="module")
def _collection_loader():
    # FQCN plugin names (ansible.builtin.template) resolve once the collection loader is set up, as
    # ansible-playbook does at start (a no-op with a warning when ansible-test has done it already).
    init_plugin_loader()


def _action(args, loader=None):
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = False
    task.action = "orchestrator.platform.host_files"
    connection = MagicMock()
    connection._shell.tmpdir = None
    loader = loader or DataLoader()
    action = ActionModule(task, connection, MagicMock(), loader, Templar(loader=loader), None)
    calls = []

    def execute_module(module_name=None, module_args=None, task_vars=None, **kwargs):
        calls.append(module_args)
        return {"changed": False, "changed_files": []}

    action._execute_module = execute_module
    action._early_needs_tmp_path = lambda: False
    return action, calls


@pytest.fixture
def role(tmp_path):
    templates = tmp_path / "templates" / "etc"
    templates.mkdir(parents=True)
    (templates / "a.conf.j2").write_text(
        "# {{ ansible_managed }}\n# {{ template_path }}\n{% if flag %}\nflag = {{ value }}\n{% endif %}\nend\n\n"
    )
    (templates / "broken.j2").write_text("{{ not_defined_anywhere }}\n")
    return tmp_path


def _vars(role, **extra):
    return dict({"ansible_search_path": [str(role)], "flag": True, "value": "x\u00e9"}, **extra)


def test_src_is_rendered_with_the_task_variables_and_the_module_runs_once(role):
    files = [
        {"dest": "/etc/d", "state": "directory", "mode": "0755"},
        {"src": "etc/a.conf.j2", "dest": "/etc/a.conf", "mode": "0644", "owner": "root"},
        {"dest": "/etc/b.conf", "content": "b\n"},
    ]
    action, calls = _action({"files": files})
    result = action.run(task_vars=_vars(role))
    assert result.get("failed") is not True, result
    assert len(calls) == 1
    sent = calls[0]["files"]
    assert sent[0] == files[0] and sent[2] == files[2]
    assert sent[1] == {
        "dest": "/etc/a.conf",
        "mode": "0644",
        "owner": "root",
        # trim_blocks (the newline after a block tag goes), the trailing newlines kept, as the lookup does
        "content": "# Ansible managed\n# etc/a.conf.j2\nflag = x\u00e9\nend\n\n",
    }
    assert "src" not in sent[1]
    assert files[1]["src"] == "etc/a.conf.j2"  # the task's own arguments are left as they were


def test_rendering_equals_the_template_lookup(role):
    """The content is what `lookup('ansible.builtin.template', src)` returns for the same variables."""
    loader = DataLoader()
    task_vars = _vars(role, flag=False)
    expected = lookup_loader.get("ansible.builtin.template", loader=loader, templar=Templar(loader=loader)).run(
        ["etc/a.conf.j2"], variables=_vars(role, flag=False))[0]
    action, calls = _action({"files": [{"src": "etc/a.conf.j2", "dest": "/etc/a.conf"}]}, loader=loader)
    action.run(task_vars=task_vars)
    assert calls[0]["files"][0]["content"] == expected == "# Ansible managed\n# etc/a.conf.j2\nend\n\n"


def test_a_user_set_ansible_managed_is_treated_as_the_template_lookup_treats_it(role):
    """ansible-core 2.19's template lookup keeps a user-set ansible_managed; 2.18's sets the configured
    one over it. The action plugin renders through that lookup, so each core keeps its own behaviour."""
    action, calls = _action({"files": [{"src": "etc/a.conf.j2", "dest": "/etc/a.conf"}]})
    action.run(task_vars=_vars(role, ansible_managed="managed by us"))
    core = tuple(int(part) for part in ansible_release.__version__.split(".")[:2])
    expected = "# managed by us\n" if core >= (2, 19) else "# Ansible managed\n"
    assert calls[0]["files"][0]["content"].startswith(expected)


@pytest.mark.parametrize("when", [False, "false", "no"])
def test_an_entry_whose_when_is_false_is_left_out_and_not_rendered(role, when):
    files = [
        {"src": "etc/broken.j2", "dest": "/etc/broken", "when": when},
        {"dest": "/etc/d", "state": "directory", "when": True},
        {"src": "etc/a.conf.j2", "dest": "/etc/a.conf", "when": "yes"},
    ]
    action, calls = _action({"files": files})
    result = action.run(task_vars=_vars(role))
    assert result.get("failed") is not True, result
    assert [e["dest"] for e in calls[0]["files"]] == ["/etc/d", "/etc/a.conf"]
    assert all("when" not in e for e in calls[0]["files"])


def test_every_entry_left_out_still_runs_the_module_with_an_empty_list(role):
    action, calls = _action({"files": [{"src": "etc/a.conf.j2", "dest": "/etc/a.conf", "when": False}]})
    action.run(task_vars=_vars(role))
    assert calls == [{"files": []}]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"src": "etc/a.conf.j2", "dest": "/etc/a", "content": "x"}, "both src and content"),
        ({"src": "etc/a.conf.j2", "dest": "/etc/a", "state": "directory"}, "is a directory and cannot take src"),
        ({"src": "etc/a.conf.j2", "dest": "/etc/a", "when": "sometimes"}, "files[0].when must be a boolean"),
        ({"src": "etc/a.conf.j2", "dest": "/etc/a", "when": None}, "files[0].when must be a boolean"),
        ({"src": "", "dest": "/etc/a"}, "src must be a template path"),
        ({"src": "etc/missing.j2", "dest": "/etc/a"}, "cannot render the template etc/missing.j2"),
        ({"src": "etc/broken.j2", "dest": "/etc/a"}, "cannot render the template etc/broken.j2"),
        ("not a dict", "files[0] must be a dictionary"),
    ],
)
def test_bad_entries_fail_before_the_module_runs(role, entry, message):
    action, calls = _action({"files": [entry]})
    result = action.run(task_vars=_vars(role))
    assert result["failed"] is True
    assert message in result["msg"]
    assert calls == []


def test_files_must_be_a_list(role):
    action, calls = _action({"files": "/etc/a"})
    result = action.run(task_vars=_vars(role))
    assert result["failed"] is True and "files must be a list" in result["msg"]
    assert calls == []
