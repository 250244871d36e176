"""Docker-shaped text output: tab-aligned tables, human sizes, relative times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], pad: int = 3) -> str:
    """Columns aligned like Go's tabwriter with docker's padding of 3."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, c in enumerate(r):
            widths[i] = max(widths[i], len(c))
    lines = []
    for r in [list(headers), *[list(x) for x in rows]]:
        cells = [c.ljust(widths[i] + pad) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def human_size(n: int) -> str:
    """Decimal units, 4 significant digits, as docker's ``units.HumanSize``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    size = float(n)
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.4g}{units[i]}"


def parse_time(value: str | None) -> dt.datetime | None:
    """Parse an RFC 3339 timestamp (with nanoseconds) from an image config."""
    if not value:
        return None
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    if "." in v:
        head, rest = v.split(".", 1)
        frac = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            frac += rest[i]
            i += 1
        v = f"{head}.{frac[:6].ljust(6, '0')}{rest[i:]}"
    try:
        t = dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def human_duration(seconds: float) -> str:
    """docker's ``units.HumanDuration``."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def created_ago(value: str | None, now: dt.datetime | None = None) -> str:
    t = parse_time(value)
    if t is None or t.year <= 1970:
        return "N/A"
    now = now or dt.datetime.now(dt.UTC)
    return human_duration((now - t).total_seconds()) + " ago"
