#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: host_files
short_description: Put several files and directories of a role on a node in one module run
version_added: "0.1.0"
description:
  - Ensures a list of directories and files (content, mode, owner, group) on the node in a single
    run of one module, where the built-in modules need one run per file - and two for a template
    (C(stat), then C(copy) or C(file)). Every module run costs a Python start and the import of
    Ansible's module code on the node; a role that writes eight files through this module pays that
    once.
  - The content is given as a string; render role templates on the controller with
    C(lookup('ansible.builtin.template', ...)), as the C(template) action does.
  - Entries are handled in order, so a directory listed before a file exists when the file is
    written. A file whose content differs is written to a temporary file beside it, given its mode
    and owner, checked with O(files[].validate), and only then renamed over the old one; every
    changed file is validated before the first rename, so a file that fails validation leaves all
    the entries' old contents in place.
  - A new file never exists with other permissions than its own, even for a moment (secrets in
    0600 files).
  - RV(changed_files) lists the entries that changed, so a handler can act on one file of the list
    (C(when) on the registered result).
options:
  files:
    description: The directories and files, in the order they are created.
    type: list
    elements: dict
    required: true
    suboptions:
      dest:
        description: Absolute path.
        type: path
        required: true
      state:
        description: V(file) writes O(files[].content); V(directory) creates the directory and its parents.
        type: str
        choices: [file, directory]
        default: file
      content:
        description: The whole content of the file. Required with O(files[].state=file).
        type: str
      mode:
        description:
          - Octal mode as a string, for example V("0644").
          - Unset keeps the mode of an existing file (new files get 0644 less the umask).
        type: str
      owner:
        description: User name or uid. Unset keeps the owner (new files belong to the connecting user).
        type: str
      group:
        description: Group name or gid. Unset keeps the group.
        type: str
      validate:
        description:
          - Command that checks the new content before it replaces the file; C(%s) is the path of the
            temporary file. It runs without a shell. Not run in check mode (nothing is written).
        type: str
      force:
        description:
          - V(false) writes the file only when it does not exist; an existing file keeps its content
            (its mode and owner are still enforced).
        type: bool
        default: true
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
    details: Content changes of files; mode and owner changes are listed in RV(results).
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
notes:
  - Put files holding secrets in a task of their own with C(no_log=true); the task's diff and the
    module's arguments are then hidden by Ansible.
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Write the chrony configuration and the chronyd options
  orchestrator.platform.host_files:
    files:
      - dest: /etc/chrony/conf.d
        state: directory
        mode: "0755"
        owner: root
        group: root
      - dest: /etc/chrony/chrony.conf
        content: "{{ lookup('ansible.builtin.template', 'etc/chrony/chrony.conf.j2') }}"
        mode: "0644"
        owner: root
        group: root
        validate: chronyd -p -f %s
  register: __time_sync_files
  notify: time_sync | Restart chrony

- name: Write the encryption configuration only where it is missing
  orchestrator.platform.host_files:
    files:
      - dest: /etc/kubernetes/enc/encryption-config.yaml
        content: "{{ _encryption_config }}"
        mode: "0600"
        force: false
  no_log: true
"""

RETURN = r"""
changed_files:
  description: The O(files[].dest) of the entries that changed (content, mode, owner or a new directory), in order.
  returned: always
  type: list
  elements: str
  sample: [/etc/chrony/chrony.conf]
results:
  description: One entry per O(files) item.
  returned: always
  type: list
  elements: dict
  contains:
    dest:
      description: The path.
      type: str
    state:
      description: V(file) or V(directory).
      type: str
    changed:
      description: Whether anything of this entry changed.
      type: bool
    content_changed:
      description: Whether the content was (or, in check mode, would be) replaced or created.
      type: bool
    attributes_changed:
      description: Whether mode, owner or group were (or would be) changed.
      type: bool
  sample:
    - {dest: /etc/chrony/chrony.conf, state: file, changed: true, content_changed: true, attributes_changed: false}
"""

import grp
import os
import pwd
import re
import shlex
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native, to_text

_MODE = re.compile(r"^0?[0-7]{3,4}$")


def _uid(owner):
    if owner is None:
        return -1
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group):
    if group is None:
        return -1
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


class HostFiles:
    """Compares each entry with the node and applies the differences (never in check mode)."""

    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.results = []
        self.diffs = []
        self._pending = []  # (temporary path, entry) validated and waiting for their rename

    def fail(self, msg, **kwargs):
        self._discard()
        self.module.fail_json(msg=msg, **kwargs)

    def _discard(self):
        for tmp, _entry in self._pending:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._pending = []

    def check_arguments(self):
        for entry in self.module.params["files"]:
            dest = entry["dest"]
            if not os.path.isabs(dest):
                self.fail("host_files: dest must be an absolute path: %s" % dest)
            if entry["state"] == "file" and entry["content"] is None:
                self.fail("host_files: %s has state=file and no content" % dest)
            if entry["state"] == "directory" and entry["content"] is not None:
                self.fail("host_files: %s is a directory and cannot take content" % dest)
            if entry["mode"] is not None and not _MODE.match(entry["mode"]):
                self.fail("host_files: mode of %s must be an octal string such as '0644', not %r"
                          % (dest, entry["mode"]))
            if entry["validate"] is not None and "%s" not in entry["validate"]:
                self.fail("host_files: validate of %s must contain %%s (the temporary file)" % dest)
            try:
                _uid(entry["owner"])
                _gid(entry["group"])
            except KeyError as exc:
                self.fail("host_files: unknown owner or group for %s: %s" % (dest, to_native(exc)))

    def _attributes_differ(self, st, entry):
        mode = entry["mode"]
        if mode is not None and stat.S_IMODE(st.st_mode) != int(mode, 8):
            return True
        if entry["owner"] is not None and st.st_uid != _uid(entry["owner"]):
            return True
        return entry["group"] is not None and st.st_gid != _gid(entry["group"])

    def _set_attributes(self, path, entry):
        uid, gid = _uid(entry["owner"]), _gid(entry["group"])
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
        if entry["mode"] is not None:
            os.chmod(path, int(entry["mode"], 8))

    def directory(self, entry):
        dest = entry["dest"]
        result = {"dest": dest, "state": "directory", "content_changed": False, "attributes_changed": False}
        if os.path.lexists(dest) and not os.path.isdir(dest):
            self.fail("host_files: %s exists and is not a directory" % dest)
        if not os.path.isdir(dest):
            result["content_changed"] = True
            if not self.check:
                os.makedirs(dest)
                self._set_attributes(dest, entry)
            if self.module._diff:
                self.diffs.append({"before_header": dest, "after_header": dest, "before": "", "after": "(directory)\n"})
        elif self._attributes_differ(os.stat(dest), entry):
            result["attributes_changed"] = True
            if not self.check:
                self._set_attributes(dest, entry)
        return result

    def file(self, entry):
        dest = entry["dest"]
        b_dest = to_bytes(dest, errors="surrogate_or_strict")
        b_new = to_bytes(entry["content"], errors="surrogate_or_strict")
        result = {"dest": dest, "state": "file", "content_changed": False, "attributes_changed": False}
        if os.path.lexists(b_dest) and not os.path.isfile(b_dest):
            self.fail("host_files: %s exists and is not a regular file" % dest)
        exists = os.path.exists(b_dest)
        b_old = b""
        if exists:
            with open(b_dest, "rb") as handle:
                b_old = handle.read()
        if not exists or (entry["force"] and b_old != b_new):
            result["content_changed"] = True
            if self.module._diff:
                self.diffs.append({
                    "before_header": dest if exists else "%s (absent)" % dest,
                    "after_header": dest,
                    "before": to_text(b_old, errors="surrogate_or_strict"),
                    "after": entry["content"],
                })
            if not self.check:
                self._stage(entry, b_dest, b_new, exists)
        if exists and self._attributes_differ(os.stat(b_dest), entry):
            result["attributes_changed"] = True
            if not self.check and not result["content_changed"]:
                self._set_attributes(b_dest, entry)
        return result

    def _stage(self, entry, b_dest, b_new, exists):
        parent = os.path.dirname(b_dest)
        if not os.path.isdir(parent):
            self.fail("host_files: the directory of %s does not exist (list it first with state=directory)"
                      % entry["dest"])
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=b"." + os.path.basename(b_dest) + b".")
        self._pending.append((tmp, entry))
        with os.fdopen(fd, "wb") as handle:
            handle.write(b_new)
        if exists:  # what the entry leaves unset stays as it was
            st = os.stat(b_dest)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o644 & ~umask)
        self._set_attributes(tmp, entry)
        if entry["validate"]:
            argv = [arg.replace("%s", to_native(tmp)) for arg in shlex.split(entry["validate"])]
            rc, out, err = self.module.run_command(argv)
            if rc != 0:
                self.fail(
                    "host_files: validation of %s failed (nothing was written)" % entry["dest"],
                    rc=rc, stdout=out, stderr=err, cmd=argv,
                )

    def commit(self):
        for tmp, entry in self._pending:
            b_dest = to_bytes(entry["dest"], errors="surrogate_or_strict")
            os.rename(tmp, b_dest)
            if self.module.selinux_enabled():
                self.module.set_default_selinux_context(entry["dest"], False)
        self._pending = []

    def run(self):
        self.check_arguments()
        try:
            for entry in self.module.params["files"]:
                result = self.directory(entry) if entry["state"] == "directory" else self.file(entry)
                result["changed"] = result["content_changed"] or result["attributes_changed"]
                self.results.append(result)
            self.commit()
        except OSError as exc:
            self.fail("host_files: %s" % to_native(exc))
        changed_files = [r["dest"] for r in self.results if r["changed"]]
        out = {"changed": bool(changed_files), "changed_files": changed_files, "results": self.results}
        if self.module._diff:
            out["diff"] = self.diffs
        return out


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "dest": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": ["file", "directory"], "default": "file"},
                    "content": {"type": "str"},
                    "mode": {"type": "str"},
                    "owner": {"type": "str"},
                    "group": {"type": "str"},
                    "validate": {"type": "str"},
                    "force": {"type": "bool", "default": True},
                },
            },
        },
        supports_check_mode=True,
    )
    module.exit_json(**HostFiles(module).run())


if __name__ == "__main__":
    main()
