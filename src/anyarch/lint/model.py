"""The values ``anyarch check`` deals in: rules, findings, reports.

Pure data: no parsing and no I/O here.  A :class:`Finding` is one problem at
one place (``file:line:column`` plus the text of that line); a
:class:`Report` is every finding of one check with the options it ran with
and what could not be looked up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal, TypeAlias

from anyarch.oci.platform import Platform

__all__ = [
    "RULES",
    "RULES_BY_KEY",
    "UNKNOWN",
    "Finding",
    "ImagePlatforms",
    "Report",
    "Rule",
    "Severity",
    "rule",
]

UNKNOWN: Final = "unknown"
"""What a resolver gives for an image whose platforms it could not find out."""

ImagePlatforms: TypeAlias = Sequence[Platform] | Literal["unknown"]
"""The platforms an image is published for, or :data:`UNKNOWN`."""


class Severity(Enum):
    """How bad a finding is; the value is the word used in every output format."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for errors, 1 for warnings, 2 for infos (worst first when sorting)."""
        return _RANK[self]

    @property
    def sarif_level(self) -> str:
        """SARIF's ``level`` (``error``, ``warning``, ``note``)."""
        return "note" if self is Severity.INFO else self.value


_RANK = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class Rule:
    """A check: stable ID (``MA003``), short name (``hardcoded-arch``), default severity."""

    id: str
    name: str
    severity: Severity
    summary: str

    @property
    def doc_anchor(self) -> str:
        """The heading anchor of the rule in ``docs/check-rules.md``."""
        return f"{self.id.lower()}-{self.name}"


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "MA001",
        "from-missing-platform",
        Severity.ERROR,
        "A FROM (or COPY --from) image is not published for a platform the build needs.",
    ),
    Rule(
        "MA002",
        "from-single-arch",
        Severity.WARNING,
        "A FROM image is published for one platform only.",
    ),
    Rule(
        "MA003",
        "hardcoded-arch",
        Severity.WARNING,
        "An architecture name is written into a RUN or ADD instead of TARGETARCH/TARGETPLATFORM.",
    ),
    Rule(
        "MA004",
        "download-without-arch",
        Severity.INFO,
        "A binary is downloaded from a URL that does not depend on the target architecture.",
    ),
    Rule(
        "MA005",
        "os-specific-command",
        Severity.ERROR,
        "A command of one OS family (PowerShell, cmd, apt-get, apk, ...) runs on another OS.",
    ),
    Rule(
        "MA006",
        "compile-under-emulation",
        Severity.INFO,
        "A stage compiles for every target under emulation instead of cross-compiling natively.",
    ),
    Rule(
        "MA007",
        "constant-from-platform",
        Severity.WARNING,
        "FROM --platform= names one fixed platform in a multi-platform build.",
    ),
    Rule(
        "MA008",
        "undeclared-platform-arg",
        Severity.ERROR,
        "A TARGET*/BUILD* argument is used in a stage that does not declare it with ARG.",
    ),
)

RULES_BY_KEY: Final[Mapping[str, Rule]] = {
    **{r.id.lower(): r for r in RULES},
    **{r.name.lower(): r for r in RULES},
}


def rule(key: str) -> Rule:
    """A rule by ID or name, case-insensitive; KeyError when there is none."""
    return RULES_BY_KEY[key.strip().lower()]


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which rule, how bad, where (1-based line and column), what to do.

    ``text`` is the whole source line the finding points into; ``message``
    says what is wrong and ``hint`` how to fix it.
    """

    rule: Rule
    severity: Severity
    file: str
    line: int
    column: int
    text: str
    message: str
    hint: str

    def to_json(self) -> dict[str, object]:
        """The object of the JSON output's ``findings`` array."""
        return {
            "rule": self.rule.id,
            "name": self.rule.name,
            "severity": self.severity.value,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "text": self.text,
            "message": self.message,
            "hint": self.hint,
        }

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.column, self.rule.id)


@dataclass(frozen=True, slots=True)
class Report:
    """The result of checking one Dockerfile.

    ``findings`` are in file order.  ``suppressed`` counts findings dropped by
    ``# check=skip=`` or ``# anyarch:ignore``.  ``unresolved`` maps each image
    whose platforms were unknown to why (offline, not found, registry error):
    rules MA001/MA002 could not judge those.  ``strict`` (``--strict`` or
    ``# check=error=true``) has already turned warnings into errors.
    """

    file: str
    platforms: tuple[Platform, ...]
    build_platform: Platform
    findings: tuple[Finding, ...]
    images: Mapping[str, ImagePlatforms] = field(default_factory=dict)
    unresolved: Mapping[str, str] = field(default_factory=dict)
    suppressed: int = 0
    strict: bool = False

    def count(self, severity: Severity) -> int:
        """How many findings have ``severity``."""
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def errors(self) -> int:
        return self.count(Severity.ERROR)

    @property
    def warnings(self) -> int:
        return self.count(Severity.WARNING)

    @property
    def infos(self) -> int:
        return self.count(Severity.INFO)

    @property
    def exit_code(self) -> int:
        """0 without errors, 1 with (warnings are errors already when strict)."""
        return 1 if self.errors else 0

    def by_rule(self) -> dict[str, int]:
        """Finding counts per rule ID, in rule order."""
        out: dict[str, int] = {}
        for r in RULES:
            n = sum(1 for f in self.findings if f.rule is r)
            if n:
                out[r.id] = n
        return out
