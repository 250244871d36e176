"""The rules of ``anyarch check``, one function each (documented in ``docs/check-rules.md``).

Every rule takes a :class:`RuleContext` (the analysed Dockerfile, the
platforms of the images it pulls) and yields :class:`~anyarch.lint.model.Finding`
values pointing at the word they are about.  Rules never raise for odd
input: a Dockerfile that parses and plans can always be checked.

=====  =========================  ========  ==========================================
ID     name                       severity  what
=====  =========================  ========  ==========================================
MA001  from-missing-platform      error     FROM image not published for a needed platform
MA002  from-single-arch           warning   FROM image published for one platform only
MA003  hardcoded-arch             warning   ``amd64``, ``x86_64``, ... written into RUN/ADD
MA004  download-without-arch      info      binary download whose URL ignores the target
MA005  os-specific-command        error     PowerShell/cmd on Linux, apt-get/apk on Windows
MA006  compile-under-emulation    info      compiling per target instead of cross-compiling
MA007  constant-from-platform     warning   ``FROM --platform=linux/amd64`` in a multi-platform build
MA008  undeclared-platform-arg    error     ``$TARGETARCH`` used without ``ARG TARGETARCH``
=====  =========================  ========  ==========================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from anyarch.dockerfile import Instruction
from anyarch.dockerfile.commands import (
    AddCommand,
    ArgCommand,
    CmdCommand,
    Command,
    CopyCommand,
    EntrypointCommand,
    EnvCommand,
    HealthcheckCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    ShellCommand,
)
from anyarch.lint.analysis import Analysis, Pin, StageInfo
from anyarch.lint.model import RULES, UNKNOWN, Finding, ImagePlatforms, Rule, rule
from anyarch.lint.shellscan import (
    ARCH_PROBE,
    ARCH_WORD,
    Segment,
    Source,
    arch_branch_spans,
    exec_form_segment,
    in_spans,
    program_name,
    segments,
    source_of,
)
from anyarch.oci.platform import Platform, format_all, only_strict
from anyarch.plan.args import PLATFORM_ARGS

__all__ = ["ALL_RULES", "RuleContext", "binary_url", "run_rules"]


@dataclass
class RuleContext:
    """An analysed Dockerfile, the image platforms found, and per-instruction caches."""

    analysis: Analysis
    images: Mapping[str, ImagePlatforms]
    _sources: dict[int, Source] = field(default_factory=dict)
    _segments: dict[int, list[Segment]] = field(default_factory=dict)
    _spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[Platform, ...]:
        return self.analysis.options.platforms

    @property
    def build(self) -> Platform:
        return self.analysis.options.effective_build_platform

    def source(self, node: Instruction) -> Source:
        key = id(node)
        found = self._sources.get(key)
        if found is None:
            found = self._sources[key] = source_of(node, self.analysis.escape)
        return found

    def segments(self, node: Instruction) -> list[Segment]:
        """Simple commands of a shell-form instruction; the argv (and ``-c`` script) of a JSON one."""
        key = id(node)
        found = self._segments.get(key)
        if found is None:
            source = self.source(node)
            if node.json_form:
                argv = exec_form_segment(source)
                found = [argv] if argv is not None else []
                if argv is not None and len(argv.words) >= 3:
                    flag = argv.words[1].value.lower()
                    if flag in ("-c", "/c", "/s", "-command", "-encodedcommand"):
                        script = argv.words[-1]
                        found += segments(source, script.start, script.end)
            else:
                found = segments(source)
            self._segments[key] = found
        return found

    def spans(self, node: Instruction) -> list[tuple[int, int]]:
        key = id(node)
        found = self._spans.get(key)
        if found is None:
            found = self._spans[key] = arch_branch_spans(self.source(node), self.segments(node))
        return found

    def finding(
        self, r: Rule, node: Instruction, offset: int | None, message: str, hint: str
    ) -> Finding:
        """A finding of rule ``r`` at ``offset`` of ``node``'s source (None: the keyword)."""
        if offset is None:
            line, column, text = node.start_line, node.column, node.first_line
        else:
            source = self.source(node)
            line, column = source.position(offset)
            text = source.line_text(offset)
        return self.at(r, line, column, text, message, hint)

    def at(self, r: Rule, line: int, column: int, text: str, message: str, hint: str) -> Finding:
        return Finding(
            rule=r,
            severity=r.severity,
            file=self.analysis.filename,
            line=line,
            column=column,
            text=text,
            message=message,
            hint=hint,
        )


def _platforms(platforms: Sequence[Platform]) -> str:
    return ", ".join(format_all(p) for p in platforms) or "none"


def _commands(info: StageInfo) -> Iterator[Command]:
    for command in info.stage.commands:
        if not isinstance(command, OnbuildCommand):
            yield command


def _declared_before(info: StageInfo, name: str, node: Instruction) -> bool:
    for command in info.stage.commands:
        if command.node.start_line >= node.start_line:
            return False
        if isinstance(command, ArgCommand) and any(a.key == name for a in command.args):
            return True
    return False


# --- MA001 / MA002: the platforms of FROM images --------------------------------------


def check_from_platforms(ctx: RuleContext) -> Iterator[Finding]:
    """MA001 when an image lacks a needed platform, else MA002 when it has just one."""
    missing_rule = rule("MA001")
    single_rule = rule("MA002")
    for use in ctx.analysis.image_uses:
        have = ctx.images.get(use.ref, UNKNOWN)
        if isinstance(have, str):
            continue
        listed = tuple(dict.fromkeys(p for p in have if p.os not in ("", "unknown")))
        missing = [p for p in use.platforms if not any(only_strict(p).match(h) for h in listed)]
        text = use.node.source_lines[use.line - use.node.start_line]
        what = "FROM" if use.node.keyword == "from" else f"{use.node.keyword.upper()} --from"
        if missing:
            has = f"it has {_platforms(listed)}" if listed else "it lists no platform"
            yield ctx.at(
                missing_rule,
                use.line,
                use.column,
                text,
                f"{what} image {use.familiar} is not published for {_platforms(missing)}; {has}",
                f"pick a tag or image published for {_platforms(missing)} (see "
                f"'anyarch manifest inspect {use.familiar}'), or leave "
                f"{_platforms(missing)} out of --platform",
            )
        elif len(listed) == 1 and not use.pinned:
            yield ctx.at(
                single_rule,
                use.line,
                use.column,
                text,
                f"{what} image {use.familiar} is single-arch: published for "
                f"{format_all(listed[0])} only",
                "builds for any other platform will fail or get the wrong binaries; use a "
                "multi-arch image (an index), or build this stage from one per platform",
            )


# --- MA003: hard-coded architecture names --------------------------------------------

_CANONICAL = {
    "amd64": "amd64",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "x64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "armv7": "arm",
    "armv7l": "arm",
    "armv6": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "ppc64el": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
_DOCKER_NAMES = frozenset({"amd64", "arm64", "ppc64le", "s390x", "riscv64"})
_UNAME_NAMES = frozenset({"x86_64", "aarch64", "i686", "armv7l", "armv6l"})
_DEBIAN_NAMES = frozenset({"i386", "armhf", "armel", "ppc64el"})


def _replacement(word: str, keyword: str, build_stage: bool) -> tuple[str, str, str | None]:
    """``(replacement, explanation, ARG it needs)`` for an architecture name."""
    var = "TARGETARCH"
    if word in _DOCKER_NAMES:
        return f"${{{var}}}", f"{var} is {word} when building for linux/{word}", var
    if word in ("armv7", "armv6"):
        return (
            "${TARGETARCH}${TARGETVARIANT}",
            "TARGETARCH is arm and TARGETVARIANT v7 when building for linux/arm/v7",
            "TARGETARCH",
        )
    if keyword == "run" and not build_stage:
        if word in _UNAME_NAMES or word == "x86-64":
            return (
                "$(uname -m)",
                "RUN executes on the target platform, so uname -m names its machine",
                None,
            )
        if word in _DEBIAN_NAMES:
            return (
                "$(dpkg --print-architecture)",
                "RUN executes on the target platform, so dpkg names its architecture",
                None,
            )
    return (
        "${TARGETARCH}",
        f"'{word}' is not a TARGETARCH value: map it from TARGETARCH "
        "(amd64→x86_64/x64, arm64→aarch64, arm→armhf) in the RUN, e.g. with a case",
        "TARGETARCH",
    )


def _rewrite(token: str, word: str, replacement: str) -> str:
    """``token`` with every occurrence of the architecture name ``word`` replaced."""

    def swap(match: re.Match[str]) -> str:
        return replacement if match.group(1) == word else match.group(0)

    return ARCH_WORD.sub(swap, token)


def _shorten(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_hardcoded_arch(ctx: RuleContext) -> Iterator[Finding]:
    """MA003: architecture names in RUN/ADD words, outside branches on the architecture."""
    r = rule("MA003")
    targets = ctx.targets
    for info in ctx.analysis.stages:
        build_stage = info.pin is Pin.BUILD
        runs_on = info.distinct_platforms
        for command in _commands(info):
            if not isinstance(command, (RunCommand, AddCommand)):
                continue
            node = command.node
            if not ARCH_WORD.search(node.source):
                continue
            source = ctx.source(node)
            spans = ctx.spans(node) if isinstance(command, RunCommand) else []
            found: dict[str, list[int]] = {}
            for match in ARCH_WORD.finditer(source.text, source.body):
                offset = match.start()
                if in_spans(offset, spans) or source.text[offset - 1 : offset] in ("$", "{"):
                    continue
                word = match.group(1)
                if not build_stage and all(p.architecture == _CANONICAL[word] for p in runs_on):
                    continue  # a per-arch Dockerfile checked for that arch alone
                found.setdefault(word, []).append(offset)
            for word, offsets in found.items():
                yield _hardcoded_finding(ctx, r, info, node, word, offsets, targets)


def _hardcoded_finding(
    ctx: RuleContext,
    r: Rule,
    info: StageInfo,
    node: Instruction,
    word: str,
    offsets: Sequence[int],
    targets: Sequence[Platform],
) -> Finding:
    """One MA003 finding for every use of ``word`` in ``node`` (at the first one)."""
    source = ctx.source(node)
    build_stage = info.pin is Pin.BUILD
    arch = _CANONICAL[word]
    token_start, token_end = source.word_at(offsets[0])
    token = source.text[token_start:token_end]
    replacement, why, needs = _replacement(word, node.keyword, build_stage)
    rewritten = _rewrite(token, word, replacement)
    others = [p for p in targets if p.architecture != arch]
    if build_stage:
        consequence = (
            "this stage runs on the build platform, so the value is wrong on "
            "other build hosts and for other targets"
        )
    elif others:
        consequence = f"the {format_all(others[0])} build gets the same value"
    else:
        consequence = "every platform gets the same value"
    more = len(offsets) - 1
    if more:
        consequence += f" ({more} more time{'s' if more > 1 else ''} in this instruction)"
    hint = f"write {_shorten(rewritten)!r} ({why})"
    if needs and not _declared_before(info, needs, node):
        hint += f" and add 'ARG {needs}' to this stage"
    if build_stage:
        hint += (
            "; in a --platform=$BUILDPLATFORM stage use ${TARGETARCH} for what is "
            "built for the target and ${BUILDARCH} for tools that run during the build"
        )
    if node.json_form:
        hint += "; the JSON (exec) form expands no variables, so write this RUN in shell form"
    return ctx.finding(
        r,
        node,
        offsets[0],
        f"hard-coded architecture '{word}' in {node.raw_keyword.upper()}: {consequence}",
        hint,
    )


# --- MA004: downloads that ignore the target -----------------------------------------

_URL = re.compile(r"(?:https?|ftp)://[^\s'\"<>|;)]+")
_DOWNLOADERS = frozenset(
    {"curl", "wget", "aria2c", "invoke-webrequest", "iwr", "invoke-restmethod", "irm", "fetch"}
)
_EXTRACTORS = frozenset(
    {"tar", "gunzip", "gzip", "unzip", "bsdtar", "xz", "bunzip2", "zstd", "funzip", "zcat"}
)
_TEXT_SUFFIXES = (
    ".asc",
    ".sig",
    ".sign",
    ".gpg",
    ".key",
    ".pub",
    ".pem",
    ".crt",
    ".cer",
    ".sha256",
    ".sha512",
    ".sha1",
    ".md5",
    ".sha256sum",
    ".sha512sum",
    ".sha256sums",
    ".txt",
    ".json",
    ".yaml",
    ".yml",
    ".xml",
    ".html",
    ".htm",
    ".md",
    ".sh",
    ".bash",
    ".py",
    ".pl",
    ".rb",
    ".js",
    ".mjs",
    ".ts",
    ".jar",
    ".war",
    ".ear",
    ".ps1",
    ".conf",
    ".cfg",
    ".ini",
    ".toml",
    ".repo",
    ".list",
    ".patch",
    ".diff",
    ".csv",
    ".properties",
    ".pom",
    ".css",
    ".svg",
    ".png",
    ".ico",
    ".ttf",
    ".woff",
    ".woff2",
    ".dsc",
    ".nupkg",
    ".php",
    ".lua",
    ".sql",
    ".bashrc",
    ".vim",
    ".el",
    ".whl",
    ".gem",
    ".crx",
)
_ARCHIVE_SUFFIXES = (
    ".tar.gz",
    ".tgz",
    ".tar.xz",
    ".txz",
    ".tar.bz2",
    ".tbz",
    ".tbz2",
    ".tar.zst",
    ".zip",
    ".gz",
    ".xz",
    ".bz2",
    ".zst",
    ".7z",
    ".tar",
)
_PACKAGE_SUFFIXES = (
    ".deb",
    ".rpm",
    ".apk",
    ".exe",
    ".msi",
    ".bin",
    ".run",
    ".appimage",
    ".so",
    ".dll",
    ".dmg",
    ".pkg",
)
_SOURCE_HINT = re.compile(
    r"/archive/|/tarball/|/zipball/|codeload\.|[-._]src[-._]|[-._]source[-._/]|/src/|/sources?/",
    re.IGNORECASE,
)
_LOOSE_ARCH = re.compile(
    r"(?<![A-Za-z0-9])(arm|armv\d|x86|386|amd|mips\w*|loong64|ppc64|s390|sparc\w*)(?![A-Za-z])",
    re.IGNORECASE,
)
_OS_HINT = re.compile(r"linux|musl|gnu|windows|win32|win64|darwin|macos|static", re.IGNORECASE)


def binary_url(url: str) -> bool:
    """Whether ``url`` looks like it names a compiled program or a binary archive."""
    base = url.split("#", 1)[0].split("?", 1)[0]
    _, _, rest = base.partition("://")
    _, _, path = rest.partition("/")
    if not path or path.endswith("/"):
        return False
    name = path.rsplit("/", 1)[-1].lower()
    if not name or name.endswith(_TEXT_SUFFIXES) or _SOURCE_HINT.search(base):
        return False
    if ARCH_WORD.search(base) or _LOOSE_ARCH.search(path):
        return False  # names an architecture: MA003's business, or already per-arch
    if name.endswith(_PACKAGE_SUFFIXES):
        return True
    if name.endswith(_ARCHIVE_SUFFIXES):
        return bool(_OS_HINT.search(name))
    if "." not in name.lstrip("$"):
        return any(p in base for p in ("/releases/download/", "/bin/", "/download/", "/dl/"))
    return False


def _piped_to_non_extractor(segs: Sequence[Segment], index: int) -> bool:
    if segs[index].separator not in ("|", "|&") or index + 1 >= len(segs):
        return False
    command = segs[index + 1].command()
    return command is None or command[0] not in _EXTRACTORS


def _download_finding(
    ctx: RuleContext, r: Rule, node: Instruction, offset: int | None, url: str
) -> Finding:
    return ctx.finding(
        r,
        node,
        offset,
        f"downloads {_shorten(url, 80)} for every platform: the URL does not depend on the "
        "target architecture",
        "if this is a compiled program, put the architecture in the URL (${TARGETARCH} with "
        "'ARG TARGETARCH', or $(uname -m) in RUN) or choose it in a case on the architecture; "
        "if the file is the same for every platform, mark it with '# anyarch:ignore MA004'",
    )


def check_downloads(ctx: RuleContext) -> Iterator[Finding]:
    """MA004: curl/wget/ADD of a binary-looking URL with no architecture in it."""
    r = rule("MA004")
    for info in ctx.analysis.stages:
        for command in _commands(info):
            node = command.node
            if isinstance(command, AddCommand):
                source = ctx.source(node)
                for src in command.sources:
                    if not _URL.match(src) or ARCH_WORD.search(src) or ARCH_PROBE.search(src):
                        continue
                    if binary_url(src):
                        offset = source.text.find(src, source.body)
                        yield _download_finding(ctx, r, node, offset if offset >= 0 else None, src)
                continue
            if not isinstance(command, RunCommand) or "://" not in node.source:
                continue
            source = ctx.source(node)
            if ARCH_PROBE.search(source.text, source.body):
                continue  # the script knows about architectures
            segs = ctx.segments(node)
            for index, seg in enumerate(segs):
                found = seg.command()
                if found is None or found[0] not in _DOWNLOADERS:
                    continue
                if _piped_to_non_extractor(segs, index):
                    continue
                for word in seg.words[found[1] + 1 :]:
                    for match in _URL.finditer(word.raw):
                        url = match.group(0)
                        if ARCH_WORD.search(url) or not binary_url(url):
                            continue
                        yield _download_finding(ctx, r, node, word.start + match.start(), url)


# --- MA005: commands of one OS family on another -------------------------------------

_WINDOWS_PROGRAMS = frozenset({"powershell", "cmd"})
_LINUX_PROGRAMS = frozenset({"apt-get", "apt", "apk", "yum", "dnf", "microdnf", "zypper"})
_OS_PROGRAM_HINT = re.compile(r"powershell|cmd|apt|apk|yum|dnf|zypper", re.IGNORECASE)
_UNIX_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})


def _windows_program(seg: Segment, found: tuple[str, int]) -> bool:
    name, index = found
    if name == "powershell":
        return True
    if name != "cmd":
        return False
    raw = seg.words[index].value.lower()
    if raw.endswith(".exe"):
        return True
    following = seg.words[index + 1].value if index + 1 < len(seg.words) else ""
    return following.startswith("/")


def check_os_commands(ctx: RuleContext) -> Iterator[Finding]:
    """MA005: PowerShell/cmd where a stage builds for Linux, apt-get/apk/... for Windows."""
    r = rule("MA005")
    for info in ctx.analysis.stages:
        platforms = info.distinct_platforms
        windows = [p for p in platforms if p.os == "windows"]
        unix = [p for p in platforms if p.os != "windows"]
        windows_shell = False
        for command in _commands(info):
            node = command.node
            if isinstance(command, ShellCommand):
                program = program_name(command.shell[0]) if command.shell else ""
                source = ctx.source(node)
                argv = exec_form_segment(source)
                offset = argv.words[0].start if argv is not None else None
                if program in _WINDOWS_PROGRAMS:
                    windows_shell = True
                    if unix:
                        yield ctx.finding(
                            r,
                            node,
                            offset,
                            f"SHELL makes RUN use {program}, which is Windows-only, but this "
                            f"stage builds for {_platforms(unix)}",
                            "keep the default /bin/sh for Linux stages (PowerShell on Linux is "
                            "'pwsh'); put Windows steps in a Dockerfile or stage built only for "
                            "windows/*",
                        )
                elif program in _UNIX_SHELLS or program.startswith("/bin/"):
                    windows_shell = False
                    if windows:
                        yield ctx.finding(
                            r,
                            node,
                            offset,
                            f"SHELL makes RUN use {program}, which Windows images do not have, "
                            f"but this stage builds for {_platforms(windows)}",
                            'use SHELL ["cmd", "/S", "/C"] or PowerShell for Windows stages',
                        )
                continue
            if not isinstance(command, (RunCommand, CmdCommand, EntrypointCommand)):
                continue
            if not _OS_PROGRAM_HINT.search(node.source):
                continue
            reported: set[str] = set()
            for seg in ctx.segments(node):
                found = seg.command()
                if found is None:
                    continue
                name, index = found
                offset = seg.words[index].start
                if name in reported:
                    continue
                if (
                    unix
                    and not (windows_shell and not node.json_form)
                    and _windows_program(seg, found)
                ):
                    reported.add(name)
                    yield ctx.finding(
                        r,
                        node,
                        offset,
                        f"'{seg.words[index].value}' is Windows-only, but this stage builds "
                        f"for {_platforms(unix)}",
                        "use sh commands in stages built for Linux (PowerShell on Linux is "
                        "'pwsh'); put Windows steps in a Dockerfile or stage built only for "
                        "windows/*",
                    )
                elif windows and name in _LINUX_PROGRAMS:
                    reported.add(name)
                    yield ctx.finding(
                        r,
                        node,
                        offset,
                        f"'{name}' is a Linux package manager, but this stage builds for "
                        f"{_platforms(windows)}",
                        "Windows images have no Linux package manager: install with PowerShell "
                        "(or choco) in a Windows-only Dockerfile or stage, and keep this step "
                        "for the Linux platforms",
                    )


# --- MA006: compiling under emulation ------------------------------------------------

_COMPILERS: dict[str, frozenset[str] | None] = {
    "go": frozenset({"build", "install"}),
    "cargo": frozenset({"build", "install", "b"}),
    "rustc": None,
    "gcc": None,
    "g++": None,
    "cc": None,
    "c++": None,
    "clang": None,
    "clang++": None,
    "make": None,
    "cmake": None,
    "ninja": None,
    "npm": frozenset({"ci", "install", "i"}),
    "yarn": frozenset({"", "install"}),
    "pnpm": frozenset({"install", "i"}),
    "pip": frozenset({"wheel"}),
    "pip3": frozenset({"wheel"}),
    "mvn": None,
    "mvnw": None,
    "gradle": None,
    "gradlew": None,
    "dotnet": frozenset({"publish", "build"}),
}

_PATTERNS = {
    "go": "FROM --platform=$BUILDPLATFORM golang:… AS build, then ARG TARGETOS TARGETARCH and "
    "RUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build …; COPY --from=build the binary into the "
    "target stage",
    "rust": "FROM --platform=$BUILDPLATFORM rust:… AS build with ARG TARGETARCH, "
    "'rustup target add' and 'cargo build --target <triple>' (a cross linker, e.g. from "
    "tonistiigi/xx), then COPY --from=build the binary",
    "c": "FROM --platform=$BUILDPLATFORM … AS build with ARG TARGETARCH and a cross compiler "
    "(gcc-aarch64-linux-gnu, or tonistiigi/xx's xx-clang/xx-apt), then COPY --from=build the result",
    "portable": "FROM --platform=$BUILDPLATFORM … AS build for output that does not depend on the "
    "CPU (JS bundles, jars, pure-Python wheels), then COPY --from=build it into the target stage "
    "(native modules still need building for the target)",
    "dotnet": "FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:… AS build with "
    "ARG TARGETARCH and 'dotnet publish -a $TARGETARCH', then COPY --from=build the output",
}
_FAMILY = {
    "go": "go",
    "cargo": "rust",
    "rustc": "rust",
    "dotnet": "dotnet",
    "npm": "portable",
    "yarn": "portable",
    "pnpm": "portable",
    "pip": "portable",
    "pip3": "portable",
    "mvn": "portable",
    "mvnw": "portable",
    "gradle": "portable",
    "gradlew": "portable",
}


_COMPILE_HINT = re.compile(
    r"\b(?:go|cargo|rustc|gcc|g\+\+|cc|c\+\+|clang|make|cmake|ninja|npm|yarn|pnpm|pip3?|"
    r"mvnw?|gradlew?|dotnet)\b"
)


def _compile_command(seg: Segment) -> tuple[str, int] | None:
    found = seg.command()
    if found is None:
        return None
    name, index = found
    subcommands = _COMPILERS.get(name, ...)
    if subcommands is ...:
        return None
    if subcommands is None:
        return name, index
    rest = [w.value for w in seg.words[index + 1 :] if not w.value.startswith("-")]
    sub = rest[0] if rest else ""
    if sub in subcommands:
        return (f"{name} {sub}" if sub else name), index
    return None


def check_emulated_compiles(ctx: RuleContext) -> Iterator[Finding]:
    """MA006: a stage that compiles once per target, under emulation for foreign ones."""
    if not ctx.analysis.options.multi_platform:
        return
    r = rule("MA006")
    build = ctx.build
    for info in ctx.analysis.stages:
        if info.pin in (Pin.BUILD, Pin.CONSTANT) or len(info.distinct_platforms) < 2:
            continue
        emulated = [p for p in info.distinct_platforms if p.architecture != build.architecture]
        if not emulated:
            continue
        done = False
        for command in _commands(info):
            if done or not isinstance(command, RunCommand):
                continue
            if not _COMPILE_HINT.search(command.node.source):
                continue
            for seg in ctx.segments(command.node):
                found = _compile_command(seg)
                if found is None:
                    continue
                what, index = found
                family = _FAMILY.get(what.split(" ", 1)[0], "c")
                yield ctx.finding(
                    r,
                    command.node,
                    seg.words[index].start,
                    f"stage {info.display} runs '{what}' once per target platform, under "
                    f"emulation for {_platforms(emulated)}: cross-compiling natively on the "
                    "build platform is much faster than emulation",
                    f"use {_PATTERNS[family]}",
                )
                done = True
                break


# --- MA007: a constant FROM --platform -----------------------------------------------


def check_constant_platform(ctx: RuleContext) -> Iterator[Finding]:
    """MA007: ``FROM --platform=<constant>`` when building for several platforms."""
    if not ctx.analysis.options.multi_platform:
        return
    r = rule("MA007")
    targets = ctx.targets
    for info in ctx.analysis.stages:
        if info.pin is not Pin.CONSTANT:
            continue
        node = info.stage.from_.node
        fixed = info.platforms[0]
        loc = node.locate("--platform")
        final = info.stage.index == ctx.analysis.target_index
        others = [p for p in targets if p != fixed]
        message = (
            f"FROM --platform={info.stage.from_.platform} fixes stage {info.display} to "
            f"{format_all(fixed)} in a build for {_platforms(targets)}"
        )
        if final and others:
            message += (
                f": the image for {format_all(others[0])} would hold {format_all(fixed)} binaries"
            )
        yield ctx.at(
            r,
            loc.line,
            loc.column,
            loc.text or node.first_line,
            message,
            "use --platform=$BUILDPLATFORM for a stage whose output does not depend on the CPU "
            "(and cross-compile with TARGETOS/TARGETARCH), or drop --platform so each target "
            "gets its own base",
        )


# --- MA008: TARGET*/BUILD* without ARG -----------------------------------------------

_AUTO = tuple(a for a in PLATFORM_ARGS if a.startswith(("TARGET", "BUILD")))
_AUTO_REF = re.compile(
    r"(?<![\\`])(?:\$\{?(?:env:)?|%)("
    + "|".join(sorted(_AUTO, key=len, reverse=True))
    + r")(?![A-Za-z0-9_])"
)
_SKIP_FOR_ARGS = (
    OnbuildCommand,
    CmdCommand,
    EntrypointCommand,
    HealthcheckCommand,
    ShellCommand,
    MaintainerCommand,
)


def _env_keys(info: StageInfo, stages: Sequence[StageInfo]) -> set[str]:
    keys: set[str] = set()
    seen: set[int] = set()
    current: StageInfo | None = info
    while current is not None and current.base_stage is not None:
        if current.base_stage in seen:
            break
        seen.add(current.base_stage)
        current = stages[current.base_stage]
        for command in current.stage.commands:
            if isinstance(command, EnvCommand):
                keys.update(kv.key for kv in command.env)
    return keys


def _arg_uses(ctx: RuleContext, command: Command) -> Iterator[tuple[str, int]]:
    node = command.node
    if not _AUTO_REF.search(node.source):
        return
    source = ctx.source(node)
    keyword_end = node.column - 1 + len(node.raw_keyword)
    quoted_docs: list[tuple[int, int]] = []
    if isinstance(command, (CopyCommand, AddCommand)):
        for doc, (start, end) in zip(node.heredocs, source.heredoc_ranges, strict=False):
            if not doc.expand:
                quoted_docs.append((start, end))
    for text, start in ((node.source, keyword_end), (source.text, source.body)):
        end = source.body if start == keyword_end else len(text)
        for match in _AUTO_REF.finditer(text, start, end):
            if match.group(0).startswith("%") and not text.startswith("%", match.end()):
                continue
            if in_spans(match.start(), quoted_docs):
                continue
            yield match.group(1), match.start()


def check_undeclared_args(ctx: RuleContext) -> Iterator[Finding]:
    """MA008: ``$TARGETARCH`` & co. used in a stage with no ``ARG`` for them before."""
    r = rule("MA008")
    stages = ctx.analysis.stages
    global_args = {a.key for c in ctx.analysis.instructions.meta_args for a in c.args}
    for info in stages:
        declared = _env_keys(info, stages)
        for command in info.stage.commands:
            if isinstance(command, _SKIP_FOR_ARGS):
                continue
            reported: set[str] = set()
            for name, offset in _arg_uses(ctx, command):
                if name in declared or name in reported:
                    continue
                reported.add(name)
                later = any(
                    isinstance(c, ArgCommand)
                    and c.node.start_line > command.node.start_line
                    and any(a.key == name for a in c.args)
                    for c in info.stage.commands
                )
                why = ""
                if later:
                    why = f" (its ARG {name} comes later)"
                elif name in global_args:
                    why = f" (an ARG {name} before the first FROM is not visible inside stages)"
                yield ctx.finding(
                    r,
                    command.node,
                    offset,
                    f"{name} is used in stage {info.display} without 'ARG {name}' in the stage, "
                    f"so it is empty here{why}",
                    f"add 'ARG {name}' (no default: the builder sets it) to stage "
                    f"{info.display} before line {command.node.start_line}",
                )
            if isinstance(command, ArgCommand):
                declared.update(a.key for a in command.args)
            elif isinstance(command, EnvCommand):
                declared.update(kv.key for kv in command.env)


ALL_RULES: tuple[tuple[Rule, Callable[[RuleContext], Iterator[Finding]]], ...] = (
    (RULES[0], check_from_platforms),
    (RULES[2], check_hardcoded_arch),
    (RULES[3], check_downloads),
    (RULES[4], check_os_commands),
    (RULES[5], check_emulated_compiles),
    (RULES[6], check_constant_platform),
    (RULES[7], check_undeclared_args),
)
"""Each rule function with the (first) rule it reports; MA001 also reports MA002."""


def run_rules(
    analysis: Analysis,
    images: Mapping[str, ImagePlatforms],
    enabled: Callable[[Rule], bool] = lambda r: True,
) -> list[Finding]:
    """Every finding of the enabled rules, in file order."""
    ctx = RuleContext(analysis, images)
    out: list[Finding] = []
    for first, check in ALL_RULES:
        if first.id == "MA001" and not (enabled(first) or enabled(RULES[1])):
            continue
        if first.id != "MA001" and not enabled(first):
            continue
        out.extend(f for f in check(ctx) if enabled(f.rule))
    out.sort(key=lambda f: f.sort_key)
    return out
