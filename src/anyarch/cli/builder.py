"""``anyarch builder``: build farms of several nodes, in ``docker buildx``'s shape.

::

    anyarch builder create --name farm --platform linux/amd64 node1
    anyarch builder create --append --name farm --platform linux/arm64 node2
    anyarch builder create --leave --name farm --node farm1
    anyarch builder ls
    anyarch builder inspect --bootstrap farm
    anyarch builder use farm
    anyarch builder rm farm

A node is a context (``anyarch context create``) or an endpoint URL, plus the
platforms it is *pinned* to.  ``ls`` and ``inspect`` ask every node what it
runs natively and what it emulates (its binfmt_misc handlers).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from anyarch.cli.output import human_size, table
from anyarch.errors import UsageError
from anyarch.farm.config import DEFAULT, BuilderConfig, FarmConfig
from anyarch.farm.dispatch import open_sessions, probe
from anyarch.farm.nodes import NodeInfo
from anyarch.farm.ssh import node_timeout

_timeout_option = click.option(
    "--timeout",
    "timeout",
    type=float,
    default=None,
    metavar="SECONDS",
    help="How long to wait for each node to answer (default $ANYARCH_NODE_TIMEOUT or 5).",
)


def platform_list(info: NodeInfo) -> str:
    """Pinned platforms (``*``) first, then detected native ones, then emulated ones (marked)."""
    how = {p.platform: p.how for p in info.platforms}
    out: list[str] = []
    seen: set[str] = set()
    for p in info.pinned:
        mark = " (emulated)" if how.get(p) == "emulated" else ""
        out.append(f"{p}*{mark}")
        seen.add(p)
    for p in info.native:
        if p not in seen:
            out.append(p)
            seen.add(p)
    for p in info.emulated:
        if p not in seen:
            out.append(f"{p} (emulated)")
            seen.add(p)
    return ", ".join(out)


def _local_env(ctx: click.Context) -> dict[str, str]:
    store = getattr(ctx.obj, "store_path", None)
    return {"ANYARCH_STORE": str(store)} if store else {}


def _probe_builders(
    config: FarmConfig,
    builders: Sequence[BuilderConfig],
    timeout: float,
    *,
    bootstrap: bool,
    local_env: dict[str, str] | None = None,
) -> dict[str, list[NodeInfo]]:
    def one(b: BuilderConfig) -> list[NodeInfo]:
        sessions = open_sessions(config, b, connect_timeout=timeout, local_env=local_env)
        try:
            return probe(sessions, bootstrap_ok=bootstrap)
        finally:
            for s in sessions:
                s.close()

    with ThreadPoolExecutor(max_workers=max(1, len(builders))) as pool:
        return dict(zip((b.name for b in builders), pool.map(one, builders), strict=True))


@click.group("builder")
def builder_group() -> None:
    """Manage builders: sets of nodes that build platforms in parallel."""


@builder_group.command("create")
@click.argument("context", required=False)
@click.option("--name", "name", metavar="BUILDER", help="Builder name (default: builderN).")
@click.option("--node", "node", metavar="NODE", help="Node name (default: BUILDERN).")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="P[,P...]",
    help="Pin these platforms to the node: it gets them first.",
)
@click.option("--append", is_flag=True, help="Add a node to an existing builder.")
@click.option("--leave", is_flag=True, help="Remove --node from builder --name.")
@click.option("--use", "use", is_flag=True, help="Make it the current builder.")
def create_cmd(
    context: str | None,
    name: str | None,
    node: str | None,
    platforms: tuple[str, ...],
    append: bool,
    leave: bool,
    use: bool,
) -> None:
    """Create a builder with a node on CONTEXT (a context name or ssh://… URL), or change one."""
    config = FarmConfig()
    if leave:
        if not name or not node:
            raise UsageError(
                "--leave needs --name BUILDER and --node NODE",
                hint="anyarch builder create --leave --name farm --node farm1",
            )
        if context or platforms or append:
            raise UsageError(
                "--leave takes no CONTEXT, --platform or --append",
                hint="anyarch builder create --leave --name farm --node farm1",
            )
        left = config.remove_node(name, node)
        click.echo(name)
        if left is None:
            click.echo(
                f"node {node} left; builder {name} had no other node and was removed", err=True
            )
        return
    target = context or config.current_context()
    builder, added = config.add_node(
        name, target, node=node, platforms=platforms, append=append, use=use
    )
    click.echo(builder.name)
    pins = f" pinned to {', '.join(added.platforms)}" if added.platforms else ""
    click.echo(f"node {added.name} ({added.endpoint}){pins} in builder {builder.name}", err=True)


@builder_group.command("ls")
@_timeout_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def ls_cmd(ctx: click.Context, timeout: float | None, fmt: str) -> None:
    """List builders and their nodes: endpoint, status, platforms."""
    config = FarmConfig()
    current = config.current_builder()
    builders = [*config.builders(), config.builder(DEFAULT)]
    infos = _probe_builders(
        config,
        builders,
        timeout if timeout is not None else node_timeout(),
        bootstrap=False,
        local_env=_local_env(ctx),
    )
    if fmt == "json":
        docs = []
        for b in builders:
            docs.append(
                {
                    "name": b.name,
                    "current": b.name == current,
                    "nodes": [_node_json(i) for i in infos[b.name]],
                }
            )
        click.echo(json.dumps(docs, indent=2))
        return
    rows: list[list[str]] = []
    for b in builders:
        rows.append([b.name + (" *" if b.name == current else ""), "", "", ""])
        for info in infos[b.name]:
            rows.append([f" \\_ {info.name}", info.endpoint, info.status, platform_list(info)])
    click.echo(table(["NAME/NODE", "ENDPOINT", "STATUS", "PLATFORMS"], rows))


def _node_json(info: NodeInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "endpoint": info.endpoint,
        "status": info.status,
        "error": info.error or None,
        "pinned": list(info.pinned),
        "native": list(info.native),
        "emulated": list(info.emulated),
        "anyarch": info.anyarch_version,
        "python": info.python_version,
        "host": info.host,
        "bootstrapped": info.bootstrapped,
        "bootstrap_reason": info.bootstrap_reason,
        "disk_free": info.disk_free,
    }


@builder_group.command("inspect")
@click.argument("name", required=False)
@click.option(
    "--bootstrap", is_flag=True, help="Ship anyarch to nodes that lack it (or have an older one)."
)
@_timeout_option
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def inspect_cmd(
    ctx: click.Context, name: str | None, bootstrap: bool, timeout: float | None, fmt: str
) -> None:
    """Show a builder's nodes: versions, native and emulated platforms, free disk."""
    config = FarmConfig()
    b = config.builder(name or config.current_builder())
    infos = _probe_builders(
        config,
        [b],
        timeout if timeout is not None else node_timeout(),
        bootstrap=bootstrap,
        local_env=_local_env(ctx),
    )[b.name]
    if fmt == "json":
        click.echo(json.dumps({"name": b.name, "nodes": [_node_json(i) for i in infos]}, indent=2))
        return
    lines = [f"Name:          {b.name}", f"Nodes:         {len(b.nodes)}"]
    for info in infos:
        lines.append("")
        lines.append(f"Name:          {info.name}")
        lines.append(f"Endpoint:      {info.endpoint}")
        lines.append(f"Status:        {info.status}")
        if info.error:
            lines.append(f"Error:         {info.error}")
        if info.pinned:
            lines.append(f"Pinned:        {', '.join(info.pinned)}")
        if info.reachable:
            shipped = f" (shipped: {info.bootstrap_reason})" if info.bootstrapped else ""
            lines.append(f"Anyarch:       {info.anyarch_version}{shipped}")
            lines.append(f"Python:        {info.python_version}")
            lines.append(f"Native:        {info.host}")
            lines.append(f"Runs natively: {', '.join(info.native) or '-'}")
            emu = [
                f"{p.platform} ({p.handler})" if p.handler else p.platform
                for p in info.platforms
                if p.how == "emulated"
            ]
            lines.append(f"Emulated:      {', '.join(emu) or '-'}")
            lines.append(f"Platforms:     {platform_list(info)}")
            lines.append(
                f"Free disk:     {human_size(info.disk_free) if info.disk_free is not None else 'unknown'}"
            )
    click.echo("\n".join(lines))


@builder_group.command("use")
@click.argument("name")
def use_cmd(name: str) -> None:
    """Make NAME the current builder ('default' is the local machine)."""
    FarmConfig().use_builder(name)
    click.echo(name)


@builder_group.command("rm")
@click.argument("names", nargs=-1, required=True)
def rm_cmd(names: tuple[str, ...]) -> None:
    """Remove builders."""
    config = FarmConfig()
    for n in names:
        config.remove_builder(n)
        click.echo(n)


def register(cli: click.Group) -> None:
    """Add ``anyarch builder``."""
    cli.add_command(builder_group)
