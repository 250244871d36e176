"""The global ARG scope: automatic platform args and the ARGs before the first FROM.

BuildKit predefines ``BUILDPLATFORM``/``BUILDOS``/``BUILDARCH``/``BUILDVARIANT``
(and ``BUILDOSVERSION``), ``TARGETPLATFORM``/``TARGETOS``/``TARGETARCH``/
``TARGETVARIANT`` (and ``TARGETOSVERSION``) and ``TARGETSTAGE`` in the global
scope, each overridable with ``--build-arg``.  The ARGs before the first FROM
extend that scope (a default is expanded against what is defined so far; a
``--build-arg`` wins over it).  FROM lines see this scope; a stage sees a
global value only by declaring ``ARG NAME`` without a default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from anyarch.dockerfile.commands import ArgCommand
from anyarch.dockerfile.shell import ShellExpansionError, ShellLex
from anyarch.errors import DockerfileError
from anyarch.oci.platform import Platform, format_all
from anyarch.oci.platform import format as format_platform
from anyarch.plan.envlist import EnvList

__all__ = ["PLATFORM_ARGS", "MetaArgs", "build_meta_args", "default_args"]

#: The automatic args, in BuildKit's order.
PLATFORM_ARGS = (
    "BUILDPLATFORM",
    "BUILDOS",
    "BUILDOSVERSION",
    "BUILDARCH",
    "BUILDVARIANT",
    "TARGETPLATFORM",
    "TARGETOS",
    "TARGETOSVERSION",
    "TARGETARCH",
    "TARGETVARIANT",
    "TARGETSTAGE",
)


def default_args(
    build: Platform, target: Platform, stage: str, overrides: Mapping[str, str]
) -> EnvList:
    """BuildKit's ``defaultArgs``: the automatic args, ``--build-arg`` overriding."""
    relevant = tuple((k, overrides[k]) for k in PLATFORM_ARGS if k in overrides)
    return _default_args(build, target, stage, relevant)


@lru_cache(maxsize=256)
def _default_args(
    build: Platform, target: Platform, stage: str, overrides: tuple[tuple[str, str], ...]
) -> EnvList:
    override = dict(overrides)
    values = (
        format_platform(build),
        build.os,
        build.os_version,
        build.architecture,
        build.variant,
        format_all(target),
        target.os,
        target.os_version,
        target.architecture,
        target.variant,
        stage or "default",
    )
    return EnvList((k, override.get(k, v)) for k, v in zip(PLATFORM_ARGS, values, strict=True))


@dataclass(frozen=True, slots=True)
class MetaArgs:
    """The global scope after the ARGs before FROM, and what their defaults looked up."""

    env: EnvList
    declared: tuple[str, ...]
    used: frozenset[str]
    unset: frozenset[str]


def expansion_error(err: ShellExpansionError, command: ArgCommand) -> DockerfileError:
    """A word-expansion error placed at ``command``."""
    return DockerfileError(err.reason, location=command.location, hint=err.hint)


def build_meta_args(
    scope: EnvList,
    lex: ShellLex,
    commands: Sequence[ArgCommand],
    build_args: Mapping[str, str],
) -> MetaArgs:
    """BuildKit's ``buildMetaArgs``: add the global ARGs to the automatic ones."""
    declared: list[str] = []
    used: set[str] = set()
    unset: set[str] = set()
    for command in commands:
        for arg in command.args:
            declared.append(arg.key)
            value: str | None
            if arg.key in build_args:
                value = build_args[arg.key]
            elif arg.value is not None:
                try:
                    value, matched, unmatched = lex.process_word_with_matches(
                        arg.value, scope.mapping
                    )
                except ShellExpansionError as err:
                    raise expansion_error(err, command) from None
                used |= matched
                unset |= unmatched
            else:
                value = None
            if value is not None:
                scope = scope.set(arg.key, value)
    return MetaArgs(scope, tuple(declared), frozenset(used), frozenset(unset))
