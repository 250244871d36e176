"""Fixtures for the ``anyarch verify`` tests; helpers live in ``verifykit`` beside this file.

``verify`` is not yet wired into ``anyarch.cli.main``; the ``verify_cli``
fixture registers it on the real top-level group and runs the real entry point
(``anyarch.cli.main.main``, which maps errors to exit codes) in-process, so the
tests see exactly the output and exit status a user would.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# appended, not prepended: ``import conftest`` elsewhere must keep finding tests/conftest.py
sys.path.append(str(Path(__file__).resolve().parent))

from verifykit import ImageKit


class VerifyResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> Any:
        return json.loads(self.out)

    def rules(self) -> list[str]:
        return [f["rule"] for f in self.json()["findings"]]

    def __repr__(self) -> str:
        return f"VerifyResult(code={self.code}, out={self.out[-3000:]!r}, err={self.err[-2000:]!r})"


@pytest.fixture
def verify_cli(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., VerifyResult]:
    import anyarch.cli.main as main_mod
    from anyarch.cli import verify

    verify.register(main_mod.cli)

    def run(*args: str) -> VerifyResult:
        capsys.readouterr()
        try:
            code = main_mod.main(["--store", str(store_dir), "verify", *args])
        except SystemExit as e:  # how a failed verification reaches the shell
            code = e.code if isinstance(e.code, int) else 1
        out, err = capsys.readouterr()
        return VerifyResult(code, out, err)

    return run


@pytest.fixture
def kit(store_dir: Path) -> ImageKit:
    return ImageKit(store_dir)


@pytest.fixture
def bb(anyarch: Any, busybox_layout: Path, kit: ImageKit) -> dict[str, Any]:
    """The 3-platform busybox index imported as ``bb``; its entries by platform."""
    anyarch("import", "--name", "bb", str(busybox_layout), check=True)
    entries = kit.entries_of("bb")
    by = {}
    for d in entries:
        assert d.platform is not None
        key = (
            d.platform.os
            + "/"
            + d.platform.architecture
            + ("/" + d.platform.variant if d.platform.variant else "")
        )
        by[key] = d
    return by
