"""``anyarch run``: run a command in an image from the local store, any architecture.

Mostly for trying an image out (``anyarch run --platform linux/arm64 app uname -m``)
and for checking that emulation works, with ``docker run``'s flags where they
make sense.  There is no daemon and nothing to keep: the rootfs is a fresh
overlay (or copy) of the image's cached layers and is thrown away when the
process ends, so ``--rm`` is accepted for muscle memory and is always true.

The command line follows Docker: arguments after IMAGE replace the image's
Cmd and are appended to its Entrypoint; ``--entrypoint`` replaces the
Entrypoint and drops the image's Cmd.  The image's Env, WorkingDir and User
apply unless ``-e``/``-w``/``-u`` override them.  anyarch exits with the
process's exit code, so scripts can test it like any command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

import click

from anyarch.build.snapshots import prepare_rootfs
from anyarch.errors import UsageError
from anyarch.oci import ImageConfig
from anyarch.oci.platform import format as format_platform
from anyarch.oci.platform import parse as parse_platform
from anyarch.sandbox import RunSpec, require
from anyarch.sandbox import execute as sandbox_execute
from anyarch.store import Store


def merge_env(image_env: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """The image's Env with ``-e`` applied, in Docker's way.

    ``-e K=V`` sets or replaces K; ``-e K`` copies K from anyarch's own
    environment and changes nothing when it is not set there.  Order is kept
    (replaced keys stay where the image had them) so output is predictable.
    """
    env: dict[str, str] = {}
    for item in image_env:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
    for item in overrides:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(
                f"invalid environment variable {item!r}", hint="write -e NAME=value or -e NAME"
            )
        if sep:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    return [f"{k}={v}" for k, v in env.items()]


def command_line(config: ImageConfig, args: Sequence[str], entrypoint: str | None) -> list[str]:
    """Entrypoint + Cmd as Docker combines them; ``entrypoint=""`` clears the image's."""
    if entrypoint is not None:
        head = [entrypoint] if entrypoint else []
        tail = list(args)  # docker: a new entrypoint resets the image's Cmd
    else:
        head = list(config.config.entrypoint or ())
        tail = list(args) if args else list(config.config.cmd or ())
    argv = head + tail
    if not argv:
        raise UsageError(
            "no command specified: the image has no Entrypoint or Cmd",
            hint="give a command after the image name, e.g. anyarch run IMAGE sh",
        )
    return argv


def working_dir(config: ImageConfig, override: str | None) -> str:
    """``-w`` (absolute, as Docker requires), else the image's WorkingDir, else ``/``."""
    if override is not None:
        if not override.startswith("/"):
            raise UsageError(
                f"the working directory {override!r} is invalid: it must be an absolute path",
                hint=f"write -w /{override.lstrip('./')}",
            )
        return override
    wd = config.config.working_dir or "/"
    return wd if wd.startswith("/") else "/" + wd  # old images wrote relative paths


def _line_writer(out: TextIO) -> Callable[[str], None]:
    """Pass each line of the process's output straight through, as it comes."""

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    return write


@click.command(
    "run",
    context_settings={"allow_interspersed_args": False},
)
@click.option(
    "--platform",
    metavar="PLATFORM",
    help="Run the variant for this platform (default: the host's).",
)
@click.option(
    "--rm",
    "remove",
    is_flag=True,
    help="Remove the container afterwards (always done; for docker compatibility).",
)
@click.option(
    "-e",
    "--env",
    "env",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set an environment variable (repeatable).",
)
@click.option("-w", "--workdir", metavar="DIR", help="Working directory inside the container.")
@click.option(
    "-u", "--user", metavar="USER[:GROUP]", help="User (name or uid, optional group) to run as."
)
@click.option(
    "--network",
    type=click.Choice(["default", "none", "host"]),
    default="default",
    show_default=True,
    help="Network: the host's (default, host) or none (loopback only).",
)
@click.option("--entrypoint", metavar="CMD", help="Override the image's entrypoint ('' clears it).")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    platform: str | None,
    remove: bool,
    env: tuple[str, ...],
    workdir: str | None,
    user: str | None,
    network: str,
    entrypoint: str | None,
    image: str,
    command: tuple[str, ...],
) -> None:
    """Run COMMAND in IMAGE from the local store; exits with its exit code."""
    del remove  # there is never a container to keep
    store: Store = ctx.obj.store()
    wanted = parse_platform(platform) if platform else None
    img = store.resolve(image, wanted)
    config = img.config
    image_platform = format_platform(config.platform)
    require(image_platform)  # before unpacking anything: a clear fix beats exec format error
    argv = command_line(config, command, entrypoint)
    cwd = working_dir(config, workdir)
    spec_env = merge_env(config.config.env, env)
    run_user = user if user is not None else (config.config.user or "")
    with prepare_rootfs(store, img.manifest, config) as mounted:
        spec = RunSpec(
            rootfs=mounted.rootfs,
            args=argv,
            env=spec_env,
            cwd=cwd,
            user=run_user,
            network=network,  # type: ignore[arg-type]  # click.Choice checked it
            platform=image_platform,
        )
        result = sandbox_execute(
            spec, stdout_cb=_line_writer(sys.stdout), stderr_cb=_line_writer(sys.stderr)
        )
    # SystemExit, not ctx.exit: click's non-standalone main() returns an Exit's
    # code instead of raising it, and the process's exit code must reach the shell.
    sys.exit(result.exit_code)


def register(cli: click.Group) -> None:
    """Add ``anyarch run`` to the top-level group."""
    cli.add_command(run_cmd)
