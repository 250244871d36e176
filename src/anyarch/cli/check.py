"""``anyarch check CONTEXT``: is this Dockerfile ready to build for many platforms?

Prints every finding with its rule, ``file:line:column``, the line, and a
fix (``--format json`` or ``sarif`` for CI).  Exit status: 0 when there are
no errors, 1 when there are (``--strict`` or ``# check=error=true`` count
warnings as errors), 4 when the Dockerfile does not parse, 3 when there is
no Dockerfile.  The rules are listed in ``docs/check-rules.md``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from anyarch.cli.registry import make_options, registry_options
from anyarch.errors import UsageError
from anyarch.oci.platform import Platform, parse_list

__all__ = ["check_cmd", "register"]


def _platforms(values: tuple[str, ...]) -> list[Platform]:
    out: list[Platform] = []
    for value in values:
        out.extend(parse_list(value))
    return out


def _build_args(values: tuple[str, ...]) -> dict[str, str]:
    """``KEY=VALUE`` pairs; a bare ``KEY`` takes the environment's value (as docker does)."""
    out: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise UsageError(f"invalid --build-arg '{value}'", hint="write --build-arg KEY=VALUE")
        if sep:
            out[key] = val
        elif key in os.environ:
            out[key] = os.environ[key]
    return out


@click.command("check")
@click.option(
    "-f",
    "--file",
    "dockerfile",
    type=click.Path(path_type=Path),
    help="Dockerfile to check (default: CONTEXT/Dockerfile, then CONTEXT/Containerfile).",
)
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    metavar="PLATFORM[,PLATFORM...]",
    help="Target platforms to check for (default: linux/amd64,linux/arm64). Repeat or comma-separate.",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="Build-time variable, as for 'anyarch build' (repeatable).",
)
@click.option("--target", metavar="STAGE", help="Check the build of this stage.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Look FROM images up in the local store only, not in registries.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@registry_options
@click.argument("context", type=click.Path(path_type=Path), default=".", required=False)
@click.pass_context
def check_cmd(
    ctx: click.Context,
    dockerfile: Path | None,
    platforms: tuple[str, ...],
    build_args: tuple[str, ...],
    target: str | None,
    fmt: str,
    offline: bool,
    strict: bool,
    insecure: bool,
    cacert: str | None,
    authfile: str | None,
    jobs: int,
    context: Path,
) -> None:
    """Check that a Dockerfile builds correctly for every target platform.

    Looks for FROM images missing a platform, hard-coded architectures,
    OS-specific commands, slow emulated compiles and undeclared platform
    ARGs.  Exit status: 0 no errors, 1 errors (or warnings with --strict),
    4 the Dockerfile does not parse.
    """
    from anyarch.api.check import check_dockerfile
    from anyarch.lint import DEFAULT_PLATFORMS, LintOptions, render_text, to_json, to_sarif

    wanted = _platforms(platforms)
    options = LintOptions(
        platforms=tuple(wanted) if wanted else DEFAULT_PLATFORMS,
        build_args=_build_args(build_args),
        target=target,
        strict=strict,
    )
    report = check_dockerfile(
        context,
        dockerfile=dockerfile,
        options=options,
        store_root=ctx.obj.store_path,
        offline=offline,
        registry=make_options(insecure, cacert, authfile, jobs),
    )
    if fmt == "json":
        click.echo(json.dumps(to_json(report), indent=2))
    elif fmt == "sarif":
        click.echo(json.dumps(to_sarif(report), indent=2))
    else:
        click.echo(render_text(report))
    if report.exit_code:
        # SystemExit, not ctx.exit: click's non-standalone main() would return the
        # code instead of raising it, and the status must reach the shell.
        sys.exit(report.exit_code)


def register(cli: click.Group) -> None:
    """Add ``anyarch check`` to the top-level group."""
    cli.add_command(check_cmd)
