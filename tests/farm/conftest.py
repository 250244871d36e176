"""Fixtures for the build farm tests: real sshd nodes on loopback, a coordinator environment.

``farm`` gives a :class:`farmkit.Farm`: add nodes with ``farm.add_node(name)``
(``with_anyarch=False`` for a machine that has only ``python3``;
``start=False`` for one whose sshd is down) and run the CLI with ``farm.run(...)``.
``farm_with_base`` is the same with the 3-platform busybox base image in the
store of every node (``localhost/busybox:1.35``), for builds with RUN steps.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))

from farmkit import Farm, build_available, keygen, write_shim

from helpers.common import require_tool
from helpers.registry import registry, repo  # noqa: F401  (fixtures re-exported for pytest)

BASE = "localhost/busybox:1.35"


@pytest.fixture(scope="session")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shim(tmp_path_factory.mktemp("farm-bin"))


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("ssh-keygen")
    return keygen(tmp_path_factory.mktemp("farm-key") / "id_ed25519")


def _require_root() -> None:
    if os.geteuid() != 0:
        msg = "farm tests run sshd and log in as the current user; they need root here"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def coordinator_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The coordinator's cache, shared by the tests of a worker (the zipapp is built once)."""
    return tmp_path_factory.mktemp("farm-cache")


@pytest.fixture
def farm(tmp_path: Path, shim: Path, client_key: Path, coordinator_cache: Path) -> Iterator[Farm]:
    _require_root()
    require_tool("sshd")
    require_tool("ssh")
    f = Farm(tmp_path / "farm", shim, client_key, cache=coordinator_cache)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="session")
def base_store(tmp_path_factory: pytest.TempPathFactory, busybox_layout: Path, shim: Path) -> Path:
    """A store holding the busybox base (a template: every node gets a copy)."""
    store = tmp_path_factory.mktemp("farm-base") / "store"
    env = dict(os.environ, ANYARCH_STORE=str(store))
    p = subprocess.run(
        [str(shim), "import", "--name", BASE, str(busybox_layout)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr.decode()
    return store


@pytest.fixture
def farm_with_base(
    tmp_path: Path, shim: Path, client_key: Path, base_store: Path, coordinator_cache: Path
) -> Iterator[Farm]:
    _require_root()
    require_tool("sshd")
    require_tool("crun")
    reason = build_available(shim)
    if reason is not None:
        msg = f"farm builds need a working 'anyarch build': {reason}"
        if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    f = Farm(
        tmp_path / "farm", shim, client_key, store_template=base_store, cache=coordinator_cache
    )
    shutil.copytree(base_store, f.store, symlinks=True)
    try:
        yield f
    finally:
        f.close()
