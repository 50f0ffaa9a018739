"""The antsibull-docs docsite of the collection (issue 19 item 6): the extra docs name every guide in
docs/*.md, use labels under the collection's prefix, and no role argument spec renders as a Markdown
link (antsibull-docs lint-collection-docs --plugin-docs flags ``[x](y)`` in RST)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DOCSITE = ROOT / "docs" / "docsite"
LABEL_PREFIX = "ansible_collections.orchestrator.platform.docsite."


def test_extra_docs_list_every_guide():
    extra = yaml.safe_load((DOCSITE / "extra-docs.yml").read_text(encoding="utf-8"))
    pages = [entry for section in extra["sections"] for entry in section["toctree"]]
    text = ""
    for page in pages:
        rst = (DOCSITE / "rst" / f"{page}.rst").read_text(encoding="utf-8")
        labels = re.findall(r"^\.\. _([^:]+):$", rst, re.M)
        assert labels and all(label.startswith(LABEL_PREFIX) for label in labels), (page, labels)
        text += rst
    guides = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    missing = [g for g in guides if f"``{g}``" not in text]
    assert not missing, f"guides the docsite does not list: {missing}"


def test_no_argument_spec_reads_as_a_markdown_link():
    markdown_link = re.compile(r"\[[^\]\n]*\]\([^)\n]*\)")
    offenders = []
    for spec in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        for number, line in enumerate(spec.read_text(encoding="utf-8").splitlines(), 1):
            if markdown_link.search(line):
                offenders.append(f"{spec.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders
