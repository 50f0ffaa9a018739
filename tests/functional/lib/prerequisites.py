"""A test whose prerequisite (a program, an image) is missing: skipped on a workstation, failed
under CI. CI runs `.ci/run` with CI=true, where a skip would pass a gate without testing anything.
Every test that depends on something scripts/setup.sh installs calls `missing` instead of
pytest.skip (tests/functional/collection/test_prerequisites.py checks that none skips directly).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """True when the environment variable CI is set to true (or 1, yes), as CI services set it."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing(reason: str) -> NoReturn:
    """Skip the test because of `reason`, or fail it under CI."""
    if under_ci():
        pytest.fail(f"{reason} (CI=true: a missing prerequisite fails the test instead of skipping it)")
    pytest.skip(reason)
