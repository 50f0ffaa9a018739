"""Order of the cluster scenario's test files: the ones that take the cluster apart run last, in
this order (pytest would otherwise run them alphabetically, before the checks of a healthy
cluster that follow them)."""

from __future__ import annotations

LAST = [
    "test_remove_and_scale.py",  # removes a control plane and both workers, and adds them back
    "test_worker_unreachable.py",  # resets both workers and joins them again
    "test_etcd_restore.py",  # destroys etcd's data on every control plane and restores it
]


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LAST.index(item.path.name) + 1 if item.path.name in LAST else 0)
