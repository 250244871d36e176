"""The three shapes of a check report: text for people, JSON for scripts, SARIF for CI.

* text: one block per finding (``file:line:column: severity RULE (name):
  message``, the line with a caret under the column, the hint), then a
  summary line;
* JSON: ``{"findings": [{rule, name, severity, file, line, column, text,
  message, hint}], "summary": {...}}``;
* SARIF 2.1.0: one run whose driver lists every rule, one result per
  finding (``ruleId``, ``level``, ``message``, a physical location with
  ``startLine``/``startColumn``), as code-scanning services read it.

Pure functions returning strings or JSON-ready objects.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from anyarch import __version__
from anyarch.lint.model import RULES, UNKNOWN, Finding, Report
from anyarch.oci.platform import format_all

__all__ = ["SARIF_SCHEMA", "render_text", "summary", "to_json", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_DOCS = "docs/check-rules.md"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _caret(text: str, column: int) -> str:
    prefix = "".join(c if c == "\t" else " " for c in text[: max(column - 1, 0)])
    return prefix + "^"


def _block(f: Finding) -> list[str]:
    number = str(f.line)
    pad = " " * len(number)
    return [
        f"{f.file}:{f.line}:{f.column}: {f.severity.value} {f.rule.id} ({f.rule.name}): {f.message}",
        f"  {number} | {f.text}",
        f"  {pad} | {_caret(f.text, f.column)}",
        f"  hint: {f.hint}",
    ]


def render_text(report: Report) -> str:
    """The human report (no trailing newline)."""
    lines: list[str] = []
    for finding in report.findings:
        lines.extend(_block(finding))
        lines.append("")
    targets = ", ".join(format_all(p) for p in report.platforms)
    counts = ", ".join(
        [
            _plural(report.errors, "error"),
            _plural(report.warnings, "warning"),
            _plural(report.infos, "info"),
        ]
    )
    summary = f"{report.file}: checked for {targets}: {counts}"
    extras = []
    if report.suppressed:
        extras.append(f"{report.suppressed} suppressed")
    if report.strict:
        extras.append("strict: warnings count as errors")
    if extras:
        summary += f" ({'; '.join(extras)})"
    lines.append(summary)
    if report.unresolved:
        listed = ", ".join(f"{ref} ({why})" for ref, why in sorted(report.unresolved.items()))
        lines.append(f"platforms unknown, MA001/MA002 not checked for: {listed}")
    return "\n".join(lines)


def summary(report: Report) -> dict[str, Any]:
    """The ``summary`` object of the JSON output."""
    return {
        "file": report.file,
        "platforms": [format_all(p) for p in report.platforms],
        "build_platform": format_all(report.build_platform),
        "errors": report.errors,
        "warnings": report.warnings,
        "infos": report.infos,
        "rules": report.by_rule(),
        "suppressed": report.suppressed,
        "strict": report.strict,
        "images": {
            ref: (UNKNOWN if isinstance(have, str) else [format_all(p) for p in have])
            for ref, have in sorted(report.images.items())
        },
        "unresolved": dict(sorted(report.unresolved.items())),
        "exit_code": report.exit_code,
    }


def to_json(report: Report) -> dict[str, Any]:
    """``{"findings": [...], "summary": {...}}``."""
    return {"findings": [f.to_json() for f in report.findings], "summary": summary(report)}


def _uri(path: str) -> str:
    return urllib.parse.quote(path.replace("\\", "/"), safe="/:@-._~!$&'()*+,;=")


def to_sarif(report: Report) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run."""
    index = {r.id: i for i, r in enumerate(RULES)}
    rules = [
        {
            "id": r.id,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "defaultConfiguration": {"level": r.severity.sarif_level},
            "help": {"text": f"See {_DOCS}#{r.doc_anchor}"},
        }
        for r in RULES
    ]
    results = []
    for f in report.findings:
        results.append(
            {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule.id],
                "level": f.severity.sarif_level,
                "message": {"text": f"{f.message}. Hint: {f.hint}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f.file)},
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.column,
                                "snippet": {"text": f.text},
                            },
                        }
                    }
                ],
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "anyarch", "version": __version__, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
