"""Helpers every test folder may import: real-tool checks and the CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


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


