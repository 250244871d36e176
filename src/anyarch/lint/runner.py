"""Run the rules over an analysed Dockerfile and honour what the file asks to skip.

Two ways to silence a rule, both by ID (``MA003``) or name
(``hardcoded-arch``), case-insensitive:

* BuildKit's check directive at the top of the file,
  ``# check=skip=MA003,download-without-arch`` (``skip=all`` skips every
  rule; names of BuildKit's own checks are accepted and ignored), and
  ``# check=error=true``, which makes warnings errors like ``--strict``;
* ``# anyarch:ignore RULE[,RULE...]`` on a comment line directly above an
  instruction, or as a comment inside it (at the end of its line, or on a
  comment line between its continuation lines); it silences those rules for
  that instruction.  Without a rule list it silences every rule there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

from anyarch.dockerfile import ParseResult
from anyarch.lint.analysis import Analysis, LintOptions, analyze
from anyarch.lint.model import (
    RULES_BY_KEY,
    UNKNOWN,
    Finding,
    ImagePlatforms,
    Report,
    Rule,
    Severity,
)
from anyarch.lint.rules import run_rules

__all__ = ["CheckDirective", "check", "check_text", "ignored_rules", "parse_check_directive"]

_IGNORE = re.compile(r"anyarch:ignore\b[ \t=:]*([A-Za-z0-9_, \t-]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class CheckDirective:
    """What ``# check=`` asks for: rules to skip (``all``: every one) and ``error=true``."""

    skip: frozenset[str] = frozenset()
    skip_all: bool = False
    error: bool = False

    def skips(self, r: Rule) -> bool:
        return self.skip_all or r.id in self.skip


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "t", "yes", "on")


def parse_check_directive(value: str | None) -> CheckDirective:
    """Read a ``# check=`` value: ``skip=A,B;error=true`` (BuildKit's syntax)."""
    if not value:
        return CheckDirective()
    skip: set[str] = set()
    skip_all = False
    error = False
    for part in value.split(";"):
        key, sep, raw = part.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "skip":
            for name in raw.split(","):
                name = name.strip().lower()
                if name == "all":
                    skip_all = True
                elif name in RULES_BY_KEY:
                    skip.add(RULES_BY_KEY[name].id)
        elif key == "error":
            error = _truthy(raw)
    return CheckDirective(frozenset(skip), skip_all, error)


def _rules_in(text: str) -> frozenset[str] | None:
    """IDs named after ``anyarch:ignore`` (None: every rule)."""
    names = [n for n in re.split(r"[\s,]+", text.strip()) if n]
    if not names or any(n.lower() == "all" for n in names):
        return None
    return frozenset(RULES_BY_KEY[n.lower()].id for n in names if n.lower() in RULES_BY_KEY)


def ignored_rules(parsed: ParseResult) -> dict[int, frozenset[str] | None]:
    """Per instruction (keyed by each line it spans): the rule IDs ``# anyarch:ignore`` silences."""
    out: dict[int, frozenset[str] | None] = {}
    for node in parsed.ast:
        found: set[str] = set()
        everything = False
        texts = [f"# {c}" for c in node.comments]
        if "anyarch:ignore" in node.source.lower():
            texts.extend(node.source_lines)
        for text in texts:
            for match in _IGNORE.finditer(text):
                if "#" in text[: match.start()]:
                    names = _rules_in(match.group(1))
                    if names is None:
                        everything = True
                    else:
                        found |= names
        if not everything and not found:
            continue
        value = None if everything else frozenset(found)
        for line in range(node.start_line, node.end_line + 1):
            out[line] = value
    return out


def check(
    analysis: Analysis,
    images: Mapping[str, ImagePlatforms] | None = None,
    unresolved: Mapping[str, str] | None = None,
) -> Report:
    """Every finding for ``analysis``, given the platforms of its images.

    ``images`` maps each reference of :attr:`Analysis.images` to the
    platforms it is published for, or :data:`~anyarch.lint.model.UNKNOWN`
    (missing references count as unknown); ``unresolved`` says why, for the
    report.
    """
    images = dict(images or {})
    reasons = dict(unresolved or {})
    for ref in analysis.images:
        if images.get(ref, UNKNOWN) == UNKNOWN:
            images[ref] = UNKNOWN
            reasons.setdefault(ref, "not looked up")
    directive = parse_check_directive(analysis.parsed.directives.check)
    strict = analysis.options.strict or directive.error
    ignores = ignored_rules(analysis.parsed)
    findings = run_rules(analysis, images)
    kept: list[Finding] = []
    suppressed = 0
    for finding in findings:
        if directive.skips(finding.rule):
            suppressed += 1
            continue
        if finding.line in ignores:
            names = ignores[finding.line]
            if names is None or finding.rule.id in names:
                suppressed += 1
                continue
        if strict and finding.severity is Severity.WARNING:
            finding = dataclasses.replace(finding, severity=Severity.ERROR)
        kept.append(finding)
    return Report(
        file=analysis.filename,
        platforms=analysis.options.platforms,
        build_platform=analysis.options.effective_build_platform,
        findings=tuple(kept),
        images={ref: images[ref] for ref in analysis.images},
        unresolved={ref: reasons[ref] for ref in analysis.images if images[ref] == UNKNOWN},
        suppressed=suppressed,
        strict=strict,
    )


def check_text(
    text: str,
    *,
    filename: str = "Dockerfile",
    options: LintOptions | None = None,
    images: Mapping[str, ImagePlatforms] | None = None,
) -> Report:
    """:func:`analyze` then :func:`check`: the whole pure check of one Dockerfile text."""
    return check(analyze(text, filename=filename, options=options), images)
