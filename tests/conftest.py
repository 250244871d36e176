"""Suite-wide fixtures: paths to shared data, the anyarch CLI, real tools.

A missing real component (skopeo, docker-registry, crun, sshd, QEMU) is a
failure when ANYARCH_REQUIRE_REAL=1 (as in CI via scripts/test.sh), and a
visible skip with its reason otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(_TESTS.parent / "scripts"))
sys.path.insert(0, str(_TESTS))

from helpers.common import CONFORMANCE, REPO, SHARED, CLIResult, Runner, require_tool  # noqa: E402

__all__ = ["CONFORMANCE", "REPO", "SHARED", "CLIResult", "Runner", "require_tool"]


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def anyarch(store_dir: Path) -> Runner:
    return Runner(store_dir)


@pytest.fixture(scope="session")
def busybox_debs() -> Path:
    """Debian busybox-static .debs for amd64, arm64, armhf, i386 (fetched once, cached)."""
    require_tool("dpkg-deb")
    out = subprocess.run([str(REPO / "scripts" / "fetch-busybox.sh")], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f"could not fetch busybox-static packages: {out.stderr}")
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def busybox_layout(tmp_path_factory: pytest.TempPathFactory, busybox_debs: Path) -> Path:
    """A 3-platform (amd64, arm64, arm/v7) busybox OCI layout, tag ``latest``."""
    import busybox_base

    dest = tmp_path_factory.mktemp("bblayout")
    busybox_base.make_layout(dest, ["linux/amd64", "linux/arm64", "linux/arm/v7"], busybox_debs)
    return dest


@pytest.fixture
def busybox_copy(tmp_path: Path, busybox_layout: Path) -> Iterator[Path]:
    """A private copy of the busybox layout a test may damage."""
    dest = tmp_path / "bb"
    shutil.copytree(busybox_layout, dest)
    yield dest
