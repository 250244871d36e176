"""Fixtures for the differential tests: anyarch and buildah build the same Dockerfiles.

* ``registry`` (re-exported from :mod:`helpers.registry`): a real registry;
  ``base_image`` pushes the busybox base (``busybox_layout``, amd64/arm64/arm/v7)
  into it with skopeo, so both builders pull ``FROM 127.0.0.1:PORT/library/busybox:1.35``.
* ``buildah``: the real buildah on a private vfs store (per pytest worker).
* ``anyarch_store``: a private anyarch store (per pytest worker).

buildah is only the test oracle.  A missing prerequisite (buildah, skopeo,
the registry, root) fails the test when ``ANYARCH_REQUIRE_REAL=1`` (or
``CI``) is set and skips it with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# appended, not prepended: ``import conftest`` elsewhere must keep finding tests/conftest.py
sys.path.append(str(Path(__file__).resolve().parent))

from diffbuild import Buildah

from helpers.registry import RegistryServer, registry, skopeo_args  # noqa: F401  (fixtures re-exported)

BASE_REPOSITORY = "library/busybox:1.35"


def missing(reason: str) -> None:
    """Fail under ANYARCH_REQUIRE_REAL=1/CI, else skip with the reason (never silently)."""
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1" or os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(
            f"{name} is not installed (apt-get install {package}); the differential tests need it"
        )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def _root() -> None:
    if os.geteuid() != 0:
        missing("the differential tests need root (buildah and anyarch RUN steps)")


@pytest.fixture(scope="session")
def buildah(tmp_path_factory: pytest.TempPathFactory, _root: None) -> Iterator[Buildah]:
    """The real buildah (the oracle), on a store private to this worker."""
    exe = tool("buildah", "buildah")
    b = Buildah(exe, tmp_path_factory.mktemp("buildah"))
    yield b
    # vfs keeps a full copy of the rootfs per layer: do not leave it in pytest's basetemp
    with contextlib.suppress(AssertionError, subprocess.SubprocessError):
        b("rm", "--all", timeout=60)
    shutil.rmtree(b.root, ignore_errors=True)


@pytest.fixture(scope="session")
def anyarch_store(tmp_path_factory: pytest.TempPathFactory, _root: None) -> Path:
    """An anyarch store private to this worker (build cache shared by its tests)."""
    tool("crun", "crun")
    return tmp_path_factory.mktemp("anyarch") / "store"


@pytest.fixture(scope="session")
def base_image(registry: RegistryServer, busybox_layout: Path) -> str:  # noqa: F811
    """``HOST:PORT/library/busybox:1.35`` (amd64, arm64, arm/v7), pushed with skopeo."""
    exe = tool("skopeo", "skopeo")
    ref = f"{registry.host}/{BASE_REPOSITORY}"
    proc = subprocess.run(
        [
            exe,
            "copy",
            "--all",
            *[a.replace("--tls-verify", "--dest-tls-verify") for a in skopeo_args(registry)],
            f"oci:{busybox_layout}:latest",
            f"docker://{ref}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"skopeo copy of the busybox base failed: {proc.stderr}"
    return ref
