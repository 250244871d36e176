"""Instructions that change only the image config: ENV, LABEL, ARG, CMD, ENTRYPOINT, ...

Each follows BuildKit's ``dispatch*`` function: which words are expanded and
against which environment, how the config changes, and the exact history
text (``ENV A=1 B=2``, ``CMD ["/bin/sh" "-c" "echo hi"]``,
``HEALTHCHECK {Test:[CMD-SHELL curl x] Interval:30s ...}``).  ARG is the
subtle one: a stage sees a global ARG only when it declares it, a
``--build-arg`` beats the default, and the value joins the environment of
later RUN steps (not the image's ``Env``).
"""

from __future__ import annotations

from typing import Any

from anyarch.dockerfile._gotext import go_quote_list
from anyarch.dockerfile.commands import (
    ArgCommand,
    ArgDefinition,
    CmdCommand,
    EntrypointCommand,
    EnvCommand,
    ExposeCommand,
    HealthcheckCommand,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    ShellCommand,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
)
from anyarch.plan.config import with_env
from anyarch.plan.options import HistoryEntry
from anyarch.plan.ports import PortError, parse_ports, parse_signal
from anyarch.plan.state import StageBuilder
from anyarch.plan.steps import ConfigSpec, StepKind

__all__ = [
    "default_shell",
    "dispatch_arg",
    "dispatch_cmd",
    "dispatch_entrypoint",
    "dispatch_env",
    "dispatch_expose",
    "dispatch_healthcheck",
    "dispatch_label",
    "dispatch_maintainer",
    "dispatch_onbuild",
    "dispatch_shell",
    "dispatch_stopsignal",
    "dispatch_user",
    "dispatch_volume",
    "with_shell",
]

#: ARGs that configure the build itself and never reach a RUN environment.
_NON_ENV_ARGS = frozenset({"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"})


def _config_step(
    b: StageBuilder,
    op: str,
    values: tuple[str, ...],
    created_by: str | None,
    **changes: Any,
) -> None:
    history = None if created_by is None else HistoryEntry(created_by, empty_layer=True)
    text = b.command.code if b.command is not None else op
    b.emit(StepKind.CONFIG, ConfigSpec(op, values), text=text, history=history, changes=changes)


def default_shell(os: str) -> tuple[str, ...]:
    """The shell for shell-form commands when no SHELL was set."""
    return ("cmd", "/S", "/C") if os == "windows" else ("/bin/sh", "-c")


def with_shell(b: StageBuilder, args: tuple[str, ...]) -> tuple[str, ...]:
    """BuildKit's ``withShell``: the configured (or default) shell plus the joined command."""
    shell = b.config.shell or default_shell(b.config.os)
    return (*shell, " ".join(args))


def dispatch_env(b: StageBuilder, c: EnvCommand) -> None:
    """ENV: all words expanded against the env *before* the instruction, then applied."""
    pairs = [(b.expand(kv.key), b.expand(kv.value)) for kv in c.env]
    image_env = b.config.env
    env = b.env
    for key, value in pairs:
        image_env = with_env(image_env, key, value)
        env = env.set(key, value)
    b.env = env
    flat = tuple(f"{k}={v}" for k, v in pairs)
    _config_step(b, "env", flat, "ENV " + " ".join(flat), env=image_env)


def dispatch_label(b: StageBuilder, c: LabelCommand) -> None:
    """LABEL: expanded like ENV; labels accumulate over the base image's."""
    pairs = [(b.expand(kv.key), b.expand(kv.value)) for kv in c.labels]
    labels = dict(b.config.labels)
    for key, value in pairs:
        labels[key] = value
    flat = tuple(f"{k}={v}" for k, v in pairs)
    _config_step(b, "label", flat, "LABEL " + " ".join(flat), labels=tuple(sorted(labels.items())))


def dispatch_maintainer(b: StageBuilder, c: MaintainerCommand) -> None:
    """MAINTAINER: the image's author (no expansion)."""
    _config_step(
        b, "maintainer", (c.maintainer,), f"MAINTAINER {c.maintainer}", author=c.maintainer
    )


def dispatch_cmd(b: StageBuilder, c: CmdCommand) -> None:
    """CMD: shell form gets the shell prepended; ``ArgsEscaped`` is set as BuildKit does."""
    args = with_shell(b, c.cmd_line) if c.prepend_shell else c.cmd_line
    b.cmd_set = True
    _config_step(b, "cmd", args, f"CMD {go_quote_list(args)}", cmd=args, args_escaped=True)


def dispatch_entrypoint(b: StageBuilder, c: EntrypointCommand) -> None:
    """ENTRYPOINT: clears a CMD inherited from the base, keeps one set earlier in this stage."""
    args = with_shell(b, c.cmd_line) if c.prepend_shell else c.cmd_line
    changes: dict[str, Any] = {"entrypoint": args or None}
    if not b.cmd_set:
        changes["cmd"] = None
    _config_step(b, "entrypoint", args, f"ENTRYPOINT {go_quote_list(args)}", **changes)


def dispatch_healthcheck(b: StageBuilder, c: HealthcheckCommand) -> None:
    """HEALTHCHECK: the config as parsed (no expansion)."""
    text = c.health.go_text()
    _config_step(b, "healthcheck", (text,), f"HEALTHCHECK {text}", healthcheck=c.health)


def dispatch_expose(b: StageBuilder, c: ExposeCommand) -> None:
    """EXPOSE: words expanded and split, ranges expanded to ``port/proto`` keys."""
    words: list[str] = []
    for port in c.ports:
        words.extend(b.expand_words(port))
    try:
        ports = parse_ports(words)
    except PortError as err:
        raise b.fail(str(err), "ports look like 80, 8080/tcp, 53/udp or 8000-8010") from None
    _config_step(
        b,
        "expose",
        tuple(ports),
        f"EXPOSE [{' '.join(ports)}]",
        exposed_ports=tuple(sorted(set(b.config.exposed_ports) | set(ports))),
    )


def dispatch_user(b: StageBuilder, c: UserCommand) -> None:
    """USER: expanded; later RUN steps and the image run as this user."""
    user = b.expand(c.user)
    b.user = user
    _config_step(b, "user", (user,), f"USER {user}", user=user)


def dispatch_volume(b: StageBuilder, c: VolumeCommand) -> None:
    """VOLUME: expanded paths added to the config's volumes."""
    volumes = [b.expand(v) for v in c.volumes]
    if any(v == "" for v in volumes):
        raise b.fail("VOLUME specified can not be an empty string")
    _config_step(
        b,
        "volume",
        tuple(volumes),
        f"VOLUME [{' '.join(volumes)}]",
        volumes=tuple(sorted(set(b.config.volumes) | set(volumes))),
    )


def dispatch_stopsignal(b: StageBuilder, c: StopsignalCommand) -> None:
    """STOPSIGNAL: expanded, then checked against the signal names."""
    signal = b.expand(c.signal)
    try:
        parse_signal(signal)
    except PortError as err:
        raise b.fail(
            str(err), "use a signal name such as SIGTERM or SIGQUIT, or a number"
        ) from None
    _config_step(b, "stopsignal", (signal,), f"STOPSIGNAL {signal}", stop_signal=signal)


def dispatch_shell(b: StageBuilder, c: ShellCommand) -> None:
    """SHELL: the shell for later shell-form RUN/CMD/ENTRYPOINT."""
    _config_step(b, "shell", c.shell, f"SHELL [{' '.join(c.shell)}]", shell=c.shell)


def dispatch_onbuild(b: StageBuilder, c: OnbuildCommand) -> None:
    """ONBUILD: stored in the config for images built FROM this one; no history entry."""
    on_build = (*b.config.on_build, c.expression)
    _config_step(b, "onbuild", (c.expression,), None, on_build=on_build)


def dispatch_arg(b: StageBuilder, c: ArgCommand) -> None:
    """ARG: BuildKit's ``dispatchArg``, one name at a time.

    A name without default takes the global value (if any); a
    ``--build-arg`` wins over a default; a default is expanded against the
    environment so far (earlier names of the same line included).  The value
    joins the RUN environment; an unset ARG stays unset.
    """
    build_args = b.ctx.opts.build_args
    global_env = b.ctx.graph.meta.env
    parts: list[str] = []
    for arg in c.args:
        value = arg.value
        has_value = arg.key in build_args
        if value is None and not has_value:
            value = global_env.get(arg.key)
        if has_value:
            value = build_args[arg.key]
        elif arg.value is not None:
            value = b.expand(arg.value)
        if value is not None and arg.key not in _NON_ENV_ARGS:
            b.env = b.env.set(arg.key, value)
        resolved = ArgDefinition(arg.key, value, arg.doc)
        b.build_args.append(resolved)
        parts.append(str(resolved))
    _config_step(b, "arg", tuple(parts), "ARG " + " ".join(parts))
