"""RUN: the command line, heredocs, and ``--mount``/``--network``/``--security`` (BuildKit's ``dispatchRun``).

The command BuildKit executes is not the text written: shell form gets the
stage's shell prepended, a lone heredoc runs its body (as a script file under
``/dev/pipes`` when it starts with ``#!``), other heredocs are re-attached to
the shell command.  Mounts are parsed again with the stage's variables and
resolved: relative targets join the working directory, caches get their
namespaced id, ``from=`` names the filesystem of a dispatched stage or image.
The history text is BuildKit's, declared ARGs first (``RUN |1 V=2 /bin/sh -c make``).
"""

from __future__ import annotations

from anyarch.dockerfile.commands import ArgDefinition, InlineFile, RunCommand
from anyarch.dockerfile.heredoc import HeredocError, parse_heredoc
from anyarch.dockerfile.mounts import Mount, MountError, parse_mount
from anyarch.dockerfile.nodes import chomp_heredoc_content
from anyarch.plan.dispatch_config import with_shell
from anyarch.plan.envlist import EnvList
from anyarch.plan.options import HistoryEntry
from anyarch.plan.paths import go_base, go_clean, go_join
from anyarch.plan.stages import StageNode
from anyarch.plan.state import StageBuilder
from anyarch.plan.steps import MountSpec, RunSpec, StepKind

__all__ = ["dispatch_run", "run_history"]

_MOUNT_HINT = "see https://docs.docker.com/reference/dockerfile/#run---mount"


def run_history(args: tuple[str, ...], build_args: list[ArgDefinition], env: EnvList) -> str:
    """BuildKit's ``runCommandString``: ``|N K=V ... <args>`` when ARGs are declared."""
    values: dict[str, str] = {}
    for arg in build_args:
        value = env.get(arg.key)
        values[arg.key] = value if value is not None else (arg.value or "")
    words = [f"|{len(values)}", *(f"{k}={v}" for k, v in values.items())] if values else []
    return " ".join([*words, *args])


def _is_heredoc_word(word: str) -> bool:
    try:
        return parse_heredoc(word) is not None
    except HeredocError:
        return False


def _command_line(b: StageBuilder, c: RunCommand) -> tuple[tuple[str, ...], tuple[InlineFile, ...]]:
    args = c.cmd_line
    inline: tuple[InlineFile, ...] = ()
    if c.files:
        if len(args) != 1 or not c.prepend_shell:
            raise b.fail(f"parsing produced an invalid run command: [{' '.join(args)}]")
        first = c.files[0]
        if _is_heredoc_word(args[0]):
            data = chomp_heredoc_content(first.data) if first.chomp else first.data
            if b.config.os != "windows" and data.startswith("#!"):
                inline = (InlineFile(first.name, data, False),)
                args = (f"/dev/pipes/{first.name}",)
            else:
                args = (data,)
        else:
            args = (args[0] + "".join(f"\n{f.data}{f.name}" for f in c.files),)
    if c.prepend_shell:
        args = with_shell(b, args)
    return args, inline


def _mount(b: StageBuilder, m: Mount, source: StageNode | None) -> MountSpec:
    """BuildKit's ``dispatchRunMounts`` (plus ``dispatchSecret``/``dispatchSSH``) for one mount."""
    if m.type == "secret":
        secret_id = m.source or m.cache_id
        if not secret_id:
            if not m.target:
                raise b.fail("one of source, target required", _MOUNT_HINT)
            secret_id = go_base(m.target)
        target = m.target
        if m.env is None and not target:
            target = "/run/secrets/" + go_base(secret_id)
        return MountSpec(
            type="secret",
            target=target,
            secret_id=secret_id,
            env=m.env,
            required=m.required,
            mode=m.mode,
            uid=m.uid,
            gid=m.gid,
        )
    if m.type == "ssh":
        if m.source:
            raise b.fail("ssh does not support source", _MOUNT_HINT)
        return MountSpec(
            type="ssh",
            target=m.target,
            ssh_id=m.cache_id or "default",
            required=m.required,
            mode=m.mode,
            uid=m.uid,
            gid=m.gid,
        )
    from_ = m.from_ or ("scratch" if m.type == "cache" else "")
    source_key = None
    source_stage = ""
    if from_ and source is not None:
        result = b.source_result(
            source,
            f'cannot mount from stage "{m.from_}" to "{m.target}", '
            "stage needs to be defined before current command",
        )
        if result is not None:
            source_key = result.layer
            source_stage = source.display
    target = m.target
    if not go_clean(target).startswith("/"):
        target = go_join("/", b.workdir, m.target)
    if target == "/":
        raise b.fail(f'invalid mount target "{target}"', "mount targets must not be /")
    cache_id = ""
    sharing = ""
    if m.type == "cache":
        cache_id = f"{b.ctx.opts.cache_id_namespace}/{m.cache_id or go_clean(m.target)}"
        sharing = m.sharing or "shared"
    return MountSpec(
        type=m.type,
        target=target,
        source=go_join("/", m.source),
        source_key=source_key,
        source_stage=source_stage,
        from_context=m.type == "bind" and not from_,
        readonly=m.readonly,
        cache_id=cache_id,
        sharing=sharing,
        size_limit=m.size_limit if m.type == "tmpfs" else 0,
        mode=m.mode,
        uid=m.uid,
        gid=m.gid,
    )


def dispatch_run(b: StageBuilder, c: RunCommand) -> None:
    """RUN: one layer; its key covers argv, env, directory, user, platform and mounts."""
    mounts: list[MountSpec] = []
    for index, spec in enumerate(c.mount_specs):
        try:
            mount = parse_mount(spec, b.expand)
        except MountError as err:
            raise b.fail(err.message, err.hint or _MOUNT_HINT, near=spec) from None
        source = b.sources[index] if index < len(b.sources) else None
        mounts.append(_mount(b, mount, source))
    args, inline = _command_line(b, c)
    spec_ = RunSpec(
        args=args,
        env=b.env.entries(),
        workdir=b.workdir,
        user=b.user,
        mounts=tuple(mounts),
        network=c.network,
        security=c.security,
        devices=tuple((d.name, d.required) for d in c.devices),
        inline_files=inline,
        proxy_env=b.ctx.proxy_env,
    )
    created_by = "RUN " + run_history(args, b.build_args, b.env) + " # buildkit"
    b.emit(
        StepKind.RUN,
        spec_,
        text=c.code,
        history=HistoryEntry(created_by),
        sources=tuple(m.source_key for m in mounts if m.source_key is not None),
        needs_content=any(m.from_context for m in mounts),
    )
