"""containerd/platforms conformance: every row of the shared cases.tsv is one test.

The expectations are containerd's (see the README next to cases.tsv); this
file only knows how to run each ``check`` kind against anyarch.oci.platform.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from anyarch.errors import InvalidPlatformError
from anyarch.oci import platform as pf
from anyarch.oci.platform import Platform

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "platforms"
CASES_FILE = DATA / "cases.tsv"


@dataclass(frozen=True)
class Case:
    case_id: str
    check: str
    input: str
    candidate: str
    expected: str
    note: str


def _host_values() -> dict[str, str]:
    """The README's placeholders: Go's GOOS/GOARCH and the variant Parse adds for a lone OS."""
    host = pf.host_platform()
    variant = host.variant if host.architecture == "arm" and host.variant != "v7" else ""
    return {"host_os": host.os, "host_arch": host.architecture, "host_variant": variant}


def _substitute(text: str) -> str:
    values = _host_values()
    if not values["host_variant"]:
        # Go's path.Join drops the trailing '/' an empty variant would leave.
        text = text.replace("/{host_variant}", "")
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _load_cases() -> list[Case]:
    # A missing data directory must fail loudly (an empty parametrisation would pass).
    with CASES_FILE.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        Case(
            case_id=r["case_id"],
            check=r["check"],
            input=_substitute(r["input"]),
            candidate=_substitute(r["candidate"]),
            expected=_substitute(r["expected"]),
            note=r["note"],
        )
        for r in rows
    ]


CASES = _load_cases()


def _json_platform(text: str) -> Platform:
    return Platform.from_json(json.loads(text))


def _bool(text: str) -> bool:
    assert text in ("true", "false"), f"bad boolean in data: {text!r}"
    return text == "true"


# --- one runner per check kind ----------------------------------------------


def check_parse(c: Case) -> None:
    assert pf.parse(c.input) == _json_platform(c.expected)


def check_parse_format(c: Case) -> None:
    formatted = pf.format(pf.parse(c.input))
    assert formatted == c.expected
    assert pf.format(pf.parse(formatted)) == formatted


def check_parse_format_all(c: Case) -> None:
    formatted = pf.format_all(pf.parse(c.input))
    assert formatted == c.expected
    assert pf.format_all(pf.parse(formatted)) == formatted


def check_parse_match(c: Case) -> None:
    matcher = pf.new_matcher(pf.parse(c.input))
    assert matcher.match(_json_platform(c.candidate)) is _bool(c.expected)


def check_parse_error(c: Case) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        pf.parse(c.input)
    assert repr(c.input) in info.value.message
    assert info.value.hint


def check_parse_skipped(c: Case) -> None:
    with pytest.raises(InvalidPlatformError, match="wildcards not yet supported"):
        pf.parse(c.input)


def check_parse_fuzz_seed(c: Case) -> None:
    # Python has no half-filled result on error: parse either returns a full
    # platform or raises. The seed must parse, to a platform with os and arch.
    assert c.expected == "ok"
    p = pf.parse(c.input)
    assert p.os and p.architecture


def check_format_all(c: Case) -> None:
    p = _json_platform(c.input)
    assert pf.format_all(p) == c.expected
    back = pf.parse(c.expected)
    assert back.os_version == p.os_version
    assert back.os_features == tuple(f for f in p.os_features if f)


def _only_check(factory: Callable[[Platform], pf.MatchComparer]) -> Callable[[Case], None]:
    def run(c: Case) -> None:
        comparer = factory(pf.parse(c.input))
        assert comparer.match(pf.parse(c.candidate)) is _bool(c.expected)

    return run


def _sort_check(factory: Callable[[Platform], pf.MatchComparer]) -> Callable[[Case], None]:
    def run(c: Case) -> None:
        comparer = factory(pf.parse(c.input))
        candidates = pf.parse_all(c.candidate.split(" "))
        got = [pf.format_all(p) for p in pf.sort_platforms(candidates, comparer)]
        assert got == c.expected.split(" ")

    return run


def check_windows_match(c: Case) -> None:
    matcher = pf.new_matcher(_json_platform(c.input))
    assert matcher.match(_json_platform(c.candidate)) is _bool(c.expected)


def check_windows_host_runs_container(c: Case) -> None:
    assert pf.windows_host_runs_container(c.input, c.candidate) is _bool(c.expected)


def _windows_sorted(c: Case) -> list[Platform]:
    comparer = pf.windows_match_comparer(_json_platform(c.input))
    candidates = [Platform.from_json(d) for d in json.loads(c.candidate)]
    return pf.sort_platforms(candidates, comparer)


def check_windows_sort(c: Case) -> None:
    expected = [Platform.from_json(d) for d in json.loads(c.expected)]
    assert _windows_sorted(c) == expected


def check_windows_sort_first(c: Case) -> None:
    first = _windows_sorted(c)[0]
    want = _json_platform(c.expected)
    assert (first.os, first.os_version) == (want.os, want.os_version)


def check_cpu_variant_from_arch(c: Case) -> None:
    if c.expected == "error":
        with pytest.raises(InvalidPlatformError):
            pf.cpu_variant_from_arch(c.input)
    else:
        assert pf.cpu_variant_from_arch(c.input) == c.expected


def check_normalize_arch(c: Case) -> None:
    given, want = json.loads(c.input), json.loads(c.expected)
    got = pf.normalize_arch(given["architecture"], given.get("variant", ""))
    assert got == (want["architecture"], want.get("variant", ""))
    # Normalize (and so every matcher) applies the same mapping.
    n = pf.normalize(Platform("linux", given["architecture"], given.get("variant", "")))
    assert (n.architecture, n.variant) == got


def check_normalize_os(c: Case) -> None:
    assert pf.normalize_os(c.input) == c.expected


RUNNERS: dict[str, Callable[[Case], None]] = {
    "parse": check_parse,
    "parse_format": check_parse_format,
    "parse_format_all": check_parse_format_all,
    "parse_match_self": check_parse_match,
    "parse_match": check_parse_match,
    "parse_error": check_parse_error,
    "parse_skipped": check_parse_skipped,
    "parse_fuzz_seed": check_parse_fuzz_seed,
    "format_all": check_format_all,
    "only_match": _only_check(pf.only),
    "only_strict_match": _only_check(pf.only_strict),
    "only_os_match": _only_check(pf.only_os),
    "only_os_sort": _sort_check(pf.only_os),
    "sort_only": _sort_check(pf.only),
    "sort_onlystrict": _sort_check(pf.only_strict),
    "sort_ordered": _sort_check(lambda p: pf.ordered(p)),
    "sort_any": _sort_check(lambda p: pf.any_of(p)),
    "windows_match": check_windows_match,
    "windows_host_runs_container": check_windows_host_runs_container,
    "windows_sort": check_windows_sort,
    "windows_sort_first": check_windows_sort_first,
    "cpu_variant_from_arch": check_cpu_variant_from_arch,
    "normalize_arch": check_normalize_arch,
    "normalize_os": check_normalize_os,
}


def test_data_is_complete() -> None:
    """The README promises 509 rows with unique ids; every check kind has a runner."""
    assert len(CASES) == 509
    assert len({c.case_id for c in CASES}) == len(CASES)
    assert {c.check for c in CASES} <= RUNNERS.keys()


@pytest.mark.parametrize("case", CASES, ids=[c.case_id for c in CASES])
def test_case(case: Case) -> None:
    RUNNERS[case.check](case)
