"""anyarch's own platform tests: what users see beyond the containerd tables.

Error messages a user reads, ``--platform a,b`` lists, JSON round trips,
host detection on ARM boards, picking the best index entry, and parse↔format
round-trip properties.
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from anyarch.errors import InvalidPlatformError
from anyarch.oci import platform as pf
from anyarch.oci.platform import Platform

# --- error messages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "what"),
    [
        ("", "empty specifier"),
        ("/linux/arm", "OS component is empty"),
        ("linux/arm/", "component 3 is empty"),
        ("linux//arm", "component 2 is empty"),
        ("linux /arm", "'linux ' is not a valid OS component"),
        ("linux/&arm", "'&arm' is not a valid component"),
        ("linux/arm/foo/bar", "4 components, at most 3"),
        ("linux/*", "wildcards not yet supported"),
        ("sparkle", "unknown operating system or architecture"),
        ("windows(10.0%zz)/amd64", "bad percent-escape in OS version '10.0%zz'"),
        ("linux(+gpu%2)/amd64", "bad percent-escape in OS feature 'gpu%2'"),
        ("linux(+%ff)/amd64", "OS feature '%ff' does not decode to UTF-8"),
    ],
)
def test_parse_error_names_input_and_problem(spec: str, what: str) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        pf.parse(spec)
    err = info.value
    assert err.message.startswith(f"invalid platform {spec!r}: ")
    assert what in err.message
    assert err.hint == "expected os/arch[/variant], e.g. linux/arm64"
    assert err.exit_code == 4


def test_must_parse_treats_failure_as_a_bug() -> None:
    assert pf.must_parse("linux/arm64") == Platform("linux", "arm64")
    with pytest.raises(ValueError, match="must_parse\\('linux/'\\)"):
        pf.must_parse("linux/")


def test_parse_all_stops_at_the_bad_one() -> None:
    with pytest.raises(InvalidPlatformError, match="'linux/&'"):
        pf.parse_all(["linux/amd64", "linux/&", "linux/arm64"])


# --- parse_list ---------------------------------------------------------------


def test_parse_list_keeps_order_and_strips_spaces() -> None:
    got = pf.parse_list(" linux/amd64, linux/arm64 ,linux/arm/v7,Linux/AArch64")
    assert [pf.format(p) for p in got] == [
        "linux/amd64",
        "linux/arm64",
        "linux/arm/v7",
        "linux/arm64",
    ]


def test_parse_list_single_entry() -> None:
    assert pf.parse_list("linux/s390x") == [Platform("linux", "s390x")]


@pytest.mark.parametrize(
    ("specs", "what"),
    [
        ("", "no platforms given"),
        ("   ", "no platforms given"),
        ("linux/amd64,,linux/arm64", "entry 2 is empty"),
        ("linux/amd64,", "entry 2 is empty"),
        (",linux/amd64", "entry 1 is empty"),
        ("linux/amd64, ,linux/arm64", "entry 2 is empty"),
    ],
)
def test_parse_list_rejects_empty_entries(specs: str, what: str) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        pf.parse_list(specs)
    assert info.value.message == f"invalid platform list {specs!r}: {what}"
    assert info.value.hint


def test_parse_list_names_the_bad_entry() -> None:
    with pytest.raises(InvalidPlatformError, match="invalid platform 'linux/arm64/v8/x'"):
        pf.parse_list("linux/amd64,linux/arm64/v8/x")


# --- JSON ---------------------------------------------------------------------


def test_to_json_uses_oci_names_in_go_order_and_omits_empty() -> None:
    p = Platform("windows", "amd64", os_version="10.0.20348", os_features=("win32k",))
    assert json.dumps(p.to_json()) == (
        '{"architecture": "amd64", "os": "windows", "os.version": "10.0.20348", '
        '"os.features": ["win32k"]}'
    )
    assert Platform("linux", "arm", "v7").to_json() == {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
    }


def test_from_json_keeps_raw_values_and_ignores_unknown_keys() -> None:
    p = Platform.from_json({"os": "Linux", "architecture": "aarch64", "x-extra": 1})
    assert p == Platform("Linux", "aarch64")
    assert Platform.from_json({"os": "linux", "architecture": "arm", "variant": None}).variant == ""


@pytest.mark.parametrize(
    "doc",
    [
        {"os": "linux", "architecture": 64},
        {"os": ["linux"], "architecture": "amd64"},
        {"os": "linux", "architecture": "amd64", "os.features": "gpu"},
        {"os": "linux", "architecture": "amd64", "os.features": ["gpu", 1]},
    ],
)
def test_from_json_rejects_wrong_types(doc: dict[str, object]) -> None:
    with pytest.raises(InvalidPlatformError, match="invalid platform"):
        Platform.from_json(doc)


def test_from_json_rejects_non_object() -> None:
    with pytest.raises(InvalidPlatformError, match="expected a JSON object"):
        Platform.from_json(["linux", "amd64"])  # type: ignore[arg-type]


def test_list_features_are_stored_as_tuple() -> None:
    p = Platform("linux", "amd64", os_features=["gpu"])  # type: ignore[arg-type]
    assert p.os_features == ("gpu",)
    assert hash(p) == hash(Platform("linux", "amd64", os_features=("gpu",)))


def test_str_is_format() -> None:
    assert str(pf.parse("linux(+gpu)/arm/v6")) == "linux/arm/v6"
    assert str(Platform("", "amd64")) == "unknown"


# --- host detection -------------------------------------------------------------

PI_ZERO_CPUINFO = """processor\t: 0
model name\t: ARMv6-compatible processor rev 7 (v6l)
BogoMIPS\t: 697.95
CPU architecture: 7
Hardware\t: BCM2835
"""
PI4_CPUINFO = """processor\t: 0
model name\t: ARMv7 Processor rev 3 (v7l)
CPU architecture: 7
"""
GRAVITON_CPUINFO = """processor\t: 0
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
CPU implementer\t: 0x41
CPU architecture: 8
"""
QEMU_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\n"


@pytest.mark.parametrize(
    ("cpuinfo", "machine", "arch", "variant"),
    [
        (PI_ZERO_CPUINFO, "armv6l", "arm", "v6"),  # kernel says 7, the model says v6
        (PI4_CPUINFO, "armv7l", "arm", "v7"),
        (GRAVITON_CPUINFO, "aarch64", "arm64", "v8"),
        (PI_ZERO_CPUINFO, "aarch64", "arm64", "v7"),  # the quirk only applies to 32-bit arm
        (QEMU_CPUINFO, "armv7l", "arm", "v7"),  # no CPU architecture line: uname -m decides
        (QEMU_CPUINFO, "aarch64", "arm64", "v8"),
        (QEMU_CPUINFO, "armv9l", "arm", "unknown"),
        (QEMU_CPUINFO, "x86_64", "arm", ""),  # nothing usable: Go leaves the variant empty
    ],
)
def test_arm_variant_from_cpuinfo(cpuinfo: str, machine: str, arch: str, variant: str) -> None:
    assert pf._linux_arm_variant(cpuinfo, machine, arch) == variant


def test_cpu_variant_from_arch_rejects_short_names() -> None:
    with pytest.raises(InvalidPlatformError, match="'arm'"):
        pf.cpu_variant_from_arch("arm")


def test_host_platform_is_cached_and_round_trips() -> None:
    host = pf.host_platform()
    assert pf.host_platform() is host
    assert host.os and host.architecture
    assert pf.normalize_arch(host.architecture, host.variant)[0] == host.architecture
    again = pf.parse(pf.default_spec())
    assert pf.default_matcher().match(again)
    assert pf.new_matcher(host).match(again)


def test_default_matcher_runs_the_host() -> None:
    host = pf.host_platform()
    m = pf.default_matcher()
    assert m.match(host)
    assert not m.match(Platform("plan9", host.architecture))


# --- choosing among index entries -----------------------------------------------


def test_select_best_prefers_exact_then_fallback() -> None:
    entries = pf.parse_all(["linux/386", "linux/arm64", "linux/amd64", "windows/amd64"])
    assert select(entries, "linux/amd64") == 2
    assert select(entries[:2], "linux/amd64") == 0  # 386 runs on amd64
    assert select(entries, "linux/arm/v7") is None
    assert pf.select_best([], pf.only(pf.parse("linux/amd64"))) is None


def test_select_best_arm64_falls_back_to_newest_arm() -> None:
    entries = pf.parse_all(["linux/arm/v5", "linux/arm/v7", "linux/arm/v6"])
    assert select(entries, "linux/arm64") == 1


def test_select_best_tie_goes_to_first() -> None:
    entries = pf.parse_all(["linux/amd64", "linux/x86_64", "linux/amd64"])
    assert select(entries, "linux/amd64") == 0


def test_select_best_prefers_more_matching_features() -> None:
    entries = pf.parse_all(["linux/amd64", "linux(+gpu)/amd64", "linux(+gpu+simd)/amd64"])
    assert select(entries, "linux(+gpu)/amd64") == 1
    assert select(entries, "linux(+gpu+simd)/amd64") == 2
    assert select(entries, "linux/amd64") == 0


def select(entries: list[Platform], host: str) -> int | None:
    return pf.select_best(entries, pf.only(pf.parse(host)))


def test_sort_is_stable_for_ties() -> None:
    entries = [
        Platform("linux", "amd64", os_version="a"),
        Platform("linux", "arm64"),
        Platform("linux", "amd64", os_version="b"),
    ]
    got = pf.sort_platforms(entries, pf.only_strict(pf.parse("linux/amd64")))
    assert [p.os_version for p in got] == ["a", "b", ""]


def test_all_platforms_matches_everything_and_keeps_order() -> None:
    entries = pf.parse_all(["windows/amd64", "linux/s390x", "plan9/386"])
    assert all(pf.all_platforms.match(p) for p in entries)
    assert pf.sort_platforms(entries, pf.all_platforms) == entries


def test_unknown_arm64_variant_matches_nothing_as_in_containerd() -> None:
    # containerd's platformVector has no entry for v10, so Only() matches nothing.
    assert not pf.only(pf.parse("linux/arm64/v10")).match(pf.parse("linux/arm64/v10"))
    assert pf.only_strict(pf.parse("linux/arm64/v10")).match(pf.parse("linux/arm64/v10"))


# --- Windows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "container", "runs"),
    [
        ("10.0.26200", "10.0.26100", True),  # after ltsc2025: runs from ltsc2025 on
        ("10.0.26200", "10.0.20348", False),  # ... but no longer ltsc2022
        ("10.0.26200", "10.0.26300", False),  # never a newer build than the host
        ("10.0.20348.1234", "10.0.20348.5", True),  # revisions do not matter
        ("6.3.9600", "10.0.9600", False),  # major.minor must agree
    ],
)
def test_windows_build_compatibility(host: str, container: str, runs: bool) -> None:
    assert pf.windows_host_runs_container(host, container) is runs


@pytest.mark.parametrize("version", ["10.0", "10.0.x", "256.0.17763", "10.0.70000", "+10.0.1"])
def test_malformed_windows_host_version_matches_any_build(version: str) -> None:
    m = pf.new_matcher(Platform("windows", "amd64", os_version=version))
    assert m.match(Platform("windows", "amd64", os_version="10.0.17763"))
    assert m.match(Platform("windows", "amd64", os_version="10.0.26100"))


def test_windows_ignores_win32k_on_candidates_only() -> None:
    host = pf.new_matcher(pf.parse("windows(10.0.20348)/amd64"))
    assert host.match(pf.parse("windows(10.0.20348+win32k)/amd64"))
    linux = pf.new_matcher(pf.parse("linux/amd64"))
    assert not linux.match(pf.parse("linux(+win32k)/amd64"))


# --- round-trip properties ----------------------------------------------------------


def _not_dot_segment(s: str) -> bool:
    """Format joins like Go's path.Join, which cleans away '.' and '..' segments."""
    return s not in (".", "..")


_TOKEN = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=8)
_ARCH_TOKEN = st.one_of(
    st.sampled_from([*sorted(pf._KNOWN_ARCH), "x86_64", "aarch64", "armhf", "armel", "i386"]),
    st.text(string.ascii_lowercase + string.digits + "_.-", min_size=1, max_size=8).filter(
        _not_dot_segment
    ),
)
_VARIANT_TOKEN = st.one_of(
    st.just(""),
    st.sampled_from(["v1", "v2", "v5", "v6", "7", "v7", "8", "v8", "v8.2", "9", "v9.0"]),
    st.text(string.ascii_lowercase + string.digits + "_.-", min_size=1, max_size=6).filter(
        _not_dot_segment
    ),
)
# os.version / os.features text that FormatAll can encode and Parse can read back.
_OPTION_CHARS = set(string.ascii_letters + string.digits + "_.-%+()/")
_OPTION = st.text("".join(sorted(_OPTION_CHARS)), min_size=1, max_size=10)


@st.composite
def normalised_platforms(draw: st.DrawFn, with_options: bool) -> Platform:
    """Platforms as Parse returns them: lower-case, normalised arch/variant, features sorted."""
    os = draw(_TOKEN.filter(lambda s: s != "macos"))
    arch, variant = pf.normalize_arch(draw(_ARCH_TOKEN), draw(_VARIANT_TOKEN))
    if not with_options:
        return Platform(os, arch, variant)
    version = draw(st.one_of(st.just(""), _OPTION))
    features = draw(st.lists(_OPTION, max_size=3, unique=True))
    return Platform(os, arch, variant, version, tuple(sorted(features)))


@given(normalised_platforms(with_options=False))
def test_parse_format_round_trip(p: Platform) -> None:
    assert pf.parse(pf.format(p)) == p


@given(normalised_platforms(with_options=True))
def test_parse_format_all_round_trip(p: Platform) -> None:
    assert pf.parse(pf.format_all(p)) == p


@given(normalised_platforms(with_options=True))
def test_parsed_platform_matches_itself(p: Platform) -> None:
    parsed = pf.parse(pf.format_all(p))
    assert pf.new_matcher(parsed).match(parsed)
    assert pf.only_strict(parsed).match(p)
    assert pf.only_os(parsed).match(parsed)


_SPEC = st.one_of(
    st.text(max_size=20),
    st.from_regex(
        r"\A[A-Za-z0-9_-]{1,6}(\([A-Za-z0-9_.%-]{0,6}(\+[A-Za-z0-9_.%-]{1,4}){0,3}\))?"
        r"(/[A-Za-z0-9_.-]{1,6}){0,2}\Z"
    ),
    # Like Go, Format drops '.'/'..' components (path.Join), so those do not round-trip.
).filter(lambda s: all(map(_not_dot_segment, s.split("/"))))


@given(_SPEC)
def test_parse_returns_a_stable_platform_or_raises_invalid_platform(spec: str) -> None:
    try:
        p = pf.parse(spec)
    except InvalidPlatformError as e:
        assert repr(spec) in e.message
        return
    assert p.os and p.architecture
    # FormatAll escapes only '%+()/' (as containerd); other decoded characters cannot parse back.
    assume(all(set(v) <= _OPTION_CHARS for v in (p.os_version, *p.os_features)))
    # Parse keeps os.features in input order; FormatAll sorts and de-duplicates them.
    assert pf.normalize(pf.parse(pf.format_all(p))) == pf.normalize(p)
    assert pf.format(pf.parse(pf.format(p))) == pf.format(p)
