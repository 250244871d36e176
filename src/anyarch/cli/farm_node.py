"""``anyarch farm-node …``: the hidden commands a coordinator runs on a farm node.

Not for people: the coordinator starts these over SSH (or locally for the
``default`` node) and speaks the framed protocol of :mod:`anyarch.farm.protocol`
with them.  See :mod:`anyarch.farm.node` for what each does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from anyarch.errors import NodeError
from anyarch.farm import node as farm_node
from anyarch.store.layout import default_store_root


def _store_root(ctx: click.Context) -> Path:
    path = getattr(ctx.obj, "store_path", None)
    return Path(path) if path else default_store_root()


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
def context_put_cmd() -> None:
    """Receive a context manifest and the files this node lacks; print the snapshot."""
    try:
        answer = farm_node.context_put(sys.stdin.buffer)
    except farm_node.NodeFailure as e:
        raise NodeError(e.message, hint=e.hint or None) from None
    click.echo(json.dumps(answer))


@farm_node_group.command("build", context_settings={"ignore_unknown_options": True})
@click.option("--snapshot", required=True, help="Context snapshot directory on this node.")
@click.option("--platform", "platforms", required=True, multiple=True, help="A platform to build.")
@click.option(
    "--push-to", "push_to", multiple=True, help="Push the images by digest to this repository."
)
@click.option("--keep-going", is_flag=True, help="A failed platform does not stop the others.")
@click.argument("build_args", nargs=-1, type=click.UNPROCESSED)
def build_cmd(
    snapshot: str,
    platforms: tuple[str, ...],
    push_to: tuple[str, ...],
    keep_going: bool,
    build_args: tuple[str, ...],
) -> None:
    """Run one 'anyarch build' for these platforms; stream framed progress and results."""
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
