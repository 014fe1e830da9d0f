"""What a test needs from the machine: a command-line tool, root, or a CI run.

Outside CI a missing tool or missing root skips the test; in CI (``CI=true``,
where ``scripts/test`` installs the tools and runs as root) it fails it.
"""
from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_tool(name: str) -> str:
    """The path of the command ``name``; skips the test without it, except in CI where it fails."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (scripts/test installs it)")
        pytest.skip(f"{name} not installed")
    return path


def require_root() -> None:
    """Returns when running as root; skips the test otherwise, except in CI where it fails."""
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI runs as root; this test needs it")
        pytest.skip("needs root")
