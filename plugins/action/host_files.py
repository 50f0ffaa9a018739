# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of orchestrator.platform.host_files: prepares the file list on the controller,
then runs the module once on the node.

- An entry with ``when`` false is left out (``when`` is a boolean, evaluated by Jinja in the task's
  arguments: ``when: "{{ node_prep_firewall_enabled }}"``); the key is removed from the others.
- An entry with ``src`` gets the rendered template as its ``content``. The template is found and
  rendered by ansible.builtin.template's lookup with the task's variables, exactly as the roles'
  ``content: "{{ lookup('ansible.builtin.template', src) }}"`` did: searched in the role's
  templates/ directories, with ansible_managed and the template_* variables set, the same Jinja
  options (trim_blocks), the same output on every ansible-core the collection admits.

Entries left out are never rendered: a template may need variables that exist only when its
feature is on. The task's no_log hides the module's arguments and result as for any module.
"""

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.plugins.loader import lookup_loader


def _included(entry, index):
    """Whether the entry stays in the list (its ``when``, a boolean; absent means yes)."""
    if "when" not in entry:
        return True
    try:
        return boolean(entry["when"], strict=True)
    except TypeError as exc:
        raise AnsibleActionFail(
            "host_files: files[%d].when must be a boolean (e.g. \"{{ some_flag }}\" or \"{{ list | length > 0 }}\"), "
            "not %r" % (index, entry["when"])
        ) from exc


class ActionModule(ActionBase):
    """Drops the entries whose ``when`` is false, renders ``src`` templates into ``content``, then
    executes the host_files module once."""

    TRANSFERS_FILES = False

    def _render(self, src, task_vars):
        lookup = lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
        if lookup is None:
            raise AnsibleActionFail("host_files: the ansible.builtin.template lookup cannot be loaded")
        try:
            rendered = lookup.run([src], variables=task_vars)[0]
        except AnsibleError as exc:
            raise AnsibleActionFail("host_files: cannot render the template %s: %s" % (src, to_text(exc))) from exc
        if rendered is None:
            return ""
        if not isinstance(rendered, str):
            raise AnsibleActionFail(
                "host_files: the template %s rendered to a %s, not to text" % (src, type(rendered).__name__)
            )
        return to_text(rendered)

    def prepare_files(self, files, task_vars):
        """The module's file list: entries kept by their ``when``, ``src`` rendered into ``content``."""
        if not isinstance(files, list):
            raise AnsibleActionFail("host_files: files must be a list of entries, not %s" % type(files).__name__)
        prepared = []
        for index, given in enumerate(files):
            if not isinstance(given, dict):
                kind = type(given).__name__
                raise AnsibleActionFail("host_files: files[%d] must be a dictionary, not %s" % (index, kind))
            if not _included(given, index):
                continue
            entry = {key: value for key, value in given.items() if key != "when"}
            if "src" in entry:
                src = entry.pop("src")
                where = "host_files: files[%d] (dest %s)" % (index, entry.get("dest"))
                if not isinstance(src, str) or not src:
                    raise AnsibleActionFail("%s: src must be a template path" % where)
                if entry.get("content") is not None:
                    raise AnsibleActionFail("%s has both src and content; give one" % where)
                if entry.get("state", "file") != "file":
                    raise AnsibleActionFail("%s is a directory and cannot take src" % where)
                entry["content"] = self._render(src, task_vars)
            prepared.append(entry)
        return prepared

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super().run(tmp, task_vars)
        del tmp  # unused

        module_args = dict(self._task.args)
        try:
            module_args["files"] = self.prepare_files(module_args.get("files"), task_vars)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=to_text(exc))
            return result

        try:
            result.update(self._execute_module(module_args=module_args, task_vars=task_vars))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
