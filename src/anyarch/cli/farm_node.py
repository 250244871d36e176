"""``anyarch farm-node …``: the hidden commands a coordinator runs on a farm node.

Not for people: the coordinator starts these over SSH (or locally for the
``default`` node) and speaks the framed protocol of :mod:`anyarch.farm.protocol`
with them.  See :mod:`anyarch.farm.node` for what each does.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from anyarch.errors import NodeError
from anyarch.farm import worker as build_worker
from anyarch.farm.transport import widen_pipe

if TYPE_CHECKING:
    from anyarch.farm import node as farm_node


def _store_root(ctx: click.Context) -> Path:
    path = getattr(ctx.obj, "store_path", None)
    if path:
        return Path(path)
    # imported here: the store package costs ~40 ms, and serve/build start
    # their build worker before paying for it
    from anyarch.store.layout import default_store_root

    return default_store_root()


#: What the seeder imports (~60 ms): loaded on a thread while the context arrives.
_SEEDER_MODULES = ("anyarch.build.cache", "anyarch.build.context")


def _preload(modules: Sequence[str]) -> None:
    """Import ``modules`` on a daemon thread, so a later import finds them loaded.

    The node's side of a context sync mostly waits for the stream; the
    imports its last step needs (the stat cache seeding) run in that wait
    instead of after it.  A failed import here is only a missed head start:
    the real import raises it again where it is handled.  Whoever imports
    them next waits for this thread first (:func:`_preloaded`): two threads
    importing one package at once is where import deadlocks come from.
    """

    def load() -> None:
        for name in modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    _preloading.append(t)


_preloading: list[threading.Thread] = []


def _preloaded() -> None:
    """Wait for the :func:`_preload` threads (done long before, as a rule)."""
    for t in _preloading:
        t.join()


def _seeder(ctx: click.Context) -> farm_node.Placed:
    """Record the digests of a new context snapshot's files in the node store's stat cache.

    They were verified as they arrived, so the node's build finds them as cache
    hits instead of reading the whole context again.  Best effort: a cache that
    cannot be written only costs that hashing.
    """
    store_root = _store_root(ctx)

    def seed(snap: Path, placed: Sequence[tuple[str, str, os.stat_result]]) -> None:
        _preloaded()
        from anyarch.build.cache import cache_dir
        from anyarch.build.context import StatCache
        from anyarch.store import Store

        now = time.time_ns()
        ctx_root = os.path.join(snap, "ctx")
        with (
            contextlib.suppress(Exception),
            StatCache(cache_dir(Store(store_root)) / "stat.db") as cache,
        ):
            for rel, digest, st in placed:
                cache.store(
                    os.path.join(ctx_root, rel),
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ino,
                    st.st_mode,
                    digest,
                    hashed_at_ns=now,
                )

    return seed


@click.group("farm-node", hidden=True)
def farm_node_group() -> None:
    """Node side of the build farm protocol (started by a coordinator)."""
    # stdin and stdout carry contexts and layers (pipes from sshd, or from the
    # coordinator for the local node): 1 MiB buffers, see widen_pipe
    widen_pipe(0)
    widen_pipe(1)


@farm_node_group.command("info")
@click.option("--platform", "platforms", multiple=True, help="Also report these platforms.")
@click.pass_context
def info_cmd(ctx: click.Context, platforms: tuple[str, ...]) -> None:
    """Versions, native and emulated platforms, free disk (JSON)."""
    from anyarch.farm import node as farm_node
    from anyarch.sandbox.binfmt import COMMON_PLATFORMS

    wanted = list(dict.fromkeys([*COMMON_PLATFORMS, *platforms]))
    click.echo(json.dumps(farm_node.info(wanted, store_root=_store_root(ctx)), indent=1))


@farm_node_group.command("serve")
@click.option("--platform", "platforms", multiple=True, help="Also report these platforms.")
@click.pass_context
def serve_cmd(ctx: click.Context, platforms: tuple[str, ...]) -> None:
    """``info`` (as a result frame), then the ``build`` whose arguments arrive on stdin.

    A farm build probes a node and builds on it in one SSH session and one
    Python start-up: the coordinator starts this at probe time, plans with
    the info, then sends one JSON line ``{"build": [ARGS]}`` — the arguments
    of ``farm-node build`` — and the session goes on exactly as that command.
    EOF instead (the node got no platform, ``--plan``, an error elsewhere):
    exit quietly.  The build's own Python is started right away, so its
    imports overlap the wait (see :mod:`anyarch.farm.worker`).
    """
    build_worker.prestart()  # first: its start-up overlaps this process's imports
    from anyarch.farm import node as farm_node
    from anyarch.farm import protocol
    from anyarch.sandbox.binfmt import COMMON_PLATFORMS

    wanted = list(dict.fromkeys([*COMMON_PLATFORMS, *platforms]))
    out = sys.stdout.buffer
    protocol.write_json(out, protocol.RESULT, farm_node.info(wanted, store_root=_store_root(ctx)))
    _preload(_SEEDER_MODULES)
    line = sys.stdin.buffer.readline()
    if not line.strip():
        return
    try:
        args = json.loads(line)["build"]
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise TypeError("not a list of strings")
    except (ValueError, KeyError, TypeError) as e:
        raise NodeError(
            f"farm-node serve: the coordinator sent {line[:120]!r} ({e})",
            hint="is the coordinator's anyarch a different version?",
        ) from None
    with build_cmd.make_context("farm-node build", args, parent=ctx) as sub:
        build_cmd.invoke(sub)


@farm_node_group.command("build-worker")
def build_worker_cmd() -> None:
    """Import what a build needs, then run the anyarch command line that arrives on stdin.

    ``farm-node build`` starts this before it knows its build's arguments (they
    name the context snapshot, which the sync has not finished yet), so the
    start-up and imports of the build's Python (~0.3 s) overlap the context
    sync instead of following it.  Stdin: one JSON list (the arguments after
    ``anyarch``); EOF instead: exit quietly.  The build then sees /dev/null as
    its stdin, as when started directly.
    """
    # the imports a build does, done now, while waiting
    import anyarch.api.build
    import anyarch.cli.build  # noqa: F401
    from anyarch.cli.main import main

    line = sys.stdin.buffer.readline()
    if not line.strip():
        return
    argv = json.loads(line)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    rc = main([str(a) for a in argv])
    # Say how it ended and let go of the pipes: farm-node build goes on with
    # the result while this interpreter tears itself down.
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, build_worker.EXIT_MARK + str(rc).encode() + b"\n")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)
    raise click.exceptions.Exit(rc)


@farm_node_group.command("context-need")
def context_need_cmd() -> None:
    """Read a context manifest on stdin; print the snapshot or the digests this node lacks."""
    from anyarch.farm import node as farm_node

    try:
        answer = farm_node.context_need(sys.stdin.buffer.read())
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    click.echo(json.dumps(answer))


@farm_node_group.command("context-put")
@click.pass_context
def context_put_cmd(ctx: click.Context) -> None:
    """Receive a context manifest and the files this node lacks; print the snapshot."""
    from anyarch.farm import node as farm_node

    _preload(_SEEDER_MODULES)
    try:
        answer = farm_node.context_put(sys.stdin.buffer, on_placed=_seeder(ctx))
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    click.echo(json.dumps(answer))


@farm_node_group.command("context-sync")
@click.pass_context
def context_sync_cmd(ctx: click.Context) -> None:
    """context-need, then (if needed) context-put, on one framed stream."""
    from anyarch.farm import node as farm_node

    _preload(_SEEDER_MODULES)
    try:
        farm_node.context_sync(sys.stdin.buffer, sys.stdout.buffer, on_placed=_seeder(ctx))
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    sys.stdout.flush()


@farm_node_group.command("build", context_settings={"ignore_unknown_options": True})
@click.option("--snapshot", help="Context snapshot directory on this node.")
@click.option(
    "--context-on-stdin",
    is_flag=True,
    help="Sync the context first, on this stream (as context-sync), instead of --snapshot.",
)
@click.option("--platform", "platforms", required=True, multiple=True, help="A platform to build.")
@click.option(
    "--push-to", "push_to", multiple=True, help="Push the images by digest to this repository."
)
@click.option("--keep-going", is_flag=True, help="A failed platform does not stop the others.")
@click.argument("build_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def build_cmd(
    ctx: click.Context,
    snapshot: str | None,
    context_on_stdin: bool,
    platforms: tuple[str, ...],
    push_to: tuple[str, ...],
    keep_going: bool,
    build_args: tuple[str, ...],
) -> None:
    """Run one 'anyarch build' for these platforms; stream framed progress and results."""
    if (snapshot is None) != context_on_stdin:
        raise click.UsageError("give exactly one of --snapshot and --context-on-stdin")
    build_worker.prestart()  # before the imports below: see anyarch.farm.worker
    from anyarch.farm import node as farm_node

    if context_on_stdin and not _preloading:
        _preload(_SEEDER_MODULES)
    out = sys.stdout.buffer
    try:
        rc = farm_node.run_build(
            snapshot,
            list(platforms),
            list(build_args),
            out,
            sys.stdin.buffer,
            push_to=list(push_to),
            keep_going=keep_going,
            store_root=_store_root(ctx),
            on_placed=_seeder(ctx),
        )
    except farm_node.NodeFailure as e:
        farm_node.fail(out, e)
        rc = 1
    except BrokenPipeError:
        rc = 130
    sys.stdout.flush()
    if rc:
        raise click.exceptions.Exit(rc)


def register(cli: click.Group) -> None:
    """Add the hidden ``anyarch farm-node`` group."""
    cli.add_command(farm_node_group)
