"""Typed Dockerfile instructions: BuildKit's ``instructions/commands.go`` as frozen values.

The parse tree (:mod:`anyarch.dockerfile.nodes`) says what was written; these
classes say what it means: ``COPY --from=build --chmod=755 a b /dst/`` becomes
a :class:`CopyCommand` with ``from_="build"``, ``sources=("a", "b")``,
``dest="/dst/"``.  Values are as written: variables are expanded by the
planner, per platform and stage, exactly where BuildKit expands them.  Every
command keeps its parse node (``node``), so errors found later can still
point at ``file:line:column`` and the linter can read comments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anyarch.dockerfile.durations import format_duration
from anyarch.dockerfile.mounts import Device, Mount
from anyarch.dockerfile.nodes import Instruction
from anyarch.errors import SourceLocation

__all__ = [
    "AddCommand",
    "ArgCommand",
    "ArgDefinition",
    "CmdCommand",
    "Command",
    "CopyCommand",
    "EntrypointCommand",
    "EnvCommand",
    "ExposeCommand",
    "FromCommand",
    "HealthConfig",
    "HealthcheckCommand",
    "InlineFile",
    "KeyValue",
    "LabelCommand",
    "MaintainerCommand",
    "OnbuildCommand",
    "RunCommand",
    "ShellCommand",
    "SourceContent",
    "StopsignalCommand",
    "UserCommand",
    "VolumeCommand",
    "WorkdirCommand",
]


@dataclass(frozen=True, slots=True)
class KeyValue:
    """An ENV or LABEL pair; ``no_delim`` marks the legacy ``ENV key value`` form."""

    key: str
    value: str
    no_delim: bool = False

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True, slots=True)
class ArgDefinition:
    """One name of an ARG line; ``value`` is None when no default is given."""

    key: str
    value: str | None = None
    doc: str = ""

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


@dataclass(frozen=True, slots=True)
class InlineFile:
    """A heredoc attached to RUN/CMD/ENTRYPOINT (raw body; ``chomp`` for ``<<-``)."""

    name: str
    data: str
    chomp: bool = False


@dataclass(frozen=True, slots=True)
class SourceContent:
    """A heredoc used as a COPY/ADD source: written to a file named ``path``."""

    path: str
    data: str
    expand: bool = True


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """A container health check as the image config stores it (durations in ns).

    ``test`` is ``("NONE",)``, ``("CMD", arg, ...)`` or ``("CMD-SHELL", command)``.
    """

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def go_text(self) -> str:
        """Go's ``%+v`` of the config, the text BuildKit puts in the image history."""
        return (
            f"{{Test:[{' '.join(self.test)}] Interval:{format_duration(self.interval)} "
            f"Timeout:{format_duration(self.timeout)} "
            f"StartPeriod:{format_duration(self.start_period)} "
            f"StartInterval:{format_duration(self.start_interval)} Retries:{self.retries}}}"
        )


@dataclass(frozen=True, slots=True)
class Command:
    """What every instruction has: its parse node, hence its keyword and position."""

    node: Instruction
    _location: SourceLocation = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed once: the planner asks for it for every step of every platform.
        object.__setattr__(self, "_location", self.node.location)

    @property
    def name(self) -> str:
        """The keyword in lower case (``"copy"``)."""
        return self.node.keyword

    @property
    def location(self) -> SourceLocation:
        """``file:line:column`` of the instruction, with the line's text."""
        return self._location

    @property
    def code(self) -> str:
        """The instruction as written on its logical line (BuildKit's ``String()``)."""
        return self.node.original.strip()

    @property
    def comments(self) -> tuple[str, ...]:
        """Comment lines directly above the instruction."""
        return self.node.comments


@dataclass(frozen=True, slots=True)
class FromCommand(Command):
    """``FROM [--platform=P] base [AS name]``; starts a stage.

    ``stage_name`` is lower-cased as BuildKit does (stage names are
    case-insensitive); ``stage_name_as_written`` keeps the user's spelling.
    """

    base_name: str
    stage_name: str = ""
    stage_name_as_written: str = ""
    platform: str = ""
    doc: str = ""


@dataclass(frozen=True, slots=True)
class RunCommand(Command):
    """``RUN``: shell or exec form, heredocs, and the RUN-only flags.

    ``cmd_line`` is the exec array, or one shell string when
    ``prepend_shell``.  ``mounts`` are parsed as written (see
    :func:`anyarch.dockerfile.mounts.parse_mount`); ``mount_specs`` keeps the
    raw values, which the planner parses again with the stage's variables.
    """

    cmd_line: tuple[str, ...]
    prepend_shell: bool
    files: tuple[InlineFile, ...] = ()
    mounts: tuple[Mount, ...] = ()
    mount_specs: tuple[str, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    devices: tuple[Device, ...] = ()
    flags_used: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CmdCommand(Command):
    """``CMD``: the default command (shell form gets the shell prepended at plan time)."""

    cmd_line: tuple[str, ...]
    prepend_shell: bool
    files: tuple[InlineFile, ...] = ()


@dataclass(frozen=True, slots=True)
class EntrypointCommand(Command):
    """``ENTRYPOINT``; ``ENTRYPOINT []`` gives an empty ``cmd_line`` (clears it)."""

    cmd_line: tuple[str, ...]
    prepend_shell: bool
    files: tuple[InlineFile, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelCommand(Command):
    """``LABEL k=v ...``."""

    labels: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True)
class MaintainerCommand(Command):
    """``MAINTAINER name`` (deprecated; sets the image author)."""

    maintainer: str


@dataclass(frozen=True, slots=True)
class ExposeCommand(Command):
    """``EXPOSE 80 443/udp`` (ports sorted as written, as BuildKit sorts them)."""

    ports: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnvCommand(Command):
    """``ENV k=v ...`` or the legacy ``ENV k v``."""

    env: tuple[KeyValue, ...]


@dataclass(frozen=True, slots=True)
class CopyCommand(Command):
    """``COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude] src... dest``.

    ``sources`` are paths; heredoc sources (``COPY <<EOF /x``) are in ``contents``.
    """

    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    from_: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddCommand(Command):
    """``ADD`` with COPY's path flags plus ``--checksum``, ``--keep-git-dir``, ``--unpack``.

    ``keep_git_dir`` and ``unpack`` are None when the flag was not written.
    """

    sources: tuple[str, ...]
    dest: str
    contents: tuple[SourceContent, ...] = ()
    chown: str = ""
    chmod: str = ""
    link: bool = False
    keep_git_dir: bool | None = None
    checksum: str = ""
    unpack: bool | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VolumeCommand(Command):
    """``VOLUME /a /b`` or ``VOLUME ["/a"]``."""

    volumes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserCommand(Command):
    """``USER name[:group]``."""

    user: str


@dataclass(frozen=True, slots=True)
class WorkdirCommand(Command):
    """``WORKDIR path`` (relative paths join the previous working directory)."""

    path: str


@dataclass(frozen=True, slots=True)
class ArgCommand(Command):
    """``ARG A B=1 ...``: several names per line, each with an optional default."""

    args: tuple[ArgDefinition, ...]


@dataclass(frozen=True, slots=True)
class OnbuildCommand(Command):
    """``ONBUILD <instruction>``; ``expression`` is the trigger text stored in the image."""

    expression: str
    trigger_keyword: str


@dataclass(frozen=True, slots=True)
class StopsignalCommand(Command):
    """``STOPSIGNAL SIGTERM`` (checked once expanded)."""

    signal: str


@dataclass(frozen=True, slots=True)
class HealthcheckCommand(Command):
    """``HEALTHCHECK [flags] CMD ...`` or ``HEALTHCHECK NONE``."""

    health: HealthConfig


@dataclass(frozen=True, slots=True)
class ShellCommand(Command):
    """``SHELL ["executable", "param", ...]`` (JSON form only)."""

    shell: tuple[str, ...]
