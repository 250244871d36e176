"""Suite-wide fixtures: paths to shared data, the anyarch CLI, real tools.

A missing real component (skopeo, docker-registry, crun, sshd, QEMU) is a
failure when ANYARCH_REQUIRE_REAL=1 (as in CI via scripts/test.sh), and a
visible skip with its reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "tests"))


def require_tool(name: str) -> str:
    """Path of a real tool the test needs; fail in CI, skip elsewhere, when missing."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path:
        return path
    msg = f"{name} is not installed (run scripts/bootstrap.sh)"
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


class CLIResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"CLIResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def anyarch(store_dir: Path) -> Runner:
    return Runner(store_dir)


class Runner:
    """Runs the real ``anyarch`` entry point in a subprocess, as a user would."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def __call__(self, *args: str, input: bytes | None = None, check: bool = False, env: dict[str, str] | None = None, timeout: float = 300) -> CLIResult:
        e = dict(os.environ)
        e["ANYARCH_STORE"] = str(self.store)
        e.pop("ANYARCH_DEBUG", None)
        if env:
            e.update(env)
        p = subprocess.run(
            [sys.executable, "-m", "anyarch", *args],
            input=input,
            capture_output=True,
            env=e,
            timeout=timeout,
        )
        r = CLIResult(p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"))
        if check and r.code != 0:
            raise AssertionError(f"anyarch {' '.join(args)} failed: {r!r}")
        return r


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
