"""Platforms (os/architecture/variant) as containerd's ``platforms`` package treats them.

anyarch must pick the same index entry and accept the same ``--platform``
strings as containerd, BuildKit, buildx and moby, or users get a different
image than with Docker.  So this module follows github.com/containerd/platforms
(commit 09756f59) rule for rule: specifier syntax ``os(version+feature…)/arch/variant``,
normalisation (``aarch64`` → ``arm64``, ``armhf`` → ``arm/v7``, …), what a
platform "can also run" (``only``), the Windows build-compatibility rules and
the ordering used to choose the best index entry.  Intentional differences
from the Go code are marked "Deviation".

The module is pure: the only thing it reads is ``/proc/cpuinfo``, lazily and
once, to find an ARM host's CPU variant.
"""

from __future__ import annotations

import functools
import platform as _pyplatform
import re
import sys
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from anyarch.errors import InvalidPlatformError

__all__ = [
    "MatchComparer",
    "Matcher",
    "Platform",
    "all_platforms",
    "any_of",
    "cpu_variant_from_arch",
    "default_matcher",
    "default_spec",
    "format",
    "format_all",
    "host_platform",
    "must_parse",
    "new_matcher",
    "normalize",
    "normalize_arch",
    "normalize_os",
    "only",
    "only_os",
    "only_strict",
    "ordered",
    "parse",
    "parse_all",
    "parse_list",
    "select_best",
    "sort_platforms",
    "windows_host_runs_container",
    "windows_match_comparer",
]

_HINT = "expected os/arch[/variant], e.g. linux/arm64"


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform: the ``platform`` object of a descriptor or an image config's fields.

    Values are kept as given (not normalised) so that a platform read from a
    registry is written back byte-for-byte; use :func:`normalize` to compare.
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A list passed by mistake would make the frozen value unhashable.
        if not isinstance(self.os_features, tuple):
            object.__setattr__(self, "os_features", tuple(self.os_features))

    def __str__(self) -> str:
        return format(self)

    def to_json(self) -> dict[str, Any]:
        """The OCI JSON object, fields in the order Go's image-spec writes them; empty ones omitted."""
        out: dict[str, Any] = {}
        if self.architecture:
            out["architecture"] = self.architecture
        if self.os:
            out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Platform:
        """Read an OCI platform object as it is (no normalisation).

        Missing fields and JSON ``null`` read as empty, as Go's decoder does;
        a field of the wrong type is an error because it means a broken document.
        """
        if not isinstance(d, Mapping):
            raise InvalidPlatformError(
                f"invalid platform {d!r}: expected a JSON object",
                hint='e.g. {"os": "linux", "architecture": "arm64"}',
            )

        def text(key: str) -> str:
            value = d.get(key)
            if value is None:
                return ""
            if not isinstance(value, str):
                raise InvalidPlatformError(
                    f"invalid platform {dict(d)!r}: {key!r} must be a string, "
                    f"not {type(value).__name__}",
                    hint='e.g. {"os": "linux", "architecture": "arm64"}',
                )
            return value

        features = d.get("os.features")
        if features is None:
            features = []
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise InvalidPlatformError(
                f"invalid platform {dict(d)!r}: 'os.features' must be a list of strings",
                hint='e.g. {"os": "windows", "os.features": ["win32k"], ...}',
            )
        return cls(
            os=text("os"),
            architecture=text("architecture"),
            variant=text("variant"),
            os_version=text("os.version"),
            os_features=tuple(features),
        )


# --- the database of known names (database.go) ------------------------------

# fmt: off
_KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js",
    "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos",
})
_KNOWN_ARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le",
    "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc",
    "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
})
# fmt: on


def normalize_os(os: str) -> str:
    """Lower-case an OS name and map ``macos`` to ``darwin``; empty means the host OS."""
    if os == "":
        return _host_os()
    os = os.lower()
    return "darwin" if os == "macos" else os


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """Map the many spellings of an architecture and its variant to the canonical pair.

    ``uname -m``, Debian and Go names all occur in the wild (``x86_64``,
    ``aarch64``, ``armhf``); comparing platforms needs one spelling.
    """
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def normalize(p: Platform) -> Platform:
    """The canonical form matchers compare: names normalised, os.features sorted and de-duplicated."""
    arch, variant = normalize_arch(p.architecture, p.variant)
    return replace(
        p,
        os=normalize_os(p.os),
        architecture=arch,
        variant=variant,
        os_features=tuple(sorted(set(p.os_features))),
    )


# --- parsing and formatting (platforms.go) ----------------------------------

# Patterns, not compiled regexes: only ``--platform`` values are parsed, so a command
# without one does not pay for compiling them (``re`` caches them on first use).
_COMPONENT = r"[A-Za-z0-9_.-]+"
_OS = r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?"
_BAD_ESCAPE = r"%(?![0-9A-Fa-f]{2})"
# '%' first in effect: translate() replaces in one pass, so "%2B" from '+' is not re-escaped.
_OS_OPTION_ESCAPES = str.maketrans({"%": "%25", "+": "%2B", "(": "%28", ")": "%29", "/": "%2F"})


def _error(spec: str, what: str) -> InvalidPlatformError:
    return InvalidPlatformError(f"invalid platform {spec!r}: {what}", hint=_HINT)


def _decode_os_option(raw: str, spec: str, what: str) -> str:
    """Undo the percent-encoding FormatAll applies to os.version and os.features.

    Deviation: Go keeps bytes that are not UTF-8; we refuse them, because such
    a string could not be written back to JSON.
    """
    if "%" not in raw:
        return raw
    if re.search(_BAD_ESCAPE, raw):
        raise _error(
            spec, f"bad percent-escape in {what} {raw!r} ('%' must be followed by two hex digits)"
        )
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise _error(spec, f"{what} {raw!r} does not decode to UTF-8 text") from None


def parse(spec: str) -> Platform:
    """Parse a ``--platform`` style specifier into a normalised :class:`Platform`.

    Accepts ``os``, ``arch``, ``os/arch``, ``os/arch/variant`` and an OS part
    of the form ``os(version+feature+…)``.  A lone OS gets the host
    architecture; a lone architecture gets the host OS.  ``linux/arm`` means
    arm v7 but is kept without a variant; ``linux/arm64/v8`` keeps ``v8``.
    """
    if "*" in spec:
        raise _error(spec, "wildcards not yet supported")
    if spec == "":
        raise _error(spec, "empty specifier")
    parts = spec.split("/")
    if len(parts) > 3:
        raise _error(spec, f"{len(parts)} components, at most 3 (os/arch/variant) allowed")

    m = re.fullmatch(_OS, parts[0])
    if m is None:
        if parts[0] == "":
            raise _error(spec, "the OS component is empty (leading '/'?)")
        raise _error(
            spec,
            f"{parts[0]!r} is not a valid OS component (letters, digits, '_' and '-', "
            "optionally followed by '(version+feature…)')",
        )
    os = normalize_os(m.group(1))
    os_version = _decode_os_option(m.group(2) or "", spec, "OS version")
    features: list[str] = []
    if m.group(3):
        for raw in m.group(3)[1:].split("+"):
            feature = _decode_os_option(raw.strip(), spec, "OS feature")
            if feature:
                features.append(feature)
    for i, part in enumerate(parts[1:], start=2):
        if part == "":
            raise _error(spec, f"component {i} is empty (stray '/'?)")
        if not re.fullmatch(_COMPONENT, part):
            raise _error(
                spec,
                f"{part!r} is not a valid component (only letters, digits, '_', '.' and '-')",
            )

    base = Platform(os=os, architecture="", os_version=os_version, os_features=tuple(features))
    if len(parts) == 1:
        if os in _KNOWN_OS:
            host_arch = _host_arch()
            variant = _cpu_variant() if host_arch == "arm" else ""
            return replace(base, architecture=host_arch, variant="" if variant == "v7" else variant)
        arch, variant = normalize_arch(parts[0], "")
        if arch not in _KNOWN_ARCH:
            raise _error(spec, "unknown operating system or architecture")
        return replace(
            base,
            os=_host_os(),
            architecture=arch,
            variant="" if (arch, variant) == ("arm", "v7") else variant,
        )
    if len(parts) == 2:
        arch, variant = normalize_arch(parts[1], "")
        return replace(
            base, architecture=arch, variant="" if (arch, variant) == ("arm", "v7") else variant
        )
    arch, variant = normalize_arch(parts[1], parts[2])
    return replace(
        base, architecture=arch, variant="v8" if (arch, variant) == ("arm64", "") else variant
    )


def parse_all(specs: Iterable[str]) -> list[Platform]:
    """Parse every specifier; the first bad one raises (its message names it)."""
    return [parse(s) for s in specs]


def parse_list(specs: str) -> list[Platform]:
    """Parse a comma-separated ``--platform`` value such as ``linux/amd64, linux/arm64``.

    Spaces around entries are ignored; an empty entry (``a,,b`` or a trailing
    comma) is an error rather than silently building fewer platforms.
    """
    entries = [e.strip() for e in specs.split(",")]
    if entries == [""]:
        raise InvalidPlatformError(
            f"invalid platform list {specs!r}: no platforms given", hint=_HINT
        )
    for i, entry in enumerate(entries, start=1):
        if entry == "":
            raise InvalidPlatformError(
                f"invalid platform list {specs!r}: entry {i} is empty",
                hint="separate platforms with single commas, e.g. linux/amd64,linux/arm64",
            )
    return parse_all(entries)


def must_parse(spec: str) -> Platform:
    """Parse a specifier written in anyarch's own code.

    A failure here is a bug in anyarch, not bad user input, so it raises
    ``ValueError`` (outside the :class:`AnyarchError` tree), as Go's MustParse panics.
    """
    try:
        return parse(spec)
    except InvalidPlatformError as e:
        raise ValueError(f"must_parse({spec!r}): {e}") from e


def _go_path_join(*elems: str) -> str:
    """Go's ``path.Join``: skip empty elements, join with '/', then ``path.Clean``."""
    joined = "/".join(e for e in elems if e)
    if not joined:
        return ""
    rooted = joined.startswith("/")
    out: list[str] = []
    for seg in joined.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    cleaned = ("/" if rooted else "") + "/".join(out)
    return cleaned or "."


def format(p: Platform) -> str:
    """``os/arch[/variant]`` (no os.version or features); ``unknown`` when os is empty."""
    if p.os == "":
        return "unknown"
    return _go_path_join(p.os, p.architecture, p.variant)


def format_all(p: Platform) -> str:
    """Like :func:`format` plus ``(version+feature…)`` after the OS, so that :func:`parse` reads it back.

    Features are written sorted, de-duplicated and without empty entries;
    ``%``, ``+``, ``(``, ``)`` and ``/`` inside values are percent-encoded.
    As in containerd, no other character is encoded, so a value holding one
    that Parse does not accept (a space, say) is shown but does not parse back.
    """
    if p.os == "":
        return "unknown"
    version = p.os_version.translate(_OS_OPTION_ESCAPES)
    features = "+".join(f.translate(_OS_OPTION_ESCAPES) for f in sorted(set(p.os_features)) if f)
    head = p.os
    if version or features:
        head += "(" + version + ("+" + features if features else "") + ")"
    return _go_path_join(head, p.architecture, p.variant)


# --- host detection (defaults*.go, cpuinfo*.go) ------------------------------


def _host_os() -> str:
    """The Go GOOS name of the OS this Python runs on."""
    if sys.platform == "win32":
        return "windows"
    name = _pyplatform.system().lower()
    return {"sunos": "solaris", "": sys.platform}.get(name, name)


_MACHINE_TO_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "386",
    "i486": "386",
    "i586": "386",
    "i686": "386",
    "x86": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "loongarch64": "loong64",
}


@functools.cache
def _host_arch() -> str:
    """The Go GOARCH name of this Python's userland.

    Go reports the architecture the binary was built for, not the kernel's:
    a 32-bit userland on a 64-bit kernel (common on Raspberry Pi) runs arm
    images, so the pointer size decides between the 32- and 64-bit names.
    """
    machine = _pyplatform.machine().lower()
    arch = _MACHINE_TO_GOARCH.get(machine)
    if arch is None:
        arch = "arm" if machine.startswith("arm") else machine
    if sys.maxsize < 2**32:  # a 32-bit interpreter (pointers are 4 bytes)
        arch = {"amd64": "386", "arm64": "arm"}.get(arch, arch)
    return arch


def cpu_variant_from_arch(machine: str) -> str:
    """The ARM variant number of a ``uname -m`` machine name: ``aarch64`` → ``8``, ``armv7l`` → ``7``.

    Used when ``/proc/cpuinfo`` has no "CPU architecture" line, as under QEMU
    user-mode emulation.  Unrecognised ``armvN`` gives ``unknown``.
    """
    arch = machine.lower()
    if arch == "aarch64":
        return "8"
    if arch.startswith("armv") and len(arch) >= 5:
        return {"v8": "8", "v7": "7", "v6": "6", "v5": "5", "v4": "4", "v3": "3"}.get(
            arch[3:5], "unknown"
        )
    raise InvalidPlatformError(
        f"invalid machine architecture {machine!r}: cannot derive an ARM variant",
        hint="expected aarch64 or armvN…, as printed by `uname -m` on ARM",
    )


def _cpuinfo_field(cpuinfo: str, name: str) -> str | None:
    """The value of the first ``name : value`` line (case-insensitive name), as Go's getCPUInfo."""
    for line in cpuinfo.splitlines():
        fields = line.split(":")
        if len(fields) > 1 and fields[0].strip().casefold() == name.casefold():
            return fields[1].strip()
    return None


_CPUINFO_VARIANTS = {
    "8": "v8",
    "aarch64": "v8",
    "7": "v7",
    "7m": "v7",
    "6": "v6",
    "6tej": "v6",
    "5": "v5",
    "5t": "v5",
    "5te": "v5",
    "5tej": "v5",
    "4": "v4",
    "4t": "v4",
    "3": "v3",
    **{f"?({n})": "v7" for n in range(12, 18)},
}


def _linux_arm_variant(cpuinfo: str, machine: str, arch: str) -> str:
    """The ARM variant (``v7``, ``v8``, …) of a Linux host from its cpuinfo text and ``uname -m``.

    Pure so that other CPUs' cpuinfo can be tested; returns "" where Go logs an
    error and leaves the variant empty.
    """
    variant = _cpuinfo_field(cpuinfo, "Cpu architecture")
    if variant is None:
        try:
            variant = cpu_variant_from_arch(machine)
        except InvalidPlatformError:
            return ""
    # Raspberry Pi ARMv6 boards report "CPU architecture: 7" (a kernel quirk).
    if arch == "arm" and variant == "7":
        model = _cpuinfo_field(cpuinfo, "model name")
        if model is not None and model.lower().startswith("armv6-compatible"):
            variant = "6"
    return _CPUINFO_VARIANTS.get(variant.lower(), "unknown")


@functools.cache
def _cpu_variant() -> str:
    """The host's ARM variant, "" on other architectures or when it cannot be found."""
    arch = _host_arch()
    if arch not in ("arm", "arm64"):
        return ""
    os = _host_os()
    if os == "linux":
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return ""
        return _linux_arm_variant(cpuinfo, _pyplatform.machine(), arch)
    if os in ("windows", "darwin"):
        return "v8" if arch == "arm64" else "v7"
    if os == "freebsd":
        return "v8" if arch == "arm64" else "unknown"
    return ""


@functools.cache
def host_platform() -> Platform:
    """The platform this machine runs natively (containerd's DefaultSpec).

    ARM hosts carry their CPU variant (``linux/arm64/v8``, ``linux/arm/v7``);
    Windows hosts carry their ``major.minor.build`` os.version.
    """
    os_version = ""
    if sys.platform == "win32":
        v = sys.getwindowsversion()
        os_version = f"{v.major}.{v.minor}.{v.build}"
    return Platform(
        os=_host_os(), architecture=_host_arch(), variant=_cpu_variant(), os_version=os_version
    )


def default_spec() -> str:
    """The host platform as a specifier string (containerd's DefaultString)."""
    return format_all(host_platform())


# --- Windows os.version compatibility (platform_windows_compat.go) -----------

_LTSC2022 = 20348
_LTSC2025 = 26100
# Stable-ABI LTSC releases, ascending: a newer host runs containers from the last one before it.
_COMPAT_LTSC_RELEASES = (_LTSC2022, _LTSC2025)


# The private classes below are plain classes with __slots__, not frozen dataclasses:
# each dataclass costs ~0.7 ms at import (generated methods are compiled), and most
# commands never build a matcher.  Treat their instances as immutable.


class _WindowsVersion:
    """A Windows ``major.minor.build`` version; all zero when unknown or malformed."""

    __slots__ = ("build", "major", "minor")

    def __init__(self, major: int = 0, minor: int = 0, build: int = 0) -> None:
        self.major = major
        self.minor = minor
        self.build = build

    @classmethod
    def parse(cls, version: str) -> _WindowsVersion:
        """``major.minor.build[.rev…]``; anything malformed or out of range is the empty version."""
        fields = version.split(".")
        if len(fields) < 3:
            return cls()
        limits = (0xFF, 0xFF, 0xFFFF)
        numbers: list[int] = []
        for text, limit in zip(fields[:3], limits, strict=True):
            if not re.fullmatch(r"[0-9]+", text) or int(text) > limit:
                return cls()
            numbers.append(int(text))
        return cls(*numbers)

    def is_empty(self) -> bool:
        return (self.major, self.minor, self.build) == (0, 0, 0)


def _windows_compatible(host: _WindowsVersion, ctr: _WindowsVersion) -> bool:
    if (host.major, host.minor) != (ctr.major, ctr.minor):
        return False
    if host.build < _LTSC2022:
        return host.build == ctr.build
    oldest = _LTSC2022
    for release in reversed(_COMPAT_LTSC_RELEASES):
        if host.build > release:
            oldest = release
            break
    return oldest <= ctr.build <= host.build


def windows_host_runs_container(host_os_version: str, container_os_version: str) -> bool:
    """Whether a Windows host of one os.version can run a container image built for another.

    Major and minor must be equal.  Hosts before ltsc2022 (build 20348) need
    the same build; later hosts run builds from the newest LTSC release older
    than themselves up to their own build.  Matchers treat an empty os.version
    on either side as compatible; this raw check does not.
    """
    return _windows_compatible(
        _WindowsVersion.parse(host_os_version), _WindowsVersion.parse(container_os_version)
    )


# --- matchers (platforms.go, compare.go) -------------------------------------


class Matcher(Protocol):
    """Decides whether a platform (e.g. an index entry's) is acceptable."""

    def match(self, p: Platform, /) -> bool: ...


class MatchComparer(Matcher, Protocol):
    """A Matcher that also ranks platforms: ``less(a, b)`` means a is preferred to b."""

    def less(self, a: Platform, b: Platform, /) -> bool: ...


def _features_subset(candidate: tuple[str, ...], allowed: tuple[str, ...]) -> bool:
    """Every os.feature the candidate needs is one the matcher's platform has."""
    return set(candidate) <= set(allowed)


class _PlatformMatcher:
    """Exact match after normalisation; the candidate's features must be a subset of ours."""

    __slots__ = ("platform", "windows_version")

    def __init__(self, platform: Platform, windows_version: _WindowsVersion | None = None) -> None:
        self.platform = platform
        self.windows_version = windows_version

    def match(self, p: Platform, /) -> bool:
        n = normalize(p)
        mine = self.platform
        return (
            (mine.os, mine.architecture, mine.variant) == (n.os, n.architecture, n.variant)
            and _os_version_ok(self.windows_version, p.os_version)
            and _features_subset(n.os_features, mine.os_features)
        )

    def __str__(self) -> str:
        return format_all(self.platform)


def _os_version_ok(host: _WindowsVersion | None, version: str) -> bool:
    if host is None or host.is_empty() or version == "":
        return True
    return _windows_compatible(host, _WindowsVersion.parse(version))


class _WindowsStripFeatures:
    """Ignores one ``win32k`` feature on candidates: every Windows image needs it, hosts need not list it."""

    __slots__ = ("inner",)

    def __init__(self, inner: Matcher) -> None:
        self.inner = inner

    def match(self, p: Platform, /) -> bool:
        features = list(p.os_features)
        if "win32k" in features:
            features.remove("win32k")
            p = replace(p, os_features=tuple(features))
        return self.inner.match(p)


class _WindowsComparer:
    """Among matching Windows images prefer the highest os.version (compared as text)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Matcher) -> None:
        self.inner = inner

    def match(self, p: Platform, /) -> bool:
        return self.inner.match(p)

    def less(self, a: Platform, b: Platform, /) -> bool:
        ma, mb = self.match(a), self.match(b)
        if ma and mb:
            return a.os_version > b.os_version
        return ma and not mb


def new_matcher(p: Platform) -> Matcher:
    """Match platforms equal to ``p`` after normalisation (Windows: os.version-compatible).

    As in Go, the Windows rules apply when ``p.os`` is literally ``windows``,
    and on a Windows host the matcher also ranks by os.version.
    """
    m = _PlatformMatcher(normalize(p))
    if p.os != "windows":
        return m
    stripped = _WindowsStripFeatures(
        _PlatformMatcher(m.platform, _WindowsVersion.parse(p.os_version))
    )
    if _host_os() == "windows":
        return _WindowsComparer(stripped)
    return stripped


def windows_match_comparer(p: Platform) -> MatchComparer:
    """The comparer a Windows host uses: matches like :func:`new_matcher`, newest os.version first."""
    m = new_matcher(p)
    return m if isinstance(m, _WindowsComparer) else _WindowsComparer(m)


class _Ordered:
    """Matches any of its matchers; earlier matchers win, then more os.features win."""

    __slots__ = ("matchers",)

    def __init__(self, matchers: tuple[Matcher, ...]) -> None:
        self.matchers = matchers

    def match(self, p: Platform, /) -> bool:
        return any(m.match(p) for m in self.matchers)

    def less(self, a: Platform, b: Platform, /) -> bool:
        for m in self.matchers:
            ma, mb = m.match(a), m.match(b)
            if ma and not mb:
                return True
            if ma or mb:
                return ma and mb and len(a.os_features) > len(b.os_features)
        if a.os_features or b.os_features:
            # Rank a platform with unknown features like the same platform without them.
            return self.less(replace(a, os_features=()), replace(b, os_features=()))
        return False


class _AnyOf:
    """Matches any of its matchers; no preference among them, more os.features first."""

    __slots__ = ("matchers",)

    def __init__(self, matchers: tuple[Matcher, ...]) -> None:
        self.matchers = matchers

    def match(self, p: Platform, /) -> bool:
        return any(m.match(p) for m in self.matchers)

    def less(self, a: Platform, b: Platform, /) -> bool:
        ma = mb = False
        for m in self.matchers:
            ma = ma or m.match(a)
            mb = mb or m.match(b)
            if ma and mb:
                if len(a.os_features) != len(b.os_features):
                    return len(a.os_features) > len(b.os_features)
                break
        if not ma and not mb and (a.os_features or b.os_features):
            return self.less(replace(a, os_features=()), replace(b, os_features=()))
        return ma and not mb


class _All:
    """Matches every platform and prefers none."""

    __slots__ = ()

    def match(self, p: Platform, /) -> bool:
        return True

    def less(self, a: Platform, b: Platform, /) -> bool:
        return False


all_platforms: MatchComparer = _All()


class _OnlyOS:
    """Any architecture of one OS (os.version-compatible on Windows, features a subset)."""

    __slots__ = ("arch_order", "platform", "windows_version")

    def __init__(
        self, platform: Platform, windows_version: _WindowsVersion | None, arch_order: _Ordered
    ) -> None:
        self.platform = platform
        self.windows_version = windows_version
        self.arch_order = arch_order

    def match(self, p: Platform, /) -> bool:
        n = normalize(p)
        return (
            n.os == self.platform.os
            and _os_version_ok(self.windows_version, p.os_version)
            and _features_subset(n.os_features, self.platform.os_features)
        )

    def less(self, a: Platform, b: Platform, /) -> bool:
        ma = self.match(a)
        if ma and not self.match(b):
            return True
        if not ma:
            return False
        return self.arch_order.less(a, b)


def ordered(*platforms: Platform) -> MatchComparer:
    """Match any of ``platforms``, preferring them in the order given."""
    return _Ordered(tuple(new_matcher(p) for p in platforms))


def any_of(*platforms: Platform) -> MatchComparer:
    """Match any of ``platforms`` without preferring one over another."""
    return _AnyOf(tuple(new_matcher(p) for p in platforms))


def only_strict(p: Platform) -> MatchComparer:
    """Match ``p`` only (up to normalisation, e.g. arm64 = arm64/v8), with no fallbacks."""
    return ordered(normalize(p))


def only_os(p: Platform) -> MatchComparer:
    """Match every architecture of ``p``'s OS, preferring ``p``'s own architecture."""
    n = normalize(p)
    return _OnlyOS(
        platform=n,
        windows_version=_WindowsVersion.parse(n.os_version) if n.os == "windows" else None,
        arch_order=_Ordered((new_matcher(n),)),
    )


def only(p: Platform) -> MatchComparer:
    """Match what a ``p`` machine can run, best first: amd64 also runs 386, arm64 runs arm, …"""
    return ordered(*_platform_vector(normalize(p)))


def _atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: optional sign and ASCII digits, nothing else."""
    return int(text) if re.fullmatch(r"[+-]?[0-9]+", text) else None


# arm64 variant -> ((major, highest minor it runs), …): v8.x runs v8.x…v8.0;
# v9.x also runs v8.(x+5) capped at v8.9 (Armv9.x is a superset of Armv8.(x+5)).
_ARM64_RUNS: dict[str, tuple[tuple[int, int], ...]] = {
    **{f"v8.{minor}": ((8, minor),) for minor in range(10)},
    **{f"v9.{minor}": ((9, minor), (8, min(minor + 5, 9))) for minor in range(8)},
}
_ARM64_RUNS["v8"] = _ARM64_RUNS["v8.0"]
_ARM64_RUNS["v9"] = _ARM64_RUNS["v9.0"]


def _platform_vector(p: Platform) -> list[Platform]:
    """``p`` followed by everything a ``p`` machine also runs, most preferred first.

    Deviation note: none, including Go's quirk that an arm64 variant missing
    from the table (e.g. ``v10``) gives an empty list, so ``only`` matches nothing.
    """
    if p.architecture == "amd64":
        vector = [p]
        level = _atoi(p.variant.removeprefix("v"))
        if level is not None and level > 1:
            vector += [replace(p, variant=f"v{n}") for n in range(level - 1, 0, -1)]
        return [*vector, replace(p, architecture="386", variant="")]
    if p.architecture == "arm":
        vector = [p]
        level = _atoi(p.variant.removeprefix("v"))
        if level is not None and level > 5:
            vector += [replace(p, variant=f"v{n}") for n in range(level - 1, 4, -1)]
        return vector
    if p.architecture == "arm64":
        runs = _ARM64_RUNS.get(p.variant or "v8")
        if runs is None:
            return []
        vector = [
            replace(p, variant=f"v{major}" if minor == 0 else f"v{major}.{minor}")
            for major, top in runs
            for minor in range(top, -1, -1)
        ]
        # Every arm64 CPU in the table also runs 32-bit arm up to v8.
        return vector + _platform_vector(replace(p, architecture="arm", variant="v8"))
    return [p]


def default_matcher() -> MatchComparer:
    """What this host can run, best first: used to pick an image index entry."""
    host = host_platform()
    if host.os == "windows":
        return windows_match_comparer(host)
    return only(host)


class _LessKey:
    """Sort key adapting a ``less`` predicate; Python's sort only ever uses ``<``."""

    __slots__ = ("less", "p")

    def __init__(self, p: Platform, less: MatchComparer) -> None:
        self.p = p
        self.less = less

    def __lt__(self, other: _LessKey) -> bool:
        return self.less.less(self.p, other.p)


def sort_platforms(platforms: Iterable[Platform], comparer: MatchComparer) -> list[Platform]:
    """Platforms ordered by preference; stable, so equally good ones keep their order."""
    return sorted(platforms, key=lambda p: _LessKey(p, comparer))


def select_best(candidates: Sequence[Platform], comparer: MatchComparer) -> int | None:
    """Index of the candidate ``comparer`` prefers among those it matches, or None.

    Like containerd choosing an index entry: filter by match, stable-sort by
    preference, take the first; ties go to the earlier candidate.
    """
    matching = [i for i, p in enumerate(candidates) if comparer.match(p)]
    if not matching:
        return None
    return sorted(matching, key=lambda i: _LessKey(candidates[i], comparer))[0]
