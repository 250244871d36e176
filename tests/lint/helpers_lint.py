"""Shared helpers of the lint tests: check a Dockerfile text with a fake image resolver."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from anyarch.lint import LintOptions, Report, check_text
from anyarch.lint.model import UNKNOWN, ImagePlatforms
from anyarch.oci.platform import Platform
from anyarch.oci.platform import parse as parse_platform

AMD64_ARM64 = ("linux/amd64", "linux/arm64")


def platforms(*specs: str) -> tuple[Platform, ...]:
    return tuple(parse_platform(s) for s in specs)


def run(
    text: str,
    targets: Sequence[str] = AMD64_ARM64,
    *,
    images: Mapping[str, Sequence[str] | str] | None = None,
    build: str = "linux/amd64",
    strict: bool = False,
    build_args: Mapping[str, str] | None = None,
) -> Report:
    """Check a (dedented) Dockerfile; ``images`` maps references to platform specs or "unknown"."""
    resolved: dict[str, ImagePlatforms] = {}
    for ref, value in (images or {}).items():
        resolved[ref] = UNKNOWN if isinstance(value, str) else platforms(*value)
    options = LintOptions(
        platforms=platforms(*targets),
        build_platform=parse_platform(build),
        strict=strict,
        build_args=dict(build_args or {}),
    )
    return check_text(textwrap.dedent(text).lstrip("\n"), options=options, images=resolved)


def found(report: Report, rule: str | None = None) -> list[tuple[str, int, int]]:
    """(rule, line, column) of every finding (of one rule)."""
    return [
        (f.rule.id, f.line, f.column) for f in report.findings if rule is None or f.rule.id == rule
    ]
