"""Dispatch the stages of one platform's graph into steps (BuildKit's ``dispatchStages``).

A stage starts from its base: the result of an earlier stage (environment,
working directory, user, declared ARGs and config carry over; ONBUILD lines
do not), ``scratch``, or a base image whose config comes from
:class:`~anyarch.plan.options.ImageMeta`.  As in BuildKit, ``PATH`` is set
when the base does not set it (except on Windows), the base config's env is
re-applied over an inherited stage environment, and the base's working
directory and user apply before the first instruction.  Each instruction is
then handed to its family module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from anyarch.dockerfile.commands import (
    AddCommand,
    ArgCommand,
    CmdCommand,
    CopyCommand,
    EntrypointCommand,
    EnvCommand,
    ExposeCommand,
    HealthcheckCommand,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    ShellCommand,
    StopsignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from anyarch.plan.config import ImageConfig, default_path
from anyarch.plan.dispatch_config import (
    dispatch_arg,
    dispatch_cmd,
    dispatch_entrypoint,
    dispatch_env,
    dispatch_expose,
    dispatch_healthcheck,
    dispatch_label,
    dispatch_maintainer,
    dispatch_onbuild,
    dispatch_shell,
    dispatch_stopsignal,
    dispatch_user,
    dispatch_volume,
)
from anyarch.plan.dispatch_file import dispatch_add, dispatch_copy, dispatch_workdir
from anyarch.plan.dispatch_run import dispatch_run
from anyarch.plan.envlist import EnvList, split_env
from anyarch.plan.options import ImageKey, MissingImageError
from anyarch.plan.paths import PathError, normalize_workdir, to_slash
from anyarch.plan.stages import StageNode
from anyarch.plan.state import PlatformContext, StageBuilder, StageResult
from anyarch.plan.steps import SourceSpec, StepKind

__all__ = ["dispatch_node"]

_HANDLERS: dict[type, Callable[[StageBuilder, Any], None]] = {
    AddCommand: dispatch_add,
    ArgCommand: dispatch_arg,
    CmdCommand: dispatch_cmd,
    CopyCommand: dispatch_copy,
    EntrypointCommand: dispatch_entrypoint,
    EnvCommand: dispatch_env,
    ExposeCommand: dispatch_expose,
    HealthcheckCommand: dispatch_healthcheck,
    LabelCommand: dispatch_label,
    MaintainerCommand: dispatch_maintainer,
    OnbuildCommand: dispatch_onbuild,
    RunCommand: dispatch_run,
    ShellCommand: dispatch_shell,
    StopsignalCommand: dispatch_stopsignal,
    UserCommand: dispatch_user,
    VolumeCommand: dispatch_volume,
    WorkdirCommand: dispatch_workdir,
}


def _with_path(config: ImageConfig) -> ImageConfig:
    """BuildKit: "make sure that PATH is always set" (not on Windows)."""
    if config.os == "windows" or config.env_value("PATH") is not None:
        return config
    return config.evolve(env=(*config.env, f"PATH={default_path(config.os)}"))


def _source(ctx: PlatformContext, node: StageNode) -> StageBuilder:
    """A builder for a stage on scratch or an image, with its source step emitted."""
    graph = ctx.graph
    text = node.from_.code if node.from_ is not None else f"FROM {node.base_name}"
    if node.scratch:
        platform = graph.target_platform
        config = ImageConfig.empty(platform.os)
        kind, spec = StepKind.SCRATCH, SourceSpec()
    else:
        key: ImageKey = graph.image_key(node)
        platform = key.platform
        if key not in ctx.images:
            raise MissingImageError(
                f"no image metadata for {key}: call required_images() and resolve every "
                "image it lists before build_plan()"
            )
        meta = ctx.images[key]
        if meta is None:
            config = ImageConfig.empty(platform.os)
            kind, spec = StepKind.SCRATCH, SourceSpec()
        else:
            config = ImageConfig.from_meta(meta, platform.os).evolve(on_build=())
            if meta.has_layers:
                kind, spec = StepKind.IMAGE, SourceSpec(key.ref, meta.digest, platform)
            else:
                kind, spec = StepKind.SCRATCH, SourceSpec()
    config = _with_path(config)
    builder = StageBuilder(ctx, node, platform, config, EnvList())
    builder.emit(kind, spec, text=text, history=None)
    return builder


def _from_stage(ctx: PlatformContext, node: StageNode, base: StageResult) -> StageBuilder:
    builder = StageBuilder(
        ctx, node, base.platform, _with_path(base.config.evolve(on_build=())), base.env
    )
    builder.workdir = base.workdir
    builder.user = base.user
    builder.build_args = list(base.build_args)
    builder.workdir_set = base.workdir_set
    builder.layer = base.layer
    builder.last = base.last
    return builder


def _prologue(builder: StageBuilder) -> None:
    """Base config env, working directory and user applied before the first instruction."""
    config = builder.config
    env = builder.env
    for entry in config.env:
        key, value = split_env(entry)
        env = env.set(key, value)
    builder.env = env
    if config.working_dir:
        try:
            wd = normalize_workdir(config.working_dir, config.working_dir, config.os)
        except PathError as err:
            raise builder.fail(f"normalizing workdir: {err}") from None
        builder.config = config.evolve(working_dir=wd)
        builder.workdir = to_slash(wd, config.os)
    if config.user:
        builder.user = config.user


def dispatch_node(ctx: PlatformContext, node: StageNode) -> StageResult:
    """Dispatch one reachable stage (or implicit image source); record and return its result."""
    if node.base is not None:
        base = ctx.results[id(node.base)]
        builder = _from_stage(ctx, node, base)
    else:
        builder = _source(ctx, node)
    _prologue(builder)
    for planned in node.commands:
        command = planned.command
        builder.begin(command, planned.on_build, planned.sources)
        _HANDLERS[type(command)](builder, command)
    result = builder.result()
    ctx.results[id(node)] = result
    return result
