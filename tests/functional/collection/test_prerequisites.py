"""The shared helper for missing prerequisites (tests/functional/lib/prerequisites.py): skip on a
workstation, fail under CI; and no test skips on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prerequisites import missing, under_ci

TESTS = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "value, expected", [("true", True), ("TRUE", True), ("1", True), ("", False), ("false", False)]
)
def test_under_ci_reads_the_ci_variable(monkeypatch, value, expected):
    monkeypatch.setenv("CI", value)
    assert under_ci() is expected


def test_missing_skips_outside_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="etcd is missing"):
        missing("etcd is missing")


def test_missing_fails_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"etcd is missing \(CI=true"):
        missing("etcd is missing")


def test_no_test_skips_without_the_helper():
    direct = re.compile(r"pytest\.skip\(|pytest\.mark\.skipif|pytest\.importorskip|skipif\(")
    offenders = [
        f"{path.relative_to(TESTS)}:{number}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name not in ("prerequisites.py", "test_prerequisites.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if direct.search(line)
    ]
    assert not offenders, f"skips that would pass silently under CI (use prerequisites.missing): {offenders}"
