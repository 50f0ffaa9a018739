# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

import os
import stat

import pytest
import yaml
from ansible_collections.orchestrator.platform.plugins.modules import host_files
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.module_runner import run_module

UID = str(os.getuid())
GID = str(os.getgid())


def _run(monkeypatch, files, check_mode=False, diff=False):
    params = {"files": files}
    if check_mode:
        params["_ansible_check_mode"] = True
    if diff:
        params["_ansible_diff"] = True
    return run_module(monkeypatch, host_files.main, params)


def _mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def _entries(tmp_path):
    return [
        {"dest": str(tmp_path / "conf.d"), "state": "directory", "mode": "0700", "owner": UID, "group": GID},
        {"dest": str(tmp_path / "conf.d" / "a.conf"), "content": "a = 1\n", "mode": "0600", "owner": UID},
        {"dest": str(tmp_path / "b.conf"), "content": "b = 2\n", "mode": "0644"},
    ]


def test_creates_directories_and_files_in_order_with_their_modes(monkeypatch, tmp_path):
    result = _run(monkeypatch, _entries(tmp_path))
    assert result["failed"] is False and result["changed"] is True
    assert result["changed_files"] == [e["dest"] for e in _entries(tmp_path)]
    assert _mode(tmp_path / "conf.d") == 0o700
    assert (tmp_path / "conf.d" / "a.conf").read_text() == "a = 1\n"
    assert _mode(tmp_path / "conf.d" / "a.conf") == 0o600
    assert _mode(tmp_path / "b.conf") == 0o644
    assert [r["content_changed"] for r in result["results"]] == [True, True, True]
    assert sorted(os.listdir(str(tmp_path / "conf.d"))) == ["a.conf"]  # no temporary file left


def test_second_run_changes_nothing_and_rewrites_nothing(monkeypatch, tmp_path):
    _run(monkeypatch, _entries(tmp_path))
    before = os.stat(str(tmp_path / "b.conf")).st_mtime_ns
    result = _run(monkeypatch, _entries(tmp_path))
    assert result["changed"] is False and result["changed_files"] == []
    assert all(not r["changed"] for r in result["results"])
    assert os.stat(str(tmp_path / "b.conf")).st_mtime_ns == before


@pytest.mark.parametrize(
    ("new", "expected"),
    [(("b = 3\n", "0644"), (True, False)), (("b = 2\n", "0600"), (False, True)), (("b = 3\n", "0640"), (True, True))],
    ids=["content", "mode", "both"],
)
def test_only_the_entry_that_differs_changes(monkeypatch, tmp_path, new, expected):
    (content, mode), (content_changed, attributes_changed) = new, expected
    _run(monkeypatch, _entries(tmp_path))
    entries = _entries(tmp_path)
    entries[2].update(content=content, mode=mode)
    result = _run(monkeypatch, entries)
    assert result["changed_files"] == [str(tmp_path / "b.conf")]
    assert result["results"][2]["content_changed"] is content_changed
    assert result["results"][2]["attributes_changed"] is attributes_changed
    assert (tmp_path / "b.conf").read_text() == content
    assert _mode(tmp_path / "b.conf") == int(mode, 8)


def test_check_mode_plans_without_touching_and_diff_shows_the_content(monkeypatch, tmp_path):
    (tmp_path / "b.conf").write_text("old\n")
    os.chmod(str(tmp_path / "b.conf"), 0o600)
    result = _run(monkeypatch, _entries(tmp_path), check_mode=True, diff=True)
    assert result["changed"] is True and len(result["changed_files"]) == 3
    assert not (tmp_path / "conf.d").exists()
    assert (tmp_path / "b.conf").read_text() == "old\n" and _mode(tmp_path / "b.conf") == 0o600
    by_header = {d["after_header"]: d for d in result["diff"]}
    assert by_header[str(tmp_path / "b.conf")]["before"] == "old\n"
    assert by_header[str(tmp_path / "b.conf")]["after"] == "b = 2\n"
    assert by_header[str(tmp_path / "conf.d" / "a.conf")]["before_header"].endswith("(absent)")


def test_a_missing_directory_is_planned_in_check_mode_and_refused_for_real(monkeypatch, tmp_path):
    # An earlier task of the role creates the directory; in check mode it only planned it.
    entry = {"dest": str(tmp_path / "later" / "settings.env"), "content": "A=1\n", "mode": "0600"}
    planned = _run(monkeypatch, [entry], check_mode=True)
    assert planned["changed"] is True and planned["changed_files"] == [entry["dest"]]
    assert not (tmp_path / "later").exists()
    refused = _run(monkeypatch, [entry])
    assert refused["failed"] is True and "does not exist" in refused["msg"]
    assert not (tmp_path / "later").exists()


def test_force_false_never_rewrites_an_existing_file_but_enforces_its_mode(monkeypatch, tmp_path):
    (tmp_path / "key").write_text("keep me\n")
    os.chmod(str(tmp_path / "key"), 0o644)
    entry = {"dest": str(tmp_path / "key"), "content": "new key\n", "mode": "0600", "force": False}
    result = _run(monkeypatch, [entry])
    assert (tmp_path / "key").read_text() == "keep me\n" and _mode(tmp_path / "key") == 0o600
    assert result["results"][0]["content_changed"] is False and result["results"][0]["attributes_changed"] is True
    missing = dict(entry, dest=str(tmp_path / "new"))
    _run(monkeypatch, [missing])
    assert (tmp_path / "new").read_text() == "new key\n"


def test_a_failed_validation_leaves_every_old_file_in_place(monkeypatch, tmp_path):
    (tmp_path / "one").write_text("1\n")
    (tmp_path / "two").write_text("2\n")
    files = [
        {"dest": str(tmp_path / "one"), "content": "1 new\n", "validate": "grep -q new %s"},
        {"dest": str(tmp_path / "two"), "content": "2 bad\n", "validate": "grep -q good %s"},
    ]
    result = _run(monkeypatch, files)
    assert result["failed"] is True and "validation of %s" % (tmp_path / "two") in result["msg"]
    assert result["cmd"][0] == "grep" and result["cmd"][-1].startswith(str(tmp_path / ".two."))
    assert (tmp_path / "one").read_text() == "1\n" and (tmp_path / "two").read_text() == "2\n"
    assert sorted(os.listdir(str(tmp_path))) == ["one", "two"]  # temporary files removed
    files[1]["content"] = "2 good\n"
    assert _run(monkeypatch, files)["changed_files"] == [str(tmp_path / "one"), str(tmp_path / "two")]
    assert (tmp_path / "one").read_text() == "1 new\n"


def test_a_new_file_never_exists_with_wider_permissions(monkeypatch, tmp_path):
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append(stat.S_IMODE(os.stat(src).st_mode))  # the temporary file already has the final mode
        real_rename(src, dst)

    monkeypatch.setattr(host_files.os, "rename", rename)
    result = _run(monkeypatch, [{"dest": str(tmp_path / "secret"), "content": "s\n", "mode": "0600"}])
    assert result["failed"] is False
    assert seen == [0o600] and _mode(tmp_path / "secret") == 0o600


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"dest": "relative/path", "content": "x"}, "absolute path"),
        ({"dest": "/tmp/x"}, "no content"),
        ({"dest": "/tmp/x", "state": "directory", "content": "x"}, "cannot take content"),
        ({"dest": "/tmp/x", "content": "x", "mode": "u=rw"}, "octal string"),
        ({"dest": "/tmp/x", "content": "x", "validate": "true"}, "must contain %s"),
        ({"dest": "/tmp/x", "content": "x", "owner": "no-such-user-here"}, "unknown owner"),
    ],
    ids=["relative", "no-content", "dir-content", "symbolic-mode", "validate-without-path", "owner"],
)
def test_bad_entries_fail_before_anything_is_written(monkeypatch, tmp_path, entry, message):
    first = {"dest": str(tmp_path / "first"), "content": "x\n"}
    result = _run(monkeypatch, [first, entry])
    assert result["failed"] is True and message in result["msg"]
    assert not (tmp_path / "first").exists()


def test_a_file_in_a_missing_directory_is_refused(monkeypatch, tmp_path):
    result = _run(monkeypatch, [{"dest": str(tmp_path / "nodir" / "f"), "content": "x\n"}])
    assert result["failed"] is True and "list it first with state=directory" in result["msg"]


def test_a_path_of_the_wrong_type_is_refused(monkeypatch, tmp_path):
    (tmp_path / "d").mkdir()
    result = _run(monkeypatch, [{"dest": str(tmp_path / "d"), "content": "x\n"}])
    assert result["failed"] is True and "not a regular file" in result["msg"]
    (tmp_path / "f").write_text("x")
    result = _run(monkeypatch, [{"dest": str(tmp_path / "f"), "state": "directory"}])
    assert result["failed"] is True and "not a directory" in result["msg"]


def test_the_temporary_file_never_holds_content_with_another_mode(monkeypatch, tmp_path):
    """Every chmod/chown and the rename: the temporary file of a 0600 file is 0600 whenever it has content."""
    (tmp_path / "old").write_text("old\n")
    os.chmod(str(tmp_path / "old"), 0o600)
    seen = []

    def spy(real):
        def call(*args, **kwargs):
            out = real(*args, **kwargs)
            for name in os.listdir(str(tmp_path)):
                if name.startswith("."):
                    st = os.stat(str(tmp_path / name))
                    seen.append((name, st.st_size, stat.S_IMODE(st.st_mode)))
            return out
        return call

    for name in ("chmod", "fchmod", "chown", "fchown", "rename"):
        monkeypatch.setattr(host_files.os, name, spy(getattr(os, name)))
    files = [
        {"dest": str(tmp_path / "secret"), "content": "s\n", "mode": "0600"},
        {"dest": str(tmp_path / "old"), "content": "new secret\n"},  # keeps the 0600 of the old file
    ]
    old_umask = os.umask(0o022)
    try:
        result = _run(monkeypatch, files)
    finally:
        os.umask(old_umask)
    assert result["failed"] is False
    assert seen, "the spy saw no temporary file"
    assert [s for s in seen if s[1] > 0 and s[2] != 0o600] == []
    assert _mode(tmp_path / "secret") == 0o600 and _mode(tmp_path / "old") == 0o600


def _yaml_mode(text):
    """What a playbook's YAML gives the module: YAML 1.1 makes an unquoted 0644 the octal int 420.
    PyYAML here (module tests may import only module_utils of ansible); tests/unit/test_yaml_modes.py
    shows that ansible's own loader gives the same values."""
    return yaml.safe_load(text)["mode"]


@pytest.mark.parametrize(("text", "expected"), [("mode: 0644", 0o644), ("mode: 0600", 0o600), ("mode: '0640'", 0o640),
                                                ("mode: '640'", 0o640), ("mode: 0o755", 0o755)],
                         ids=["int-0644", "int-0600", "str-0640", "str-640", "str-0o755"])
def test_a_mode_is_read_as_the_file_module_reads_it(monkeypatch, tmp_path, text, expected):
    mode = _yaml_mode(text)
    if text == "mode: 0644":  # the YAML int, not a string: 0644 is 420
        assert mode == 420 and not isinstance(mode, str)
    result = _run(monkeypatch, [{"dest": str(tmp_path / "d"), "state": "directory", "mode": mode},
                                {"dest": str(tmp_path / "d" / "f"), "content": "x\n", "mode": mode}])
    assert result["failed"] is False, result
    assert _mode(tmp_path / "d") == expected and _mode(tmp_path / "d" / "f") == expected
    assert _run(monkeypatch, [{"dest": str(tmp_path / "d" / "f"), "content": "x\n", "mode": mode}])["changed"] is False


@pytest.mark.parametrize("mode", [0o10000, -1, True, "0999", "12345"],
                         ids=["int-too-big", "negative", "bool", "digit-9", "five-digits"])
def test_a_bad_mode_is_refused(monkeypatch, tmp_path, mode):
    result = _run(monkeypatch, [{"dest": str(tmp_path / "f"), "content": "x\n", "mode": mode}])
    assert result["failed"] is True and "mode of" in result["msg"], result
    assert not (tmp_path / "f").exists()


def test_a_failed_validation_reports_no_output_of_the_validator(monkeypatch, tmp_path):
    secret = "password=TOPSECRET-0600"  # noqa: S105 - a test value
    validate = "/bin/sh -c 'cat \"$0\"; cat \"$0\" >&2; exit 3' %s"
    result = _run(monkeypatch, [{"dest": str(tmp_path / "s"), "content": secret + "\n", "mode": "0600",
                                 "validate": validate}])
    assert result["failed"] is True and result["rc"] == 3
    assert "exit status 3" in result["msg"]
    assert "TOPSECRET" not in repr(result)
    assert os.listdir(str(tmp_path)) == []


def test_nothing_is_created_or_changed_when_a_later_file_fails_validation(monkeypatch, tmp_path):
    (tmp_path / "existing").mkdir(mode=0o755)
    os.chmod(str(tmp_path / "existing"), 0o755)  # noqa: S103 - the mode the test expects to be kept
    files = [
        {"dest": str(tmp_path / "new" / "sub"), "state": "directory", "mode": "0700"},
        {"dest": str(tmp_path / "existing"), "state": "directory", "mode": "0700"},
        {"dest": str(tmp_path / "new" / "sub" / "a.conf"), "content": "bad\n", "validate": "grep -q good %s"},
    ]
    result = _run(monkeypatch, files)
    assert result["failed"] is True and "validation of" in result["msg"]
    assert sorted(os.listdir(str(tmp_path))) == ["existing"]  # no directory, no temporary file
    assert _mode(tmp_path / "existing") == 0o755
    # The same file in a directory this run creates passes validation and lands in place.
    files[2]["content"] = "good\n"
    result = _run(monkeypatch, files)
    assert result["failed"] is False, result
    assert (tmp_path / "new" / "sub" / "a.conf").read_text() == "good\n"
    assert _mode(tmp_path / "new" / "sub") == 0o700 and _mode(tmp_path / "existing") == 0o700
    assert sorted(os.listdir(str(tmp_path / "new"))) == ["sub"]  # the staged file left no trace
    assert sorted(os.listdir(str(tmp_path / "new" / "sub"))) == ["a.conf"]


def test_an_entry_whose_when_is_false_is_left_out(monkeypatch, tmp_path):
    """The action plugin drops these entries before the module runs; the module run without it does too."""
    files = [
        {"dest": str(tmp_path / "skipped.conf"), "content": "x\n", "when": False},
        {"dest": str(tmp_path / "kept.conf"), "content": "y\n", "when": True},
    ]
    result = _run(monkeypatch, files)
    assert result["failed"] is False, result
    assert result["changed_files"] == [str(tmp_path / "kept.conf")]
    assert sorted(os.listdir(str(tmp_path))) == ["kept.conf"]


def test_an_unrendered_src_is_refused(monkeypatch, tmp_path):
    result = _run(monkeypatch, [{"dest": str(tmp_path / "a.conf"), "src": "etc/a.conf.j2"}])
    assert result["failed"] is True and "action plugin renders" in result["msg"]
    assert os.listdir(str(tmp_path)) == []
