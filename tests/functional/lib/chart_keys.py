"""Values keys a Helm chart never reads: Helm ignores them silently, so the tests compare our
rendered values with the keys each chart's values.yaml and templates read (lists kept beside each
test, with the upstream file and tag they were read from)."""

from __future__ import annotations


def keys_the_chart_ignores(values: dict, known_by_path: dict[str, set[str]]) -> dict[str, list[str]]:
    """For each dotted path ('' is the top level), the keys of `values` there that the chart does not
    read. An empty result means every key is one the chart reads."""
    ignored = {}
    for path, known in known_by_path.items():
        node = values
        for part in filter(None, path.split(".")):
            node = node.get(part, {})
        unknown = sorted(set(node) - known)
        if unknown:
            ignored[path or "(top)"] = unknown
    return ignored
