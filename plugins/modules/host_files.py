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
  - The content is given as a string (O(files[].content)) or as a template (O(files[].src)) that the
    module's action plugin renders on the controller with the task's variables, as the
    C(ansible.builtin.template) action does, before the module runs; an entry whose O(files[].when) is
    false is left out (and its template not rendered).
  - Every entry is compared with the node first, and every changed file is written to a temporary
    file (beside it, or in the nearest existing parent of a directory this run creates) and checked
    with O(files[].validate). Only when every file has passed are the entries applied, in order - a
    directory listed before a file exists when the file is renamed into it. A file that fails
    validation leaves the node as it was - no directory created, no mode changed, no file replaced.
  - The temporary file gets its final owner and mode before any content is written, so the content
    never exists with other permissions than its own, even for a moment (secrets in 0600 files).
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
        description: The whole content of the file. With O(files[].state=file), give either this or O(files[].src).
        type: str
      src:
        description:
          - A template of the role (or playbook), looked up in its C(templates/) directories as
            C(ansible.builtin.template) looks up its O(files[].src), and rendered on the controller
            with the task's variables (C(ansible_managed) and the C(template_*) variables included).
            Its output becomes O(files[].content). Mutually exclusive with O(files[].content).
        type: str
      when:
        description:
          - >-
            V(false) leaves the entry out; its template is not rendered. A boolean, evaluated by
            Jinja in the task's arguments, for example C(when: "{{ some_feature_enabled }}").
        type: bool
        default: true
      mode:
        description:
          - Octal mode, read as the C(ansible.builtin.file) module reads it - a string is octal
            (V("0644"), V("644"), V("0o644")); an integer is the mode itself - an unquoted C(0644) in
            YAML is the integer 420, mode 0644.
          - Symbolic modes (C(u=rw)) are not supported.
          - Unset keeps the mode of an existing file (new files get 0644 less the umask).
        type: raw
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
          - When it fails, the task reports its exit status only - never its output, which may quote
            the file.
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
      - src: etc/chrony/chrony.conf.j2
        dest: /etc/chrony/chrony.conf
        mode: "0644"
        owner: root
        group: root
        validate: chronyd -p -f %s
      - src: etc/chrony/ntp-server.conf.j2
        dest: /etc/chrony/conf.d/ntp-server.conf
        mode: "0644"
        when: "{{ time_sync_allow | length > 0 }}"
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

_MODE = re.compile(r"^(0o|0)?[0-7]{3,4}$")


def _uid(owner):
    if owner is None:
        return -1
    return int(owner) if owner.isdigit() else pwd.getpwnam(owner).pw_uid


def _gid(group):
    if group is None:
        return -1
    return int(group) if group.isdigit() else grp.getgrnam(group).gr_gid


def parse_mode(value):
    """The mode as an int, read as ansible.builtin.file reads it: an int is the mode itself (YAML
    makes an unquoted 0644 the int 420), a string is octal. None when unset; ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a mode")
    if isinstance(value, int):
        mode = value
    elif isinstance(value, str) and _MODE.match(value):
        mode = int(value, 8)
    else:
        raise ValueError("not an octal mode")
    if not 0 <= mode <= 0o7777:
        raise ValueError("out of range")
    return mode


def _nearest_directory(path):
    """The path itself or its nearest ancestor that is an existing directory."""
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


class HostFiles:
    """Compares every entry with the node and stages the changed files (validated), then applies
    everything in order (never in check mode)."""

    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.results = []
        self.diffs = []
        self._pending = []  # (temporary path, entry) validated and waiting for their rename
        self._actions = []  # what the apply phase does, in entry order
        self._planned_directories = []  # directories the apply phase creates

    def fail(self, msg, **kwargs):
        self._discard()
        self.module.fail_json(msg=msg, **kwargs)

    def _discard(self):
        for tmp, _entry in self._pending:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._pending = []

    def check_arguments(self):
        # The action plugin leaves out the entries whose `when` is false and renders `src`; a module
        # run without it (ansible.legacy, a test) gets the same list.
        self.module.params["files"] = [entry for entry in self.module.params["files"] if entry["when"]]
        for entry in self.module.params["files"]:
            dest = entry["dest"]
            if entry["src"] is not None:
                self.fail("host_files: %s has src, which the host_files action plugin renders on the controller; "
                          "run the module as an Ansible task (or give content)" % dest)
            if not os.path.isabs(dest):
                self.fail("host_files: dest must be an absolute path: %s" % dest)
            if entry["state"] == "file" and entry["content"] is None:
                self.fail("host_files: %s has state=file and no content" % dest)
            if entry["state"] == "directory" and entry["content"] is not None:
                self.fail("host_files: %s is a directory and cannot take content" % dest)
            try:
                entry["mode"] = parse_mode(entry["mode"])
            except ValueError:
                self.fail("host_files: mode of %s must be an octal string such as '0644' or an integer "
                          "from 0 to 0o7777 (an unquoted 0644), not %r" % (dest, entry["mode"]))
            if entry["validate"] is not None and "%s" not in entry["validate"]:
                self.fail("host_files: validate of %s must contain %%s (the temporary file)" % dest)
            try:
                _uid(entry["owner"])
                _gid(entry["group"])
            except KeyError as exc:
                self.fail("host_files: unknown owner or group for %s: %s" % (dest, to_native(exc)))

    def _attributes_differ(self, st, entry):
        mode = entry["mode"]
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            return True
        if entry["owner"] is not None and st.st_uid != _uid(entry["owner"]):
            return True
        return entry["group"] is not None and st.st_gid != _gid(entry["group"])

    def _set_attributes(self, path, entry):
        uid, gid = _uid(entry["owner"]), _gid(entry["group"])
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
        if entry["mode"] is not None:
            os.chmod(path, entry["mode"])

    def _will_be_directory(self, path):
        """Whether path is a directory now or one an earlier entry creates (with its parents)."""
        if os.path.isdir(path):
            return True
        prefix = path.rstrip("/") + "/"
        return any(d == path or d.startswith(prefix) for d in self._planned_directories)

    def directory(self, entry):
        dest = entry["dest"]
        result = {"dest": dest, "state": "directory", "content_changed": False, "attributes_changed": False}
        if os.path.lexists(dest) and not os.path.isdir(dest):
            self.fail("host_files: %s exists and is not a directory" % dest)
        if not os.path.isdir(dest):
            result["content_changed"] = True
            self._planned_directories.append(dest)
            self._actions.append(("makedirs", dest, entry))
            if self.module._diff:
                self.diffs.append({"before_header": dest, "after_header": dest, "before": "", "after": "(directory)\n"})
        elif self._attributes_differ(os.stat(dest), entry):
            result["attributes_changed"] = True
            self._actions.append(("attributes", dest, entry))
        return result

    def file(self, entry):
        dest = entry["dest"]
        b_dest = to_bytes(dest, errors="surrogate_or_strict")
        b_new = to_bytes(entry["content"], errors="surrogate_or_strict")
        result = {"dest": dest, "state": "file", "content_changed": False, "attributes_changed": False}
        if os.path.lexists(b_dest) and not os.path.isfile(b_dest):
            self.fail("host_files: %s exists and is not a regular file" % dest)
        exists = os.path.exists(b_dest)
        # In check mode an earlier task may only have planned the directory: the file is planned too.
        if not exists and not self.check and not self._will_be_directory(os.path.dirname(dest)):
            self.fail("host_files: the directory of %s does not exist (list it first with state=directory)" % dest)
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
                self._actions.append(("rename", self._stage(entry, b_dest, b_new, exists), entry))
        if exists and self._attributes_differ(os.stat(b_dest), entry):
            result["attributes_changed"] = True
            if not result["content_changed"]:
                self._actions.append(("attributes", b_dest, entry))
        return result

    def _stage(self, entry, b_dest, b_new, exists):
        """Write the new content to a temporary file that already has its final owner and mode,
        validate it, and return its path. The temporary file lives beside the file, or in the nearest
        existing parent when the file's directory is created by this run (the same file system, so
        the final rename stays atomic)."""
        directory = _nearest_directory(os.path.dirname(b_dest))
        if exists:  # what the entry leaves unset stays as it was
            st = os.stat(b_dest)
            uid, gid, mode = st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            uid, gid, mode = -1, -1, 0o644 & ~umask
        if entry["owner"] is not None:
            uid = _uid(entry["owner"])
        if entry["group"] is not None:
            gid = _gid(entry["group"])
        if entry["mode"] is not None:
            mode = entry["mode"]
        # mkstemp creates the file 0600 and empty; owner first (chown may clear set-id bits), then
        # the mode, and only then the content.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=b"." + os.path.basename(b_dest) + b".")
        self._pending.append((tmp, entry))
        with os.fdopen(fd, "wb") as handle:
            if uid != -1 or gid != -1:
                os.fchown(handle.fileno(), uid, gid)
            os.fchmod(handle.fileno(), mode)
            handle.write(b_new)
        if entry["validate"]:
            argv = [arg.replace("%s", to_native(tmp)) for arg in shlex.split(entry["validate"])]
            rc, _out, _err = self.module.run_command(argv)
            if rc != 0:
                # The validator's output is left out: it may quote the file, which may be a secret.
                self.fail(
                    "host_files: validation of %s failed with exit status %d (nothing was written; the "
                    "validator's output is not shown, as it may quote the file)" % (entry["dest"], rc),
                    rc=rc, cmd=argv,
                )
        return tmp

    def apply(self):
        for action, path, entry in self._actions:
            if action == "makedirs":
                os.makedirs(path)
                self._set_attributes(path, entry)
            elif action == "attributes":
                self._set_attributes(path, entry)
            else:
                b_dest = to_bytes(entry["dest"], errors="surrogate_or_strict")
                os.rename(path, b_dest)
                self._pending = [p for p in self._pending if p[0] != path]
                if self.module.selinux_enabled():
                    self.module.set_default_selinux_context(entry["dest"], False)
        self._pending = []
        self._actions = []

    def run(self):
        self.check_arguments()
        try:
            for entry in self.module.params["files"]:
                result = self.directory(entry) if entry["state"] == "directory" else self.file(entry)
                result["changed"] = result["content_changed"] or result["attributes_changed"]
                self.results.append(result)
            if not self.check:
                self.apply()
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
                    "src": {"type": "str"},
                    "when": {"type": "bool", "default": True},
                    "mode": {"type": "raw"},
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
