"""Parse nodes into typed instructions and stages, as BuildKit's ``instructions/parse.go``.

:func:`parse_instruction` turns one :class:`~anyarch.dockerfile.nodes.Instruction`
into one of the classes of :mod:`anyarch.dockerfile.commands`, checking its
flags, argument count and the values BuildKit checks before any variable is
expanded (HEALTHCHECK durations, RUN network/security/mounts, a literal
``--chmod``).  :func:`parse_stages` groups the result into stages, keeping the
ARGs before the first FROM apart (they are the only ones a FROM line sees).

Errors are :class:`~anyarch.errors.DockerfileError` with BuildKit's message,
the ``file:line:column`` of the instruction (or of the offending flag) and a
hint.  Pure: no expansion, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from anyarch.dockerfile._gotext import go_quote
from anyarch.dockerfile.chmod import ChmodError, parse_chmod
from anyarch.dockerfile.commands import (
    AddCommand,
    ArgCommand,
    ArgDefinition,
    CmdCommand,
    Command,
    CopyCommand,
    EntrypointCommand,
    EnvCommand,
    ExposeCommand,
    FromCommand,
    HealthcheckCommand,
    HealthConfig,
    InlineFile,
    KeyValue,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    ShellCommand,
    SourceContent,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from anyarch.dockerfile.durations import DurationError, parse_duration
from anyarch.dockerfile.flags import FlagKind, FlagSpec, ParsedFlags, parse_flags
from anyarch.dockerfile.heredoc import HeredocError, parse_heredoc
from anyarch.dockerfile.line_parsers import INSTRUCTIONS
from anyarch.dockerfile.mounts import MountError, parse_device, parse_mount
from anyarch.dockerfile.nodes import Instruction, ParseResult, chomp_heredoc_content
from anyarch.dockerfile.suggest import suggest
from anyarch.errors import DockerfileError

__all__ = [
    "Instructions",
    "Stage",
    "error_at",
    "parse_instruction",
    "parse_stages",
]

_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*\Z")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
_NETWORKS = ("default", "none", "host")
_SECURITY = ("insecure", "sandbox")
_MIN_INTERVAL = 1_000_000  # 1ms


@dataclass(frozen=True, slots=True)
class Stage:
    """One build stage: its FROM line and the instructions after it (BuildKit's ``Stage``)."""

    index: int
    from_: FromCommand
    commands: tuple[Command, ...]

    @property
    def name(self) -> str:
        """The lower-cased ``AS`` name, or ``""``."""
        return self.from_.stage_name


@dataclass(frozen=True, slots=True)
class Instructions:
    """A whole Dockerfile, typed: ARGs before the first FROM, then the stages."""

    meta_args: tuple[ArgCommand, ...]
    stages: tuple[Stage, ...]
    escape: str = "\\"
    filename: str = "Dockerfile"


def error_at(node: Instruction, message: str, hint: str | None = None) -> DockerfileError:
    """A :class:`DockerfileError` at ``node``'s position."""
    return DockerfileError(message, location=node.location, hint=hint)


# --- small helpers -------------------------------------------------------------


def _flags(node: Instruction, *specs: FlagSpec) -> ParsedFlags:
    return parse_flags(node, specs)


def _string(name: str, default: str = "") -> FlagSpec:
    return FlagSpec(name, FlagKind.STRING, default)


def _bool(name: str) -> FlagSpec:
    return FlagSpec(name, FlagKind.BOOL, "false")


def _strings(name: str) -> FlagSpec:
    return FlagSpec(name, FlagKind.STRINGS)


def _json_args(node: Instruction, args: Sequence[str]) -> tuple[str, ...]:
    """BuildKit's ``handleJSONArgs``: the exec array, or the words joined as one shell string."""
    if not args:
        return ()
    if node.json_form:
        return tuple(args)
    return (" ".join(args),)


def _exactly_one(node: Instruction, keyword: str) -> str:
    if len(node.args) != 1:
        raise error_at(
            node,
            f"{keyword} requires exactly one argument",
            f"write {keyword} with a single value",
        )
    return node.args[0]


def _at_least_one(node: Instruction, keyword: str, example: str) -> None:
    if not node.args:
        raise error_at(node, f"{keyword} requires at least one argument", f"e.g. {example}")


def _key_values(node: Instruction, keyword: str) -> tuple[KeyValue, ...]:
    """BuildKit's ``parseKvps`` over the parser's ``key, value, separator`` triples."""
    args = node.args
    if not args:
        raise error_at(
            node, f"{keyword} requires at least one argument", f"e.g. {keyword} key=value"
        )
    if len(args) % 3 != 0:
        raise error_at(
            node, f"Bad input to {keyword}, too many arguments", f"e.g. {keyword} key=value"
        )
    pairs: list[KeyValue] = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise error_at(node, f"{keyword} names can not be blank", f"e.g. {keyword} key=value")
        pairs.append(KeyValue(args[i], args[i + 1], args[i + 2] == ""))
    return tuple(pairs)


def _doc_comment(comments: Sequence[str], name: str) -> str:
    if not name:
        return ""
    for line in comments:
        if line.startswith(name + " "):
            return line[len(name) + 1 :]
    return ""


def _inline_files(node: Instruction) -> tuple[InlineFile, ...]:
    return tuple(InlineFile(h.name, h.content, h.chomp) for h in node.heredocs)


def _heredoc_word(word: str) -> tuple[str, bool, bool] | None:
    """``MustParseHeredoc``: (name, expand, chomp) if ``word`` is a whole heredoc word."""
    try:
        start = parse_heredoc(word)
    except HeredocError:
        return None
    return None if start is None else (start.name, start.expand, start.chomp)


def _sources_and_dest(
    node: Instruction, keyword: str
) -> tuple[tuple[str, ...], tuple[SourceContent, ...], str]:
    args = node.args
    dest = args[-1]
    if _heredoc_word(dest) is not None:
        raise error_at(
            node,
            f"{keyword} cannot accept a heredoc as a destination",
            "heredocs are sources; put the destination path last",
        )
    bodies = {h.name: h for h in node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in args[:-1]:
        heredoc = _heredoc_word(src)
        if heredoc is None:
            paths.append(src)
            continue
        name, expand, chomp = heredoc
        body = bodies.get(name)
        data = "" if body is None else body.content
        if chomp:
            data = chomp_heredoc_content(data)
        contents.append(SourceContent(name, data, expand))
    return tuple(paths), tuple(contents), dest


def _check_literal_chmod(node: Instruction, chmod: str) -> None:
    """Reject a ``--chmod`` that is wrong whatever the variables (no ``$`` in it)."""
    if chmod and "$" not in chmod:
        try:
            parse_chmod(chmod)
        except ChmodError as err:
            raise DockerfileError(
                err.message,
                location=node.locate("--chmod"),
                hint="use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x,go-w",
            ) from None


# --- one parser per instruction ------------------------------------------------


def _parse_from(node: Instruction) -> FromCommand:
    args = node.args
    name = written = ""
    if len(args) == 3 and args[1].lower() == "as":
        written = args[2]
        name = written.lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(
                f"invalid name for build stage: {go_quote(written)}, "
                "name can't start with a number or contain symbols",
                location=node.locate(written),
                hint="stage names start with a letter and use letters, digits, '-', '_' and '.'",
            )
    elif len(args) != 1:
        raise error_at(
            node,
            "FROM requires either one or three arguments",
            "write FROM image or FROM image AS name",
        )
    flags = _flags(node, _string("platform"))
    return FromCommand(
        node,
        base_name=args[0],
        stage_name=name,
        stage_name_as_written=written,
        platform=flags.get("platform"),
        doc=_doc_comment(node.comments, name),
    )


def _parse_run(node: Instruction) -> RunCommand:
    flags = _flags(
        node,
        _strings("mount"),
        _string("network", "default"),
        _string("security", "sandbox"),
        _strings("device"),
    )
    devices = []
    for spec in flags.strings("device"):
        try:
            devices.append(parse_device(spec))
        except MountError as err:
            raise DockerfileError(err.message, location=node.locate(spec), hint=err.hint) from None
    specs = flags.strings("mount")
    mounts = []
    for spec in specs:
        try:
            mounts.append(parse_mount(spec))
        except MountError as err:
            raise DockerfileError(
                err.message,
                location=node.locate(spec),
                hint=err.hint or "see https://docs.docker.com/reference/dockerfile/#run---mount",
            ) from None
    network = flags.get("network")
    if network not in _NETWORKS:
        raise DockerfileError(
            f"invalid network mode {go_quote(network)}",
            location=node.locate("--network"),
            hint="use --network=default, --network=none or --network=host",
        )
    security = flags.get("security")
    if security not in _SECURITY:
        raise DockerfileError(
            f"security {go_quote(security)} is not valid",
            location=node.locate("--security"),
            hint="use --security=sandbox or --security=insecure",
        )
    return RunCommand(
        node,
        cmd_line=_json_args(node, node.args),
        prepend_shell=not node.json_form,
        files=_inline_files(node),
        mounts=tuple(mounts),
        mount_specs=specs,
        network=network,
        security=security,
        devices=tuple(devices),
        flags_used=flags.used,
    )


def _parse_cmd(node: Instruction) -> CmdCommand:
    _flags(node)
    return CmdCommand(node, _json_args(node, node.args), not node.json_form, _inline_files(node))


def _parse_entrypoint(node: Instruction) -> EntrypointCommand:
    _flags(node)
    return EntrypointCommand(
        node, _json_args(node, node.args), not node.json_form, _inline_files(node)
    )


def _parse_env(node: Instruction) -> EnvCommand:
    _flags(node)
    return EnvCommand(node, _key_values(node, "ENV"))


def _parse_label(node: Instruction) -> LabelCommand:
    _flags(node)
    return LabelCommand(node, _key_values(node, "LABEL"))


def _parse_maintainer(node: Instruction) -> MaintainerCommand:
    value = _exactly_one(node, "MAINTAINER")
    _flags(node)
    return MaintainerCommand(node, value)


def _no_destination(node: Instruction, keyword: str) -> DockerfileError:
    return error_at(
        node,
        f"{keyword} requires at least two arguments, but only one was provided. "
        "Destination could not be determined",
        f"write {keyword} <source>... <destination>",
    )


def _parse_copy(node: Instruction) -> CopyCommand:
    if len(node.args) < 2:
        raise _no_destination(node, "COPY")
    flags = _flags(
        node,
        _string("chown"),
        _string("from"),
        _string("chmod"),
        _bool("link"),
        _strings("exclude"),
        _bool("parents"),
    )
    sources, contents, dest = _sources_and_dest(node, "COPY")
    _check_literal_chmod(node, flags.get("chmod"))
    return CopyCommand(
        node,
        sources=sources,
        dest=dest,
        contents=contents,
        from_=flags.get("from"),
        chown=flags.get("chown"),
        chmod=flags.get("chmod"),
        link=flags.is_true("link"),
        parents=flags.is_true("parents"),
        exclude=flags.strings("exclude"),
    )


def _parse_add(node: Instruction) -> AddCommand:
    if len(node.args) < 2:
        raise _no_destination(node, "ADD")
    flags = _flags(
        node,
        _string("chown"),
        _string("chmod"),
        _bool("link"),
        _bool("keep-git-dir"),
        _string("checksum"),
        _bool("unpack"),
        _strings("exclude"),
    )
    sources, contents, dest = _sources_and_dest(node, "ADD")
    _check_literal_chmod(node, flags.get("chmod"))
    return AddCommand(
        node,
        sources=sources,
        dest=dest,
        contents=contents,
        chown=flags.get("chown"),
        chmod=flags.get("chmod"),
        link=flags.is_true("link"),
        keep_git_dir=flags.is_true("keep-git-dir") if flags.is_used("keep-git-dir") else None,
        checksum=flags.get("checksum"),
        unpack=flags.is_true("unpack") if flags.is_used("unpack") else None,
        exclude=flags.strings("exclude"),
    )


def _parse_onbuild(node: Instruction) -> OnbuildCommand:
    trigger = node.trigger
    if trigger is None:
        raise error_at(node, "ONBUILD requires at least one argument", "e.g. ONBUILD COPY . /app")
    _flags(node)
    keyword = trigger.raw_keyword.strip().upper()
    if keyword == "ONBUILD":
        raise error_at(
            node,
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            "put the trigger instruction directly after a single ONBUILD",
        )
    if keyword in ("MAINTAINER", "FROM"):
        raise error_at(
            node,
            f"{keyword} isn't allowed as an ONBUILD trigger",
            "ONBUILD triggers run inside the child's stage; FROM and MAINTAINER cannot",
        )
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for heredoc in node.heredocs:
        expression += "\n" + heredoc.content + heredoc.name
    return OnbuildCommand(node, expression=expression, trigger_keyword=keyword)


def _parse_workdir(node: Instruction) -> WorkdirCommand:
    value = _exactly_one(node, "WORKDIR")
    _flags(node)
    return WorkdirCommand(node, value)


def _duration(node: Instruction, flags: ParsedFlags, name: str) -> int:
    text = flags.get(name)
    if not text:
        return 0
    try:
        value = parse_duration(text)
    except DurationError as err:
        raise DockerfileError(
            str(err),
            location=node.locate(f"--{name}"),
            hint="durations are numbers with units ns, us, ms, s, m, h, e.g. 30s or 1m30s",
        ) from None
    if value == 0:
        return 0
    if value < _MIN_INTERVAL:
        raise DockerfileError(
            f"Interval {go_quote(name)} cannot be less than 1ms",
            location=node.locate(f"--{name}"),
            hint="use a duration of at least 1ms, or 0 to inherit the default",
        )
    return value


def _parse_healthcheck(node: Instruction) -> HealthcheckCommand:
    if not node.args:
        raise error_at(
            node, "HEALTHCHECK requires at least one argument", "write HEALTHCHECK CMD <command>"
        )
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise error_at(
                node, "HEALTHCHECK NONE takes no arguments", "write HEALTHCHECK NONE alone"
            )
        return HealthcheckCommand(node, HealthConfig(("NONE",)))
    flags = _flags(
        node,
        _string("interval"),
        _string("timeout"),
        _string("start-period"),
        _string("start-interval"),
        _string("retries"),
    )
    if kind != "CMD":
        raise error_at(
            node,
            f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)",
            "write HEALTHCHECK CMD <command> or HEALTHCHECK NONE",
        )
    command = _json_args(node, rest)
    if not command:
        raise error_at(
            node,
            "Missing command after HEALTHCHECK CMD",
            "e.g. HEALTHCHECK CMD curl -f http://localhost/ || exit 1",
        )
    test = ("CMD" if node.json_form else "CMD-SHELL", *command)
    interval = _duration(node, flags, "interval")
    timeout = _duration(node, flags, "timeout")
    start_period = _duration(node, flags, "start-period")
    start_interval = _duration(node, flags, "start-interval")
    retries = 0
    text = flags.get("retries")
    if text:
        if not re.fullmatch(r"[+-]?[0-9]+", text) or not -(2**31) <= int(text) < 2**31:
            reason = (
                "value out of range" if re.fullmatch(r"[+-]?[0-9]+", text) else "invalid syntax"
            )
            raise DockerfileError(
                f"strconv.ParseInt: parsing {go_quote(text)}: {reason}",
                location=node.locate("--retries"),
                hint="--retries takes a whole number, e.g. --retries=3",
            )
        retries = int(text)
        if retries < 0:
            raise DockerfileError(
                f"--retries cannot be negative ({retries})",
                location=node.locate("--retries"),
                hint="--retries takes a whole number, e.g. --retries=3",
            )
    return HealthcheckCommand(
        node, HealthConfig(test, interval, timeout, start_period, start_interval, retries)
    )


def _parse_expose(node: Instruction) -> ExposeCommand:
    _at_least_one(node, "EXPOSE", "EXPOSE 8080/tcp")
    _flags(node)
    return ExposeCommand(node, tuple(sorted(node.args)))


def _parse_user(node: Instruction) -> UserCommand:
    value = _exactly_one(node, "USER")
    _flags(node)
    return UserCommand(node, value)


def _parse_volume(node: Instruction) -> VolumeCommand:
    _at_least_one(node, "VOLUME", "VOLUME /data")
    _flags(node)
    volumes = []
    for value in node.args:
        value = value.strip()
        if not value:
            raise error_at(
                node, "VOLUME specified can not be an empty string", "name a path, e.g. /data"
            )
        volumes.append(value)
    return VolumeCommand(node, tuple(volumes))


def _parse_stopsignal(node: Instruction) -> StopsignalCommand:
    # BuildKit never parses STOPSIGNAL's flags: they are silently ignored.
    return StopsignalCommand(node, _exactly_one(node, "STOPSIGNAL"))


def _parse_arg(node: Instruction) -> ArgCommand:
    # BuildKit never parses ARG's flags either.
    if not node.args:
        raise error_at(node, "ARG requires at least one argument", "write ARG NAME[=default]")
    pairs = []
    for word in node.args:
        key, has_value, value = word.partition("=")
        if has_value and not key:
            raise error_at(node, "ARG names can not be blank", "write ARG NAME[=default]")
        pairs.append(
            ArgDefinition(key, value if has_value else None, _doc_comment(node.comments, key))
        )
    return ArgCommand(node, tuple(pairs))


def _parse_shell(node: Instruction) -> ShellCommand:
    _flags(node)
    shell = _json_args(node, node.args)
    if not shell:
        raise error_at(
            node, "SHELL requires at least one argument", 'e.g. SHELL ["/bin/bash", "-c"]'
        )
    if not node.json_form:
        raise error_at(
            node,
            "SHELL requires the arguments to be in JSON form",
            'write SHELL as a JSON array, e.g. SHELL ["/bin/bash", "-c"]',
        )
    return ShellCommand(node, shell)


_PARSERS: dict[str, Callable[[Instruction], Command]] = {
    "add": _parse_add,
    "arg": _parse_arg,
    "cmd": _parse_cmd,
    "copy": _parse_copy,
    "entrypoint": _parse_entrypoint,
    "env": _parse_env,
    "expose": _parse_expose,
    "from": _parse_from,
    "healthcheck": _parse_healthcheck,
    "label": _parse_label,
    "maintainer": _parse_maintainer,
    "onbuild": _parse_onbuild,
    "run": _parse_run,
    "shell": _parse_shell,
    "stopsignal": _parse_stopsignal,
    "user": _parse_user,
    "volume": _parse_volume,
    "workdir": _parse_workdir,
}
assert set(_PARSERS) == set(INSTRUCTIONS)


def _unknown(node: Instruction) -> DockerfileError:
    keywords = sorted(k.upper() for k in INSTRUCTIONS)
    match = suggest(node.raw_keyword, keywords)
    hint = f"did you mean {match}?" if match else "valid instructions are " + ", ".join(keywords)
    return error_at(node, f"unknown instruction: {node.raw_keyword}", hint)


def parse_instruction(node: Instruction) -> Command:
    """The typed command for ``node``; :class:`DockerfileError` as BuildKit's ``ParseInstruction``."""
    parser = _PARSERS.get(node.keyword)
    if parser is None:
        raise _unknown(node)
    return parser(node)


def parse_stages(result: ParseResult) -> Instructions:
    """Group a parsed Dockerfile into stages, as BuildKit's ``instructions.Parse``.

    ARG instructions before the first FROM are the global ("meta") args; any
    other instruction before a FROM is an error ("no build stage in current
    context").  A file without FROM is an error too.
    """
    meta: list[ArgCommand] = []
    stages: list[tuple[FromCommand, list[Command]]] = []
    for node in result.ast:
        command = parse_instruction(node)
        if isinstance(command, FromCommand):
            stages.append((command, []))
        elif stages:
            stages[-1][1].append(command)
        elif isinstance(command, ArgCommand):
            meta.append(command)
        else:
            raise error_at(
                node,
                "no build stage in current context",
                "a Dockerfile must start with FROM (only ARG may come before the first FROM)",
            )
    if not stages:
        last = result.ast.instructions[-1]
        raise error_at(
            last,
            "dockerfile contains no stages to build",
            "add a FROM instruction, e.g. FROM alpine",
        )
    return Instructions(
        meta_args=tuple(meta),
        stages=tuple(
            Stage(index, from_, tuple(commands)) for index, (from_, commands) in enumerate(stages)
        ),
        escape=result.escape_token,
        filename=result.ast.filename,
    )
