# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

import os
import stat

import pytest
from ansible_collections.orchestrator.platform.plugins.modules import k8s_render
from ansible_collections.orchestrator.platform.tests.unit.plugins.modules.module_runner import run_module


def _run(monkeypatch, check_mode=False, **params):
    if check_mode:
        params["_ansible_check_mode"] = True
    return run_module(monkeypatch, k8s_render.main, params)


def test_writes_new_files_private_and_reports_them(monkeypatch, tmp_path):
    target = tmp_path / "render" / "calico"
    result = _run(monkeypatch, path=str(target), files={"a.yml": "x: 1\n", "b.yml": "y: 2\n"})
    assert result["changed"] is True and not result["failed"]
    assert sorted(result["written"]) == ["a.yml", "b.yml"]
    assert (target / "a.yml").read_text() == "x: 1\n"
    assert stat.S_IMODE(os.stat(str(target / "b.yml")).st_mode) == 0o600
    assert "x: 1" in result["diff"]["after"]


def test_unchanged_files_are_not_rewritten(monkeypatch, tmp_path):
    _run(monkeypatch, path=str(tmp_path), files={"a.yml": "x: 1\n"})
    before = os.stat(str(tmp_path / "a.yml")).st_mtime_ns
    result = _run(monkeypatch, path=str(tmp_path), files={"a.yml": "x: 1\n"})
    assert result["changed"] is False and result["written"] == []
    assert os.stat(str(tmp_path / "a.yml")).st_mtime_ns == before


@pytest.mark.parametrize(
    ("existing", "mode", "changed"),
    [("x: 2\n", 0o600, True), ("x: 1\n", 0o644, True), ("x: 1\n", 0o600, False), (None, None, True)],
    ids=["content-differs", "mode-differs", "identical", "missing"],
)
def test_decision_per_observed_state(monkeypatch, tmp_path, existing, mode, changed):
    path = tmp_path / "a.yml"
    if existing is not None:
        path.write_text(existing)
        os.chmod(str(path), mode)
    result = _run(monkeypatch, path=str(tmp_path), files={"a.yml": "x: 1\n"})
    assert result["changed"] is changed
    assert path.read_text() == "x: 1\n"
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600


def test_check_mode_writes_nothing(monkeypatch, tmp_path):
    target = tmp_path / "new"
    result = _run(monkeypatch, check_mode=True, path=str(target), files={"a.yml": "x: 1\n"})
    assert result["changed"] is True and result["written"] == ["a.yml"]
    assert not target.exists()


def test_other_files_are_left_alone(monkeypatch, tmp_path):
    (tmp_path / "keep.yml").write_text("k: v\n")
    _run(monkeypatch, path=str(tmp_path), files={"a.yml": "x: 1\n"})
    assert (tmp_path / "keep.yml").read_text() == "k: v\n"


@pytest.mark.parametrize("name", ["../escape.yml", "sub/a.yml", "", ".."])
def test_names_with_a_directory_part_are_refused(monkeypatch, tmp_path, name):
    result = _run(monkeypatch, path=str(tmp_path), files={name: "x: 1\n"})
    assert result["failed"] is True
    assert not (tmp_path.parent / "escape.yml").exists()


def test_bad_mode_is_refused(monkeypatch, tmp_path):
    result = _run(monkeypatch, path=str(tmp_path), files={"a.yml": "x"}, mode="rw")
    assert result["failed"] is True and "octal" in result["msg"]
