"""``anyarch farm-node …``: the hidden commands a coordinator runs on a farm node.

Not for people: the coordinator starts these over SSH (or locally for the
``default`` node) and speaks the framed protocol of :mod:`anyarch.farm.protocol`
with them.  See :mod:`anyarch.farm.node` for what each does.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import click

from anyarch.errors import NodeError
from anyarch.farm import node as farm_node
from anyarch.store.layout import default_store_root


def _store_root(ctx: click.Context) -> Path:
    path = getattr(ctx.obj, "store_path", None)
    return Path(path) if path else default_store_root()


def _seeder(ctx: click.Context) -> farm_node.Placed:
    """Record the digests of a new context snapshot's files in the node store's stat cache.

    They were verified as they arrived, so the node's build finds them as cache
    hits instead of reading the whole context again.  Best effort: a cache that
    cannot be written only costs that hashing.
    """
    store_root = _store_root(ctx)

    def seed(snap: Path, placed: Sequence[tuple[str, str, os.stat_result]]) -> None:
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


@farm_node_group.command("info")
@click.option("--platform", "platforms", multiple=True, help="Also report these platforms.")
@click.pass_context
def info_cmd(ctx: click.Context, platforms: tuple[str, ...]) -> None:
    """Versions, native and emulated platforms, free disk (JSON)."""
    from anyarch.sandbox.binfmt import COMMON_PLATFORMS

    wanted = list(dict.fromkeys([*COMMON_PLATFORMS, *platforms]))
    click.echo(json.dumps(farm_node.info(wanted, store_root=_store_root(ctx)), indent=1))


@farm_node_group.command("context-need")
def context_need_cmd() -> None:
    """Read a context manifest on stdin; print the snapshot or the digests this node lacks."""
    try:
        answer = farm_node.context_need(sys.stdin.buffer.read())
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    click.echo(json.dumps(answer))


@farm_node_group.command("context-put")
@click.pass_context
def context_put_cmd(ctx: click.Context) -> None:
    """Receive a context manifest and the files this node lacks; print the snapshot."""
    try:
        answer = farm_node.context_put(sys.stdin.buffer, on_placed=_seeder(ctx))
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    click.echo(json.dumps(answer))


@farm_node_group.command("context-sync")
@click.pass_context
def context_sync_cmd(ctx: click.Context) -> None:
    """context-need, then (if needed) context-put, on one framed stream."""
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
