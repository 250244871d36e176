"""``anyarch context``: named machines, in ``docker context``'s shape.

``default`` is this machine.  Other contexts are reached over SSH::

    anyarch context create node2 --docker host=ssh://user@host[:port] --description "arm64 box"
    anyarch context ls
    anyarch context use node2
    anyarch context inspect node2
    anyarch context rm node2

Builders (``anyarch builder create``) take contexts as their nodes.
"""

from __future__ import annotations

import json
from typing import Any

import click

from anyarch.cli.output import table
from anyarch.errors import NotFoundError
from anyarch.farm.config import DEFAULT, ContextConfig, FarmConfig, parse_docker_flag


def _config() -> FarmConfig:
    return FarmConfig()


def inspect_document(ctx: ContextConfig, config: FarmConfig) -> dict[str, Any]:
    """One context as ``docker context inspect`` shows it."""
    return {
        "Name": ctx.name,
        "Metadata": {"Description": ctx.description} if ctx.description else {},
        "Endpoints": {"docker": {"Host": ctx.endpoint.url, "SkipTLSVerify": False}},
        "TLSMaterial": {},
        "Storage": {
            "MetadataPath": "<IN MEMORY>" if ctx.name == DEFAULT else str(config.contexts_path),
            "TLSPath": "<IN MEMORY>",
        },
    }


@click.group("context")
def context_group() -> None:
    """Manage contexts: named machines that builders use as nodes."""


@context_group.command("create")
@click.argument("name")
@click.option(
    "--docker",
    "docker",
    required=True,
    metavar="host=URL",
    help="Endpoint: host=ssh://[user@]host[:port] (or host=unix:///… for this machine).",
)
@click.option("--description", default="", help="Description of the context.")
def create_cmd(name: str, docker: str, description: str) -> None:
    """Create a context NAME."""
    ctx = _config().create_context(name, parse_docker_flag(docker), description)
    click.echo(ctx.name)
    click.echo(f'Successfully created context "{ctx.name}"', err=True)


@context_group.command("ls")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("-q", "--quiet", is_flag=True, help="Only show context names.")
def ls_cmd(fmt: str, quiet: bool) -> None:
    """List contexts; the current one is marked with '*'."""
    config = _config()
    current = config.current_context()
    contexts = config.contexts()
    if quiet:
        for c in contexts:
            click.echo(c.name)
        return
    if fmt == "json":
        for c in contexts:
            click.echo(
                json.dumps(
                    {
                        "Name": c.name,
                        "Description": c.description,
                        "DockerEndpoint": c.endpoint.url,
                        "Current": c.name == current,
                    }
                )
            )
        return
    rows = [
        [c.name + (" *" if c.name == current else ""), c.description, c.endpoint.url]
        for c in contexts
    ]
    click.echo(table(["NAME", "DESCRIPTION", "ENDPOINT"], rows))


@context_group.command("use")
@click.argument("name")
def use_cmd(name: str) -> None:
    """Make NAME the current context (the default node of 'builder create')."""
    _config().use_context(name)
    click.echo(name)
    click.echo(f'Current context is now "{name}"', err=True)


@context_group.command("inspect")
@click.argument("names", nargs=-1)
def inspect_cmd(names: tuple[str, ...]) -> None:
    """Show contexts as JSON (default: the current one)."""
    config = _config()
    wanted = names or (config.current_context(),)
    docs = [inspect_document(config.context(n), config) for n in wanted]
    click.echo(json.dumps(docs, indent=4))


@context_group.command("rm")
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even if a builder node uses it.")
def rm_cmd(names: tuple[str, ...], force: bool) -> None:
    """Remove one or more contexts."""
    config = _config()
    missing = []
    for n in names:
        try:
            config.remove_context(n, force=force)
        except NotFoundError:
            missing.append(n)
            continue
        click.echo(n)
    if missing:
        raise NotFoundError(
            f"context {', '.join(repr(m) for m in missing)} does not exist",
            hint="'anyarch context ls' lists them",
        )


def register(cli: click.Group) -> None:
    """Add ``anyarch context``."""
    cli.add_command(context_group)
