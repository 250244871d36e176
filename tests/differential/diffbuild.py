"""Build one differential case with anyarch (the CLI, as a user runs it) and with buildah.

anyarch: ``python -m anyarch build --platform P -t TAG --output type=oci,dest=DIR,tar=false``
on a private store (``ANYARCH_STORE``).  buildah: ``buildah bud`` on a private
vfs store (``--root``/``--runroot``), ``--isolation chroot --layers --format
oci|docker --platform P``, then ``buildah push TAG oci:DIR``.  Both pull the
base from the test registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from diffcases import BY_NAME, Case, write_context


class Buildah:
    """buildah on its own vfs storage (``--root``/``--runroot`` under ``root``)."""

    def __init__(self, exe: str, root: Path) -> None:
        self.exe = exe
        self.root = root

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [
            self.exe,
            "--storage-driver",
            "vfs",
            "--root",
            str(self.root / "root"),
            "--runroot",
            str(self.root / "run"),
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"buildah {' '.join(args)} exited {proc.returncode}:\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return proc


def _arch(platform: str) -> str:
    return platform.split("/", 1)[1].replace("/", "-")


def _tag(case: Case, platform: str) -> str:
    return f"localhost/diff-{case.name}:{_arch(platform)}"


def _build_args(case: Case, base: str, platform: str) -> list[str]:
    args = [f"BASE={_tag(BY_NAME[case.base_case], platform) if case.base_case else base}"]
    args += [f"{k}={v}" for k, v in case.build_args]
    return [x for a in args for x in ("--build-arg", a)]


def build_anyarch(store: Path, case: Case, ctx: Path, out: Path, base: str, platform: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SOURCE_DATE_EPOCH", "ANYARCH_DEBUG")}
    env["ANYARCH_STORE"] = str(store)
    argv = [
        sys.executable, "-m", "anyarch", "build", "--progress", "plain",
        "--platform", platform, "-t", _tag(case, platform),
        *_build_args(case, base, platform),
        "--output", f"type=oci,dest={out},tar=false",
        str(ctx),
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, (
        f"anyarch build of {case.name} for {platform} failed ({proc.returncode}):\n"
        f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    )


def build_buildah(
    buildah: Buildah, case: Case, ctx: Path, out: Path, base: str, platform: str
) -> None:
    tag = _tag(case, platform)
    buildah(
        "bud", "--tls-verify=false", "--isolation", "chroot", "--layers",
        "--format", case.buildah_format, "--platform", platform, "-t", tag,
        *_build_args(case, base, platform),
        "-f", str(ctx / "Dockerfile"), str(ctx),
    )  # fmt: skip
    push_format = ["--format", "v2s2"] if case.buildah_format == "docker" else []
    buildah("push", *push_format, tag, f"oci:{out}")


def build_both(
    case: Case, platform: str, tmp: Path, base: str, store: Path, buildah: Buildah
) -> tuple[Path, Path]:
    """Build ``case`` (and first its base case) with both tools; the two layout dirs."""
    if case.base_case is not None:
        build_both(BY_NAME[case.base_case], platform, tmp / "base", base, store, buildah)
    ctx = write_context(tmp / f"ctx-{case.name}", case, base)
    ours, theirs = tmp / f"anyarch-{case.name}", tmp / f"buildah-{case.name}"
    build_anyarch(store, case, ctx, ours, base, platform)
    build_buildah(buildah, case, ctx, theirs, base, platform)
    return ours, theirs
