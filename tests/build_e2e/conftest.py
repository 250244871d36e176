"""Fixtures for the ``anyarch build`` end-to-end tests (real crun, overlayfs and QEMU).

``builder`` is the CLI on a private store that already holds the 3-platform
busybox base as ``localhost/busybox:1.35`` (imported once per worker into a
template store, then copied: each test starts from the same state and none
sees another's build cache).  Helpers live in ``buildkit_kit`` beside this file.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# appended, not prepended: ``import conftest`` elsewhere must keep finding tests/conftest.py
sys.path.append(str(Path(__file__).resolve().parent))

from buildkit_kit import Builder

from helpers.common import require_tool
from helpers.registry import registry, repo  # noqa: F401  (fixtures re-exported for pytest)

BASE = "localhost/busybox:1.35"


def _require_root() -> None:
    if os.geteuid() != 0:
        msg = "build tests need root (crun, overlay mounts)"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def base_store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: Path) -> Path:
    """A store holding the busybox base (a template: tests copy it)."""
    _require_root()
    require_tool("crun")
    store = tmp_path_factory.mktemp("base-store") / "store"
    Builder(store)("import", "--name", BASE, str(busybox_layout))
    return store


@pytest.fixture
def builder(tmp_path: Path, base_store: Path) -> Builder:
    """The CLI on a fresh store with the busybox base in it."""
    store = tmp_path / "store"
    shutil.copytree(base_store, store, symlinks=True)
    return Builder(store)


@pytest.fixture
def new_builder(tmp_path: Path, base_store: Path) -> Callable[[str], Builder]:
    """Make more independent stores (``new_builder("name")``), each with the busybox base."""

    def make(name: str) -> Builder:
        store = tmp_path / name
        shutil.copytree(base_store, store, symlinks=True)
        return Builder(store)

    return make


@pytest.fixture
def fresh_builder(tmp_path: Path, base_store: Path) -> Builder:
    """A second, independent store (for reproducibility and cache-isolation tests)."""
    store = tmp_path / "store2"
    shutil.copytree(base_store, store, symlinks=True)
    return Builder(store)
