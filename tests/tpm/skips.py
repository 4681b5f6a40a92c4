"""Skipping what needs swtpm when the binary is absent, and only that."""

from __future__ import annotations

import shutil

import pytest

REASON = "the swtpm binary is not installed (Debian: apt-get install swtpm swtpm-tools)"
SWTPM_MISSING = shutil.which("swtpm") is None

needs_swtpm = pytest.mark.skipif(SWTPM_MISSING, reason=REASON)


def require_swtpm() -> None:
    """For fixtures: skip the test that asked for a swtpm."""
    if SWTPM_MISSING:
        pytest.skip(REASON)
