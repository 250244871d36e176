"""The anyarch program ends quickly without losing output or its exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _anyarch(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "anyarch", *args], text=True, timeout=60, **kw)  # type: ignore[call-overload, no-any-return]


def test_output_redirected_to_a_file_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "help.txt"
    with out.open("w") as fh:
        r = _anyarch("copy", "--help", stdout=fh)
    assert r.returncode == 0
    text = out.read_text()
    assert text.startswith("Usage: anyarch copy") and "--jobs" in text and text.endswith("\n")


def test_exit_codes_survive_the_quick_exit() -> None:
    usage = _anyarch("copy", capture_output=True)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    bad = _anyarch("copy", "UPPER/Case:x", "oci:/nonexistent", capture_output=True)
    assert bad.returncode == 4 and bad.stderr.startswith("Error: invalid image reference"), bad.stderr
    assert "Traceback" not in bad.stderr

