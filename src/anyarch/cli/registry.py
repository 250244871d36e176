"""Registry commands: pull, push, copy, login, logout."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from anyarch.cli.progress import MODES, Reporter
from anyarch.oci.platform import Platform, format_all, parse_list

if TYPE_CHECKING:
    from anyarch.api.remote import RegistryOptions

F = TypeVar("F", bound=Callable[..., Any])


def registry_options(f: F) -> F:
    """--insecure, --cacert, --authfile, --jobs: shared by every command that talks to registries."""
    f = click.option("--jobs", "-j", type=click.IntRange(1, 64), default=4, show_default=True, help="Blobs transferred at once.")(f)
    f = click.option("--authfile", envvar="REGISTRY_AUTH_FILE", help="Docker config.json with credentials (default ~/.docker/config.json).")(f)
    f = click.option("--cacert", type=click.Path(exists=True, dir_okay=False), help="CA bundle for the registry's TLS certificate.")(f)
    f = click.option("--insecure", is_flag=True, help="Allow plain HTTP / unverified TLS for non-loopback registries.")(f)
    return f


def progress_option(f: F) -> F:
    return click.option("--progress", type=click.Choice(MODES), default="auto", show_default=True, help="Progress output (on stderr).")(f)


def make_options(insecure: bool, cacert: str | None, authfile: str | None, jobs: int) -> RegistryOptions:
    from anyarch.api.remote import RegistryOptions

    return RegistryOptions(insecure=insecure, cacert=cacert, auth_file=authfile, jobs=jobs)


def _platforms(values: tuple[str, ...]) -> list[Platform] | None:
    out: list[Platform] = []
    for v in values:
        out.extend(parse_list(v))
    return out or None


def _plats(ps: tuple[Platform, ...]) -> str:
    return ",".join(format_all(p) for p in ps)


@click.command("pull")
@click.option("--platform", "platforms", multiple=True, help="Platform(s) to fetch (default: this machine's). Repeat or comma-separate.")
@click.option("-a", "--all-platforms", is_flag=True, help="Fetch every platform of a multi-platform image.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
@registry_options
@progress_option
@click.argument("ref")
@click.pass_context
def pull_cmd(ctx: click.Context, platforms: tuple[str, ...], all_platforms: bool, quiet: bool, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, progress: str, ref: str) -> None:
    """Fetch an image from a registry into the local store."""
    from anyarch.api import remote

    opts = make_options(insecure, cacert, authfile, jobs)
    with Reporter("quiet" if quiet else progress) as rep:
        res = remote.pull(ctx.obj.store(), ref, opts, platforms=_platforms(platforms), all_platforms=all_platforms, progress=rep)
    if quiet:
        click.echo(str(res.descriptor.digest))
        return
    click.echo(f"Digest: {res.descriptor.digest}")
    click.echo(f"Platforms: {_plats(res.platforms)}")
    click.echo(f"Status: Downloaded {res.name} ({res.stats.blobs_copied} blobs, {res.stats.bytes_copied} bytes; {res.stats.blobs_skipped} already present)")


@click.command("push")
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
@registry_options
@progress_option
@click.argument("ref")
@click.argument("destination", required=False)
@click.pass_context
def push_cmd(ctx: click.Context, quiet: bool, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, progress: str, ref: str, destination: str | None) -> None:
    """Push an image (every platform) from the local store to a registry."""
    from anyarch.api import remote

    opts = make_options(insecure, cacert, authfile, jobs)
    with Reporter("quiet" if quiet else progress) as rep:
        res = remote.push(ctx.obj.store(), ref, opts, destination=destination, progress=rep)
    if quiet:
        click.echo(str(res.descriptor.digest))
        return
    click.echo(f"{res.name}: digest: {res.descriptor.digest} size: {res.descriptor.size}")


@click.command("copy")
@click.option("--all", "all_platforms", is_flag=True, default=False, help="Copy every platform (the default when no --platform is given).")
@click.option("--platform", "platforms", multiple=True, help="Copy only these platform(s).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the digest.")
@registry_options
@progress_option
@click.argument("source")
@click.argument("destination")
@click.pass_context
def copy_cmd(ctx: click.Context, all_platforms: bool, platforms: tuple[str, ...], quiet: bool, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, progress: str, source: str, destination: str) -> None:
    """Copy an image or index between registries, the store (store:REF) and OCI layouts (oci:PATH[:TAG])."""
    from anyarch.api import remote

    opts = make_options(insecure, cacert, authfile, jobs)
    plats = None if all_platforms else _platforms(platforms)
    with Reporter("quiet" if quiet else progress) as rep:
        # the store is opened only if a location needs it: not for a copy between registries
        res = remote.copy(source, destination, ctx.obj.store, opts, platforms=plats, progress=rep)
    if quiet:
        click.echo(str(res.descriptor.digest))
        return
    s = res.stats
    click.echo(f"Copied {source} -> {res.name}")
    click.echo(f"Digest: {res.descriptor.digest}")
    if res.platforms:
        click.echo(f"Platforms: {_plats(res.platforms)}")
    click.echo(f"Blobs: {s.blobs_copied} copied ({s.bytes_copied} bytes), {s.blobs_mounted} mounted, {s.blobs_skipped} already there")


@click.command("login")
@click.option("-u", "--username", help="Username.")
@click.option("-p", "--password", help="Password (prefer --password-stdin: this one shows in the process list).")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@registry_options
@click.argument("registry")
def login_cmd(username: str | None, password: str | None, password_stdin: bool, insecure: bool, cacert: str | None, authfile: str | None, jobs: int, registry: str) -> None:
    """Log in to a registry (credentials go to docker's config.json, shared with docker and podman)."""
    from anyarch.api import remote

    if password_stdin:
        if password:
            raise click.UsageError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise click.UsageError("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    remote.login(registry, username or "", password or "", make_options(insecure, cacert, authfile, jobs))
    click.echo("Login Succeeded")


@click.command("logout")
@click.option("--authfile", envvar="REGISTRY_AUTH_FILE", help="Docker config.json (default ~/.docker/config.json).")
@click.argument("registry")
def logout_cmd(authfile: str | None, registry: str) -> None:
    """Remove stored credentials for a registry."""
    from anyarch.api import remote

    removed = remote.logout(registry, remote.RegistryOptions(auth_file=authfile))
    if removed:
        click.echo(f"Removing login credentials for {registry}")
    else:
        click.echo(f"Not logged in to {registry}")


def register(cli: click.Group) -> None:
    for c in (pull_cmd, push_cmd, copy_cmd, login_cmd, logout_cmd):
        cli.add_command(c)
