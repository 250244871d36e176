"""Fixtures for the sandbox tests: real busybox rootfs trees and a real crun.

Each rootfs is Debian's static busybox for one architecture, its applet
symlinks, and an /etc/passwd with ``root`` and ``app`` (uid 1000) and an
/etc/group where ``app`` is also a member of ``staff`` (gid 50).  The
templates are built once per session; each test gets its own copy, so a test
that writes into its rootfs cannot disturb another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

DEB_ARCH = {"amd64": "amd64", "arm64": "arm64", "arm/v7": "armhf", "386": "i386"}

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000:app user:/home/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nstaff:x:50:app\napp:x:1000:\nnogroup:x:65534:\n"


def missing_prerequisite(reason: str) -> None:
    """Fail under ANYARCH_REQUIRE_REAL=1 (CI), skip with the reason elsewhere."""
    if os.environ.get("ANYARCH_REQUIRE_REAL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def crun_path() -> str:
    """The real crun; tests that run containers need it (and root)."""
    path = shutil.which("crun")
    if path is None:
        missing_prerequisite("crun is not installed (apt-get install crun)")
    assert path is not None
    if os.geteuid() != 0:
        missing_prerequisite("running containers needs root (rootless mode is not implemented)")
    return path


@pytest.fixture
def require_binfmt() -> Callable[[str], None]:
    """``require_binfmt("qemu-aarch64")``: fail/skip unless that handler is registered."""

    def check(name: str) -> None:
        if not Path("/proc/sys/fs/binfmt_misc", name).is_file():
            missing_prerequisite(
                f"binfmt_misc handler {name} is not registered "
                "(apt-get install qemu-user-static binfmt-support)"
            )

    return check


@pytest.fixture(scope="session")
def rootfs_templates(
    tmp_path_factory: pytest.TempPathFactory, busybox_debs: Path
) -> dict[str, Path]:
    """One busybox rootfs template per architecture (amd64, arm64, arm/v7, 386)."""
    base = tmp_path_factory.mktemp("rootfs-templates")
    templates: dict[str, Path] = {}
    applets: list[str] = []
    for arch, deb_arch in DEB_ARCH.items():
        debs = sorted(busybox_debs.glob(f"busybox-static_*_{deb_arch}.deb"))
        if not debs:
            pytest.fail(f"no busybox-static .deb for {deb_arch} in {busybox_debs}")
        extract = base / f"deb-{deb_arch}"
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(extract)], check=True)
        root = base / deb_arch
        (root / "bin").mkdir(parents=True)
        shutil.copy2(extract / "bin" / "busybox", root / "bin" / "busybox")
        if not applets:  # the amd64 busybox runs natively and lists its applets
            out = subprocess.run(
                [str(root / "bin" / "busybox"), "--list-full"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            applets = [a for a in out.split() if a and a != "bin/busybox"]
        for applet in applets:
            link = root / applet
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to("/bin/busybox")
        (root / "etc").mkdir()
        (root / "etc" / "passwd").write_text(PASSWD)
        (root / "etc" / "group").write_text(GROUP)
        (root / "root").mkdir(mode=0o700)
        (root / "home" / "app").mkdir(parents=True)
        os.chown(root / "home" / "app", 1000, 1000)
        (root / "tmp").mkdir()
        (root / "tmp").chmod(0o1777)
        templates[arch] = root
    return templates


RootfsFactory = Callable[..., Path]


@pytest.fixture
def make_rootfs(tmp_path: Path, rootfs_templates: dict[str, Path]) -> RootfsFactory:
    """``make_rootfs(arch="amd64")`` → a private copy of that architecture's rootfs."""
    counter = iter(range(1000))

    def make(arch: str = "amd64") -> Path:
        dest = tmp_path / f"rootfs-{arch.replace('/', '-')}-{next(counter)}"
        shutil.copytree(rootfs_templates[arch], dest, symlinks=True)
        return dest

    return make


@pytest.fixture
def rootfs(make_rootfs: RootfsFactory) -> Path:
    """A private amd64 busybox rootfs."""
    return make_rootfs("amd64")
