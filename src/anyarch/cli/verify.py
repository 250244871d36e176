"""``anyarch verify REF``: check that an image or index holds what its platforms claim.

Text output is for people (one line per image, then the findings, worst
first, each with its hint); ``--format json`` is for CI.  The exit status is
what scripts gate on: 0 when there are no errors, 1 when there are (with
``--strict``, warnings count as errors); other failures (image not found,
registry down) keep their documented codes (3, 5, …).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from anyarch.cli.registry import make_options, registry_options
from anyarch.oci import mediatype
from anyarch.oci.platform import Platform, parse_list

if TYPE_CHECKING:
    from anyarch.verify import Report

_PROFILES = ("default", "lambda", "cloudrun", "docker-v2")


def _platforms(values: tuple[str, ...]) -> list[Platform] | None:
    out: list[Platform] = []
    for v in values:
        out.extend(parse_list(v))
    return out or None


def _kind(media_type: str) -> str:
    if mediatype.is_index(media_type):
        return "Docker manifest list" if mediatype.is_docker(media_type) else "OCI index"
    return "Docker manifest" if mediatype.is_docker(media_type) else "OCI manifest"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def render_text(report: Report, strict: bool) -> str:
    """The human report: one line per image, then findings worst first, then the verdict."""
    from anyarch.verify import Severity

    lines = [
        f"Verifying {report.name} ({report.descriptor.digest.short}, {_kind(report.descriptor.media_type)}, "
        f"profile {report.profile})"
    ]
    images = report.images
    width = max([len(e.label or "?") for e in images] or [1])
    for e in images:
        errs = sum(
            1
            for f in report.findings
            if f.digest == e.descriptor.digest
            and f.platform == e.label
            and f.severity is Severity.ERROR
        )
        if not e.verified:
            state = "not checked"
        elif errs:
            state = _plural(errs, "error")
        else:
            state = "ok"
        detail = (
            f"{_plural(e.layers, 'layer')}, {_plural(e.files_checked, 'ELF file')} checked"
            if e.verified
            else ""
        )
        lines.append(
            f"  {(e.label or '?'):<{width}}  {e.descriptor.digest.short}  {detail:<32}  {state}".rstrip()
        )
    if report.findings:
        lines.append("")
    for f in report.findings:
        where = ""
        if f.platform or f.digest:
            where = (
                " ".join(x for x in (f.platform, f"({f.digest.short})" if f.digest else "") if x)
                + ": "
            )
        lines.append(f"{f.severity.value:<7} {f.rule}  {where}{f.message}")
        if f.hint:
            lines.append(f"{'':<7} hint: {f.hint}")
    errors, warnings, info = (
        report.count(s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)
    )
    verdict = "FAIL" if report.failed(strict) else "OK"
    lines.append("")
    lines.append(
        f"{verdict}: {_plural(errors, 'error')}, {_plural(warnings, 'warning')}, {info} info"
        + (" (--strict: warnings fail)" if strict and warnings else "")
    )
    return "\n".join(lines)


@click.command("verify")
@click.option(
    "--platform",
    "platforms",
    multiple=True,
    help="Check only these platform(s) of an index. Repeat or comma-separate.",
)
@click.option(
    "--profile",
    type=click.Choice(_PROFILES),
    default="default",
    show_default=True,
    help="Also check a deployment target's constraints (AWS Lambda, Cloud Run, Docker v2 registries).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--all-files",
    is_flag=True,
    help="Also check every ELF program outside the bin directories (reported as warnings).",
)
@registry_options
@click.argument("ref")
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    platforms: tuple[str, ...],
    profile: str,
    fmt: str,
    strict: bool,
    all_files: bool,
    insecure: bool,
    cacert: str | None,
    authfile: str | None,
    jobs: int,
    ref: str,
) -> None:
    """Check that an image or index holds binaries for the platforms it claims.

    REF is an image in the store, or in a registry (docker://REF, or any
    reference the store lacks), or an OCI layout (oci:PATH[:TAG]).  Exit
    status: 0 no errors, 1 errors (or warnings with --strict).
    """
    from anyarch.verify import verify_reference

    opts = make_options(insecure, cacert, authfile, jobs)
    report = verify_reference(
        ctx.obj.store(),
        ref,
        opts,
        platforms=_platforms(platforms),
        profile=profile,
        all_files=all_files,
    )
    if fmt == "json":
        click.echo(json.dumps(report.to_json(strict), indent=2))
    else:
        click.echo(render_text(report, strict))
    code = report.exit_code(strict)
    if code:
        # SystemExit, not ctx.exit: click's non-standalone main() returns an Exit's
        # code instead of raising it, and the status must reach the shell.
        sys.exit(code)


def register(cli: click.Group) -> None:
    """Add ``verify`` to the top-level command group."""
    cli.add_command(verify_cmd)
