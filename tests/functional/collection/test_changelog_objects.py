"""The changelog announces every playbook and role (issue 19 item 6): antsibull-changelog finds
modules and plugins by itself, not playbooks, so each needs an ``add object.playbook`` entry in a
fragment (or in a release of changelogs/changelog.yaml); roles are announced the same way."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _announced(kind: str) -> set[str]:
    names = set()
    for fragment in sorted((ROOT / "changelogs" / "fragments").glob("*.yml")):
        data = yaml.safe_load(fragment.read_text(encoding="utf-8")) or {}
        names.update(entry["name"] for entry in data.get(f"add object.{kind}") or [])
    changelog = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8")) or {}
    for release in (changelog.get("releases") or {}).values():
        names.update(entry["name"] for entry in (release.get("objects") or {}).get(kind) or [])
    return names


def _playbooks() -> set[str]:
    """Playbook names as FQCNs use them after orchestrator.platform. (maintenance.daily)."""
    books = {p.stem for p in (ROOT / "playbooks").glob("*.yml")}
    books |= {f"maintenance.{p.stem}" for p in (ROOT / "playbooks" / "maintenance").glob("*.yml")}
    return books


def test_every_playbook_is_announced():
    announced = _announced("playbook")
    assert not _playbooks() - announced, f"playbooks without an 'add object.playbook' entry: {_playbooks() - announced}"
    assert not announced - _playbooks(), f"announced playbooks that do not exist: {announced - _playbooks()}"


def test_every_role_is_announced():
    roles = {p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()}
    announced = _announced("role")
    assert not roles - announced, f"roles without an 'add object.role' entry: {roles - announced}"
    assert not announced - roles, f"announced roles that do not exist: {announced - roles}"
