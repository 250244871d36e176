"""Fixtures for the archive tests; helpers live in ``treeutil`` beside this file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def root_only() -> None:
    """Ownership, device nodes and ``trusted.*`` xattrs need root: say so when we are not."""
    if os.geteuid() != 0:
        msg = "needs root (ownership, mknod, security.capability)"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
