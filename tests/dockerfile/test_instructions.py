"""Typed instructions: every instruction and flag, and BuildKit's errors with positions.

What a user notices: the meaning anyarch reads from each line (sources,
destination, flags, heredocs, durations), and for a mistake an error that
names ``file:line:column``, shows the line and says how to fix it -- with
BuildKit's wording, so messages match what Docker users already know.
"""

from __future__ import annotations

from typing import Any

import pytest

from anyarch.dockerfile import parse
from anyarch.dockerfile.chmod import ChmodError, ChmodSpec, parse_chmod
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
from anyarch.dockerfile.durations import DurationError, format_duration, parse_duration
from anyarch.dockerfile.instructions import parse_instruction, parse_stages
from anyarch.dockerfile.mounts import (
    Device,
    Mount,
    MountError,
    csv_fields,
    parse_device,
    parse_mount,
    ram_in_bytes,
)
from anyarch.errors import DockerfileError

S = 1_000_000_000


def typed(line: str) -> Command:
    """The typed form of ``line`` placed after ``FROM x``."""
    result = parse("FROM x\n" + line + "\n")
    return parse_instruction(result.ast[-1])


def fields(command: Command) -> dict[str, Any]:
    """The command's own fields (its parse node left out)."""
    names = [n for n in type(command).__dataclass_fields__ if n != "node"]
    return {n: getattr(command, n) for n in names}


# --- every instruction and flag -------------------------------------------------

TYPED = [
    ("from-plain", "FROM alpine:3.19", FromCommand, {"base_name": "alpine:3.19", "stage_name": ""}),
    (
        "from-as-lowercased",
        "FROM golang:1.22 AS Build",
        FromCommand,
        {"base_name": "golang:1.22", "stage_name": "build", "stage_name_as_written": "Build"},
    ),
    (
        "from-platform-flag",
        "FROM --platform=$BUILDPLATFORM golang AS b",
        FromCommand,
        {"platform": "$BUILDPLATFORM", "stage_name": "b"},
    ),
    (
        "run-shell-form",
        "RUN apt-get update && apt-get install -y curl",
        RunCommand,
        {"cmd_line": ("apt-get update && apt-get install -y curl",), "prepend_shell": True},
    ),
    (
        "run-exec-form",
        'RUN ["/bin/echo", "a b"]',
        RunCommand,
        {"cmd_line": ("/bin/echo", "a b"), "prepend_shell": False, "network": "default"},
    ),
    (
        "run-heredoc",
        "RUN <<EOF\necho one\necho two\nEOF",
        RunCommand,
        {"cmd_line": ("<<EOF",), "files": (InlineFile("EOF", "echo one\necho two\n"),)},
    ),
    (
        "run-heredoc-chomp",
        "RUN <<-EOT bash\n\techo hi\nEOT",
        RunCommand,
        {"files": (InlineFile("EOT", "\techo hi\n", True),)},
    ),
    (
        "run-mount-cache-all-options",
        "RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0700,uid=1000,gid=1000 pip install x",
        RunCommand,
        {
            "mounts": (
                Mount(
                    type="cache",
                    target="/root/.cache",
                    readonly=False,
                    cache_id="pip",
                    sharing="locked",
                    mode=0o700,
                    uid=1000,
                    gid=1000,
                ),
            )
        },
    ),
    (
        "run-mount-bind-from-stage",
        "RUN --mount=from=build,src=/out,dst=/in,rw make",
        RunCommand,
        {"mounts": (Mount(from_="build", source="/out", target="/in", readonly=False),)},
    ),
    (
        "run-mount-secret-env",
        "RUN --mount=type=secret,id=token,env=TOKEN,required=true ./x",
        RunCommand,
        {"mounts": (Mount(type="secret", cache_id="token", env="TOKEN", required=True),)},
    ),
    (
        "run-mount-ssh",
        "RUN --mount=type=ssh,required git clone x",
        RunCommand,
        {"mounts": (Mount(type="ssh", required=True),)},
    ),
    (
        "run-mount-tmpfs-size",
        "RUN --mount=type=tmpfs,target=/tmp,size=64m true",
        RunCommand,
        {"mounts": (Mount(type="tmpfs", target="/tmp", readonly=False, size_limit=64 << 20),)},
    ),
    (
        "run-mount-two-kept-raw",
        "RUN --mount=type=cache,target=/a --mount=type=bind,target=/b true",
        RunCommand,
        {"mount_specs": ("type=cache,target=/a", "type=bind,target=/b")},
    ),
    (
        "run-network-and-security",
        "RUN --network=none --security=insecure true",
        RunCommand,
        {
            "network": "none",
            "security": "insecure",
            "flags_used": frozenset({"network", "security"}),
        },
    ),
    (
        "run-device",
        "RUN --device=vendor.com/gpu=all,required true",
        RunCommand,
        {"devices": (Device("vendor.com/gpu=all", True),)},
    ),
    (
        "cmd-shell",
        "CMD echo $HOME",
        CmdCommand,
        {"cmd_line": ("echo $HOME",), "prepend_shell": True},
    ),
    (
        "cmd-exec",
        'CMD ["nginx", "-g", "daemon off;"]',
        CmdCommand,
        {"cmd_line": ("nginx", "-g", "daemon off;")},
    ),
    (
        "entrypoint-exec",
        'ENTRYPOINT ["/app"]',
        EntrypointCommand,
        {"cmd_line": ("/app",), "prepend_shell": False},
    ),
    ("entrypoint-empty-clears", "ENTRYPOINT []", EntrypointCommand, {"cmd_line": ()}),
    (
        "label-pairs",
        'LABEL a=1 "b c"="d e"',
        LabelCommand,
        {"labels": (KeyValue("a", "1"), KeyValue('"b c"', '"d e"'))},
    ),
    (
        "env-equals-form",
        'ENV A=1 B="two words"',
        EnvCommand,
        {"env": (KeyValue("A", "1"), KeyValue("B", '"two words"'))},
    ),
    ("env-legacy-form", "ENV GOPATH /go", EnvCommand, {"env": (KeyValue("GOPATH", "/go", True),)}),
    (
        "maintainer",
        "MAINTAINER Jane <j@x.org>",
        MaintainerCommand,
        {"maintainer": "Jane <j@x.org>"},
    ),
    (
        "expose-sorted",
        "EXPOSE 8080 443/tcp 53/udp",
        ExposeCommand,
        {"ports": ("443/tcp", "53/udp", "8080")},
    ),
    (
        "copy-every-flag",
        "COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git a/./b c /dst/",
        CopyCommand,
        {
            "sources": ("a/./b", "c"),
            "dest": "/dst/",
            "from_": "build",
            "chown": "app:app",
            "chmod": "0755",
            "link": True,
            "parents": True,
            "exclude": ("*.md", ".git"),
        },
    ),
    (
        "copy-json-form",
        'COPY ["my file", "/dst"]',
        CopyCommand,
        {"sources": ("my file",), "dest": "/dst", "link": False},
    ),
    (
        "copy-heredoc-source",
        "COPY <<EOF /etc/motd\nhello $USER\nEOF",
        CopyCommand,
        {
            "sources": (),
            "contents": (SourceContent("EOF", "hello $USER\n", True),),
            "dest": "/etc/motd",
        },
    ),
    (
        "copy-quoted-heredoc-no-expand",
        "COPY <<'EOF' /x\n$KEEP\nEOF",
        CopyCommand,
        {"contents": (SourceContent("EOF", "$KEEP\n", False),)},
    ),
    (
        "add-every-flag",
        "ADD --chown=1:1 --chmod=u+x --link --keep-git-dir=false --checksum=sha256:abc --unpack --exclude=x https://e.org/a.tgz /opt/",
        AddCommand,
        {
            "sources": ("https://e.org/a.tgz",),
            "chown": "1:1",
            "chmod": "u+x",
            "link": True,
            "keep_git_dir": False,
            "checksum": "sha256:abc",
            "unpack": True,
            "exclude": ("x",),
        },
    ),
    ("add-unset-optional-flags", "ADD a /b", AddCommand, {"keep_git_dir": None, "unpack": None}),
    ("volume-words", "VOLUME /data /logs", VolumeCommand, {"volumes": ("/data", "/logs")}),
    ("volume-json", 'VOLUME ["/var/lib/x"]', VolumeCommand, {"volumes": ("/var/lib/x",)}),
    ("user", "USER app:app", UserCommand, {"user": "app:app"}),
    ("workdir", "WORKDIR /src/$APP", WorkdirCommand, {"path": "/src/$APP"}),
    (
        "arg-several-per-line",
        "ARG A B=1 C=",
        ArgCommand,
        {"args": (ArgDefinition("A"), ArgDefinition("B", "1"), ArgDefinition("C", ""))},
    ),
    (
        "onbuild-trigger-text",
        "ONBUILD COPY --from=x . /app",
        OnbuildCommand,
        {"expression": "COPY --from=x . /app", "trigger_keyword": "COPY"},
    ),
    (
        "onbuild-heredoc-trigger-text",
        "onbuild RUN <<EOF\necho hi\nEOF",
        OnbuildCommand,
        {"expression": "RUN <<EOF\necho hi\nEOF", "trigger_keyword": "RUN"},
    ),
    ("stopsignal", "STOPSIGNAL SIGQUIT", StopsignalCommand, {"signal": "SIGQUIT"}),
    (
        "healthcheck-every-flag",
        "HEALTHCHECK --interval=1m30s --timeout=10s --start-period=1.5s --start-interval=500ms --retries=3 CMD curl -f http://localhost/",
        HealthcheckCommand,
        {
            "health": HealthConfig(
                ("CMD-SHELL", "curl -f http://localhost/"), 90 * S, 10 * S, 3 * S // 2, S // 2, 3
            )
        },
    ),
    (
        "healthcheck-exec",
        'HEALTHCHECK CMD ["/bin/check", "-q"]',
        HealthcheckCommand,
        {"health": HealthConfig(("CMD", "/bin/check", "-q"))},
    ),
    (
        "healthcheck-none",
        "HEALTHCHECK NONE",
        HealthcheckCommand,
        {"health": HealthConfig(("NONE",))},
    ),
    (
        "shell",
        'SHELL ["powershell", "-Command"]',
        ShellCommand,
        {"shell": ("powershell", "-Command")},
    ),
]


@pytest.mark.parametrize(
    ("line", "cls", "expected"), [t[1:] for t in TYPED], ids=[t[0] for t in TYPED]
)
def test_typed_instruction(line: str, cls: type, expected: dict[str, Any]) -> None:
    command = typed(line)
    assert type(command) is cls
    got = fields(command)
    assert {k: got[k] for k in expected} == expected


def test_every_instruction_has_a_typed_case() -> None:
    covered = {cls.__name__ for _, _, cls, _ in TYPED}
    assert len(covered) == 18


def test_commands_keep_their_position_and_text() -> None:
    result = parse("FROM x\n\n  COPY --link a \\\n     b /c\n", filename="app/Dockerfile")
    command = parse_instruction(result.ast[1])
    assert str(command.location) == "app/Dockerfile:3:3"
    assert command.location.text == "  COPY --link a \\"
    assert command.code == "COPY --link a      b /c"
    assert command.name == "copy"


def test_stages_group_commands_and_keep_meta_args_apart() -> None:
    text = "ARG V=1\nARG W\nFROM a:$V AS one\nRUN x\nFROM one\nARG LOCAL\nCOPY --from=one /a /b\n"
    stages = parse_stages(parse(text))
    assert [a.args for a in stages.meta_args] == [(ArgDefinition("V", "1"),), (ArgDefinition("W"),)]
    assert [(s.index, s.name, s.from_.base_name) for s in stages.stages] == [
        (0, "one", "a:$V"),
        (1, "", "one"),
    ]
    assert [type(c).__name__ for c in stages.stages[1].commands] == ["ArgCommand", "CopyCommand"]


def test_stage_doc_comment_and_arg_doc_comment() -> None:
    text = (
        "# base is the runtime image\nFROM alpine AS base\n# PORT the listening port\nARG PORT=80\n"
    )
    stages = parse_stages(parse(text))
    assert stages.stages[0].from_.doc == "is the runtime image"
    assert stages.stages[0].commands[0].args[0].doc == "the listening port"  # type: ignore[attr-defined]


def test_escape_directive_is_kept_for_the_planner() -> None:
    assert parse_stages(parse("# escape=`\nFROM x\n")).escape == "`"


# --- errors: message, file:line:column, hint -------------------------------------


def error(text: str, filename: str = "Dockerfile") -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        parse_stages(parse(text, filename=filename))
    return info.value


ERRORS = [
    (
        "unknown-instruction-suggests-copy",
        "FROM x\nCOPPY a /b\n",
        "Dockerfile:2:1",
        "unknown instruction: COPPY",
        "did you mean COPY?",
    ),
    (
        "unknown-instruction-keeps-user-case",
        "FROM x\n  workdri /app\n",
        "Dockerfile:2:3",
        "unknown instruction: workdri",
        "did you mean workdir?",
    ),
    (
        "unknown-instruction-lists-all-when-far",
        "FROM x\nBOGUS\n",
        "Dockerfile:2:1",
        "unknown instruction: BOGUS",
        "valid instructions are ADD, ARG, CMD, COPY, ENTRYPOINT, ENV, EXPOSE, FROM, HEALTHCHECK, "
        "LABEL, MAINTAINER, ONBUILD, RUN, SHELL, STOPSIGNAL, USER, VOLUME, WORKDIR",
    ),
    (
        "unknown-flag-points-at-flag",
        "FROM x\nCOPY --frm=build /a /b\n",
        "Dockerfile:2:6",
        "unknown flag: --frm",
        "did you mean --from? valid flags for COPY: --chmod, --chown, --exclude, --from, --link, --parents",
    ),
    (
        "unknown-flag-on-continuation-line",
        "FROM x\nRUN --network=none \\\n    --mout=type=cache,target=/x true\n",
        "Dockerfile:3:5",
        "unknown flag: --mout",
        "did you mean --mount? valid flags for RUN: --device, --mount, --network, --security",
    ),
    (
        "flag-on-instruction-without-flags",
        "FROM x\nENV --a=b C=d\n",
        "Dockerfile:2:5",
        "unknown flag: --a",
        "ENV takes no flags",
    ),
    (
        "duplicate-flag",
        "FROM x\nCOPY --from=a --from=b x y\n",
        "Dockerfile:2:6",
        "duplicate flag specified: --from",
        "give --from only once",
    ),
    (
        "bool-flag-bad-value",
        "FROM x\nCOPY --link=maybe a b\n",
        "Dockerfile:2:6",
        "expecting boolean value for flag --link, not: maybe",
        "write --link, --link=true or --link=false",
    ),
    (
        "string-flag-without-value",
        "FROM x\nCOPY --chmod 777 a b\n",
        "Dockerfile:2:6",
        "missing a value on flag: --chmod",
        "write --chmod=<value>",
    ),
    (
        "copy-missing-destination",
        "FROM x\nCOPY onlyone\n",
        "Dockerfile:2:1",
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined",
        "write COPY <source>... <destination>",
    ),
    (
        "add-missing-destination",
        "FROM x\nADD https://x.org/f\n",
        "Dockerfile:2:1",
        "ADD requires at least two arguments, but only one was provided. Destination could not be determined",
        "write ADD <source>... <destination>",
    ),
    (
        "copy-heredoc-destination",
        "FROM x\nCOPY a <<EOF\nx\nEOF\n",
        "Dockerfile:2:1",
        "COPY cannot accept a heredoc as a destination",
        "heredocs are sources; put the destination path last",
    ),
    (
        "workdir-missing-argument",
        "FROM x\nWORKDIR\n",
        "Dockerfile:2:1",
        "WORKDIR requires exactly one argument",
        "write WORKDIR with a single value",
    ),
    (
        "expose-missing-argument",
        "FROM x\nEXPOSE\n",
        "Dockerfile:2:1",
        "EXPOSE requires at least one argument",
        "e.g. EXPOSE 8080/tcp",
    ),
    (
        "arg-blank-name",
        "FROM x\nARG =1\n",
        "Dockerfile:2:1",
        "ARG names can not be blank",
        "write ARG NAME[=default]",
    ),
    (
        "env-blank-name",
        "FROM x\nENV =1\n",
        "Dockerfile:2:1",
        "ENV names can not be blank",
        "e.g. ENV key=value",
    ),
    (
        "chmod-not-octal",
        "FROM x\nCOPY --chmod=888 a /b\n",
        "Dockerfile:2:6",
        "invalid chmod parameter: '888'. it should be octal string and between 0 and 07777",
        "use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x,go-w",
    ),
    (
        "chmod-too-large",
        "FROM x\nADD --chmod=17777 a /b\n",
        "Dockerfile:2:5",
        "invalid chmod parameter: '17777'. it should be octal string and between 0 and 07777",
        "use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x,go-w",
    ),
    (
        "chmod-bad-symbolic",
        "FROM x\nCOPY --chmod=u+q a /b\n",
        "Dockerfile:2:6",
        "invalid chmod parameter: 'u+q': invalid syntax",
        "use an octal mode such as --chmod=755 or a symbolic one such as --chmod=u+x,go-w",
    ),
    (
        "healthcheck-unknown-unit",
        "FROM x\nHEALTHCHECK --interval=5x CMD true\n",
        "Dockerfile:2:13",
        'time: unknown unit "x" in duration "5x"',
        "durations are numbers with units ns, us, ms, s, m, h, e.g. 30s or 1m30s",
    ),
    (
        "healthcheck-missing-unit",
        "FROM x\nHEALTHCHECK --timeout=30 CMD true\n",
        "Dockerfile:2:13",
        'time: missing unit in duration "30"',
        "durations are numbers with units ns, us, ms, s, m, h, e.g. 30s or 1m30s",
    ),
    (
        "healthcheck-interval-below-1ms",
        "FROM x\nHEALTHCHECK --start-period=10us CMD true\n",
        "Dockerfile:2:13",
        'Interval "start-period" cannot be less than 1ms',
        "use a duration of at least 1ms, or 0 to inherit the default",
    ),
    (
        "healthcheck-negative-retries",
        "FROM x\nHEALTHCHECK --retries=-1 CMD true\n",
        "Dockerfile:2:13",
        "--retries cannot be negative (-1)",
        "--retries takes a whole number, e.g. --retries=3",
    ),
    (
        "healthcheck-retries-not-a-number",
        "FROM x\nHEALTHCHECK --retries=three CMD true\n",
        "Dockerfile:2:13",
        'strconv.ParseInt: parsing "three": invalid syntax',
        "--retries takes a whole number, e.g. --retries=3",
    ),
    (
        "healthcheck-unknown-type",
        "FROM x\nHEALTHCHECK RUN true\n",
        "Dockerfile:2:1",
        'Unknown type "RUN" in HEALTHCHECK (try CMD)',
        "write HEALTHCHECK CMD <command> or HEALTHCHECK NONE",
    ),
    (
        "healthcheck-cmd-without-command",
        "FROM x\nHEALTHCHECK CMD\n",
        "Dockerfile:2:1",
        "Missing command after HEALTHCHECK CMD",
        "e.g. HEALTHCHECK CMD curl -f http://localhost/ || exit 1",
    ),
    (
        "healthcheck-none-with-arguments",
        "FROM x\nHEALTHCHECK NONE x\n",
        "Dockerfile:2:1",
        "HEALTHCHECK NONE takes no arguments",
        "write HEALTHCHECK NONE alone",
    ),
    (
        "shell-not-json",
        "FROM x\nSHELL /bin/bash -c\n",
        "Dockerfile:2:1",
        "SHELL requires the arguments to be in JSON form",
        'write SHELL as a JSON array, e.g. SHELL ["/bin/bash", "-c"]',
    ),
    (
        "onbuild-from",
        "FROM x\nONBUILD FROM y\n",
        "Dockerfile:2:1",
        "FROM isn't allowed as an ONBUILD trigger",
        "ONBUILD triggers run inside the child's stage; FROM and MAINTAINER cannot",
    ),
    (
        "onbuild-maintainer",
        "FROM x\nONBUILD MAINTAINER me\n",
        "Dockerfile:2:1",
        "MAINTAINER isn't allowed as an ONBUILD trigger",
        "ONBUILD triggers run inside the child's stage; FROM and MAINTAINER cannot",
    ),
    (
        "onbuild-onbuild",
        "FROM x\nONBUILD ONBUILD RUN true\n",
        "Dockerfile:2:1",
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        "put the trigger instruction directly after a single ONBUILD",
    ),
    (
        "run-invalid-network",
        "FROM x\nRUN --network=bridge true\n",
        "Dockerfile:2:5",
        'invalid network mode "bridge"',
        "use --network=default, --network=none or --network=host",
    ),
    (
        "run-invalid-security",
        "FROM x\nRUN --security=root true\n",
        "Dockerfile:2:5",
        'security "root" is not valid',
        "use --security=sandbox or --security=insecure",
    ),
    (
        "run-mount-from-variable",
        "FROM x\nRUN --mount=from=$STAGE,target=/x true\n",
        "Dockerfile:2:13",
        "'from' doesn't support variable expansion, define alias stage instead",
        "add `FROM ${VAR} AS alias` and mount from=alias",
    ),
    (
        "invalid-stage-name",
        "FROM alpine AS 1st\n",
        "Dockerfile:1:16",
        'invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
        "stage names start with a letter and use letters, digits, '-', '_' and '.'",
    ),
    (
        "from-two-arguments",
        "FROM alpine builder\n",
        "Dockerfile:1:1",
        "FROM requires either one or three arguments",
        "write FROM image or FROM image AS name",
    ),
    (
        "no-from-before-instruction",
        "# comment\nRUN echo hi\nFROM alpine\n",
        "Dockerfile:2:1",
        "no build stage in current context",
        "a Dockerfile must start with FROM (only ARG may come before the first FROM)",
    ),
    (
        "only-args-no-stage",
        "ARG A=1\nARG B\n",
        "Dockerfile:2:1",
        "dockerfile contains no stages to build",
        "add a FROM instruction, e.g. FROM alpine",
    ),
]


@pytest.mark.parametrize(
    ("text", "where", "message", "hint"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_error(text: str, where: str, message: str, hint: str) -> None:
    err = error(text)
    assert str(err.location) == where
    assert err.reason == message
    assert err.hint == hint
    assert str(err) == f"{where}: {message}"
    line = int(where.split(":")[1])
    assert err.location is not None
    assert err.location.text == text.split("\n")[line - 1]


def test_error_names_the_file() -> None:
    err = error("FROM x\nCOPPY a b\n", filename="svc/api/Dockerfile.prod")
    assert str(err).startswith("svc/api/Dockerfile.prod:2:1: ")


def test_stopsignal_and_arg_flags_are_ignored_as_in_buildkit() -> None:
    """BuildKit never parses the flags of these two; a build must not fail where Docker's works."""
    assert typed("STOPSIGNAL --x=1 SIGTERM").signal == "SIGTERM"  # type: ignore[attr-defined]
    assert typed("ARG --x=1 A").args == (ArgDefinition("A"),)  # type: ignore[attr-defined]


def test_invalid_mount_fields_wait_for_expansion() -> None:
    """As in BuildKit, a bad mount is reported when its stage is dispatched, not when parsed."""
    command = typed("RUN --mount=type=bind,source=.,target=/src,z true")
    assert isinstance(command, RunCommand)
    assert command.mounts == (Mount(source=".", target="/src"),)
    with pytest.raises(MountError, match="invalid field 'z' must be a key=value pair"):
        parse_mount(command.mount_specs[0], lambda word: word)


# --- Go durations ----------------------------------------------------------------

DURATIONS = [
    ("0", 0, "0s"),
    ("1m30s", 90 * S, "1m30s"),
    ("1.5h", 5400 * S, "1h30m0s"),
    ("300ms", 300_000_000, "300ms"),
    (".5s", S // 2, "500ms"),
    ("1µs", 1_000, "1µs"),
    ("2us", 2_000, "2µs"),
    ("3ns", 3, "3ns"),
    ("-3s", -3 * S, "-3s"),
    ("+1h", 3600 * S, "1h0m0s"),
    ("1h2m3.5s", 3723 * S + S // 2, "1h2m3.5s"),
    ("2562047h", 2562047 * 3600 * S, "2562047h0m0s"),
]


@pytest.mark.parametrize(("text", "ns", "shown"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_duration_round_trip(text: str, ns: int, shown: str) -> None:
    assert parse_duration(text) == ns
    assert format_duration(ns) == shown
    assert parse_duration(shown) == ns


BAD_DURATIONS = [
    ("", 'time: invalid duration ""'),
    ("10", 'time: missing unit in duration "10"'),
    ("5x", 'time: unknown unit "x" in duration "5x"'),
    (".s", 'time: invalid duration ".s"'),
    ("1h-2m", 'time: unknown unit "h-" in duration "1h-2m"'),
    ("2562048h", 'time: invalid duration "2562048h"'),
    ("s", 'time: invalid duration "s"'),
]


@pytest.mark.parametrize(
    ("text", "message"), BAD_DURATIONS, ids=[repr(b[0]) for b in BAD_DURATIONS]
)
def test_duration_errors_are_gos(text: str, message: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert str(info.value) == message


def test_healthcheck_history_text_is_gos_percent_plus_v() -> None:
    health = HealthConfig(("CMD-SHELL", "curl -f x"), 30 * S, 0, 5 * S, 0, 3)
    assert health.go_text() == (
        "{Test:[CMD-SHELL curl -f x] Interval:30s Timeout:0s StartPeriod:5s "
        "StartInterval:0s Retries:3}"
    )


# --- chmod ---------------------------------------------------------------------

CHMODS = [
    ("755", ChmodSpec(octal=0o755)),
    ("0644", ChmodSpec(octal=0o644)),
    ("7777", ChmodSpec(octal=0o7777)),
    ("u+x", ChmodSpec(symbolic="u+x")),
    ("go-w,u=rwX", ChmodSpec(symbolic="go-w,u=rwX")),
    ("+x", ChmodSpec(symbolic="+x")),
    ("a=rx,u+w", ChmodSpec(symbolic="a=rx,u+w")),
]


@pytest.mark.parametrize(("value", "spec"), CHMODS, ids=[c[0] for c in CHMODS])
def test_chmod_accepted(value: str, spec: ChmodSpec) -> None:
    assert parse_chmod(value) == spec


@pytest.mark.parametrize("value", ["8", "10000", "9x", "u", "u+x,", "abc", "u+q", ""])
def test_chmod_refused(value: str) -> None:
    with pytest.raises(ChmodError):
        parse_chmod(value)


# --- mounts ----------------------------------------------------------------------

MOUNT_ERRORS = [
    ("type=cachee,target=/x", 'unsupported mount type "cachee" (did you mean cache?)'),
    (
        "type=cache,sharing=lockd,target=/x",
        'unsupported sharing value "lockd" (did you mean locked?)',
    ),
    ("type=bind,tgt=/x", "unexpected key 'tgt' in 'tgt=/x' (did you mean dst?)"),
    ("target=/x,mode=0700", 'mode not allowed for "bind" type mounts'),
    ("type=cache,target=/x,mode=0999", "invalid value 0999 for mode"),
    ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
    ("type=bind,target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"),
    ("type=tmpfs,target=/x,size=lots", "invalid value for size: lots"),
    ("type=bind,target=/x,required", "unexpected key 'required' for mount type 'bind'"),
    ("type=secret", "invalid secret mount. one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=secret,id=a,from=x", "secret mount should not have a from"),
    ("type=bind,target=/x,sharing=shared", "invalid cache sharing set for bind mount"),
    ("type=bind,target=/x,ro=maybe", "invalid value for ro: maybe"),
    ("target=/x,z", "invalid field 'z' must be a key=value pair"),
    (
        'target="/x',
        'failed to parse csv mounts: parse error on line 1, column 8: bare " in non-quoted-field',
    ),
]


@pytest.mark.parametrize(("spec", "message"), MOUNT_ERRORS, ids=[m[0] for m in MOUNT_ERRORS])
def test_mount_errors_when_expanded(spec: str, message: str) -> None:
    with pytest.raises(MountError) as info:
        parse_mount(spec, lambda word: word)
    assert info.value.message == message


def test_mount_values_are_expanded_with_the_stage_variables() -> None:
    env = {"T": "/cache", "ID": "x"}
    mount = parse_mount(
        "type=cache,target=$T,id=go-$ID",
        lambda w: w.replace("$T", env["T"]).replace("$ID", env["ID"]),
    )
    assert (mount.target, mount.cache_id, mount.readonly) == ("/cache", "go-x", False)


def test_mount_defaults_read_only_by_type() -> None:
    assert [
        parse_mount(f"type={t},target=/x,id=i").readonly
        for t in ("bind", "cache", "tmpfs", "secret", "ssh")
    ] == [
        True,
        False,
        False,
        True,
        True,
    ]


def test_csv_quoting_and_sizes() -> None:
    assert csv_fields('"target=/a,b",type=bind,"x=""y"""') == ["target=/a,b", "type=bind", 'x="y"']
    assert [ram_in_bytes(s) for s in ("64m", "1.5GiB", "100 kb", "512", "1b")] == [
        64 << 20,
        3 << 29,
        100 << 10,
        512,
        1,
    ]
    with pytest.raises(ValueError, match="invalid suffix"):
        ram_in_bytes("1mx")


def test_device_parsing() -> None:
    assert parse_device("name=nvidia.com/gpu=all,required=false") == Device(
        "nvidia.com/gpu=all", False
    )
    with pytest.raises(MountError, match="device name already set"):
        parse_device("a,name=b")
