#!/usr/bin/python

# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: k8s_render
short_description: Write the rendered manifests and Helm values of a component into a directory
version_added: "0.1.0"
description:
  - Writes several files into one directory in a single call, each atomically and only when its
    content differs; the render-only mode of the Kubernetes-level roles uses it (through the
    internal helper role C(orchestrator.platform.k8s_apply)) to write what a real run would send.
  - Files of the directory that are not listed are left alone.
options:
  path:
    description: Directory to write into; created (with its parents) when missing.
    type: path
    required: true
  files:
    description: File names (no directory part) and their contents.
    type: dict
    required: true
  mode:
    description: Permissions of the directory's files (the directory itself gets the same with execute bits).
    type: str
    default: "0600"
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
    support: full
  idempotent:
    description: >-
      When run twice in a row outside check mode, with the same arguments, the second invocation
      indicates no change.
    support: full
    details: Unchanged files are not rewritten.
author:
  - orchestrator.platform maintainers (@orchestrator-platform)
"""

EXAMPLES = r"""
- name: Write the objects and values of a component
  orchestrator.platform.k8s_render:
    path: /tmp/render/calico
    files:
      installation.yml: "{{ objects | map('ansible.builtin.to_nice_yaml') | join('---\n') }}"
      calico-values.yml: "{{ values | ansible.builtin.to_nice_yaml }}"
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The directory written into.
  returned: always
  type: str
  sample: /tmp/render/calico
written:
  description: Names of the files created, changed or given the requested mode (or that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [installation.yml]
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _dir_mode(mode):
    # Readers of a file need search permission on its directory.
    return mode | ((mode & 0o444) >> 2)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            files=dict(type="dict", required=True),
            mode=dict(type="str", default="0600"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    try:
        mode = int(module.params["mode"], 8)
    except ValueError:
        module.fail_json(msg="mode must be an octal string such as 0600, got %s" % module.params["mode"])
    files = module.params["files"]
    for name in files:
        if not name or os.path.basename(name) != name or name in (".", ".."):
            module.fail_json(msg="file names may not contain a directory part: %r" % name)

    written = []
    chmods = []
    before = {}
    after = {}
    for name in sorted(files):
        content = files[name]
        if not isinstance(content, str):
            module.fail_json(msg="the content of %s must be a string" % name)
        data = content.encode("utf-8")
        target = os.path.join(path, name)
        current = _read(target)
        if current != data:
            written.append(name)
            before[name] = current.decode("utf-8", "replace") if current is not None else ""
            after[name] = content
        elif (os.stat(target).st_mode & 0o7777) != mode:
            chmods.append(name)

    if (written or chmods) and not module.check_mode:
        try:
            if not os.path.isdir(path):
                os.makedirs(path, _dir_mode(mode))
            for name in written:
                handle, tmp = tempfile.mkstemp(dir=path, prefix=".%s." % name)
                with os.fdopen(handle, "wb") as out:
                    out.write(files[name].encode("utf-8"))
                os.chmod(tmp, mode)
                os.replace(tmp, os.path.join(path, name))
            for name in chmods:
                os.chmod(os.path.join(path, name), mode)
        except OSError as exc:
            module.fail_json(msg="cannot write into %s: %s" % (path, exc))

    diff = dict(
        before="".join("# %s\n%s" % (n, before[n]) for n in written),
        after="".join("# %s\n%s" % (n, after[n]) for n in written),
    )
    module.exit_json(changed=bool(written or chmods), path=path, written=written + chmods, diff=diff)


if __name__ == "__main__":
    main()
