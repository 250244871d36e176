"""Multi-arch readiness checks for Dockerfiles: the pure half of ``anyarch check``.

A Dockerfile that builds for one platform often fails, or silently builds
the wrong thing, for another: a base image published for amd64 only, an
``amd64`` written into a download URL, ``apt-get`` in a stage that also
builds for Windows, ``$TARGETARCH`` used in a stage that never declared it.
This package finds those before anyone spends an hour in emulation.

It does no I/O.  Looking up which platforms the FROM images are published
for is the caller's job (:mod:`anyarch.api.check` asks the store, then the
registry): pass the answers in as a mapping of normalised reference to a
list of platforms, or :data:`UNKNOWN`.

Public API::

    analyze(text, *, filename="Dockerfile", options=LintOptions()) -> Analysis
        Analysis.images                      references to look up
    check(analysis, images=None, unresolved=None) -> Report
    check_text(text, *, filename, options, images=None) -> Report
    LintOptions(platforms=DEFAULT_PLATFORMS, build_platform=None, build_args={},
                target=None, strict=False)
    Report.findings / errors / warnings / infos / exit_code / by_rule()
    Finding.rule (.id "MA003", .name "hardcoded-arch") / severity / file / line / column
           / text / message / hint
    RULES, rule(id_or_name), Severity, UNKNOWN
    render_text(report), to_json(report), to_sarif(report)

Raises :class:`~anyarch.errors.DockerfileError` (exit status 4) for a
Dockerfile that does not parse or plan.  The rules are documented in
``docs/check-rules.md``.
"""

from __future__ import annotations

from anyarch.lint.analysis import (
    DEFAULT_PLATFORMS,
    Analysis,
    ImageUse,
    LintOptions,
    Pin,
    StageInfo,
    analyze,
)
from anyarch.lint.model import RULES, UNKNOWN, Finding, ImagePlatforms, Report, Rule, Severity, rule
from anyarch.lint.output import render_text, to_json, to_sarif
from anyarch.lint.runner import check, check_text, parse_check_directive

__all__ = [
    "DEFAULT_PLATFORMS",
    "RULES",
    "UNKNOWN",
    "Analysis",
    "Finding",
    "ImagePlatforms",
    "ImageUse",
    "LintOptions",
    "Pin",
    "Report",
    "Rule",
    "Severity",
    "StageInfo",
    "analyze",
    "check",
    "check_text",
    "parse_check_directive",
    "render_text",
    "rule",
    "to_json",
    "to_sarif",
]
